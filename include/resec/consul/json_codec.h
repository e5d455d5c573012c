// The pure half of the Consul HTTP client: request bodies, response decoding,
// URL escaping and the HTTP-status-to-Status table.
//
// Kept apart from the socket code (http_client.cc) so unit tests and fuzzers
// can feed these functions arbitrary bytes. Every decoder takes untrusted text
// and returns a Status (kInternal "decode <what>: ...") instead of throwing or
// crashing; every encoder produces valid JSON even from invalid UTF-8 input.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "resec/consul/client.h"
#include "resec/state.h"
#include "resec/status.h"

namespace resec::consul {

// Largest response body the client accepts. The biggest answers we read are
// health queries: measured on Consul 1.14, an instance with its node, its
// service and a TTL check holding the full 4 KB of output Consul keeps is
// about 7 KB, so 8 MiB is over a thousand such instances (a resec group has
// a handful; a shared service name in tag mode a few hundred), and Consul
// caps a KV value at 512 KB. A broken or hostile endpoint is refused at that
// size: at its Content-Length before reading, else as the bytes arrive.
inline constexpr size_t kMaxResponseBytes = size_t{8} << 20;

// Consul keeps at most 4096 bytes of check output by default; cutting it
// ourselves, at a UTF-8 boundary, keeps the tail of the JSON we send valid.
inline constexpr size_t kMaxCheckOutputBytes = 4096;

// Error texts quote at most this much of Consul's first body line, so a
// hostile or verbose body cannot flood the logs.
inline constexpr size_t kMaxErrorTextBytes = 200;

// Consul clamps ?wait= to 10 minutes and defaults it to 5 minutes.
inline constexpr std::chrono::milliseconds kMaxBlockingWait{10 * 60 * 1000};
inline constexpr std::chrono::milliseconds kDefaultBlockingWait{5 * 60 * 1000};

// ---------------------------------------------------------------- text helpers

// RFC 4648 standard alphabet with padding (Go's base64.StdEncoding, which
// Consul uses for KV values).
std::string EncodeBase64(std::string_view data);
// Accepts padded and unpadded input and ignores CR/LF; rejects any other
// character, misplaced padding and impossible lengths.
StatusOr<std::string> DecodeBase64(std::string_view text);

// Percent-encodes everything but RFC 3986 unreserved characters and '/', so a
// KV key keeps its hierarchy ("a b/c" -> "a%20b/c").
std::string EscapePath(std::string_view path);
// Percent-encodes a single path segment or query value ('/' too).
std::string EscapeComponent(std::string_view value);

// Go duration text Consul parses: "15s" for whole seconds, else "1500ms".
std::string FormatDuration(std::chrono::milliseconds d);

// At most max_bytes bytes of text, never ending inside a UTF-8 sequence.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

// First line of a body, trimmed, cut to kMaxErrorTextBytes.
std::string FirstLine(std::string_view body);

// ---------------------------------------------------------------- HTTP status

// OK for 2xx. Otherwise "<method> <path>: <status> <first body line>" with
// 403 and 401 -> kPermissionDenied, 404 -> kNotFound, 400/405/413 and other
// 4xx -> kInvalidArgument, 429 and 5xx -> kUnavailable, anything else
// (1xx, 3xx) -> kInternal. `path` must not carry the query string (it may
// hold a session ID).
Status StatusFromHttp(std::string_view method, std::string_view path, int http_status,
                      std::string_view body);

// Consul answers an update of a check it does not know (or one without a TTL)
// with 404 "Unknown check ..." (newer) or 500 "... does not have associated
// TTL" (1.14 and older).
bool IsUnknownCheckError(int http_status, std::string_view body);

// X-Consul-Index / X-Consul-KnownLeader. A missing, unparsable or zero index
// becomes 1: Consul's rule is that an index below 1 must never be sent back,
// or the next blocking query returns at once and the loop spins.
QueryMeta ParseQueryMeta(std::string_view index_header, std::string_view known_leader_header);

// The query parameters of a read ("index=12&wait=5s&consistent"), without '?';
// empty for a plain read. A zero wait means Consul's default; a wait above
// Consul's cap is clamped to it.
std::string BlockingQuery(const QueryOptions& options);
// How long Consul may hold a blocking read: wait (clamped, or Consul's
// default) plus the up-to-wait/16 jitter Consul adds. Zero for plain reads.
std::chrono::milliseconds BlockingHold(const QueryOptions& options);

// ---------------------------------------------------------------- sessions

std::string EncodeSessionCreate(const SessionOptions& options);
// {"ID": "..."} -> the ID.
StatusOr<std::string> DecodeSessionCreate(std::string_view body);
// [{"TTL": "15s", ...}] -> 15s (rounded up to whole seconds). An empty array
// or null means the session is gone: kNotFound.
StatusOr<std::chrono::seconds> DecodeSessionRenew(std::string_view body);

// ---------------------------------------------------------------- KV

// [{"Key", "Value" (base64 or null), "Session", "LockIndex", ...}]; null -> [].
StatusOr<std::vector<KvPair>> DecodeKvPairs(std::string_view body);
// "true" / "false" (KV PUT, DELETE, acquire, release). `what` names the call
// in the error.
StatusOr<bool> DecodeBool(std::string_view body, std::string_view what);

// ---------------------------------------------------------------- agent, health, status

std::string EncodeServiceRegistration(const ServiceRegistration& registration);
// {"Status", "Output"}; output cut to kMaxCheckOutputBytes.
std::string EncodeCheckUpdate(std::string_view status, std::string_view output);
// The body of PUT /v1/catalog/register that sets one service check of a
// node, leaving the node and its services as they are.
std::string EncodeCatalogCheck(const CatalogCheck& check);
// The same update as a transaction guarded by check.guard_key/guard_session
// (PUT /v1/txn): it fails as a whole (409) unless the session holds the key.
std::string EncodeGuardedCatalogCheck(const CatalogCheck& check);
// /v1/health/service answers; null -> []. An empty service address becomes
// the node's address.
StatusOr<std::vector<ServiceInstance>> DecodeHealthService(std::string_view body);
// The same answers with each instance's checks (status, output); for
// `resec status`, which shows members whose checks are failing too.
StatusOr<std::vector<ServiceHealth>> DecodeServiceHealth(std::string_view body);
// /v1/status/leader: a JSON string, "" while there is no leader.
StatusOr<std::string> DecodeLeader(std::string_view body);
// /v1/agent/self -> Config.NodeName.
StatusOr<std::string> DecodeAgentSelfNodeName(std::string_view body);
// /v1/agent/members -> the names of the alive servers, sorted.
StatusOr<std::vector<std::string>> DecodeServerMembers(std::string_view body);
// /v1/agent/self -> Member.Addr.
StatusOr<std::string> DecodeAgentSelfAddress(std::string_view body);

}  // namespace resec::consul
