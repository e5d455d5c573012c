// Config: every setting of the agent, as one value type.
//
// Its member initialisers are the settings' defaults, written nowhere else:
// ParseConfig starts from a default Config, and --help prints each default
// from one (see resec/config/settings_table.h).
//
// Thread-safety: value types.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "resec/config/host_port.h"

namespace resec {

// Connection settings for the Consul HTTP API, named after the Consul CLI's
// environment variables (CONSUL_HTTP_ADDR, CONSUL_CACERT, ...).
struct ConsulClientConfig {
  std::string scheme = "http";  // "http", "https" or "unix"
  std::string host = "127.0.0.1";
  int port = 8500;
  std::string unix_socket;  // when scheme == "unix"
  std::string token;        // secret: never logged
  std::string basic_auth_user;
  std::string basic_auth_password;  // secret
  bool tls_verify = true;
  std::string ca_file;
  std::string ca_path;
  std::string client_cert;
  std::string client_key;
  std::string tls_server_name;
  std::string Address() const;  // for logs: scheme://host:port, no secrets
};

enum class LogFormat { kText, kJson, kGelf };

struct Config {
  // Redis under management.
  HostPort redis_addr{"127.0.0.1", 6379};
  std::string redis_username;  // REDIS_USERNAME (Redis 6 ACL user); empty: AUTH <password>
  std::string redis_password;  // secret

  // What we register in Consul. Empty host: loopback rule, Consul shows the node address.
  HostPort announce_addr;

  ConsulClientConfig consul;
  std::string service_name;              // tag mode when non-empty
  std::string service_prefix = "redis";  // prefix mode: <prefix>-master / <prefix>-slave
  std::vector<std::string> master_tags;
  std::vector<std::string> slave_tags;
  std::string lock_key = "resec/.lock";
  std::string lock_session_name = "resec";
  std::chrono::milliseconds lock_ttl{15000};
  int lock_monitor_retries = 3;
  std::chrono::milliseconds lock_monitor_retry_interval{1000};
  std::chrono::milliseconds deregister_service_after{72LL * 3600 * 1000};

  std::chrono::milliseconds healthcheck_interval{5000};
  std::chrono::milliseconds healthcheck_timeout{2000};

  bool state_server = false;
  HostPort state_listen_addr{"0.0.0.0", 8080};

  std::string log_level = "info";  // debug, info, warn, error (fatal/panic map to error)
  LogFormat log_format = LogFormat::kText;

  // ---- Settings beyond the original (ours; each has a variable and a flag). ----
  // REDIS_POLL_INTERVAL: how often INFO is polled. The original polls every 1s,
  // which alone adds up to a second to failure detection.
  std::chrono::milliseconds redis_poll_interval{250};
  // CONSUL_LOCK_DELAY: the session's lock-delay. Consul's default of 15s blocks
  // a new master for that long after a holder's session is invalidated; 1s keeps
  // the protection against a flapping holder without the 15s outage. 0s..60s
  // (Consul's maximum).
  std::chrono::milliseconds lock_delay{1000};
  // CONSUL_CHECK_TTL: TTL of our service check; 0 derives 3 x HEALTHCHECK_TIMEOUT
  // like the original (see EffectiveCheckTtl()).
  std::chrono::milliseconds check_ttl{0};
  // CONSUL_SESSION_CHECKS: attach our service TTL check to the lock session, so a
  // dead agent loses the lock when its check turns critical, not only at session TTL.
  bool session_checks = true;
  // REDIS_PRIORITY: tie-breaker among equally up-to-date replicas (higher wins);
  // 0 means this instance is never promoted.
  int redis_priority = 100;
  // FENCING: fence an old master that lost the lock (refuse its writes).
  bool fencing = true;
  // MIN_REPLICAS_TO_WRITE / MIN_REPLICAS_MAX_LAG: Redis' min-replicas-to-write and
  // min-replicas-max-lag (whole seconds, as Redis takes them), set on our master
  // while at least that many healthy replicas report in, so an orphaned master
  // whose agent died stops taking writes once its replicas follow another.
  // 0: resec leaves Redis' own setting alone.
  int min_replicas_to_write = 1;
  std::chrono::seconds min_replicas_max_lag{10};
  // SWITCHOVER_TIMEOUT: how long a planned switchover waits for the new master.
  std::chrono::milliseconds switchover_timeout{5000};
  // MIN_REPLICAS_STRICT: keep min-replicas-to-write even while fewer replicas
  // are online (refuse writes then) instead of counting only those online.
  bool min_replicas_strict = false;

  // The peer protocol (docs/failure-detection.md): on when PEER_TOKEN (or
  // PEER_TOKEN_FILE) is set, the same on every member of the group.
  std::string peer_token;  // secret
  // PEER_LISTEN_ADDR: where its UDP socket listens.
  HostPort peer_listen_addr{"0.0.0.0", 8379};
  // PEER_ADVERTISE_ADDR: where peers reach it; empty: the announce host (or
  // the address Consul knows our node by) and the listen port.
  HostPort peer_advertise_addr;
  // PEER_INTERVAL / PEER_LEASE: heartbeat period; how long one grant lasts.
  std::chrono::milliseconds peer_interval{100};
  std::chrono::milliseconds peer_lease{1000};
  bool peer_mode() const { return !peer_token.empty(); }

  // check_ttl, or 3 x healthcheck_timeout when check_ttl is 0 (the original's rule).
  std::chrono::milliseconds EffectiveCheckTtl() const {
    return check_ttl.count() > 0 ? check_ttl : 3 * healthcheck_timeout;
  }

  bool tag_mode() const { return !service_name.empty(); }
  // "<name or prefix>@<announce addr>"
  std::string ServiceId() const;
  std::string MasterServiceName() const;  // tag mode: service_name; else <prefix>-master
  std::string SlaveServiceName() const;
  std::string CheckId() const { return ServiceId() + ":replication-status-check"; }
  // The values no log line, endpoint or dump may show (empty ones included).
  std::vector<std::string> Secrets() const {
    return {redis_password, consul.token, consul.basic_auth_password, peer_token};
  }
};

}  // namespace resec
