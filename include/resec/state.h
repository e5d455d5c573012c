// Observations the watchers publish and the intents the reconciler sends back.
//
// Each watcher owns its client and publishes a complete, immutable snapshot of
// what it observed after every change; the reconciler never sees partial
// state. Observations are facts (what Redis and Consul answered, and when),
// never conclusions: what they mean (is our lease good, is the lock lost) is
// the reconciler's Step to work out. Intents are desired state, not deltas:
// the reconciler sends the whole of what it wants every time, and a watcher
// converges on the newest one idempotently, so no outcome depends on one
// message arriving.
//
// Thread-safety: value types; copy freely between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "resec/clock.h"
#include "resec/peer/message.h"

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
  // Not reachable because the connection was refused: nothing listens there
  // (the redis-server process is gone), as opposed to a timeout.
  bool refused = false;
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
  // Whether a master keeps a replication backlog. Until it does (no replica
  // has attached since it became master) its master_replid is provisional:
  // Redis draws a new one when it creates the backlog for the first replica.
  bool repl_backlog_active = false;
  int connected_slaves = 0;
  // A master's view of its replicas (INFO "slaveN:ip=..,port=..,state=..,offset=..").
  struct Replica {
    std::string ip;
    int port = 0;
    std::string state;  // online, wait_bgsave, send_bulk, ...
    int64_t offset = 0;
    // What the replica says about itself, read over a peer connection while
    // our writes are paused for a hand-over (Replica::inspected): a member
    // is known by its run_id, never by its address or port alone.
    bool inspected = false;
    std::string run_id;
    std::string replid;        // its master_replid: ours when it follows our history
    bool link_up = false;      // master_link_status:up and no sync in progress
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
  // The former master the intent asks us to demote (RedisIntent::demote), as
  // it answered our last attempt; nullopt when there is none.
  std::optional<UpstreamProbe> former;
  // min-replicas-to-write as Redis reports it (CONFIG GET, re-read for every
  // new process and periodically); nullopt until read.
  std::optional<int> min_replicas_to_write;
  // The newest RedisIntent::observe request this snapshot was read after.
  uint64_t observe_seq = 0;

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
  // Its redis-server run: how a master's hand-over finds this member among
  // the replicas it sees (addresses and ports repeat across hosts).
  std::string run_id;
  // In a full sync from its master, or loading its dataset: its data is not
  // the master's yet (however its replication ID and offset read), so it
  // never wins; a loading member still counts as alive for the orphan rule.
  bool syncing = false;
  bool loading = false;
  // Where its peer protocol listens ("host:port"), empty when it does not
  // speak it.
  std::string peer;
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

  // Raw facts about our session, from which the reconciler's Step works out
  // the lease: when the Consul servers last confirmed it (the send time of a
  // successful create, renew or acquire: only the servers can vouch that the
  // session lives; the local agent accepts check updates even when cut off),
  // the TTL they granted, and whether it is bound to our TTL check (then the
  // check's last accepted refresh + its TTL bounds it too).
  TimePoint session_confirmed_at{};
  Duration session_ttl{};
  bool session_has_check = false;
  TimePoint check_confirmed_at{};
  Duration check_ttl{};
  // Consecutive reads of the lock that got no usable answer (transport
  // errors, 5xx), and since when: the original's monitor gives the held lock
  // up after CONSUL_LOCK_MONITOR_RETRIES of them, that many intervals apart.
  int lock_read_failures = 0;
  TimePoint lock_read_failing_since{};
  // ConsulIntent::shutdown has been carried out (or given up at its deadline).
  bool shut_down = false;
  // The session has no checks at all (peer mode): Consul ends it only by its
  // TTL or when destroyed, never early.
  bool session_ttl_only = false;
  // The address Consul knows our node by (its agent's advertise address).
  std::string node_address;

  // Derived by the reconciler's Step from the facts above, never by the
  // watcher: until when Consul is certain to keep our session, and the span
  // one confirmation buys. A master whose lease is running out must stop
  // taking writes before another can take over.
  TimePoint lease_deadline{};
  Duration lease_ttl{};
  // Derived by Step in peer mode (docs/failure-detection.md): the group's
  // size, our lease from it as holder, and whether a quorum says the lock's
  // holder is gone (so it may be replaced).
  bool peer_mode = false;
  int group_size = 1;
  std::optional<TimePoint> peer_lease_until;
  bool holder_replaceable = false;
  // Failed Consul calls since start, by operation (metrics).
  std::map<std::string, uint64_t> errors;
  bool operator==(const ConsulState&) const = default;
};

