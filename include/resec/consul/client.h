// consul::Client: the narrow slice of Consul's HTTP API the agent uses.
//
// An interface so unit tests of the watcher can use a fake with failure
// switches; HttpClient (http_client.h) is the real one. Every HTTP failure
// becomes a Status: 403 -> kPermissionDenied carrying Consul's text ("ACL not
// found", "Permission denied"), 404 -> kNotFound, 400 -> kInvalidArgument,
// 429/5xx/transport errors -> kUnavailable, undecodable bodies -> kInternal.
//
// Thread-safety: one instance per thread, except Cancel(), which any thread may
// call to abort the call in progress (used to end blocking queries at shutdown).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resec/config.h"
#include "resec/state.h"
#include "resec/status.h"

namespace resec::consul {

// X-Consul-Index and friends. index is never 0 after a successful response
// (Consul's rule: an index below 1 makes the next blocking call spin).
struct QueryMeta {
  uint64_t index = 0;
  bool known_leader = false;
};

// index == 0: plain read. Otherwise a blocking read that returns once the
// index moves past `index` or `wait` elapses (Consul adds up to wait/16 jitter).
struct QueryOptions {
  uint64_t index = 0;
  std::chrono::milliseconds wait{0};
  bool consistent = false;
};

struct KvPair {
  std::string key;
  std::string value;  // decoded from base64
  std::string session;
  uint64_t lock_index = 0;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t flags = 0;
};

struct SessionOptions {
  std::string name;
  std::chrono::seconds ttl{15};
  std::chrono::seconds lock_delay{15};
  std::string behavior = "release";  // or "delete"
  std::vector<std::string> node_checks = {"serfHealth"};
  std::vector<std::string> service_checks;  // check IDs (Consul >= 1.7 "ServiceChecks")
  // The node the session belongs to; empty: the local agent's. A session is
  // destroyed with its node's registration, which a client agent's graceful
  // leave (a routine restart) removes: peer mode puts it on a server's node.
  std::string node;
};

struct CheckDefinition {
  std::string check_id;
  std::string name;
  std::chrono::milliseconds ttl{0};
  std::string status = "warning";  // initial status
  std::string output;
  std::chrono::milliseconds deregister_critical_after{0};  // 0: never
};

struct ServiceRegistration {
  std::string id;
  std::string name;
  std::vector<std::string> tags;
  std::string address;  // empty: Consul shows the node's address
  int port = 0;
  std::map<std::string, std::string> meta;
  std::optional<CheckDefinition> check;
};

// One check of a service instance, as /v1/health/service reports it.
struct CheckResult {
  std::string check_id;
  std::string name;
  std::string status;  // passing | warning | critical | maintenance
  std::string output;
  std::string service_id;  // empty for node checks (serfHealth)
  bool operator==(const CheckResult&) const = default;
};

// An instance of a service with every check that covers it (its own and the
// node's), whatever their status: what `resec status` shows, failing members too.
struct ServiceHealth {
  ServiceInstance instance;
  std::string service_name;
  std::vector<CheckResult> checks;
  bool operator==(const ServiceHealth&) const = default;
};

// A check as the catalog keeps it for one node (SetCatalogCheck).
struct CatalogCheck {
  std::string node;
  std::string address;  // the node's address (the catalog's register needs one)
  std::string service_id;
  std::string check_id;
  std::string name;
  std::string status;
  std::string output;
  // When set, the update is made only while this session holds this key (a
  // transaction: KV check-session, then the check): an agent that believes
  // it still holds the lock after a freeze cannot retire the new master.
  std::string guard_key;
  std::string guard_session;
};

template <typename T>
struct WithMeta {
  T value;
  QueryMeta meta;
};

class Client {
 public:
  virtual ~Client() = default;

  virtual StatusOr<std::string> CreateSession(const SessionOptions& options) = 0;
  // kNotFound when the session is gone (expired or destroyed). On success,
  // the TTL Consul answered with (it may differ from what was asked).
  virtual StatusOr<std::chrono::seconds> RenewSession(const std::string& session_id) = 0;
  virtual Status DestroySession(const std::string& session_id) = 0;

