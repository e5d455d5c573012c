// The one table of settings (see resec/config/settings_table.h).
#include "resec/config/settings_table.h"

#include <array>
#include <cstdio>
#include <cstdlib>

#include "resec/config/durations.h"

namespace resec::config {
namespace {

using namespace std::chrono_literals;

constexpr int64_t Ms(std::chrono::milliseconds d) { return d.count(); }

// Order: the reference's table, then our additions, then the Consul client
// variables (environment only, as the Consul CLI reads them). Bounds carry
// their reason where Consul or Redis sets them.
constexpr std::array kSettings = {
    Setting{"ANNOUNCE_ADDR", "announce-addr", "", "HOST:PORT",
            "host:port registered in Consul; empty: REDIS_ADDR (a loopback host announces only :port)",
            AddressValue{&Field<&Config::announce_addr>, /*require_host=*/false}},
    Setting{"CONSUL_SERVICE_NAME", "consul-service-name", "", "NAME",
            "tag-based discovery: one service name, the role given by the first tag",
            TextValue{&Field<&Config::service_name>}},
    Setting{"CONSUL_SERVICE_PREFIX", "consul-service-prefix", "", "PREFIX",
            "name-based discovery: services <prefix>-master and <prefix>-slave; ignored with "
            "CONSUL_SERVICE_NAME",
            TextValue{&Field<&Config::service_prefix>}},
    Setting{"MASTER_TAGS", "consul-master-tags", "", "TAGS",
            "comma-separated tags of the master; required with CONSUL_SERVICE_NAME",
            TagsValue{&Field<&Config::master_tags>}},
    Setting{"SLAVE_TAGS", "consul-slave-tags", "", "TAGS",
            "comma-separated tags of replicas; in tag mode the first must differ from MASTER_TAGS' first",
            TagsValue{&Field<&Config::slave_tags>}},
    Setting{"CONSUL_LOCK_KEY", "consul-lock-key", "", "KEY", "KV key of the lock; one per Redis group",
            TextValue{&Field<&Config::lock_key>}},
    Setting{"CONSUL_LOCK_SESSION_NAME", "consul-lock-session-name", "", "NAME", "lock session name",
            TextValue{&Field<&Config::lock_session_name>}},
    // Consul accepts session TTLs of 10s..24h. The original refused anything
    // below 15s; we allow Consul's own minimum so faster failover is possible.
    Setting{"CONSUL_LOCK_TTL", "consul-lock-ttl", "", "DURATION",
            "lock session TTL, 10s..24h (the original refused below 15s)",
            MillisValue{&Field<&Config::lock_ttl>,
                        {.min = Limit{Ms(10s), true, "is below 10s, Consul's minimum session TTL"},
                         .max = Limit{Ms(24h), true, "is above 24h, Consul's maximum session TTL"}}}},
    Setting{"CONSUL_LOCK_MONITOR_RETRIES", "consul-lock-monitor-retries", "", "N",
            "retries when watching the held lock returns HTTP 500",
            IntValue{&Field<&Config::lock_monitor_retries>, kNotNegative}},
    Setting{"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "consul-lock-monitor-retry-interval", "", "DURATION",
            "wait between those retries", MillisValue{&Field<&Config::lock_monitor_retry_interval>, kPositive}},
    // Consul raises anything under a minute to a minute; we only refuse nonsense.
    Setting{"CONSUL_DEREGISTER_SERVICE_AFTER", "consul-deregister-service-after", "", "DURATION",
            "Consul removes the service after its check stays critical this long",
            MillisValue{&Field<&Config::deregister_service_after>, kPositive}},
    Setting{"HEALTHCHECK_INTERVAL", "healthcheck-interval", "", "DURATION",
            "how often the service's TTL check is refreshed",
            MillisValue{&Field<&Config::healthcheck_interval>, kPositive}},
    Setting{"HEALTHCHECK_TIMEOUT", "healthcheck-timeout", "", "DURATION",
            "Redis operation timeout; the check TTL defaults to 3x this",
            MillisValue{&Field<&Config::healthcheck_timeout>, kPositive}},
    Setting{"REDIS_ADDR", "redis-addr", "", "HOST:PORT", "the Redis under management",
            AddressValue{&Field<&Config::redis_addr>, /*require_host=*/true}},
    Setting{"REDIS_USERNAME", "redis-username", "", "USER",
            "Redis ACL user (Redis 6+); empty: AUTH with the password only",
            TextValue{&Field<&Config::redis_username>}},
    Setting{"REDIS_PASSWORD", "redis-password", "", "PASSWORD", "Redis AUTH password",
            TextValue{&Field<&Config::redis_password>}, /*secret=*/true},
    Setting{"STATE_SERVER", "state-server", "s", "", "start the HTTP state server",
            BoolValue{&Field<&Config::state_server>}},
    Setting{"STATE_LISTEN_ADDR", "state-listen-addr", "", "HOST:PORT",
            "state server address (empty host: all interfaces)",
            AddressValue{&Field<&Config::state_listen_addr>, /*require_host=*/false}},
    Setting{"LOG_LEVEL", "log-level", "", "LEVEL", "debug, info, warn/warning, error (fatal, panic: error)",
            LogLevelValue{&Field<&Config::log_level>}},
    Setting{"LOG_FORMAT", "log-format", "", "FORMAT", "text, json or gelf", LogFormatValue{&Field<&Config::log_format>}},
    // Beyond the original.
    Setting{"REDIS_POLL_INTERVAL", "redis-poll-interval", "", "DURATION",
            "how often Redis INFO is polled (the original: 1s)",
            MillisValue{&Field<&Config::redis_poll_interval>, kPositive}},
    // 60s is the largest lock-delay Consul accepts.
    Setting{"CONSUL_LOCK_DELAY", "consul-lock-delay", "", "DURATION",
            "lock-delay of the session, 0s..60s (Consul's default: 15s)",
            MillisValue{&Field<&Config::lock_delay>,
                        {.min = kNotNegative.min,
                         .max = Limit{Ms(60s), true, "is above 60s, Consul's maximum lock-delay"}}}},
    Setting{"CONSUL_CHECK_TTL", "consul-check-ttl", "", "DURATION",
            "TTL of the service check; 0s: 3 x HEALTHCHECK_TIMEOUT",
            MillisValue{&Field<&Config::check_ttl>, kNotNegative}},
    Setting{"CONSUL_SESSION_CHECKS", "consul-session-checks", "", "", "tie the lock session to our service check",
            BoolValue{&Field<&Config::session_checks>}},
    Setting{"REDIS_PRIORITY", "redis-priority", "", "N",
            "tie-breaker among equally up-to-date replicas, higher wins; 0: never promote",
            IntValue{&Field<&Config::redis_priority>, kNotNegative}},
    Setting{"FENCING", "fencing", "", "", "fence an old master that lost the lock",
            BoolValue{&Field<&Config::fencing>}},
    Setting{"MIN_REPLICAS_TO_WRITE", "min-replicas-to-write", "", "N",
            "Redis min-replicas-to-write set on the master when that many replicas report in; 0: leave Redis' own",
            IntValue{&Field<&Config::min_replicas_to_write>, kNotNegative}},
    // Redis counts a replica as good while its last ACK (sent every second) is
    // at most this old; below 1s every replica would flap out.
    Setting{"MIN_REPLICAS_MAX_LAG", "min-replicas-max-lag", "", "DURATION", "Redis min-replicas-max-lag, whole seconds",
            SecondsValue{&Field<&Config::min_replicas_max_lag>, {.min = Limit{1, true, "must be at least 1s"}}}},
    Setting{"SWITCHOVER_TIMEOUT", "switchover-timeout", "", "DURATION",
            "how long a planned switchover waits for the new master",
            MillisValue{&Field<&Config::switchover_timeout>, kPositive}},
    Setting{"MIN_REPLICAS_STRICT", "min-replicas-strict", "", "",
            "keep MIN_REPLICAS_TO_WRITE while fewer replicas are online (writes refused then); "
            "default: count only replicas the master sees online",
            BoolValue{&Field<&Config::min_replicas_strict>}},
    // The peer protocol (docs/failure-detection.md).
    Setting{"PEER_TOKEN", "peer-token", "", "TOKEN",
            "the group's shared secret; set on every member, the agents detect failures among themselves",
            TextValue{&Field<&Config::peer_token>}, /*secret=*/true},
    Setting{"PEER_TOKEN_FILE", "peer-token-file", "", "FILE", "file holding the peer token; wins over PEER_TOKEN",
            SpecialValue{[](const Config&) { return std::string(); }}},
    Setting{"PEER_LISTEN_ADDR", "peer-listen-addr", "", "HOST:PORT",
            "where the peer protocol listens (UDP; an IPv4 address or empty for all)",
            AddressValue{&Field<&Config::peer_listen_addr>, /*require_host=*/false}},
    Setting{"PEER_ADVERTISE_ADDR", "peer-advertise-addr", "", "HOST:PORT",
            "where peers reach it; empty: the announce host, else Consul's address for our node, and the listen port",
            AddressValue{&Field<&Config::peer_advertise_addr>, /*require_host=*/false}},
    // A heartbeat every few milliseconds would be a busy loop for nothing;
    // one a second would make the lease (several heartbeats) long.
    Setting{"PEER_INTERVAL", "peer-interval", "", "DURATION", "peer heartbeat period, 10ms..1s",
            MillisValue{&Field<&Config::peer_interval>,
                        {.min = Limit{10, true, "is below 10ms"}, .max = Limit{Ms(1s), true, "is above 1s"}}}},
    Setting{"PEER_LEASE", "peer-lease", "", "DURATION",
            "how long one heartbeat's grant holds; at least 3 x PEER_INTERVAL",
            MillisValue{&Field<&Config::peer_lease>, kPositive}},
    // Consul client, named as the Consul CLI names them.
    Setting{"CONSUL_HTTP_ADDR", "", "", "", "Consul agent, optional http:// or https:// scheme",
            SpecialValue{[](const Config& c) { return HostPort{c.consul.host, c.consul.port}.ToString(); }}},
    Setting{"CONSUL_HTTP_TOKEN", "", "", "", "ACL token",
            TextValue{&Field<&Config::consul, &ConsulClientConfig::token>}, /*secret=*/true},
    Setting{"CONSUL_HTTP_TOKEN_FILE", "", "", "", "file holding the ACL token; wins over CONSUL_HTTP_TOKEN",
            SpecialValue{[](const Config&) { return std::string(); }}},
    Setting{"CONSUL_HTTP_AUTH", "", "", "", "HTTP basic auth, user[:password]",
            SpecialValue{[](const Config& c) {
              return c.consul.basic_auth_password.empty() ? c.consul.basic_auth_user
                                                          : c.consul.basic_auth_user + ":" + c.consul.basic_auth_password;
            }},
            /*secret=*/true},
    Setting{"CONSUL_HTTP_SSL", "", "", "", "use https",
            SpecialValue{[](const Config& c) { return std::string(c.consul.scheme == "https" ? "true" : "false"); },
                         /*is_bool=*/true}},
    Setting{"CONSUL_HTTP_SSL_VERIFY", "", "", "", "verify the agent's TLS certificate",
            BoolValue{&Field<&Config::consul, &ConsulClientConfig::tls_verify>}},
    Setting{"CONSUL_CACERT", "", "", "", "CA certificate file",
            TextValue{&Field<&Config::consul, &ConsulClientConfig::ca_file>}},
    Setting{"CONSUL_CAPATH", "", "", "", "directory of CA certificates",
            TextValue{&Field<&Config::consul, &ConsulClientConfig::ca_path>}},
    Setting{"CONSUL_CLIENT_CERT", "", "", "", "client certificate file (with CONSUL_CLIENT_KEY)",
            TextValue{&Field<&Config::consul, &ConsulClientConfig::client_cert>}},
    Setting{"CONSUL_CLIENT_KEY", "", "", "", "client key file (with CONSUL_CLIENT_CERT)",
            TextValue{&Field<&Config::consul, &ConsulClientConfig::client_key>}},
    Setting{"CONSUL_TLS_SERVER_NAME", "", "", "", "server name for SNI and verification",
            TextValue{&Field<&Config::consul, &ConsulClientConfig::tls_server_name>}},
};

// Go's Duration.String without the zero units it pads with ("72h0m0s" is
// "72h", "1m0s" is "1m"), as a person writes a default.
std::string ShortDuration(std::chrono::nanoseconds d) {
  std::string text = FormatGoDuration(d);
  const auto drop_zero_unit = [&text](std::string_view zero, char after) {
    if (text.size() > zero.size() + 1 && text.ends_with(zero) && text[text.size() - zero.size() - 1] == after) {
      text.resize(text.size() - zero.size());
    }
  };
  drop_zero_unit("0s", 'm');
  drop_zero_unit("0m", 'h');
  return text;
}

std::string JoinTags(const std::vector<std::string>& tags) {
  std::string out;
  for (const std::string& tag : tags) out += (out.empty() ? "" : ",") + tag;
  return out;
}

}  // namespace

std::span<const Setting> Settings() { return kSettings; }

const Setting& FindSetting(std::string_view env) {
  for (const Setting& s : kSettings) {
    if (s.env == env) return s;
  }
  std::fprintf(stderr, "resec: internal error: unknown setting %.*s\n", static_cast<int>(env.size()), env.data());
  std::abort();
}

const Setting* FindFlag(std::string_view name) {
  if (name.empty()) return nullptr;
  for (const Setting& s : kSettings) {
    if (s.flag.empty()) continue;
    if (s.flag == name || s.short_flag == name) return &s;
  }
  return nullptr;
}

bool IsBoolean(const Setting& setting) {
  if (const auto* special = std::get_if<SpecialValue>(&setting.value)) return special->is_bool;
  return std::holds_alternative<BoolValue>(setting.value);
}

std::string DefaultText(const Setting& setting) {
  Config defaults;
  struct Format {
    Config& c;
    std::string operator()(const TextValue& v) const { return v.field(c); }
    std::string operator()(const BoolValue& v) const { return v.field(c) ? "true" : "false"; }
    std::string operator()(const IntValue& v) const { return std::to_string(v.field(c)); }
    std::string operator()(const MillisValue& v) const { return ShortDuration(v.field(c)); }
    std::string operator()(const SecondsValue& v) const { return ShortDuration(v.field(c)); }
    // A port of 0 is "not set": the announce address derives from REDIS_ADDR.
    std::string operator()(const AddressValue& v) const { return v.field(c).port == 0 ? "" : v.field(c).ToString(); }
    std::string operator()(const TagsValue& v) const { return JoinTags(v.field(c)); }
    std::string operator()(const LogLevelValue& v) const { return v.field(c); }
    std::string operator()(const LogFormatValue& v) const {
      switch (v.field(c)) {
        case LogFormat::kText:
          return "text";
        case LogFormat::kJson:
          return "json";
        case LogFormat::kGelf:
          return "gelf";
      }
      return "";
    }
    std::string operator()(const SpecialValue& v) const { return v.default_text(c); }
  };
  return std::visit(Format{defaults}, setting.value);
}

}  // namespace resec::config
