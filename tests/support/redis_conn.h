// RedisConn: one hiredis connection to a Redis at host:port, for the
// harnesses whose servers live on addresses of their own (the chaos runner,
// the production-topology rig): their writer, prober and checks. RedisCall
// (calls.h) only talks to 127.0.0.1 and opens a connection per command.
//
// A connection that timed out or failed is unusable afterwards (hiredis
// leaves the protocol state undefined): callers drop it and reconnect.
//
// Thread-safety: a RedisConn belongs to one thread; RedisOnce is stateless.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "resec/status.h"
#include "support/calls.h"

namespace resec::testing {

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

class RedisConn {
 public:
  // nullptr when the server cannot be reached within connect_timeout.
  static std::unique_ptr<RedisConn> Connect(const std::string& host, int port,
                                            std::chrono::milliseconds connect_timeout,
                                            std::chrono::milliseconds reply_timeout);
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // The reply (an error reply is a reply), or nullptr on a transport failure
  // or timeout, after which this connection must be dropped.
  ReplyPtr Command(const std::vector<std::string>& argv);

 private:
  explicit RedisConn(redisContext* c) : c_(c) {}
  redisContext* c_;
};

// A reply as text: RenderRedisReply (calls.h).
inline std::string RenderReply(const redisReply* r) { return RenderRedisReply(*r); }

// One command over a fresh connection; an error reply is kFailedPrecondition
// with Redis' text, a transport failure kUnavailable.
StatusOr<std::string> RedisOnce(const std::string& host, int port, const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout);

}  // namespace resec::testing
