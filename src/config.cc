// Configuration parsing: environment variables and flags as the original
// resec (urfave/cli) reads them, Go duration syntax, and the Consul CLI's
// client variables. Everything here is pure except ReadWholeFile and
// CurrentEnvironment, which main() injects.
#include "resec/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>

extern char** environ;  // POSIX: the process environment

namespace resec {

const char kResecVersion[] = RESEC_VERSION;

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------
// Durations (Go's time.ParseDuration and Duration.String).

constexpr uint64_t kTwoTo63 = uint64_t{1} << 63;

// Consumes [0-9]* from the front of `s`. False on overflow past 2^63, which
// Go reports as an invalid duration.
bool LeadingInt(std::string_view& s, uint64_t& x) {
  x = 0;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') break;
    if (x > kTwoTo63 / 10) return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
    if (x > kTwoTo63) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Consumes [0-9]* after a decimal point. Like Go, it stops accumulating
// precision instead of failing when the digits overflow.
void LeadingFraction(std::string_view& s, uint64_t& x, double& scale) {
  x = 0;
  scale = 1;
  bool overflow = false;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') break;
    if (overflow) continue;
    if (x > (kTwoTo63 - 1) / 10) {
      overflow = true;
      continue;
    }
    const uint64_t y = x * 10 + static_cast<uint64_t>(c - '0');
    if (y > kTwoTo63) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

std::optional<uint64_t> UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  // "us", U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, as Go accepts all three.
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return uint64_t{1000} * 1000 * 1000;
  if (unit == "m") return uint64_t{60} * 1000 * 1000 * 1000;
  if (unit == "h") return uint64_t{3600} * 1000 * 1000 * 1000;
  return std::nullopt;
}

// Writes the fraction v / 10^prec into the front of `out` (built backwards),
// omitting trailing zeros and the point when the fraction is zero. Returns v / 10^prec.
uint64_t FormatFraction(std::string& reversed, uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const uint64_t digit = v % 10;
    print = print || digit != 0;
    if (print) reversed.push_back(static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) reversed.push_back('.');
  return v;
}

void FormatInt(std::string& reversed, uint64_t v) {
  if (v == 0) {
    reversed.push_back('0');
    return;
  }
  while (v > 0) {
    reversed.push_back(static_cast<char>('0' + v % 10));
    v /= 10;
  }
}

// ---------------------------------------------------------------------------
// Small text helpers.

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool IsDecimal(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Go's strconv.ParseBool.
std::optional<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
  return std::nullopt;
}

// Decimal integer with an optional sign; nullopt when malformed or out of int's range.
std::optional<int> ParseDecimalInt(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);  // from_chars takes only '-'
  if (s.empty() || s.front() == '+') return std::nullopt;
  int value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Hostnames and IPv4 literals: letters, digits, '-', '.', '_' (Docker and
// Nomad names use underscores). Anything else is a typo we should report now
// rather than as a DNS failure later.
bool IsValidHostName(std::string_view host) {
  // 253 bytes: the longest name DNS can carry.
  if (host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

bool IsValidIpv6(std::string_view host) {
  // A zone ("fe80::1%eth0") is allowed; inet_pton checks only the address part.
  const std::string address(host.substr(0, host.find('%')));
  in6_addr parsed{};
  return inet_pton(AF_INET6, address.c_str(), &parsed) == 1;
}

bool IsLoopbackHost(std::string_view host) {
  if (ToLower(host) == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

// ---------------------------------------------------------------------------
// The settings: one row per variable, with its flag and help.

struct Setting {
  std::string_view env;
  std::string_view flag;        // long flag without "--"; empty: environment only
  std::string_view short_flag;  // e.g. "s"; empty: none
  std::string_view value_name;  // for --help; empty for booleans
  std::string_view default_text;
  std::string_view help;
  bool is_bool = false;
  bool secret = false;  // never echoed in an error line
};

// Order: the reference's table, then our additions, then the Consul client
// variables (environment only, as the Consul CLI reads them).
constexpr std::array kSettings = {
    Setting{"ANNOUNCE_ADDR", "announce-addr", "", "HOST:PORT", "",
            "host:port registered in Consul; empty: REDIS_ADDR (a loopback host announces only :port)"},
    Setting{"CONSUL_SERVICE_NAME", "consul-service-name", "", "NAME", "",
            "tag-based discovery: one service name, the role given by the first tag"},
    Setting{"CONSUL_SERVICE_PREFIX", "consul-service-prefix", "", "PREFIX", "redis",
            "name-based discovery: services <prefix>-master and <prefix>-slave; ignored with "
            "CONSUL_SERVICE_NAME"},
    Setting{"MASTER_TAGS", "consul-master-tags", "", "TAGS", "",
            "comma-separated tags of the master; required with CONSUL_SERVICE_NAME"},
    Setting{"SLAVE_TAGS", "consul-slave-tags", "", "TAGS", "",
            "comma-separated tags of replicas; in tag mode the first must differ from MASTER_TAGS' first"},
    Setting{"CONSUL_LOCK_KEY", "consul-lock-key", "", "KEY", "resec/.lock", "KV key of the lock; one per Redis group"},
    Setting{"CONSUL_LOCK_SESSION_NAME", "consul-lock-session-name", "", "NAME", "resec", "lock session name"},
    Setting{"CONSUL_LOCK_TTL", "consul-lock-ttl", "", "DURATION", "15s",
            "lock session TTL, 10s..24h (the original refused below 15s)"},
    Setting{"CONSUL_LOCK_MONITOR_RETRIES", "consul-lock-monitor-retries", "", "N", "3",
            "retries when watching the held lock returns HTTP 500"},
    Setting{"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "consul-lock-monitor-retry-interval", "", "DURATION", "1s",
            "wait between those retries"},
    Setting{"CONSUL_DEREGISTER_SERVICE_AFTER", "consul-deregister-service-after", "", "DURATION", "72h",
            "Consul removes the service after its check stays critical this long"},
    Setting{"HEALTHCHECK_INTERVAL", "healthcheck-interval", "", "DURATION", "5s",
            "how often the service's TTL check is refreshed"},
    Setting{"HEALTHCHECK_TIMEOUT", "healthcheck-timeout", "", "DURATION", "2s",
            "Redis operation timeout; the check TTL defaults to 3x this"},
    Setting{"REDIS_ADDR", "redis-addr", "", "HOST:PORT", "127.0.0.1:6379", "the Redis under management"},
    Setting{"REDIS_USERNAME", "redis-username", "", "USER", "", "Redis ACL user (Redis 6+); empty: AUTH with the password only"},
    Setting{"REDIS_PASSWORD", "redis-password", "", "PASSWORD", "", "Redis AUTH password", false, true},
    Setting{"STATE_SERVER", "state-server", "s", "", "false", "start the HTTP state server", true},
    Setting{"STATE_LISTEN_ADDR", "state-listen-addr", "", "HOST:PORT", "0.0.0.0:8080",
            "state server address (empty host: all interfaces)"},
    Setting{"LOG_LEVEL", "log-level", "", "LEVEL", "info", "debug, info, warn/warning, error (fatal, panic: error)"},
    Setting{"LOG_FORMAT", "log-format", "", "FORMAT", "text", "text, json or gelf"},
    // Beyond the original.
    Setting{"REDIS_POLL_INTERVAL", "redis-poll-interval", "", "DURATION", "250ms",
            "how often Redis INFO is polled (the original: 1s)"},
    Setting{"CONSUL_LOCK_DELAY", "consul-lock-delay", "", "DURATION", "1s",
            "lock-delay of the session, 0s..60s (Consul's default: 15s)"},
    Setting{"CONSUL_CHECK_TTL", "consul-check-ttl", "", "DURATION", "0s",
            "TTL of the service check; 0s: 3 x HEALTHCHECK_TIMEOUT"},
    Setting{"CONSUL_SESSION_CHECKS", "consul-session-checks", "", "", "true",
            "tie the lock session to our service check", true},
    Setting{"REDIS_PRIORITY", "redis-priority", "", "N", "100",
            "tie-breaker among equally up-to-date replicas, higher wins; 0: never promote"},
    Setting{"FENCING", "fencing", "", "", "true", "fence an old master that lost the lock", true},
    Setting{"MIN_REPLICAS_TO_WRITE", "min-replicas-to-write", "", "N", "1",
            "Redis min-replicas-to-write set on the master when that many replicas report in; 0: leave Redis' own"},
    Setting{"MIN_REPLICAS_MAX_LAG", "min-replicas-max-lag", "", "DURATION", "10s",
            "Redis min-replicas-max-lag, whole seconds"},
    Setting{"SWITCHOVER_TIMEOUT", "switchover-timeout", "", "DURATION", "5s",
            "how long a planned switchover waits for the new master"},
    // Consul client, named as the Consul CLI names them.
    Setting{"CONSUL_HTTP_ADDR", "", "", "", "127.0.0.1:8500", "Consul agent, optional http:// or https:// scheme"},
    Setting{"CONSUL_HTTP_TOKEN", "", "", "", "", "ACL token", false, true},
    Setting{"CONSUL_HTTP_TOKEN_FILE", "", "", "", "", "file holding the ACL token; wins over CONSUL_HTTP_TOKEN"},
    Setting{"CONSUL_HTTP_AUTH", "", "", "", "", "HTTP basic auth, user[:password]", false, true},
    Setting{"CONSUL_HTTP_SSL", "", "", "", "false", "use https", true},
    Setting{"CONSUL_HTTP_SSL_VERIFY", "", "", "", "true", "verify the agent's TLS certificate", true},
    Setting{"CONSUL_CACERT", "", "", "", "", "CA certificate file"},
    Setting{"CONSUL_CAPATH", "", "", "", "", "directory of CA certificates"},
    Setting{"CONSUL_CLIENT_CERT", "", "", "", "", "client certificate file (with CONSUL_CLIENT_KEY)"},
    Setting{"CONSUL_CLIENT_KEY", "", "", "", "", "client key file (with CONSUL_CLIENT_CERT)"},
    Setting{"CONSUL_TLS_SERVER_NAME", "", "", "", "", "server name for SNI and verification"},
};

const Setting& FindSetting(std::string_view env) {
  for (const Setting& s : kSettings) {
    if (s.env == env) return s;
  }
  // A name missing from the table is a bug in this file, caught by any test.
  std::fprintf(stderr, "resec: internal error: unknown setting %.*s\n", static_cast<int>(env.size()), env.data());
  std::abort();
}

const Setting* FindFlag(std::string_view name) {
  for (const Setting& s : kSettings) {
    if (s.flag.empty()) continue;
    if (s.flag == name || (!s.short_flag.empty() && s.short_flag == name)) return &s;
  }
  return nullptr;
}

std::string HelpText() {
  std::string text;
  text += "resec ";
  text += kResecVersion;
  text += ": Redis high availability agent on Consul\n\n";
  text += "Usage: resec [flags]\n\n";
  text += "Every setting is an environment variable and a flag; the flag wins.\n";
  text += "Durations use Go syntax (500ms, 15s, 1m30s, 72h). Booleans: true/false, 1/0, t/f.\n\n";
  text += "Flags:\n";
  const auto pad = [](std::string s, size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s + ' ';
  };
  const auto default_of = [](const Setting& s) {
    return s.default_text.empty() ? std::string("(empty)") : std::string(s.default_text);
  };
  // Columns: flag (the longest, --consul-lock-monitor-retry-interval DURATION,
  // is 47 wide with its indent), variable, default, meaning.
  constexpr size_t kFlagWidth = 48;
  constexpr size_t kEnvWidth = 35;
  constexpr size_t kDefaultWidth = 24;
  for (const Setting& s : kSettings) {
    if (s.flag.empty()) continue;
    std::string flag = "  ";
    if (!s.short_flag.empty()) flag += "-" + std::string(s.short_flag) + ", ";
    flag += "--" + std::string(s.flag);
    if (!s.value_name.empty()) flag += " " + std::string(s.value_name);
    text += pad(flag, kFlagWidth) + pad(std::string(s.env), kEnvWidth) + pad("default " + default_of(s), kDefaultWidth) +
            std::string(s.help) + "\n";
  }
  text += pad("  -h, --help", kFlagWidth) + "show this help\n";
  text += pad("  -v, --version", kFlagWidth) + "print the version\n";
  text += "\nConsul client (environment only, as the Consul CLI reads them):\n";
  for (const Setting& s : kSettings) {
    if (!s.flag.empty()) continue;
    text += pad("  " + std::string(s.env), kFlagWidth) + pad("default " + default_of(s), kDefaultWidth) +
            std::string(s.help) + "\n";
  }
  return text;
}

// ---------------------------------------------------------------------------
// Reading and checking values.

// Resolves each setting (flag, else non-empty variable) and collects one
// error line per problem.
class SettingReader {
 public:
  SettingReader(const Environment& env, const std::map<std::string_view, std::string>& flags)
      : env_(env), flags_(flags) {}

  // The value given for `env`, or nullopt when neither flag nor variable set it.
  // An empty variable counts as unset (urfave/cli does the same for most flag types).
  std::optional<std::string> Raw(std::string_view name) const {
    if (const auto it = flags_.find(name); it != flags_.end()) return it->second;
    if (const auto it = env_.find(std::string(name)); it != env_.end() && !it->second.empty()) return it->second;
    return std::nullopt;
  }

  // Values of the secret settings. A value that contains one (a password
  // pasted into the wrong flag, a stray argument) is never echoed either.
  void SetSecrets(std::vector<std::string> secrets) {
    secrets_.clear();
    for (std::string& s : secrets) {
      if (!s.empty()) secrets_.push_back(std::move(s));
    }
  }
  bool ContainsSecret(std::string_view text) const {
    return std::any_of(secrets_.begin(), secrets_.end(),
                       [text](const std::string& s) { return text.find(s) != std::string_view::npos; });
  }
  // `text` quoted for an error line, or a placeholder when it holds a secret.
  std::string Hide(std::string_view text) const {
    return ContainsSecret(text) ? std::string(kHidden) : QuoteForDisplay(text);
  }

  // The value of setting `name` quoted for an error line; secrets are never shown.
  std::string Echo(std::string_view name) const {
    if (FindSetting(name).secret) return std::string(kHidden);
    return Hide(Raw(name).value_or(""));
  }

  void Problem(std::string_view name, const std::string& problem) {
    const Setting& s = FindSetting(name);
    std::string line = "resec: " + std::string(s.env);
    if (!s.flag.empty()) line += " (--" + std::string(s.flag) + ")";
    line += ": " + problem;
    lines_.push_back(std::move(line));
  }
  void AddLine(std::string line) { lines_.push_back(std::move(line)); }

  void String(std::string_view name, std::string* out) const {
    if (auto raw = Raw(name)) *out = std::move(*raw);
  }

  // Returns whether a value was given and valid.
  bool Bool(std::string_view name, bool* out) {
    const auto raw = Raw(name);
    if (!raw) return false;
    if (const auto b = ParseGoBool(*raw)) {
      *out = *b;
      return true;
    }
    Problem(name, Echo(name) + " is not a boolean (true, false, 1, 0, t, f)");
    return false;
  }

  bool Int(std::string_view name, int* out) {
    const auto raw = Raw(name);
    if (!raw) return false;
    if (const auto v = ParseDecimalInt(*raw)) {
      *out = *v;
      return true;
    }
    Problem(name, Echo(name) + " is not an integer");
    return false;
  }

  bool Millis(std::string_view name, milliseconds* out) {
    const auto ns = Duration(name);
    if (!ns) return false;
    // Sub-millisecond settings would silently round; nobody means "1500us" here.
    if (*ns % milliseconds(1) != nanoseconds(0)) {
      Problem(name, Echo(name) + " is not a whole number of milliseconds");
      return false;
    }
    *out = std::chrono::duration_cast<milliseconds>(*ns);
    return true;
  }

  bool Seconds(std::string_view name, seconds* out) {
    const auto ns = Duration(name);
    if (!ns) return false;
    if (*ns % seconds(1) != nanoseconds(0)) {
      Problem(name, Echo(name) + " is not a whole number of seconds");
      return false;
    }
    *out = std::chrono::duration_cast<seconds>(*ns);
    return true;
  }

  // Comma-separated; spaces trimmed, empty entries dropped.
  void Tags(std::string_view name, std::vector<std::string>* out) const {
    const auto raw = Raw(name);
    if (!raw) return;
    out->clear();
    std::string_view rest = *raw;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view tag = TrimSpace(rest.substr(0, comma));
      if (!tag.empty()) out->emplace_back(tag);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }

  bool Address(std::string_view name, bool require_host, HostPort* out) {
    const auto raw = Raw(name);
    if (!raw) return false;
    auto parsed = ParseHostPort(*raw, require_host);
    if (!parsed.ok()) {
      // The detail may quote part of the value, so it goes when the value does.
      Problem(name, ContainsSecret(*raw) ? Echo(name) + ": not host:port"
                                         : Echo(name) + ": " + parsed.status().message());
      return false;
    }
    *out = *std::move(parsed);
    return true;
  }

  // Range checks, reported only for values actually given (defaults are valid).
  void AtLeast(std::string_view name, milliseconds value, milliseconds min, const std::string& why) {
    if (Raw(name) && value < min) Problem(name, Echo(name) + " " + why);
  }
  void AtMost(std::string_view name, milliseconds value, milliseconds max, const std::string& why) {
    if (Raw(name) && value > max) Problem(name, Echo(name) + " " + why);
  }
  void Positive(std::string_view name, milliseconds value) {
    if (Raw(name) && value <= milliseconds(0)) Problem(name, Echo(name) + " must be greater than 0");
  }
  void NotNegative(std::string_view name, milliseconds value) {
    if (Raw(name) && value < milliseconds(0)) Problem(name, Echo(name) + " must not be negative");
  }
  void NotNegative(std::string_view name, int value) {
    if (Raw(name) && value < 0) Problem(name, Echo(name) + " must not be negative");
  }

  std::vector<std::string> TakeLines() { return std::move(lines_); }
  bool HasProblems() const { return !lines_.empty(); }

 private:
  std::optional<nanoseconds> Duration(std::string_view name) {
    const auto raw = Raw(name);
    if (!raw) return std::nullopt;
    auto parsed = ParseGoDuration(*raw);
    if (!parsed.ok()) {
      Problem(name, Echo(name) + " is not a duration");
      return std::nullopt;
    }
    return *parsed;
  }

  static constexpr std::string_view kHidden = "(value hidden)";

  const Environment& env_;
  const std::map<std::string_view, std::string>& flags_;
  std::vector<std::string> secrets_;
  std::vector<std::string> lines_;
};

// The secrets, read before anything else so that no error line can echo them.
void ReadCredentials(SettingReader& reader, const FileReader& read_file, Config* config) {
  reader.String("REDIS_USERNAME", &config->redis_username);
  reader.String("REDIS_PASSWORD", &config->redis_password);
  ConsulClientConfig* consul = &config->consul;
  reader.String("CONSUL_HTTP_TOKEN", &consul->token);
  std::vector<std::string> secrets = {config->redis_password, consul->token};
  if (const auto path = reader.Raw("CONSUL_HTTP_TOKEN_FILE")) {
    auto contents = read_file ? read_file(*path) : ReadWholeFile(*path);
    if (!contents.ok()) {
      reader.Problem("CONSUL_HTTP_TOKEN_FILE",
                     "cannot read " + QuoteForDisplay(*path) + ": " + contents.status().message());
    } else if (const std::string_view token = TrimSpace(*contents); !token.empty()) {
      // The Consul API client: a token file wins over CONSUL_HTTP_TOKEN.
      consul->token = std::string(token);
      secrets.push_back(consul->token);
    }
  }
  if (const auto auth = reader.Raw("CONSUL_HTTP_AUTH")) {
    const size_t colon = auth->find(':');
    consul->basic_auth_user = auth->substr(0, colon);
    consul->basic_auth_password = colon == std::string::npos ? "" : auth->substr(colon + 1);
    secrets.push_back(consul->basic_auth_password);
  }
  reader.SetSecrets(std::move(secrets));
}

// CONSUL_HTTP_ADDR and the TLS variables, following the Consul Go API client
// (api.DefaultConfig + NewClient).
void ReadConsulClient(SettingReader& reader, ConsulClientConfig* consul) {
  bool https = false;
  if (bool ssl = false; reader.Bool("CONSUL_HTTP_SSL", &ssl)) https = ssl;

  std::string address = reader.Raw("CONSUL_HTTP_ADDR").value_or("127.0.0.1:8500");
  std::string_view rest = address;
  bool address_ok = true;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, sep);
    rest.remove_prefix(sep + 3);
    if (scheme == "https") {
      https = true;
    } else if (scheme == "http") {
      // Consul never reverts to http when CONSUL_HTTP_SSL asked for TLS.
    } else if (scheme == "unix" || scheme == "local") {
      reader.Problem("CONSUL_HTTP_ADDR", reader.Echo("CONSUL_HTTP_ADDR") + ": unix sockets are not supported");
      address_ok = false;
    } else {
      reader.Problem("CONSUL_HTTP_ADDR",
                     reader.Echo("CONSUL_HTTP_ADDR") + ": unknown scheme " + QuoteForDisplay(scheme) +
                         " (http or https)");
      address_ok = false;
    }
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  consul->scheme = https ? "https" : "http";
  if (address_ok) {
    // No port means the scheme's port, as Go's HTTP client would use.
    const bool bracketed = !rest.empty() && rest.front() == '[';
    const bool has_port = bracketed ? rest.find("]:") != std::string_view::npos
                                    : rest.find(':') != std::string_view::npos;
    const int default_port = https ? 443 : 80;
    auto parsed = has_port ? ParseHostPort(std::string(rest), true)
                           : ParseHostPort(std::string(rest) + ":" + std::to_string(default_port), true);
    if (parsed.ok()) {
      consul->host = parsed->host;
      consul->port = parsed->port;
    } else {
      // The parser's message quotes the value's parts: never when a secret is in it.
      const bool secret = reader.ContainsSecret(std::string(rest));
      reader.Problem("CONSUL_HTTP_ADDR", reader.Echo("CONSUL_HTTP_ADDR") + ": " +
                                             (secret ? std::string("not host:port") : parsed.status().message()));
    }
  }

  if (bool verify = true; reader.Bool("CONSUL_HTTP_SSL_VERIFY", &verify)) consul->tls_verify = verify;
  reader.String("CONSUL_CACERT", &consul->ca_file);
  reader.String("CONSUL_CAPATH", &consul->ca_path);
  reader.String("CONSUL_CLIENT_CERT", &consul->client_cert);
  reader.String("CONSUL_CLIENT_KEY", &consul->client_key);
  reader.String("CONSUL_TLS_SERVER_NAME", &consul->tls_server_name);
  if (!consul->client_cert.empty() && consul->client_key.empty()) {
    reader.Problem("CONSUL_CLIENT_KEY", "required with CONSUL_CLIENT_CERT");
  }
  if (consul->client_cert.empty() && !consul->client_key.empty()) {
    reader.Problem("CONSUL_CLIENT_CERT", "required with CONSUL_CLIENT_KEY");
  }
}

// Flags: "--name value", "--name=value", one dash works too (Go's flag package,
// which urfave/cli builds on); booleans take no separate value.
struct ArgProblem {
  std::string text;     // the argument (stray) or the flag as typed (unknown)
  std::string problem;  // ": unknown flag", ...; text == "" means problem is a whole line
  bool quote = false;   // a stray argument is always quoted
};
struct ParsedArgs {
  std::map<std::string_view, std::string> values;  // env name -> value; the last one given wins
  std::vector<ArgProblem> problems;  // rendered once the secrets are known
  std::optional<ParseResult> early;  // --help or --version
};

// A flag as typed, bare when it is a plain name ("--bogus"), quoted otherwise.
std::string DisplayFlag(const SettingReader& reader, std::string_view typed) {
  const bool plain = std::all_of(typed.begin(), typed.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  return plain && typed.size() <= 64 && !reader.ContainsSecret(typed) ? std::string(typed) : reader.Hide(typed);
}

ParsedArgs ParseArgs(const std::vector<std::string>& args) {
  ParsedArgs out;
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positionals || arg.size() < 2 || arg[0] != '-') {
      out.problems.push_back({arg, ": unexpected argument (settings are flags)", true});
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    std::string_view body = arg;
    body.remove_prefix(body.starts_with("--") ? 2 : 1);
    const size_t eq = body.find('=');
    const std::string_view name = body.substr(0, eq);
    const std::string_view typed = std::string_view(arg).substr(0, arg.size() - body.size() + name.size());
    if (name == "h" || name == "help") {
      out.early = HelpRequest{HelpText()};
      return out;
    }
    if (name == "v" || name == "version") {
      out.early = VersionRequest{std::string("resec ") + kResecVersion};
      return out;
    }
    const Setting* setting = FindFlag(name);
    if (setting == nullptr) {
      out.problems.push_back({std::string(typed), ": unknown flag"});
      continue;
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(body.substr(eq + 1));
    } else if (setting->is_bool) {
      value = "true";
    } else if (i + 1 < args.size()) {
      // Like Go's flag package, the next argument is the value even if it starts with '-' ("-1s").
      value = args[++i];
    } else {
      out.problems.push_back({"", "resec: " + std::string(setting->env) + " (--" + std::string(setting->flag) +
                                      "): flag needs a value"});
      continue;
    }
    out.values[setting->env] = std::move(value);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API.

std::string QuoteForDisplay(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  size_t shown = 0;
  for (const char ch : text) {
    if (shown == max_bytes) break;
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
    ++shown;
  }
  out += '"';
  if (shown < text.size()) out += "...";
  return out;
}

std::optional<std::string> NormalizeLogLevel(std::string_view level) {
  const std::string lower = ToLower(level);
  if (lower == "debug" || lower == "info" || lower == "error") return lower;
  if (lower == "warn" || lower == "warning") return std::string("warn");
  // logrus' fatal and panic levels log only errors; we log errors at those levels.
  if (lower == "fatal" || lower == "panic") return std::string("error");
  return std::nullopt;
}

StatusOr<nanoseconds> ParseGoDuration(const std::string& text) {
  const auto invalid = [&text] { return InvalidArgument("time: invalid duration " + QuoteForDisplay(text)); };
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return nanoseconds(0);
  if (s.empty()) return invalid();
  uint64_t d = 0;
  while (!s.empty()) {
    if (!(s.front() == '.' || (s.front() >= '0' && s.front() <= '9'))) return invalid();
    uint64_t v = 0;
    const size_t before = s.size();
    if (!LeadingInt(s, v)) return invalid();
    const bool pre = before != s.size();

    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      const size_t at = s.size();
      LeadingFraction(s, f, scale);
      post = at != s.size();
    }
    if (!pre && !post) return invalid();  // no digits, e.g. ".s"

    size_t i = 0;
    while (i < s.size() && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9')) ++i;
    if (i == 0) return InvalidArgument("time: missing unit in duration " + QuoteForDisplay(text));
    const std::string_view unit_text = s.substr(0, i);
    s.remove_prefix(i);
    const auto unit = UnitNanos(unit_text);
    if (!unit) {
      return InvalidArgument("time: unknown unit " + QuoteForDisplay(unit_text) + " in duration " +
                             QuoteForDisplay(text));
    }
    if (v > kTwoTo63 / *unit) return invalid();  // overflow
    v *= *unit;
    if (f > 0) {
      // double keeps fractions of hours nanosecond-accurate (at most 3.6e12 ns).
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
      if (v > kTwoTo63) return invalid();
    }
    d += v;
    if (d > kTwoTo63) return invalid();
  }
  if (neg) {
    // -(2^63) is representable; negate in unsigned arithmetic to reach it.
    return nanoseconds(static_cast<int64_t>(~d + 1));
  }
  if (d > kTwoTo63 - 1) return invalid();
  return nanoseconds(static_cast<int64_t>(d));
}

std::string FormatGoDuration(nanoseconds d) {
  const int64_t count = d.count();
  const bool neg = count < 0;
  uint64_t u = static_cast<uint64_t>(count);
  if (neg) u = ~u + 1;
  std::string reversed;  // built from the last character to the first, like Go's buffer
  constexpr uint64_t kSecond = 1000000000;
  if (u < kSecond) {
    // Below a second Go switches to smaller units, like 1.2ms.
    int prec = 0;
    reversed.push_back('s');
    if (u == 0) return "0s";
    if (u < 1000) {
      prec = 0;
      reversed.push_back('n');
    } else if (u < 1000000) {
      prec = 3;
      reversed += "\xB5\xC2";  // U+00B5 MICRO SIGN, reversed byte order
    } else {
      prec = 6;
      reversed.push_back('m');
    }
    u = FormatFraction(reversed, u, prec);
    FormatInt(reversed, u);
  } else {
    reversed.push_back('s');
    u = FormatFraction(reversed, u, 9);
    FormatInt(reversed, u % 60);
    u /= 60;
    if (u > 0) {
      reversed.push_back('m');
      FormatInt(reversed, u % 60);
      u /= 60;
      // Hours are the largest unit: days differ in length.
      if (u > 0) {
        reversed.push_back('h');
        FormatInt(reversed, u);
      }
    }
  }
  if (neg) reversed.push_back('-');
  return std::string(reversed.rbegin(), reversed.rend());
}

StatusOr<HostPort> ParseHostPort(const std::string& text, bool require_host) {
  if (text.empty()) return InvalidArgument("empty address, want host:port");
  std::string host;
  std::string port_text;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return InvalidArgument("missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    const std::string rest = text.substr(close + 1);
    if (rest.empty()) return InvalidArgument("missing port");
    if (rest.front() != ':') return InvalidArgument("unexpected text after ']', want [ipv6]:port");
    port_text = rest.substr(1);
    if (host.empty()) return InvalidArgument("empty IPv6 address in brackets");
    if (!IsValidIpv6(host)) return InvalidArgument("invalid IPv6 address " + QuoteForDisplay(host));
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return InvalidArgument("missing port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return InvalidArgument("too many colons; write an IPv6 address in brackets, like [::1]:6379");
    }
    if (!IsValidHostName(host)) return InvalidArgument("invalid host " + QuoteForDisplay(host));
  }
  if (port_text.empty()) return InvalidArgument("missing port");
  if (!IsDecimal(port_text)) return InvalidArgument("port " + QuoteForDisplay(port_text) + " is not a number");
  const size_t first_digit = std::min(port_text.find_first_not_of('0'), port_text.size());
  const std::string_view digits = std::string_view(port_text).substr(first_digit);
  int port = 0;
  if (digits.size() <= 5) {
    for (const char c : digits) port = port * 10 + (c - '0');
  }
  if (digits.size() > 5 || port < 1 || port > 65535) {
    std::string shown(digits.empty() ? "0" : digits.substr(0, 20));
    if (digits.size() > 20) shown += "...";
    return InvalidArgument("port " + shown + " out of range 1..65535");
  }
  if (host.empty() && require_host) return InvalidArgument("missing host");
  return HostPort{std::move(host), port};
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string ConsulClientConfig::Address() const {
  if (scheme == "unix") return "unix://" + unix_socket;
  return scheme + "://" + HostPort{host, port}.ToString();
}

std::string Config::ServiceId() const {
  return (tag_mode() ? service_name : service_prefix) + "@" + announce_addr.ToString();
}

std::string Config::MasterServiceName() const { return tag_mode() ? service_name : service_prefix + "-master"; }

std::string Config::SlaveServiceName() const { return tag_mode() ? service_name : service_prefix + "-slave"; }

ParseResult ParseConfig(const Environment& env, const std::vector<std::string>& args, const FileReader& read_file) {
  ParsedArgs parsed_args = ParseArgs(args);
  if (parsed_args.early) return *std::move(parsed_args.early);

  Config config;
  SettingReader reader(env, parsed_args.values);
  ReadCredentials(reader, read_file, &config);
  for (const ArgProblem& p : parsed_args.problems) {
    if (p.text.empty() && !p.quote) {
      reader.AddLine(p.problem);
    } else {
      reader.AddLine("resec: " + (p.quote ? reader.Hide(p.text) : DisplayFlag(reader, p.text)) + p.problem);
    }
  }

  // Redis.
  reader.Address("REDIS_ADDR", /*require_host=*/true, &config.redis_addr);

  // Announce address: explicit, else REDIS_ADDR with the loopback rule, so a
  // loopback Redis registers without an address and Consul shows the node's.
  if (reader.Raw("ANNOUNCE_ADDR")) {
    reader.Address("ANNOUNCE_ADDR", /*require_host=*/false, &config.announce_addr);
  } else if (IsLoopbackHost(config.redis_addr.host)) {
    config.announce_addr = HostPort{"", config.redis_addr.port};
  } else {
    config.announce_addr = config.redis_addr;
  }

  // Consul: service, tags, lock.
  ReadConsulClient(reader, &config.consul);
  reader.String("CONSUL_SERVICE_NAME", &config.service_name);
  reader.String("CONSUL_SERVICE_PREFIX", &config.service_prefix);
  reader.Tags("MASTER_TAGS", &config.master_tags);
  reader.Tags("SLAVE_TAGS", &config.slave_tags);
  reader.String("CONSUL_LOCK_KEY", &config.lock_key);
  reader.String("CONSUL_LOCK_SESSION_NAME", &config.lock_session_name);
  if (config.tag_mode()) {
    if (config.master_tags.empty()) {
      reader.Problem("MASTER_TAGS", "required when CONSUL_SERVICE_NAME is set");
    } else if (!config.slave_tags.empty() && config.slave_tags.front() == config.master_tags.front()) {
      reader.Problem("SLAVE_TAGS", "first tag " + QuoteForDisplay(config.slave_tags.front()) +
                                       " must differ from the first tag of MASTER_TAGS");
    }
  } else if (config.service_prefix.empty()) {
    reader.Problem("CONSUL_SERVICE_PREFIX", "must not be empty without CONSUL_SERVICE_NAME");
  }
  if (config.lock_key.empty()) reader.Problem("CONSUL_LOCK_KEY", "must not be empty");
  if (config.lock_session_name.empty()) reader.Problem("CONSUL_LOCK_SESSION_NAME", "must not be empty");

  if (reader.Millis("CONSUL_LOCK_TTL", &config.lock_ttl)) {
    // Consul accepts session TTLs of 10s..24h. The original refused anything
    // below 15s; we allow Consul's own minimum so faster failover is possible.
    reader.AtLeast("CONSUL_LOCK_TTL", config.lock_ttl, std::chrono::seconds(10),
                   "is below 10s, Consul's minimum session TTL");
    reader.AtMost("CONSUL_LOCK_TTL", config.lock_ttl, std::chrono::hours(24),
                  "is above 24h, Consul's maximum session TTL");
  }
  if (reader.Int("CONSUL_LOCK_MONITOR_RETRIES", &config.lock_monitor_retries)) {
    reader.NotNegative("CONSUL_LOCK_MONITOR_RETRIES", config.lock_monitor_retries);
  }
  if (reader.Millis("CONSUL_LOCK_MONITOR_RETRY_INTERVAL", &config.lock_monitor_retry_interval)) {
    reader.Positive("CONSUL_LOCK_MONITOR_RETRY_INTERVAL", config.lock_monitor_retry_interval);
  }
  if (reader.Millis("CONSUL_DEREGISTER_SERVICE_AFTER", &config.deregister_service_after)) {
    // Consul raises anything under a minute to a minute; we only refuse nonsense.
    reader.Positive("CONSUL_DEREGISTER_SERVICE_AFTER", config.deregister_service_after);
  }
  if (reader.Millis("HEALTHCHECK_INTERVAL", &config.healthcheck_interval)) {
    reader.Positive("HEALTHCHECK_INTERVAL", config.healthcheck_interval);
  }
  if (reader.Millis("HEALTHCHECK_TIMEOUT", &config.healthcheck_timeout)) {
    reader.Positive("HEALTHCHECK_TIMEOUT", config.healthcheck_timeout);
  }

  // State server and logs.
  reader.Bool("STATE_SERVER", &config.state_server);
  reader.Address("STATE_LISTEN_ADDR", /*require_host=*/false, &config.state_listen_addr);
  if (const auto level = reader.Raw("LOG_LEVEL")) {
    if (auto normal = NormalizeLogLevel(*level)) {
      config.log_level = *std::move(normal);
    } else {
      reader.Problem("LOG_LEVEL", reader.Echo("LOG_LEVEL") + " is not a log level (debug, info, warn, error)");
    }
  }
  if (const auto format = reader.Raw("LOG_FORMAT")) {
    const std::string lower = ToLower(*format);
    if (lower == "text") {
      config.log_format = LogFormat::kText;
    } else if (lower == "json") {
      config.log_format = LogFormat::kJson;
    } else if (lower == "gelf") {
      config.log_format = LogFormat::kGelf;
    } else {
      reader.Problem("LOG_FORMAT", reader.Echo("LOG_FORMAT") + " is not a log format (text, json, gelf)");
    }
  }

  // Beyond the original.
  if (reader.Millis("REDIS_POLL_INTERVAL", &config.redis_poll_interval)) {
    reader.Positive("REDIS_POLL_INTERVAL", config.redis_poll_interval);
  }
  if (reader.Millis("CONSUL_LOCK_DELAY", &config.lock_delay)) {
    reader.NotNegative("CONSUL_LOCK_DELAY", config.lock_delay);
    reader.AtMost("CONSUL_LOCK_DELAY", config.lock_delay, std::chrono::seconds(60),
                  "is above 60s, Consul's maximum lock-delay");
  }
  if (reader.Millis("CONSUL_CHECK_TTL", &config.check_ttl)) {
    reader.NotNegative("CONSUL_CHECK_TTL", config.check_ttl);
  }
  reader.Bool("CONSUL_SESSION_CHECKS", &config.session_checks);
  if (reader.Int("REDIS_PRIORITY", &config.redis_priority)) {
    reader.NotNegative("REDIS_PRIORITY", config.redis_priority);
  }
  reader.Bool("FENCING", &config.fencing);
  if (reader.Int("MIN_REPLICAS_TO_WRITE", &config.min_replicas_to_write)) {
    reader.NotNegative("MIN_REPLICAS_TO_WRITE", config.min_replicas_to_write);
  }
  if (reader.Seconds("MIN_REPLICAS_MAX_LAG", &config.min_replicas_max_lag)) {
    // Redis counts a replica as good while its last ACK (sent every second) is
    // at most this old; below 1s every replica would flap out.
    reader.AtLeast("MIN_REPLICAS_MAX_LAG", config.min_replicas_max_lag, std::chrono::seconds(1),
                   "must be at least 1s");
  }
  if (reader.Millis("SWITCHOVER_TIMEOUT", &config.switchover_timeout)) {
    reader.Positive("SWITCHOVER_TIMEOUT", config.switchover_timeout);
  }

  if (reader.HasProblems()) return ConfigErrors{reader.TakeLines()};
  return config;
}

Environment CurrentEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  // Closes the descriptor on every path out.
  struct ScopedFd {
    int fd;
    ~ScopedFd() {
      if (fd >= 0) ::close(fd);
    }
  };
  const ScopedFd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    const int err = errno;
    const std::string why = std::generic_category().message(err);
    if (err == ENOENT) return NotFound(why);
    if (err == EACCES || err == EPERM) return PermissionDenied(why);
    return FailedPrecondition(why);
  }
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n > 0) {
      contents.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      return contents;
    } else if (errno != EINTR) {
      return FailedPrecondition(std::generic_category().message(errno));
    }
  }
}

}  // namespace resec
