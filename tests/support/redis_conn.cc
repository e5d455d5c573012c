#include "support/redis_conn.h"

#include <sys/time.h>

namespace resec::testing {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

}  // namespace

std::unique_ptr<RedisConn> RedisConn::Connect(const std::string& host, int port,
                                              std::chrono::milliseconds connect_timeout,
                                              std::chrono::milliseconds reply_timeout) {
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, ToTimeval(connect_timeout));
  if (c == nullptr) return nullptr;
  std::unique_ptr<RedisConn> conn(new RedisConn(c));  // private constructor: make_unique cannot reach it
  if (c->err != 0 || redisSetTimeout(c, ToTimeval(reply_timeout)) != REDIS_OK) return nullptr;
  return conn;
}

RedisConn::~RedisConn() { redisFree(c_); }

ReplyPtr RedisConn::Command(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return ReplyPtr(static_cast<redisReply*>(
      redisCommandArgv(c_, static_cast<int>(args.size()), args.data(), lens.data())));
}

StatusOr<std::string> RedisOnce(const std::string& host, int port, const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout) {
  std::unique_ptr<RedisConn> conn = RedisConn::Connect(host, port, timeout, timeout);
  if (conn == nullptr) return Unavailable("redis " + host + ":" + std::to_string(port) + ": cannot connect");
  ReplyPtr r = conn->Command(argv);
  if (r == nullptr) return Unavailable("redis " + host + ":" + std::to_string(port) + ": no reply");
  if (r->type == REDIS_REPLY_ERROR) return FailedPrecondition(RenderReply(r.get()));
  return RenderReply(r.get());
}

}  // namespace resec::testing
