#include "support/calls.h"

#include <hiredis/hiredis.h>
#include <httplib.h>
#include <sys/time.h>

#include <charconv>
#include <memory>
#include <sstream>
#include <string_view>

namespace resec::testing {
namespace {

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Status ErrorReplyStatus(std::string_view text) {
  std::string msg(text);
  if (StartsWith(text, "NOAUTH") || StartsWith(text, "WRONGPASS") || StartsWith(text, "NOPERM")) {
    return PermissionDenied(msg);
  }
  if (StartsWith(text, "LOADING") || StartsWith(text, "BUSY") || StartsWith(text, "MASTERDOWN")) {
    return Unavailable(msg);
  }
  return FailedPrecondition(msg);
}


StatusOr<ReplyPtr> Command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  ReplyPtr reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
  if (reply == nullptr) {
    return Unavailable(std::string("redis: ") + (c->errstr[0] != '\0' ? c->errstr : "no reply"));
  }
  return reply;
}

template <typename Client>
StatusOr<HttpReply> Send(Client& client, const std::string& method, const std::string& path,
                         const std::string& body,
                         const std::map<std::string, std::string>& headers,
                         std::chrono::milliseconds timeout) {
  // Loopback: a connect that takes longer than this is a dead listener.
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  httplib::Request req;
  req.method = method;
  req.path = path;
  for (const auto& [k, v] : headers) req.headers.emplace(k, v);
  if (!body.empty() && !req.has_header("Content-Type")) {
    req.headers.emplace("Content-Type", "application/json");
  }
  req.body = body;
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  if (!client.send(req, res, error)) {
    return Unavailable("http " + method + " " + path + ": " + httplib::to_string(error));
  }
  HttpReply reply;
  reply.status = res.status;
  reply.body = std::move(res.body);
  for (const auto& [k, v] : res.headers) reply.headers.emplace(k, v);
  return reply;
}

}  // namespace

std::string RenderRedisReply(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(reply.str, reply.len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply.integer);
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < reply.elements; ++i) {
        if (i > 0) out += "\n";
        out += RenderRedisReply(*reply.element[i]);
      }
      return out;
    }
    default:  // REDIS_REPLY_NIL
      return "";
  }
}

StatusOr<std::string> RedisCall(int port, const std::vector<std::string>& argv,
                                const std::string& password, const std::string& username,
                                std::chrono::milliseconds timeout) {
  if (argv.empty()) return InvalidArgument("RedisCall: empty command");
  ContextPtr c(redisConnectWithTimeout("127.0.0.1", port, ToTimeval(timeout)));
  if (c == nullptr) return Unavailable("redis: cannot allocate context");
  if (c->err != 0) {
    return Unavailable("redis 127.0.0.1:" + std::to_string(port) + ": " + c->errstr);
  }
  if (redisSetTimeout(c.get(), ToTimeval(timeout)) != REDIS_OK) {
    return Unavailable("redis: cannot set timeout");
  }
  if (!password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!username.empty()) auth.push_back(username);
    auth.push_back(password);
    StatusOr<ReplyPtr> r = Command(c.get(), auth);
    if (!r.ok()) return r.status();
    if ((*r)->type == REDIS_REPLY_ERROR) {
      return PermissionDenied("redis AUTH failed: " + RenderRedisReply(**r));
    }
  }
  StatusOr<ReplyPtr> r = Command(c.get(), argv);
  if (!r.ok()) return r.status();
  if ((*r)->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(RenderRedisReply(**r));
  return RenderRedisReply(**r);
}

StatusOr<HttpReply> HttpCall(const std::string& method, const std::string& host, int port,
                             const std::string& path, const std::string& body,
                             const std::map<std::string, std::string>& headers,
                             std::chrono::milliseconds timeout) {
  httplib::ClientImpl client(host, port);
  return Send(client, method, path, body, headers, timeout);
}

StatusOr<HttpReply> HttpsCall(const std::string& method, const std::string& host, int port,
                              const std::string& path, const std::string& ca_file,
                              const std::string& body,
                              const std::map<std::string, std::string>& headers,
                              std::chrono::milliseconds timeout) {
  httplib::SSLClient client(host, port);
  client.set_ca_cert_path(ca_file);
  client.enable_server_certificate_verification(true);
  StatusOr<HttpReply> reply = Send(client, method, path, body, headers, timeout);
  if (!reply.ok() && client.get_openssl_verify_result() != X509_V_OK) {
    return Unavailable(reply.status().message() + " (certificate verify: " +
                       X509_verify_cert_error_string(client.get_openssl_verify_result()) + ")");
  }
  return reply;
}

std::vector<int64_t> IntegerLines(const std::string& rendered) {
  std::vector<int64_t> out;
  std::istringstream in(rendered);
  std::string line;
  while (std::getline(in, line)) {
    int64_t v = 0;
    if (std::from_chars(line.data(), line.data() + line.size(), v).ec == std::errc()) out.push_back(v);
  }
  return out;
}

}  // namespace resec::testing
