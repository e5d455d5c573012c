// HiredisClient: redis::Client over one blocking hiredis connection.
//
// Every call first (re)connects when there is no connection, then sends one
// command and waits for its reply with the endpoint's timeout (hiredis sets
// SO_RCVTIMEO/SO_SNDTIMEO). Any transport error (hiredis sets ctx->err) leaves
// the context unusable, so it is dropped and the next call reconnects and
// re-authenticates.
//
// Note for the process: hiredis 0.14 writes with write(2), so writing to a
// socket the peer has reset raises SIGPIPE; the agent must ignore or block
// SIGPIPE process-wide (main does, before starting any thread).
//
// Thread-safety: one instance per thread (see client.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resec/redis/client.h"

namespace resec::redis {

namespace {

struct ContextDeleter {
  void operator()(redisContext* ctx) const { redisFree(ctx); }
};
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// The channel the liveness connection subscribes to. Nobody publishes on it;
// subscribing only moves the connection into the pub/sub client class, which
// `CLIENT KILL TYPE normal` (our own failover step) does not touch and which
// Redis' idle `timeout` setting never closes.
constexpr const char* kLivenessChannel = "__resec_liveness__";

timeval ToTimeval(std::chrono::milliseconds ms) {
  if (ms.count() < 0) ms = std::chrono::milliseconds(0);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool IsTransportFailure(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

bool IsUnknownCommand(const Status& s) {
  return s.code() == StatusCode::kFailedPrecondition && Lower(s.message()).find("unknown command") != std::string::npos;
}

// Renders a reply as text for Command(): integers in decimal, arrays joined by
// '\n', nil as "".
std::string ReplyToText(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(reply.str, reply.len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply.integer);
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (std::size_t i = 0; i < reply.elements; ++i) {
        if (i > 0) out += '\n';
        if (reply.element[i] != nullptr) out += ReplyToText(*reply.element[i]);
      }
      return out;
    }
    default:
      return "";
  }
}

class HiredisClient final : public Client {
 public:
  explicit HiredisClient(RedisEndpoint endpoint) : endpoint_(std::move(endpoint)) {}

  Status Connect() override {
    if (ctx_) return Status::Ok();
    const timeval tv = ToTimeval(endpoint_.timeout);
    ContextPtr ctx(redisConnectWithTimeout(endpoint_.addr.host.c_str(), endpoint_.addr.port, tv));
    if (!ctx) return Unavailable("connect " + Where() + ": out of memory");
    if (ctx->err != 0) return Unavailable("connect " + Where() + ": " + ctx->errstr);
    // The connect timeout only covers connect(2); this one bounds every later
    // read and write, so a hung (e.g. SIGSTOPped) server cannot block a call
    // for longer than the configured Redis timeout.
    if (redisSetTimeout(ctx.get(), tv) != REDIS_OK) {
      return Unavailable("connect " + Where() + ": cannot set timeout: " + ctx->errstr);
    }
    // Keepalive probes let a connection to a vanished host (no FIN, no RST)
    // fail eventually even when it sends nothing (the liveness connection).
    (void)redisEnableKeepAlive(ctx.get());
    ctx_ = std::move(ctx);
    subscribed_ = false;

    if (!endpoint_.password.empty()) {
      std::vector<std::string> argv = {"AUTH"};
      if (!endpoint_.username.empty()) argv.push_back(endpoint_.username);
      argv.push_back(endpoint_.password);
      StatusOr<ReplyPtr> reply = Send(argv, "AUTH");
      if (!reply.ok()) {
        Disconnect();
        // A transport failure stays one; any error reply to AUTH
        // (WRONGPASS, "ERR invalid password", "...without any password
        // configured") means the credentials are wrong: retrying will not help.
        if (IsTransportFailure(reply.status())) return reply.status();
        return PermissionDenied("redis at " + Where() + " rejected AUTH: " + reply.status().message());
      }
    }
    return Status::Ok();
  }

  void Disconnect() override {
    ctx_.reset();
    subscribed_ = false;
  }

  bool connected() const override { return ctx_ != nullptr; }

  StatusOr<std::string> Info() override {
    StatusOr<ReplyPtr> reply = Call({"INFO"}, "INFO");
    if (!reply.ok()) return reply.status();
    const redisReply& r = **reply;
    if (r.type != REDIS_REPLY_STRING) return Internal("INFO: unexpected reply type " + std::to_string(r.type));
    return std::string(r.str, r.len);
  }

  Status ReplicaOfNoOne() override { return ReplicaOfArgs({"NO", "ONE"}); }

  Status ReplicaOf(const std::string& host, int port) override {
    return ReplicaOfArgs({host, std::to_string(port)});
  }

  Status KillNormalClients() override {
    // SKIPME yes: our own connection survives; replicas, the master link and
    // pub/sub connections (our liveness probe) are other client types.
    StatusOr<ReplyPtr> reply = Call({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}, "CLIENT KILL");
    return reply.ok() ? Status::Ok() : reply.status();
  }

  StatusOr<std::string> Command(const std::vector<std::string>& argv) override {
    if (argv.empty()) return InvalidArgument("empty command");
    StatusOr<ReplyPtr> reply = Call(argv, argv.front());
    if (!reply.ok()) return reply.status();
    return ReplyToText(**reply);
  }

