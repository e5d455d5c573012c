// Snapshots the watchers publish and the commands and intents the reconciler
// sends back.
//
// Each watcher owns its client and publishes a complete, immutable snapshot of
// what it knows after every change; the reconciler never sees partial state.
// Commands are plain values; the watcher that receives one executes it on its
// own thread.
//
// Thread-safety: value types; copy freely between threads.
#pragma once

#include <cstdint>
#include <map>
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

// The master our Redis follows or is about to follow, as that master's own
// INFO shows it: read by our agent (a peer connection) while our link to it
// is not up, or once when the agent's idle connection to it dropped, so the
// reconciler can tell whether replicating from it keeps our data or would
// throw it away for a full resync from a Redis that restarted.
struct UpstreamProbe {
  std::string host;
  int port = 0;
  bool reachable = false;
  std::string error;  // why not reachable
  std::string run_id;
  RedisRole role = RedisRole::kUnknown;
  std::string replid;
  std::string replid2;
  int64_t offset = 0;          // master_repl_offset
  int64_t second_offset = -1;  // second_repl_offset: replid2 holds up to (not incl.) this
  bool operator==(const UpstreamProbe&) const = default;
};

struct RedisState {
  bool ready = false;    // at least one observation made (reachable or not)
  bool healthy = false;  // reachable, authenticated, not loading
  std::string error;     // why not healthy; empty when healthy

  RedisRole role = RedisRole::kUnknown;
  bool loading = false;
  // Changes whenever redis-server restarts: a restarted Redis is not the one
  // an election vouched for, whatever its address.
  std::string run_id;
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
  // A master's view of its replicas (INFO "slaveN:ip=..,port=..,state=..,offset=..").
  struct Replica {
    std::string ip;
    int port = 0;
    std::string state;  // online, wait_bgsave, send_bulk, ...
    int64_t offset = 0;
    bool operator==(const Replica&) const = default;
  };
  std::vector<Replica> replicas;
  // This snapshot was read while our CLIENT PAUSE WRITE was in force: its
  // master offset is final, so a successor at that offset has every write.
  bool writes_paused = false;
  // The master we were told to follow or to hold off, while our link to it is
  // not up, or the one we are linked to when it may have died (see
  // UpstreamProbe); nullopt otherwise.
  std::optional<UpstreamProbe> upstream;

  std::string info;  // raw INFO text (check output, /info)
  // Failed Redis operations since start, by operation (metrics).
  std::map<std::string, uint64_t> errors;

  // The offset that measures how much data this node holds.
  int64_t DataOffset() const { return role == RedisRole::kReplica ? slave_repl_offset : master_repl_offset; }
  // A replica of cmd::kHoldHost:kHoldPort: its agent keeps its data off every master.
  bool Held() const;
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
  // The lock key's ModifyIndex at which this agent saw the lock free (0 while
  // held): a report carrying the current index was written after the old
  // master stopped, so its offset is final and candidates can compare.
  uint64_t free_index = 0;
  // A replica's master as its Redis reports it ("host:port"), empty for a
  // master: a replica of the last lock holder descends from it even when the
  // holder's replication ID changed too recently to be in the lock record.
  std::string following;
  std::string node;  // its Consul node: service IDs repeat across nodes (redis@:6379)
  // In its no-promotion cool-down after a stall (TILT): it cannot take the
  // lock yet, and a better candidate that is cooling is waited for, not
  // passed over (its data may be the only copy of some writes).
  bool cooling = false;
  bool operator==(const PeerReport&) const = default;
};

// The value written into the lock key by its holder. The key's LockIndex
// numbers master terms; the record says who the master is and where its
// data came from, so every agent can tell a stale master from the current one.
struct LockRecord {
  std::string holder_id;
  std::string address;
  int port = 0;
  std::string replid;
  int64_t offset = 0;
  // Set by a holder handing over (planned switchover): only this member may
  // take the released lock until the election grace has passed.
  std::string successor;  // MemberKey(node, service ID)
  std::string node;       // the holder's Consul node
  // The holder's redis-server run: replicas follow exactly this process. One
  // that restarted behind a dead agent (empty, or from an older file) has
  // another run_id, and nobody resyncs from it until a new election.
  std::string run_id;
  bool operator==(const LockRecord&) const = default;
};

// An operator's request for a planned switchover (`resec switchover`),
// read from <lock key>/switchover.
struct SwitchoverRequest {
  std::string to;  // member ID, or empty for "the best replica"
  std::string nonce;
  bool operator==(const SwitchoverRequest&) const = default;
};

