// The bodies of resec's fuzz targets, shared by the libFuzzer entry points
// (fuzz/*_fuzzer.cc, built with clang when RESEC_FUZZ=ON) and by the corpus
// replay test of the regular suite (tests/integration/fuzz_corpus_test.cc,
// built with g++), so both exercise exactly the same code and properties.
// Header-only because the two builds compile it into different targets and
// neither may reach into the other's CMake.
//
// Each target takes untrusted bytes, feeds them to the pure parsers the agent
// exposes to the outside world (Redis INFO text, Consul's JSON answers and
// headers, our own KV records, Go durations, host:port addresses, the whole
// configuration from environment and argv) and checks properties that must
// hold for ANY input. It returns "" when all hold, else a description of the
// broken property; crashes, leaks and undefined behaviour are the sanitizers'
// to report.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "resec/config.h"
#include "resec/consul/json_codec.h"
#include "resec/consul/records.h"
#include "resec/redis/info.h"

namespace resec::fuzz {

// One fuzz target: a name (also its corpus directory, fuzz/corpus/<name>/)
// and its body.
struct Target {
  const char* name;
  std::string (*run)(const uint8_t* data, size_t size);
};

namespace internal {

inline std::string_view Bytes(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits at the first occurrence of `sep`: (before, after); after is empty
// when there is no separator.
inline std::pair<std::string_view, std::string_view> SplitOnce(std::string_view s, char sep) {
  const size_t at = s.find(sep);
  if (at == std::string_view::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + 1)};
}

inline bool AllPrintableAscii(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Valid UTF-8 in the strict sense JSON encoders need (no overlongs, no
// surrogates, nothing above U+10FFFF).
inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // sequence runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace internal

// ---------------------------------------------------------------- INFO

// redis::ParseInfo on arbitrary text: never crashes, keeps the text.
inline std::string FuzzInfo(const uint8_t* data, size_t size) {
  const std::string_view text = internal::Bytes(data, size);
  const RedisState state = redis::ParseInfo(text);
  if (state.info != text) return "ParseInfo: info is not the input text";
  if (state.healthy || state.ready || !state.error.empty()) return "ParseInfo: touched ready/healthy/error";
  return "";
}

// ---------------------------------------------------------------- Consul JSON

// Every decoder of json_codec.h on the same bytes, plus the header and text
// helpers: Consul (or whatever answers on its port) controls all of them.
inline std::string FuzzConsulJson(const uint8_t* data, size_t size) {
  using namespace resec::consul;
  const std::string_view body = internal::Bytes(data, size);

  // Each decoder once; the values must survive re-encoding where the agent
  // re-sends them (e.g. a KV value it writes back on release).
  if (auto kv = DecodeKvPairs(body); kv.ok()) {
    for (const KvPair& p : *kv) {
      auto back = DecodeBase64(EncodeBase64(p.value));
      if (!back.ok() || *back != p.value) return "KV value does not survive base64 round trip";
    }
  }
  if (auto health = DecodeHealthService(body); health.ok()) {
    for (const ServiceInstance& s : *health) {
      if (s.port < 0 || s.port > 65535) return "DecodeHealthService: port out of range";
    }
  }
  (void)DecodeServiceHealth(body);
  (void)DecodeSessionCreate(body);
  if (auto renew = DecodeSessionRenew(body); renew.ok() && renew->count() < 0) {
    return "DecodeSessionRenew: negative TTL";
  }
  (void)DecodeBool(body, "fuzz");
  (void)DecodeLeader(body);

  // Base64 both ways.
  if (auto decoded = DecodeBase64(body); decoded.ok()) {
    auto again = DecodeBase64(EncodeBase64(*decoded));
    if (!again.ok() || *again != *decoded) return "DecodeBase64(EncodeBase64(x)) != x";
  }
  {
    auto back = DecodeBase64(EncodeBase64(body));
    if (!back.ok() || *back != body) return "DecodeBase64(EncodeBase64(body)) != body";
  }

  // Headers: "<index>\n<known leader>".
  {
    const auto [index, leader] = internal::SplitOnce(body, '\n');
    const QueryMeta meta = ParseQueryMeta(index, leader);
    if (meta.index == 0) return "ParseQueryMeta: index 0 (a blocking loop would spin)";
  }

  // Error texts: bounded, single line, never cut inside a UTF-8 sequence that
  // was whole in the input.
  {
    const std::string line = FirstLine(body);
    if (line.size() > kMaxErrorTextBytes) return "FirstLine: longer than kMaxErrorTextBytes";
    if (line.find('\n') != std::string::npos) return "FirstLine: holds a newline";
    const int http_status = size >= 2 ? (data[0] << 8 | data[1]) % 1000 : 500;
    const Status st = StatusFromHttp("GET", "/v1/fuzz", http_status, body);
    if ((http_status >= 200 && http_status < 300) != st.ok()) return "StatusFromHttp: ok-ness differs from 2xx";
    if (st.message().find('\n') != std::string::npos) return "StatusFromHttp: message holds a newline";
    (void)IsUnknownCheckError(http_status, body);
  }
  {
    const size_t cut = size > 0 ? data[0] : 0;
    const std::string t = TruncateUtf8(body, cut);
    if (t.size() > cut && body.size() > cut) return "TruncateUtf8: longer than asked";
    if (body.substr(0, t.size()) != t) return "TruncateUtf8: not a prefix";
    if (internal::IsValidUtf8(body) && !internal::IsValidUtf8(t)) return "TruncateUtf8: cut inside a sequence";
  }

  // Encoders take untrusted text (Redis INFO as check output, settings) and
  // must always produce JSON Consul can parse.
  {
    const auto [status, output] = internal::SplitOnce(body, '\n');
    const std::string update = EncodeCheckUpdate(status, output);
    const auto j = nlohmann::json::parse(update, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return "EncodeCheckUpdate: not a JSON object";
    if (j.contains("Output") && j["Output"].is_string() &&
        j["Output"].get<std::string>().size() > kMaxCheckOutputBytes + 3 * 4096) {
      return "EncodeCheckUpdate: output not cut";
    }
    SessionOptions so;
    so.name = std::string(status);
    so.service_checks = {std::string(output)};
    if (nlohmann::json::parse(EncodeSessionCreate(so), nullptr, false).is_discarded()) {
      return "EncodeSessionCreate: not JSON";
    }
    ServiceRegistration reg;
    reg.id = std::string(status);
    reg.name = std::string(output);
    reg.tags = {std::string(body)};
    reg.meta[std::string(status)] = std::string(output);
    reg.check = CheckDefinition{};
    reg.check->check_id = std::string(output);
    if (nlohmann::json::parse(EncodeServiceRegistration(reg), nullptr, false).is_discarded()) {
      return "EncodeServiceRegistration: not JSON";
    }
  }

  // URL escaping: only unreserved characters, '/', and %XX survive.
  for (const bool keep_slash : {true, false}) {
    const std::string e = keep_slash ? EscapePath(body) : EscapeComponent(body);
    for (const char c : e) {
      const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                              c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
      if (!unreserved && !(keep_slash && c == '/')) return "Escape: unsafe character in output";
    }
  }
  return "";
}

// ---------------------------------------------------------------- records

// Our KV records: anyone with write on the prefix can put anything there.
inline std::string FuzzRecords(const uint8_t* data, size_t size) {
  using namespace resec::consul;
  const std::string_view text = internal::Bytes(data, size);
  if (auto r = DecodeLockRecord(text); r.ok()) {
    auto back = DecodeLockRecord(EncodeLockRecord(*r));
    if (!back.ok() || !(*back == *r)) return "lock record does not survive encode/decode";
  }
  if (auto p = DecodePeerReport(text); p.ok()) {
    auto back = DecodePeerReport(EncodePeerReport(*p));
    if (!back.ok() || !(*back == *p)) return "peer report does not survive encode/decode";
  }
  if (auto s = DecodeSwitchoverRequest(text); s.ok()) {
    auto back = DecodeSwitchoverRequest(EncodeSwitchoverRequest(*s));
    if (!back.ok() || !(*back == *s)) return "switchover request does not survive encode/decode";
  }
  // Encoders on raw bytes (invalid UTF-8 included) must not throw and must
  // produce something the decoder accepts.
  LockRecord raw;
  raw.holder_id = "h" + std::string(text);
  raw.address = std::string(text);
  raw.successor = std::string(text);
  if (!DecodeLockRecord(EncodeLockRecord(raw)).ok()) return "EncodeLockRecord on raw bytes: undecodable";
  PeerReport report;
  report.id = "i" + std::string(text);
  report.role = std::string(text);
  if (!DecodePeerReport(EncodePeerReport(report)).ok()) return "EncodePeerReport on raw bytes: undecodable";
  return "";
}

// ---------------------------------------------------------------- durations

// Go's duration syntax: whatever parses must format back to text that parses
// to the same value (Go guarantees the same round trip).
inline std::string FuzzDuration(const uint8_t* data, size_t size) {
  const std::string text(internal::Bytes(data, size));
  auto d = ParseGoDuration(text);
  if (d.ok()) {
    const std::string formatted = FormatGoDuration(*d);
    auto again = ParseGoDuration(formatted);
    if (!again.ok()) return "FormatGoDuration output does not parse: " + formatted;
    if (*again != *d) return "duration round trip changed the value: " + text + " -> " + formatted;
    // Consul's formatting of the same value in milliseconds.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    if (ms.count() >= 0) {
      auto consul = ParseGoDuration(resec::consul::FormatDuration(ms));
      if (!consul.ok() || std::chrono::duration_cast<std::chrono::milliseconds>(*consul) != ms) {
        return "consul::FormatDuration output does not parse back";
      }
    }
  } else if (d.status().message().find('\n') != std::string::npos) {
    return "ParseGoDuration: error message holds a newline";
  }
  return "";
}

// ---------------------------------------------------------------- addresses

// host:port as REDIS_ADDR, ANNOUNCE_ADDR, STATE_LISTEN_ADDR and
// CONSUL_HTTP_ADDR take it.
inline std::string FuzzAddress(const uint8_t* data, size_t size) {
  const std::string text(internal::Bytes(data, size));
  for (const bool require_host : {false, true}) {
    auto hp = ParseHostPort(text, require_host);
    if (!hp.ok()) {
      if (!internal::AllPrintableAscii(hp.status().message())) return "ParseHostPort: unprintable error message";
      continue;
    }
    if (hp->port < 1 || hp->port > 65535) return "ParseHostPort: port out of range";
    if (require_host && hp->host.empty()) return "ParseHostPort: empty host with require_host";
    auto again = ParseHostPort(hp->ToString(), require_host);
    if (!again.ok()) return "HostPort::ToString output does not parse: " + again.status().message();
    if (!(*again == *hp)) return "host:port round trip changed the value";
  }
  const std::string quoted = QuoteForDisplay(text);
  if (!internal::AllPrintableAscii(quoted)) return "QuoteForDisplay: unprintable output";
  if (quoted.size() > 2 + 4 * 64 + 3) return "QuoteForDisplay: not bounded";
  (void)NormalizeLogLevel(text);
  return "";
}

// ---------------------------------------------------------------- configuration

// The secrets the configuration target plants; no error line may show them.
inline constexpr char kFuzzRedisPassword[] = "zQ9redispwQ9z";
inline constexpr char kFuzzConsulToken[] = "zQ9consultokenQ9z";
inline constexpr char kFuzzFileToken[] = "zQ9filetokenQ9z";
inline constexpr char kFuzzAuthPassword[] = "zQ9authpwQ9z";

// The input is lines; "NAME=value" with an upper-case NAME is an environment
// variable, any other line is one argv element. Secrets are planted in the
// environment (unless the input sets them itself) and the token file always
// reads as kFuzzFileToken (or fails, for a path "missing").
inline std::string FuzzConfig(const uint8_t* data, size_t size) {
  std::string_view rest = internal::Bytes(data, size);
  Environment env = {
      {"REDIS_PASSWORD", kFuzzRedisPassword},
      {"CONSUL_HTTP_TOKEN", kFuzzConsulToken},
      {"CONSUL_HTTP_AUTH", std::string("user:") + kFuzzAuthPassword},
  };
  bool check_redis = true, check_token = true, check_auth = true;
  std::vector<std::string> args;
  while (!rest.empty()) {
    const auto [line, after] = internal::SplitOnce(rest, '\n');
    const size_t eq = line.find('=');
    bool is_env = eq != std::string_view::npos && eq > 0;
    for (size_t i = 0; is_env && i < eq; ++i) {
      const char c = line[i];
      is_env = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (is_env) {
      const std::string name(line.substr(0, eq));
      env[name] = std::string(line.substr(eq + 1));
      if (name == "REDIS_PASSWORD") check_redis = false;
      if (name == "CONSUL_HTTP_TOKEN") check_token = false;
      if (name == "CONSUL_HTTP_AUTH") check_auth = false;
    } else if (!line.empty()) {
      // (An empty argv element is a known finding with its own row,
      // EmptyArgument, in tests/e2e/bad_input_test.cc; skipping it
      // here lets the fuzzer look past it.)
      args.emplace_back(line);
      if (line.find("redis-password") != std::string_view::npos) check_redis = false;
    }
    if (after.empty() && line.size() == rest.size()) break;
    rest = after;
  }
  const FileReader reader = [](const std::string& path) -> StatusOr<std::string> {
    if (path == "missing") return NotFound("No such file or directory");
    return std::string(kFuzzFileToken) + "\n";
  };
  // The file's text is a secret only when a token file is actually read.
  const auto file = env.find("CONSUL_HTTP_TOKEN_FILE");
  const bool check_file = file != env.end() && !file->second.empty() && file->second != "missing";
  const ParseResult result = ParseConfig(env, args, reader);
  if (const auto* errors = std::get_if<ConfigErrors>(&result)) {
    if (errors->lines.empty()) return "ConfigErrors without a line";
    for (const std::string& line : errors->lines) {
      if (!line.starts_with("resec: ")) return "error line does not start with 'resec: ': " + line;
      if (!internal::AllPrintableAscii(line)) return "error line holds unprintable bytes: " + QuoteForDisplay(line, 300);
      if (line.size() > 2048) return "error line longer than 2048 bytes";
      if (check_redis && line.find(kFuzzRedisPassword) != std::string::npos) return std::string("error line shows REDIS_PASSWORD") + ": " + line;
      if (check_token && line.find(kFuzzConsulToken) != std::string::npos) return std::string("error line shows CONSUL_HTTP_TOKEN") + ": " + line;
      if (check_file && line.find(kFuzzFileToken) != std::string::npos) return std::string("error line shows the token file's token") + ": " + line;
      if (check_auth && line.find(kFuzzAuthPassword) != std::string::npos) return std::string("error line shows CONSUL_HTTP_AUTH's password") + ": " + line;
    }
    return "";
  }
  if (const auto* config = std::get_if<Config>(&result)) {
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    if (config->redis_addr.host.empty()) return "accepted REDIS_ADDR without a host";
    for (const HostPort* hp : {&config->redis_addr, &config->announce_addr, &config->state_listen_addr}) {
      if (hp->port < 1 || hp->port > 65535) return "accepted a port out of range";
    }
    if (config->consul.port < 1 || config->consul.port > 65535) return "accepted a Consul port out of range";
    if (config->consul.scheme != "http" && config->consul.scheme != "https") return "accepted a Consul scheme";
    if (config->lock_ttl < seconds(10) || config->lock_ttl > std::chrono::hours(24)) return "lock TTL out of range";
    if (config->healthcheck_interval <= milliseconds(0) || config->healthcheck_timeout <= milliseconds(0)) {
      return "accepted a non-positive health check setting";
    }
    if (config->redis_poll_interval <= milliseconds(0)) return "accepted a non-positive poll interval";
    if (config->lock_delay < milliseconds(0) || config->lock_delay > seconds(60)) return "lock delay out of range";
    if (config->check_ttl < milliseconds(0)) return "negative check TTL";
    if (config->lock_monitor_retries < 0 || config->redis_priority < 0 || config->min_replicas_to_write < 0) {
      return "accepted a negative count";
    }
    if (config->min_replicas_max_lag < seconds(1)) return "min replicas max lag below 1s";
    if (config->lock_key.empty() || config->lock_session_name.empty()) return "accepted an empty lock key or name";
    if (config->tag_mode() && config->master_tags.empty()) return "tag mode without master tags";
    if (config->log_level != "debug" && config->log_level != "info" && config->log_level != "warn" &&
        config->log_level != "error") {
      return "accepted log level " + config->log_level;
    }
    (void)config->ServiceId();
    (void)config->consul.Address();
  }
  return "";
}

// Every target, in a fixed order.
inline const std::vector<Target>& AllTargets() {
  static const std::vector<Target> targets = {
      {"info", &FuzzInfo},         {"consul_json", &FuzzConsulJson}, {"records", &FuzzRecords},
      {"duration", &FuzzDuration}, {"address", &FuzzAddress},        {"config", &FuzzConfig},
  };
  return targets;
}

}  // namespace resec::fuzz