// ---------------------------------------------------------------- peers

// One member of the group as the peer protocol last heard it.
struct PeerMember {
  peer::Heartbeat last;
  TimePoint received_at{};
  // When we sent the heartbeat of ours that this member last acknowledged:
  // the lease it grants us runs from there (nullopt: no ack yet).
  std::optional<TimePoint> acked_sent_at;
  bool operator==(const PeerMember&) const = default;
};

// What the peer transport heard (facts; Step works out leases and votes).
struct PeerView {
  bool listening = false;
  std::string error;
  std::map<std::string, PeerMember> members;  // by member key, never ours
  bool operator==(const PeerView&) const = default;
};

// What the reconciler wants sent: our heartbeat (the transport numbers it
// and adds the acks) and where to (member key -> "host:port").
struct PeerIntent {
  peer::Heartbeat heartbeat;
  std::map<std::string, std::string> peers;
  bool operator==(const PeerIntent&) const = default;
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
  // Leave Consul as a stopping agent should: release the lock (keeping the
  // record), withdraw the report, deregister, destroy the session; then
  // publish ConsulState::shut_down. Nothing is acquired or registered after.
  bool shutdown = false;
  // Destroy this session (a holder a quorum of the group voted gone); done
  // once per ID.
  std::string destroy_session;
  // Create the session without checks (peer mode: the group, not Consul's
  // Serf or our check, decides when the holder is gone).
  bool ttl_only_session = false;
  // The group's lease, not Consul's, gates the master's writes (peer mode,
  // three or more members): a TTL-only session is renewed twice a TTL, as
  // Consul's own lock helper does, instead of three times.
  bool relaxed_renewal = false;
  // We are the master: registrations of the master service on other nodes
  // are stale (their agents died or were deposed) and are marked critical in
  // the catalog, so a node that rejoins never advertises itself as master.
  bool retire_stale_masters = false;
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

// What Decide() asks of Redis; Step() turns it into a RedisIntent.
using RedisCommand =
    std::variant<cmd::PromoteToMaster, cmd::ReplicateFrom, WriteGuard, cmd::Observe, cmd::HoldReplication>;

// What our Redis should look like: the reconciler's whole wish, sent on every
// decision. The Redis watcher converges on the newest one, skipping whatever
// is already true, re-applying whatever a new redis-server process lost.
struct RedisIntent {
  enum class Replication {
    kLeave,   // no opinion yet: change nothing
    kMaster,  // REPLICAOF NO ONE (fencing `former` first, see below)
    kFollow,  // REPLICAOF host port, then CLIENT KILL TYPE normal
    kHold,    // REPLICAOF cmd::kHoldHost cmd::kHoldPort; watch host:port meanwhile
  };
  Replication replication = Replication::kLeave;
  std::string host;  // kFollow: the master; kHold: the master to watch (may be empty)
  int port = 0;
  // kMaster: the master our Redis was linked to when the promotion was
  // decided. Before REPLICAOF NO ONE its writes are paused and our Redis
  // catches up with its final offset (at most catch_up), so nothing it
  // acknowledged is lost.
  std::optional<std::pair<std::string, int>> former;
  std::chrono::milliseconds catch_up{1500};
  // A former master that must stop being one: made to replicate us, its
  // clients dropped, its pause lifted. Repeated until it is (see
  // RedisState::former).
  std::optional<std::pair<std::string, int>> demote;
  WriteGuard guard;
  // The redis-server run this intent was decided for. Any other run (a
  // process the reconciler has not seen yet, e.g. one that just restarted) is
  // fenced while it is a master, whatever the guard says.
  std::string run_id;
  // Bumped to ask for an observation read after now (an election ranks our
  // offset as it is, not as it was at the last throttled publish).
  uint64_t observe = 0;
  bool operator==(const RedisIntent&) const = default;
};

// ---------------------------------------------------------------- dumps and diffs

nlohmann::json ToJson(const RedisState& s, bool include_info = false);
nlohmann::json ToJson(const ConsulState& s);
// "modified: .Master = false" style lines for LOG_LEVEL=debug; one per changed field.
std::vector<std::string> DiffFields(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace resec