  Status ArmDisconnectWatch() override {
    if (Status s = Connect(); !s.ok()) return s;
    if (subscribed_) return Status::Ok();
    StatusOr<ReplyPtr> reply = Send({"SUBSCRIBE", kLivenessChannel}, "SUBSCRIBE");
    if (!reply.ok() && IsTransportFailure(reply.status())) return reply.status();
    // A refused SUBSCRIBE (an ACL user without channel rights) still leaves
    // an idle connection whose closing we observe; it is then only exposed
    // to CLIENT KILL TYPE normal, which at worst causes a spurious re-check.
    subscribed_ = true;
    return Status::Ok();
  }

  int fd() const override { return ctx_ ? ctx_->fd : -1; }

  Status DrainReadable() override {
    if (!ctx_) return Unavailable("redis at " + Where() + ": not connected");
    // Readable, hung up or in error: read what is there. EOF or a reset is
    // the server going away (a crashed redis-server's sockets are closed by
    // its kernel); anything else is a stray pub/sub message we discard.
    if (redisBufferRead(ctx_.get()) != REDIS_OK) {
      const std::string err = ctx_->errstr;
      Disconnect();
      return Unavailable("redis at " + Where() + " closed the connection: " + err);
    }
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(ctx_.get(), &raw) != REDIS_OK) {
        const std::string err = ctx_->errstr;
        Disconnect();
        return Unavailable("redis at " + Where() + ": " + err);
      }
      if (raw == nullptr) return Status::Ok();
      ReplyPtr discarded(static_cast<redisReply*>(raw));
    }
  }

  std::string LocalAddress() const override {
    if (!ctx_) return "";
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(ctx_->fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
    char text[INET6_ADDRSTRLEN] = {};
    const void* where = nullptr;
    if (addr.ss_family == AF_INET) {
      where = &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr;
    } else if (addr.ss_family == AF_INET6) {
      where = &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr;
    } else {
      return "";  // a unix socket: no network address
    }
    return inet_ntop(addr.ss_family, where, text, sizeof(text)) != nullptr ? std::string(text) : "";
  }

  Status WaitForDisconnect(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (Status s = ArmDisconnectWatch(); !s.ok()) return s;
    for (;;) {
      const auto remaining =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (remaining.count() <= 0) return Status::Ok();
      pollfd pfd{};
      pfd.fd = ctx_->fd;
      pfd.events = POLLIN;
      const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(remaining.count(), 1 << 30)));
      if (n < 0) {
        if (errno == EINTR) continue;
        const std::string err = std::strerror(errno);
        Disconnect();
        return Unavailable("poll on redis connection: " + err);
      }
      if (n == 0) return Status::Ok();
      if (Status s = DrainReadable(); !s.ok()) return s;
    }
  }

 private:
  std::string Where() const { return endpoint_.addr.host + ":" + std::to_string(endpoint_.addr.port); }

  Status ReplicaOfArgs(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"REPLICAOF"};
    argv.insert(argv.end(), args.begin(), args.end());
    StatusOr<ReplyPtr> reply = Call(argv, "REPLICAOF");
    if (reply.ok()) return Status::Ok();
    if (!IsUnknownCommand(reply.status())) return reply.status();
    // Redis < 5 knows only SLAVEOF; a server that renamed REPLICAOF away may
    // still have it.
    argv.front() = "SLAVEOF";
    StatusOr<ReplyPtr> fallback = Call(argv, "SLAVEOF");
    if (fallback.ok()) return Status::Ok();
    if (IsUnknownCommand(fallback.status())) {
      return FailedPrecondition(
          "neither REPLICAOF nor SLAVEOF is available on redis at " + Where() +
          " (renamed or disabled with rename-command?); the agent needs one of them to change roles");
    }
    return fallback.status();
  }

  // Connects if needed, then sends.
  StatusOr<ReplyPtr> Call(const std::vector<std::string>& argv, std::string_view name) {
    if (Status s = Connect(); !s.ok()) return s;
    return Send(argv, name);
  }

  // Sends one command on the current connection and maps the outcome:
  // no reply within the timeout -> kDeadlineExceeded, any other transport
  // error -> kUnavailable (both drop the connection); authentication and
  // ACL errors -> kPermissionDenied; any other error reply ->
  // kFailedPrecondition. Messages start with the command name, never with its
  // arguments (AUTH's would be the password).
  StatusOr<ReplyPtr> Send(const std::vector<std::string>& argv, std::string_view name) {
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const std::string& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    ReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(ctx_.get(), static_cast<int>(args.size()), args.data(), lens.data())));
    if (!reply) {
      std::string err = ctx_->err != 0 ? ctx_->errstr : "no reply";
      const bool timed_out = err.empty() || err == "Resource temporarily unavailable";
      if (timed_out) err = "timed out after " + std::to_string(endpoint_.timeout.count()) + "ms";
      Disconnect();
      std::string message = std::string(name) + " on redis at " + Where() + ": " + err;
      return timed_out ? DeadlineExceeded(std::move(message)) : Unavailable(std::move(message));
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string text(reply->str, reply->len);
      const std::string message = std::string(name) + ": " + text;
      if (StartsWith(text, "NOAUTH") || StartsWith(text, "WRONGPASS") || StartsWith(text, "NOPERM")) {
        return PermissionDenied(message);
      }
      return FailedPrecondition(message);
    }
    return reply;
  }

  const RedisEndpoint endpoint_;
  ContextPtr ctx_;
  bool subscribed_ = false;  // the liveness SUBSCRIBE was sent on ctx_
};

}  // namespace

std::unique_ptr<Client> MakeHiredisClient(const RedisEndpoint& endpoint) {
  return std::make_unique<HiredisClient>(endpoint);
}

}  // namespace resec::redis
