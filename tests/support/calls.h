// Small synchronous clients the tests use to poke real servers directly,
// independently of the code under test: one Redis command, one HTTP request.
//
// Each call opens its own connection and closes it: slow, simple and free of
// shared state. Not for hot loops or benchmarks' measured sections.
//
// Thread-safety: stateless; call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "resec/status.h"

struct redisReply;  // hiredis

namespace resec::testing {

// A hiredis reply as text, the way RedisCall renders it (below).
std::string RenderRedisReply(const redisReply& reply);

// The integers of a rendered array reply, one per line (LRANGE of numbers);
// lines that are not integers are skipped.
std::vector<int64_t> IntegerLines(const std::string& rendered);

// One Redis command on 127.0.0.1:port over a fresh hiredis connection.
// AUTHs first when a password is given (AUTH username password when username
// is non-empty). The reply is rendered as text: status and bulk strings as
// they are, integers in decimal, nil as "", arrays (nested too) as their
// elements joined by "\n".
// Errors: connection failure or timeout -> kUnavailable; an error reply ->
// kPermissionDenied for NOAUTH/WRONGPASS/NOPERM (and a failed AUTH),
// kUnavailable for LOADING/BUSY/MASTERDOWN, kFailedPrecondition otherwise;
// the message carries Redis's error text (never the password).
// `timeout` bounds the connect and the reply: a paused server costs that long.
StatusOr<std::string> RedisCall(int port, const std::vector<std::string>& argv,
                                const std::string& password = "",
                                const std::string& username = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(2));

struct HttpReply {
  int status = 0;
  std::string body;
  // Header names exactly as the server sent them (Consul/Go canonicalises:
  // "X-Consul-Index"); the first value when a header repeats.
  std::map<std::string, std::string> headers;
};

// One plain-HTTP request. Any HTTP status is a reply (check reply.status);
// only transport failures (refused, timeout, ...) are errors (kUnavailable).
// `timeout` is the read timeout: keep Consul blocking queries' ?wait= below it.
StatusOr<HttpReply> HttpCall(const std::string& method, const std::string& host, int port,
                             const std::string& path, const std::string& body = "",
                             const std::map<std::string, std::string>& headers = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The same over HTTPS, verifying the server certificate (chain and host name)
// against the PEM CA bundle `ca_file`. A TLS failure is kUnavailable too, with
// OpenSSL's verify result in the message.
StatusOr<HttpReply> HttpsCall(const std::string& method, const std::string& host, int port,
                              const std::string& path, const std::string& ca_file,
                              const std::string& body = "",
                              const std::map<std::string, std::string>& headers = {},
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace resec::testing
