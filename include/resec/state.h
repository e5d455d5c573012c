// Snapshots the watchers publish and the commands the reconciler sends back.
//
// Each watcher owns its client and publishes a complete, immutable snapshot of
// what it knows after every change; the reconciler never sees partial state.
// Commands are plain values; the watcher that receives one executes it on its
// own thread.
//
// Thread-safety: value types; copy freely between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "resec/clock.h"

namespace resec {

enum class RedisRole { kUnknown, kMaster, kReplica };
std::string_view RoleName(RedisRole role);  // "unknown", "master", "slave"

// ---------------------------------------------------------------- Redis side

struct RedisState {
  bool ready = false;    // at least one observation made (reachable or not)
  bool healthy = false;  // reachable, authenticated, not loading
  std::string error;     // why not healthy; empty when healthy

  RedisRole role = RedisRole::kUnknown;
  bool loading = false;
  // Replica fields (INFO replication).
  std::string master_host;
  int master_port = 0;
  bool master_link_up = false;
  int64_t master_link_down_since_seconds = -1;  // -1: not reported
  bool master_sync_in_progress = false;
  int64_t slave_repl_offset = 0;
  // Both roles.
  std::string master_replid;
  std::string master_replid2;
  int64_t master_repl_offset = 0;
  int64_t second_repl_offset = -1;
  int connected_slaves = 0;

  std::string info;  // raw INFO text (check output, /info)

  // The offset that measures how much data this node holds.
  int64_t DataOffset() const { return role == RedisRole::kReplica ? slave_repl_offset : master_repl_offset; }
  bool operator==(const RedisState&) const = default;
};

// ---------------------------------------------------------------- Consul side

struct ServiceInstance {
  std::string id;
  std::string node;
  std::string address;  // service address, or node address when the service has none
  int port = 0;
  std::vector<std::string> tags;
  bool operator==(const ServiceInstance&) const = default;
};

// What an agent publishes about its Redis so peers can pick the best candidate.
struct PeerReport {
  std::string id;  // service ID of the reporting agent
  std::string address;
  int port = 0;
  bool healthy = false;
  std::string role;
  std::string replid;
  std::string replid2;
  int64_t offset = 0;
  int priority = 0;
  bool operator==(const PeerReport&) const = default;
};

// The value written into the lock key by its holder.
struct LockRecord {
  std::string holder_id;
  std::string address;
  int port = 0;
  std::string replid;
  int64_t offset = 0;
  bool operator==(const LockRecord&) const = default;
};

struct ConsulState {
  bool ready = false;      // first round of Consul calls done
  bool reachable = false;  // the last call to Consul succeeded
  std::string error;       // last Consul problem, for logs and /state

  std::string session_id;
  bool lock_held = false;         // our session holds the lock key
  bool lock_free = false;         // nobody holds it (a candidate may acquire)
  std::string lock_holder_session;
  uint64_t lock_index = 0;        // LockIndex: the sequencer of master terms
  std::optional<LockRecord> lock_record;

  // Passing instances of the master service (the blocking master watch).
  std::vector<ServiceInstance> masters;
  bool masters_known = false;  // the master watch has answered at least once

  // What our agent currently has registered.
  bool registered = false;
  RedisRole registered_role = RedisRole::kUnknown;

  std::vector<PeerReport> peers;  // other agents' reports (not ours)
  bool operator==(const ConsulState&) const = default;
};

// ---------------------------------------------------------------- commands

namespace cmd {
// Consul.
struct CompeteForLock {};            // create a session if needed and try to acquire when free
struct StopCompeting {};             // do not acquire (Redis unhealthy or not eligible)
struct ReleaseLock {};               // release the key and destroy the session
struct RegisterService { RedisRole role; };  // (re)register with this role's name and tags
struct DeregisterService {};
struct UpdateCheck { std::string status; std::string output; };  // passing|warning|critical
struct PublishReport { PeerReport report; };
// Redis.
struct PromoteToMaster {};                                   // REPLICAOF NO ONE
struct ReplicateFrom { std::string host; int port; };        // REPLICAOF host port + CLIENT KILL
}  // namespace cmd

using ConsulCommand = std::variant<cmd::CompeteForLock, cmd::StopCompeting, cmd::ReleaseLock,
                                   cmd::RegisterService, cmd::DeregisterService, cmd::UpdateCheck,
                                   cmd::PublishReport>;
using RedisCommand = std::variant<cmd::PromoteToMaster, cmd::ReplicateFrom>;

// ---------------------------------------------------------------- dumps and diffs

nlohmann::json ToJson(const RedisState& s, bool include_info = false);
nlohmann::json ToJson(const ConsulState& s);
// "modified: .Master = false" style lines for LOG_LEVEL=debug; one per changed field.
std::vector<std::string> DiffFields(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace resec
