#include "writer.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>
#include <sstream>
#include <string>

#include "support/calls.h"

namespace resec::bench {
namespace {

constexpr char kKey[] = "bench:seq";

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

ContextPtr Connect(int port) {
  ContextPtr c(redisConnectWithTimeout("127.0.0.1", port, ToTimeval(kClientConnectTimeout)));
  if (c == nullptr || c->err != 0) return nullptr;
  if (redisSetTimeout(c.get(), ToTimeval(kClientReplyTimeout)) != REDIS_OK) return nullptr;
  return c;
}

ReplyPtr Command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return ReplyPtr(
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
}

}  // namespace

Writer::Writer(std::unique_ptr<MasterDiscovery> discovery, Clock::time_point origin)
    : discovery_(std::move(discovery)), origin_(origin) {}

Writer::~Writer() { Stop(); }

void Writer::Start() {
  discover_thread_ = std::jthread([this](std::stop_token s) { DiscoverLoop(s); });
  write_thread_ = std::jthread([this](std::stop_token s) { WriteLoop(s); });
}

void Writer::Stop() {
  for (std::jthread* t : {&write_thread_, &discover_thread_}) {
    t->request_stop();
    if (t->joinable()) t->join();
  }
}

int64_t Writer::Now() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - origin_).count();
}

void Writer::DiscoverLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    if (std::optional<int> port = discovery_->Next()) target_port_.store(*port);
  }
}

void Writer::WriteLoop(std::stop_token stop) {
  ContextPtr conn;
  int conn_port = 0;
  int64_t seq = 0;
  Clock::time_point next = Clock::now();
  while (!stop.stop_requested()) {
    std::this_thread::sleep_until(next);
    // Keep the cadence, but never burst to catch up after a slow write.
    next += kWriteInterval;
    if (const auto now = Clock::now(); next < now) next = now;

    const int target = target_port_.load();
    if (target == 0) continue;
    if (conn != nullptr && conn_port != target) conn.reset();
    if (conn == nullptr) {
      conn = Connect(target);
      if (conn == nullptr) continue;
      conn_port = target;
    }
    WriteRecord rec;
    rec.seq = ++seq;
    rec.port = conn_port;
    rec.sent_us = Now();
    ReplyPtr r = Command(conn.get(), {"RPUSH", kKey, std::to_string(rec.seq)});
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER) {
      rec.ack_us = Now();
      acked_.fetch_add(1);
      ReplyPtr w = Command(conn.get(), {"WAIT", std::to_string(kWaitReplicas), std::to_string(kWaitTimeoutMs)});
      if (w != nullptr && w->type == REDIS_REPLY_INTEGER) {
        rec.wait_acked = w->integer >= kWaitReplicas;
      } else {
        conn.reset();
      }
    } else {
      conn.reset();  // timeout, refused, READONLY, ...: reconnect to whatever discovery says
    }
    MutexLock lock(mu_);
    records_.push_back(rec);
  }
}

std::optional<int64_t> Writer::FirstAckOn(int port, int64_t after_us) const {
  MutexLock lock(mu_);
  for (const WriteRecord& r : records_) {
    if (r.port == port && r.sent_us >= after_us && r.ack_us >= 0) return r.ack_us;
  }
  return std::nullopt;
}

std::vector<WriteRecord> Writer::Records() const {
  MutexLock lock(mu_);
  return records_;
}

StatusOr<std::vector<int64_t>> ReadSequence(int port) {
  // A list of some 10^4 short strings: milliseconds on loopback; 10 s only
  // guards against a server that is still loading a full sync.
  auto r = testing::RedisCall(port, {"LRANGE", kKey, "0", "-1"}, "", "", std::chrono::seconds(10));
  if (!r.ok()) return r.status();
  return testing::IntegerLines(*r);
}

}  // namespace resec::bench