// One member of a group across nodes: "<node>/<service ID>".
inline std::string MemberKey(const std::string& node, const std::string& service_id) {
  return node + "/" + service_id;
}

struct ConsulState {
  bool ready = false;      // first round of Consul calls done
  std::string node_name;   // the Consul node our agent talks to
  bool reachable = false;  // the Consul agent answers at all (an error status is an answer)
  std::string error;       // last Consul problem, for logs and /state

  std::string session_id;
  bool lock_held = false;         // our session holds the lock key
  bool lock_free = false;         // nobody holds it (a candidate may acquire)
  std::string lock_holder_session;
  uint64_t lock_index = 0;        // LockIndex: the sequencer of master terms
  uint64_t lock_modify_index = 0; // ModifyIndex: changes on every acquire and release
  std::optional<LockRecord> lock_record;

  // Passing instances of the master service (the blocking master watch).
  std::vector<ServiceInstance> masters;
  bool masters_known = false;  // the master watch has answered at least once

  // What our agent currently has registered.
  bool registered = false;
  RedisRole registered_role = RedisRole::kUnknown;

  std::vector<PeerReport> peers;  // other agents' reports (not ours)
  std::optional<SwitchoverRequest> switchover_request;

  // Until when Consul is certain to keep our session: the earliest of the
  // last successful check refresh + check TTL (when the session is bound to
  // the check) and the last renewal + session TTL. A master whose lease is
  // running out must stop taking writes before another can take over.
  TimePoint lease_deadline{};
  Duration lease_ttl{};
  // Failed Consul calls since start, by operation (metrics).
  std::map<std::string, uint64_t> errors;
  bool operator==(const ConsulState&) const = default;
};

// ---------------------------------------------------------------- commands

// The Consul side is driven by intent, not by one-shot commands: the
// reconciler sends the complete state it wants (hold the lock or not, the
// registration, the check status) and the Consul watcher converges on it,
// repairing whatever Consul loses (a restarted dev agent forgets services and
// sessions) without the reconciler having to notice. Intents are idempotent,
// so a coalescing queue may drop all but the newest.
struct ConsulIntent {
  bool hold_lock = false;                 // compete for the lock, or keep it; false releases it
  std::optional<RedisRole> register_as;   // nullopt: not registered (deregister)
  std::string check_status = "passing";   // passing | warning | critical
  std::string check_output;               // current INFO text
  std::optional<PeerReport> report;       // our replication state, for peers' elections
  std::optional<LockRecord> lock_record;  // written into the lock key when we acquire it
  bool operator==(const ConsulIntent&) const = default;
};

namespace cmd {
struct PromoteToMaster {  // REPLICAOF NO ONE
  bool operator==(const PromoteToMaster&) const = default;
};
// Read INFO now and publish it even if nothing the reconciler compares
// changed: an election must rank our own offset as it is, not as it was at
// the last throttled publish.
struct Observe {
  bool operator==(const Observe&) const = default;
};
struct ReplicateFrom {                                 // REPLICAOF host port + CLIENT KILL
  std::string host;
  int port = 0;
  bool operator==(const ReplicateFrom&) const = default;
};
// Keep our data away from every master: REPLICAOF kHoldHost kHoldPort, a
// target no Redis listens on. Redis keeps its dataset and replication ID,
// refuses writes (a read-only replica) and refuses to feed replicas of its own
// (-NOMASTERLINK). `host`:`port` (may be empty) is the master to watch
// meanwhile (RedisState::upstream), to follow it once that is safe.
struct HoldReplication {
  std::string host;
  int port = 0;
  bool operator==(const HoldReplication&) const = default;
};
inline constexpr std::string_view kHoldHost = "127.0.0.1";
inline constexpr int kHoldPort = 0;
}  // namespace cmd

// What Redis may accept, kept by the Redis watcher until changed: fencing
// (CLIENT PAUSE WRITE, renewed while wanted) and min-replicas-to-write.
struct WriteGuard {
  bool pause_writes = false;
  int min_replicas_to_write = -1;  // -1: leave Redis' own setting alone
  int min_replicas_max_lag = 10;  // seconds
  bool operator==(const WriteGuard&) const = default;
};

using RedisCommand =
    std::variant<cmd::PromoteToMaster, cmd::ReplicateFrom, WriteGuard, cmd::Observe, cmd::HoldReplication>;

// ---------------------------------------------------------------- dumps and diffs

nlohmann::json ToJson(const RedisState& s, bool include_info = false);
nlohmann::json ToJson(const ConsulState& s);
// "modified: .Master = false" style lines for LOG_LEVEL=debug; one per changed field.
std::vector<std::string> DiffFields(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace resec