  // value.nullopt when the key does not exist (HTTP 404 is not an error here).
  virtual StatusOr<WithMeta<std::optional<KvPair>>> GetKey(const std::string& key,
                                                           const QueryOptions& options) = 0;
  virtual StatusOr<WithMeta<std::vector<KvPair>>> ListKeys(const std::string& prefix,
                                                           const QueryOptions& options) = 0;
  // PUT ?acquire= / ?release=: true when Consul granted it.
  virtual StatusOr<bool> AcquireKey(const std::string& key, const std::string& session_id,
                                    const std::string& value) = 0;
  // Consul stores the PUT body on release too: pass the value the key should
  // keep (resec keeps the lock record, the last master's lineage).
  virtual StatusOr<bool> ReleaseKey(const std::string& key, const std::string& session_id,
                                    const std::string& value) = 0;
  virtual Status PutKey(const std::string& key, const std::string& value) = 0;
  virtual Status DeleteKey(const std::string& key) = 0;

  virtual Status RegisterService(const ServiceRegistration& registration) = 0;
  virtual Status DeregisterService(const std::string& service_id) = 0;
  // kNotFound when the agent does not know the check (re-register then).
  virtual Status UpdateTtlCheck(const std::string& check_id, const std::string& status,
                                const std::string& output) = 0;

  // GET /v1/health/service/<name>?passing[&tag=<tag>]
  virtual StatusOr<WithMeta<std::vector<ServiceInstance>>> HealthyInstances(
      const std::string& service, const std::string& tag, const QueryOptions& options) = 0;

  // GET /v1/health/service/<name>: every instance, passing or not, with its
  // checks. Only the operator commands use it, so it has a default (fakes
  // need not implement it): kFailedPrecondition.
  virtual StatusOr<WithMeta<std::vector<ServiceHealth>>> InstancesWithChecks(const std::string& service,
                                                                            const QueryOptions& options) {
    (void)service;
    (void)options;
    return FailedPrecondition("InstancesWithChecks: not supported by this client");
  }

  // GET /v1/agent/self: the name of the Consul node this agent talks to.
  // Default for fakes: kFailedPrecondition (callers fall back to the host name).
  virtual StatusOr<std::string> NodeName() { return FailedPrecondition("NodeName: not supported by this client"); }
  // GET /v1/agent/self: the address the agent advertises for its node
  // (Member.Addr), how peers on other hosts reach this one. Default for
  // fakes: kFailedPrecondition.
  virtual StatusOr<std::string> NodeAddress() {
    return FailedPrecondition("NodeAddress: not supported by this client");
  }
  // GET /v1/session/info/<id>: the node a session belongs to (sessions are
  // made on the local agent's node, so this names it with only session rights).
  virtual StatusOr<std::string> SessionNode(const std::string& session_id) {
    (void)session_id;
    return FailedPrecondition("SessionNode: not supported by this client");
  }

  // PUT /v1/catalog/register (SkipNodeUpdate): sets the catalog's copy of
  // another node's service check, e.g. critical for a former master's
  // registration that its dead agent can no longer correct. Needs node:write
  // on that node. Default for fakes: kFailedPrecondition.
  virtual Status SetCatalogCheck(const CatalogCheck& check) {
    (void)check;
    return FailedPrecondition("SetCatalogCheck: not supported by this client");
  }

  // GET /v1/agent/members: the names of the Consul servers (role "consul")
  // the local agent sees alive, sorted. Default for fakes:
  // kFailedPrecondition.
  virtual StatusOr<std::vector<std::string>> ServerNodes() {
    return FailedPrecondition("ServerNodes: not supported by this client");
  }

  // GET /v1/status/leader: "" while there is no leader.
  virtual StatusOr<std::string> Leader() = 0;

  virtual void Cancel() = 0;
};

// The real client over cpp-httplib (HTTP, HTTPS with the CLI's TLS settings,
// unix sockets are rejected with kInvalidArgument by the config parser).
std::unique_ptr<Client> MakeHttpClient(const ConsulClientConfig& config,
                                       std::chrono::milliseconds request_timeout);

}  // namespace resec::consul
