// One row per rule of Decide(), in the reference's decision order, plus the
// rules this project adds. Each row names what it pins.
#include "resec/decide.h"

#include <gtest/gtest.h>

#include <functional>

namespace resec {
namespace {

constexpr char kSelf[] = "redis@:7001";
constexpr char kOther[] = "redis@:7002";
constexpr char kThird[] = "redis@:7003";

RedisState HealthyMaster() {
  RedisState r;
  r.ready = r.healthy = true;
  r.role = RedisRole::kMaster;
  r.master_replid = "aaaa";
  r.master_repl_offset = 100;
  r.repl_backlog_active = true;
  r.info = "# Replication\r\nrole:master\r\n";
  return r;
}

RedisState LinkedReplica(const std::string& host, int port) {
  RedisState r = HealthyMaster();
  r.role = RedisRole::kReplica;
  r.master_host = host;
  r.master_port = port;
  r.master_link_up = true;
  r.slave_repl_offset = 100;
  return r;
}

ConsulState Reachable() {
  ConsulState c;
  c.ready = c.reachable = true;
  c.session_id = "s-self";
  return c;
}

ServiceInstance Master(const std::string& id, const std::string& addr, int port) {
  return {id, "node", addr, port, {}};
}

ConsulState HeldByOther() {
  ConsulState c = Reachable();
  c.lock_holder_session = "s-other";
  c.lock_record = LockRecord{kOther, "", 7002, "aaaa", 100, ""};
  c.lock_record->run_id = "run-other";
  c.masters = {Master(kOther, "127.0.0.1", 7002)};
  c.masters_known = true;
  return c;
}

// What our agent read from the master at host:port: the very Redis the lock
// holder vouched for (HeldByOther's run_id), on a history of its own.
UpstreamProbe Vouched(const std::string& host, int port) {
  return UpstreamProbe{.host = host, .port = port, .reachable = true, .run_id = "run-other",
                       .role = RedisRole::kMaster, .replid = "cccc", .offset = 10};
}

DecideOptions Options() {
  DecideOptions o;
  o.self_id = kSelf;
  o.self_node = "node";
  o.announce_port = 7001;
  return o;
}

struct Row {
  const char* name;
  std::function<void(ConsulState&, RedisState&, DecideOptions&, DecideMemory&)> setup;
  Rule rule;
  // Expectations; std::nullopt = must be absent.
  std::optional<bool> hold_lock;
  std::optional<std::optional<RedisRole>> register_as;  // outer nullopt: no intent expected
  std::optional<RedisCommand> redis;
};

const TimePoint kNow = TimePoint(std::chrono::hours(10));

// The lock freed, nobody descends from its record (the orphan grace applies),
// and a peer with a higher offset ranks ahead of us.
void BehindABetterPeerOnAnOrphanedRecord(ConsulState& c, RedisState& r) {
  c.lock_free = true;
  c.lock_record = LockRecord{kOther, "", 7002, "gone", 10, ""};
  c.peers = {PeerReport{kOther, "", 7002, true, "slave", "bbbb", "", 200, 100, 0}};
  r = LinkedReplica("127.0.0.1", 7003);
}

TEST(Decide, Table) {
  const std::vector<Row> rows = {
      {"1. no Consul state yet: wait",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) { c.ready = false; },
       Rule::kWaitForInitialState, std::nullopt, std::nullopt, std::nullopt},
      {"1. no Redis state yet: wait",
       [](ConsulState&, RedisState& r, DecideOptions&, DecideMemory&) { r.ready = false; },
       Rule::kWaitForInitialState, std::nullopt, std::nullopt, std::nullopt},
      {"2. Consul unreachable: do nothing",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) { c.reachable = false; },
       Rule::kConsulUnreachable, std::nullopt, std::nullopt, std::nullopt},
      {"2. Consul unreachable, our master restarted under us: hold our data anyway",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.reachable = false;
         r = LinkedReplica("127.0.0.1", 7002);
         r.upstream = Vouched("127.0.0.1", 7002);
         r.upstream->run_id = "run-restarted";
       },
       Rule::kConsulUnreachable, std::nullopt, std::nullopt, RedisCommand(cmd::HoldReplication{"127.0.0.1", 7002})},
      {"2. Consul unreachable, our master answers as the elected run: nothing to do",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.reachable = false;
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kConsulUnreachable, std::nullopt, std::nullopt, std::nullopt},
      {"3. Redis unhealthy: release the lock and deregister",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_held = true;
         r.healthy = false;
         r.error = "connection refused";
       },
       Rule::kRedisUnhealthy, false, std::optional<RedisRole>(), std::nullopt},
      {"3. Redis loading counts as unhealthy",
       [](ConsulState&, RedisState& r, DecideOptions&, DecideMemory&) {
         r.healthy = false;
         r.loading = true;
         r.error = "loading";
       },
       Rule::kRedisUnhealthy, false, std::optional<RedisRole>(), std::nullopt},
      {"4. two passing masters, we hold the lock: keep our registration",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) {
         c.lock_held = true;
         c.masters = {Master(kSelf, "127.0.0.1", 7001), Master(kOther, "127.0.0.1", 7002)};
       },
       Rule::kMasterKeepsLock, true, std::optional<RedisRole>(RedisRole::kMaster), std::nullopt},
      {"4. two passing masters, we do not hold the lock: step down and follow the holder",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.masters.push_back(Master(kSelf, "127.0.0.1", 7001));
         c.registered = true;
         c.registered_role = RedisRole::kMaster;
         r = HealthyMaster();
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kFollowMaster, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::ReplicateFrom{"127.0.0.1", 7002})},
      {"4. two passing masters, no record of the holder: follow nobody",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_record.reset();
         c.masters.push_back(Master(kThird, "127.0.0.1", 7003));
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kWaitForMaster, false, std::nullopt, std::nullopt},
      {"4. lock held by another, its master not in the catalog yet, we replicate the former one: hold our data",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_record->address = "10.0.0.2";
         c.masters.clear();
         r = LinkedReplica("10.0.0.1", 7001);
       },
       Rule::kWaitForMaster, false, std::nullopt, RedisCommand(cmd::HoldReplication{"10.0.0.2", 7002})},
      {"4. lock held by another, its master not in the catalog yet, we already replicate it: keep the link",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_record->address = "10.0.0.2";
         c.masters.clear();
         r = LinkedReplica("10.0.0.2", 7002);
       },
       Rule::kWaitForMaster, false, std::nullopt, std::nullopt},
      {"5. holding the lock, Redis already master: refresh as master",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) { c.lock_held = true; },
       Rule::kMasterKeepsLock, true, std::optional<RedisRole>(RedisRole::kMaster), std::nullopt},
      {"5. holding the lock, Redis is a replica: promote, not yet advertised as master",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_held = true;
         c.lease_ttl = std::chrono::milliseconds(1500);
         c.lease_deadline = kNow + c.lease_ttl;
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kPromote, true, std::optional<RedisRole>(RedisRole::kReplica), RedisCommand(cmd::PromoteToMaster{})},
      {"5. holding the lock, lease not confirmed lately: no promotion yet",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_held = true;
         c.lease_ttl = std::chrono::milliseconds(1500);
         c.lease_deadline = kNow + std::chrono::milliseconds(400);
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kPromote, true, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"5. holding the lock after our loop stalled: no promotion until the cool-down ends",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_held = true;
         c.lease_ttl = std::chrono::milliseconds(1500);
         c.lease_deadline = kNow + c.lease_ttl;
         m.no_promotion_until = kNow + std::chrono::seconds(5);
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kPromote, true, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"5. compat: fencing off, promote whatever the lease",
       [](ConsulState& c, RedisState& r, DecideOptions& o, DecideMemory&) {
         c.lock_held = true;
         o.fencing = false;
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kPromote, true, std::optional<RedisRole>(RedisRole::kReplica), RedisCommand(cmd::PromoteToMaster{})},
      {"6. no master known, lock free, best candidate: compete",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) { c.lock_free = true; },
       Rule::kCompete, true, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"6. not replicating the current master: enslave",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7003);
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kFollowMaster, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::ReplicateFrom{"127.0.0.1", 7002})},
      {"6. full sync in progress: deregister",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.master_sync_in_progress = true;
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kReplicaCannotServe, false, std::optional<RedisRole>(), std::nullopt},
      {"6. link down longer than 10s: deregister",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.master_link_down_since_seconds = 11;
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kReplicaCannotServe, false, std::optional<RedisRole>(), std::nullopt},
      {"6. link down for 3s: still serving",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.master_link_down_since_seconds = 3;
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kReplicaHealthy, false, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"6. replicating the current master: refresh as replica",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kReplicaHealthy, false, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"ours: the lock lost while master: demote and re-register as replica at once",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.registered = true;
         c.registered_role = RedisRole::kMaster;
         r = HealthyMaster();
         r.upstream = Vouched("127.0.0.1", 7002);
       },
       Rule::kFollowMaster, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::ReplicateFrom{"127.0.0.1", 7002})},
      {"ours: the master on another node with our very service ID (redis@:port on every node) is followed",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = Reachable();
         c.lock_holder_session = "s-other";
         c.lock_record = LockRecord{kSelf, "", 7001, "aaaa", 100, ""};
         c.lock_record->node = "other-node";
         c.masters = {ServiceInstance{kSelf, "other-node", "10.0.0.2", 7001, {}}};
         r = HealthyMaster();
         r.upstream = Vouched("10.0.0.2", 7001);
       },
       Rule::kFollowMaster, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::ReplicateFrom{"10.0.0.2", 7001})},
      {"ours: a free lock is not followed even if the catalog still shows a master",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_free = true;
         r = LinkedReplica("127.0.0.1", 7002);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: a fresh master without the lock is registered as a candidate, never as master",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.registered = true;
         c.registered_role = RedisRole::kMaster;
       },
       Rule::kCompete, true, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"ours: a peer with a higher offset goes first",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.lock_record = LockRecord{kThird, "", 7003, "aaaa", 50, ""};
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 200, 100, 0}};
         r = LinkedReplica("127.0.0.1", 7003);
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: the better peer did not take the lock within the grace: we may",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 200, 100, 0}};
         r = LinkedReplica("127.0.0.1", 7003);
         m.lock_free_since = kNow - std::chrono::milliseconds(1500);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: a better peer in its stall cool-down is waited for past the grace",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 200, 100, 0}};
         c.peers[0].cooling = true;
         r = LinkedReplica("127.0.0.1", 7003);
         m.lock_free_since = kNow - std::chrono::milliseconds(1500);
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: a cooling better peer is passed over once the cooling wait is over",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 200, 100, 0}};
         c.peers[0].cooling = true;
         r = LinkedReplica("127.0.0.1", 7003);
         m.lock_free_since = kNow - std::chrono::milliseconds(6500);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: a cooling peer behind us does not hold us back",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 50, 100, 0}};
         c.peers[0].cooling = true;
         r = LinkedReplica("127.0.0.1", 7003);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: the next candidate's grace starts after the lock-delay (regression: both raced at its end)",
       [](ConsulState& c, RedisState& r, DecideOptions& o, DecideMemory& m) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 200, 100, 0}};
         r = LinkedReplica("127.0.0.1", 7003);
         o.lock_delay = std::chrono::seconds(1);
         m.lock_free_since = kNow - std::chrono::milliseconds(1500);
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: an unhealthy peer with a higher offset does not block us",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, false, "slave", "aaaa", "", 200, 100, 0}};
         r = LinkedReplica("127.0.0.1", 7003);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: equal offsets, the current master goes first",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.peers = {PeerReport{"redis@:7000", "", 7000, true, "master", "aaaa", "", 100, 200, 0}};
         r = LinkedReplica("127.0.0.1", 7000);
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: equal offsets, higher priority goes first",
       [](ConsulState& c, RedisState& r, DecideOptions& o, DecideMemory&) {
         r = LinkedReplica("127.0.0.1", 7009);
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 100, 200, 0}};
         o.priority = 100;
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: equal offset and priority, lower ID goes first",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         r = LinkedReplica("127.0.0.1", 7009);
         c.lock_free = true;
         c.peers = {PeerReport{"redis@:7000", "", 7000, true, "slave", "aaaa", "", 100, 100, 0}};
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: a Redis restarted empty never wins over replicas that hold the data",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         c.lock_record = LockRecord{kSelf, "", 7001, "old-master-id", 5000, ""};
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "old-master-id", "", 4990, 100, 0}};
         r = HealthyMaster();
         r.master_replid = "fresh-id";
         r.master_repl_offset = 0;
         m.lock_free_since = kNow - std::chrono::hours(1);  // grace long gone: lineage still rules
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: a promoted replica descends through replid2",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.lock_record = LockRecord{kOther, "", 7002, "old", 10, ""};
         r = HealthyMaster();
         r.master_replid = "new";
         r.master_replid2 = "old";
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: nobody descends from the record yet: wait for peers to reappear",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         c.lock_record = LockRecord{kOther, "", 7002, "gone", 10, ""};
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: nobody descends from the record after the orphan grace: anyone may win",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         c.lock_record = LockRecord{kOther, "", 7002, "gone", 10, ""};
         m.lock_free_since = kNow - std::chrono::seconds(11);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: past the orphan grace a better candidate still goes first (regression: all raced at its end)",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         BehindABetterPeerOnAnOrphanedRecord(c, r);
         m.lock_free_since = kNow - std::chrono::milliseconds(10500);
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: past the orphan grace and our turn, a worse candidate competes",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         BehindABetterPeerOnAnOrphanedRecord(c, r);
         m.lock_free_since = kNow - std::chrono::milliseconds(11500);
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
      {"ours: priority 0 never competes",
       [](ConsulState& c, RedisState&, DecideOptions& o, DecideMemory&) {
         c.lock_free = true;
         o.priority = 0;
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: no competing until our own offset has been read again",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         m.own_offset_stale = true;
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"ours: no promotion during the stall cool-down",
       [](ConsulState& c, RedisState&, DecideOptions&, DecideMemory& m) {
         c.lock_free = true;
         m.no_promotion_until = kNow + std::chrono::seconds(1);
       },
       Rule::kWaitForBetterCandidate, false, std::nullopt, std::nullopt},
      {"hold: a master not read yet is not followed: hold our data and read it",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7003);
       },
       Rule::kHoldReplication, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{"127.0.0.1", 7002})},
      {"hold: our link is down and the master does not answer",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.upstream = UpstreamProbe{.host = "127.0.0.1", .port = 7002, .error = "connection refused"};
       },
       Rule::kHoldReplication, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{"127.0.0.1", 7002})},
      {"hold: the master restarted behind a dead agent (another run, a new history): never resync from it",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.master_sync_in_progress = true;
         r.upstream = Vouched("127.0.0.1", 7002);
         r.upstream->run_id = "run-restarted";
       },
       Rule::kHoldReplication, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{"127.0.0.1", 7002})},
      {"hold: a master restarted from an older file continues our history but is behind us",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
         r.upstream = Vouched("127.0.0.1", 7002);
         r.upstream->run_id = "run-restarted";
         r.upstream->replid2 = "aaaa";
         r.upstream->second_offset = 60;  // we have 100
       },
       Rule::kHoldReplication, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{"127.0.0.1", 7002})},
      {"hold: a master that is not a master yet is not followed",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = HealthyMaster();
         r.upstream = Vouched("127.0.0.1", 7002);
         r.upstream->role = RedisRole::kReplica;
       },
       Rule::kHoldReplication, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{"127.0.0.1", 7002})},
      {"hold: a held replica follows a master that continues its history (partial resync), whatever its run",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         r = LinkedReplica(std::string(cmd::kHoldHost), cmd::kHoldPort);
         r.master_link_up = false;
         r.upstream = Vouched("127.0.0.1", 7002);
         r.upstream->run_id = "run-restarted";
         r.upstream->replid2 = "aaaa";
         r.upstream->second_offset = 101;
       },
       Rule::kFollowMaster, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::ReplicateFrom{"127.0.0.1", 7002})},
      {"hold: a record without run_id (the original resec) vouches by address",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_record->run_id.clear();
         r = LinkedReplica("127.0.0.1", 7003);
         r.upstream = Vouched("127.0.0.1", 7002);
         r.upstream->run_id = "anything";
       },
       Rule::kFollowMaster, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::ReplicateFrom{"127.0.0.1", 7002})},
      {"hold: no master known and our link is down: hold our data until the election",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         r = LinkedReplica("127.0.0.1", 7002);
         r.master_link_up = false;
       },
       Rule::kCompete, true, std::optional<RedisRole>(RedisRole::kReplica), RedisCommand(cmd::HoldReplication{})},
      {"hold: no master known and ours is a master the last holder did not vouch for (restarted): hold it",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_free = true;
         c.lock_holder_session.clear();
         r.run_id = "run-restarted";
         r.master_replid = "fresh";
         r.master_repl_offset = 0;
       },
       Rule::kWaitForBetterCandidate, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{})},
      {"hold: no master known and ours is the master the last holder vouched for (its agent restarted): keep it",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c = HeldByOther();
         c.lock_free = true;
         c.lock_holder_session.clear();
         c.lock_record->holder_id = kSelf;
         r.run_id = "run-other";
       },
       Rule::kCompete, true, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"hold: already held, nothing more to do while no master is known",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory&) {
         c.lock_free = true;
         r = LinkedReplica(std::string(cmd::kHoldHost), cmd::kHoldPort);
         r.master_link_up = false;
       },
       Rule::kCompete, true, std::optional<RedisRole>(RedisRole::kReplica), std::nullopt},
      {"ours: a holder whose Redis restarted under it steps down and holds it",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_held = true;
         m.lock_run_id = "run-before";
         r.run_id = "run-after";
       },
       Rule::kRedisRestarted, false, std::optional<RedisRole>(RedisRole::kReplica),
       RedisCommand(cmd::HoldReplication{})},
      {"ours: a holder whose Redis is the run it took the lock with keeps it",
       [](ConsulState& c, RedisState& r, DecideOptions&, DecideMemory& m) {
         c.lock_held = true;
         m.lock_run_id = "run-same";
         r.run_id = "run-same";
       },
       Rule::kMasterKeepsLock, true, std::optional<RedisRole>(RedisRole::kMaster), std::nullopt},
      {"compat: elect_best off, any healthy agent competes",
       [](ConsulState& c, RedisState&, DecideOptions& o, DecideMemory&) {
         c.lock_free = true;
         c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 999, 100, 0}};
         o.elect_best = false;
       },
       Rule::kCompete, true, std::nullopt, std::nullopt},
  };

  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    ConsulState consul = Reachable();
    RedisState redis = HealthyMaster();
    DecideOptions options = Options();
    DecideMemory memory;
    row.setup(consul, redis, options, memory);
    const Decision d = Decide(consul, redis, options, kNow, memory);
    EXPECT_EQ(RuleName(d.rule), RuleName(row.rule)) << d.reason;
    if (row.hold_lock) {
      ASSERT_TRUE(d.intent.has_value());
      EXPECT_EQ(d.intent->hold_lock, *row.hold_lock);
    }
    if (row.register_as) {
      ASSERT_TRUE(d.intent.has_value());
      EXPECT_EQ(d.intent->register_as, *row.register_as);
    }
    if (!row.hold_lock && !row.register_as && row.rule <= Rule::kConsulUnreachable) {
      EXPECT_FALSE(d.intent.has_value());
    }
    EXPECT_EQ(d.redis, row.redis);
  }
}

TEST(Decide, HandedOverMasterNeverTakesTheLockBack) {
  // Regression: a later INFO showed the successor one write behind (a
  // replication ping) and the master re-acquired the lock it had just
  // released, abandoning the switchover.
  ConsulState c = Reachable();
  c.lock_free = true;
  DecideMemory m;
  m.switchover = SwitchoverPlan{"", kNow + std::chrono::seconds(5), true, "node/redis@:7002"};
  const Decision d = Decide(c, HealthyMaster(), Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverHandOver));
  ASSERT_TRUE(d.intent && d.intent->lock_record);
  EXPECT_FALSE(d.intent->hold_lock);
  EXPECT_EQ(d.intent->lock_record->successor, "node/redis@:7002");
  ASSERT_TRUE(d.guard);
  EXPECT_TRUE(d.guard->pause_writes);
}

TEST(Decide, SwitchoverHandsOverOnlyOnASnapshotTakenWhilePaused) {
  // Regression: the first decision compared offsets read before the pause
  // (one write behind reality) and handed over a successor missing it.
  ConsulState c = Reachable();
  c.lock_held = true;
  c.peers = {PeerReport{"redis@:7002", "", 7002, true, "slave", "aaaa", "", 100, 100, 0, "", "node"}};
  c.peers[0].run_id = "run-2";
  RedisState r = HealthyMaster();
  r.replicas = {{"127.0.0.1", 7002, "online", 100}};
  DecideMemory m;
  m.switchover = SwitchoverPlan{"", kNow + std::chrono::seconds(5), false, ""};
  Decision d = Decide(c, r, Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverCatchUp));
  ASSERT_TRUE(d.guard);
  EXPECT_TRUE(d.guard->pause_writes);
  r.writes_paused = true;
  // What the replica said of itself while we were paused.
  r.replicas[0].inspected = true;
  r.replicas[0].run_id = "run-2";
  r.replicas[0].replid = "aaaa";
  r.replicas[0].link_up = true;
  d = Decide(c, r, Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverHandOver));
  ASSERT_TRUE(d.intent && d.intent->lock_record);
  EXPECT_FALSE(d.intent->hold_lock);
  EXPECT_EQ(d.intent->lock_record->successor, "node/redis@:7002");
}

// Fencing decisions, one row per case: does a master Redis take writes?
TEST(Decide, WriteGuardTable) {
  struct GuardRow {
    const char* name;
    std::function<void(ConsulState&)> setup;
    bool consul_ready;
    bool pause;
  };
  const std::vector<GuardRow> rows = {
      {"holder with a fresh confirmed lease takes writes",
       [](ConsulState& c) {
         c.lock_held = true;
         c.lease_ttl = std::chrono::milliseconds(1500);
         c.lease_deadline = kNow + std::chrono::milliseconds(1400);
       },
       true, false},
      {"holder whose lease was last confirmed over a second ago is fenced",
       [](ConsulState& c) {
         c.lock_held = true;
         c.lease_ttl = std::chrono::milliseconds(1500);
         c.lease_deadline = kNow + std::chrono::milliseconds(400);
       },
       true, true},
      {"master without the lock is fenced", [](ConsulState& c) { c.lock_free = true; }, true, true},
      {"agent restarted, no Consul state yet: fenced until it knows", [](ConsulState&) {}, false, true},
  };
  for (const GuardRow& row : rows) {
    SCOPED_TRACE(row.name);
    ConsulState consul = Reachable();
    row.setup(consul);
    consul.ready = row.consul_ready;
    const Decision d = Decide(consul, HealthyMaster(), Options(), kNow, DecideMemory{});
    ASSERT_TRUE(d.guard) << d.reason;
    EXPECT_EQ(d.guard->pause_writes, row.pause) << d.reason;
  }
}

TEST(Decide, HolderWritesItsIdentityIntoTheLockRecord) {
  ConsulState c = Reachable();
  c.lock_held = true;
  const Decision d = Decide(c, HealthyMaster(), Options(), kNow, {});
  ASSERT_TRUE(d.intent && d.intent->lock_record);
  EXPECT_EQ(d.intent->lock_record->holder_id, kSelf);
  EXPECT_EQ(d.intent->lock_record->port, 7001);
  EXPECT_EQ(d.intent->lock_record->replid, "aaaa");
}

// Between acquiring the lock and promoting, our replication ID is the old
// master's: the record leaves the lineage out until we are master.
TEST(Decide, HolderNotYetPromotedRecordsNoLineage) {
  ConsulState c = Reachable();
  c.lock_held = true;
  const Decision d = Decide(c, LinkedReplica("127.0.0.1", 7002), Options(), kNow, {});
  ASSERT_TRUE(d.intent && d.intent->lock_record) << d.reason;
  EXPECT_EQ(d.intent->lock_record->holder_id, kSelf);
  EXPECT_EQ(d.intent->lock_record->replid, "");
  EXPECT_EQ(d.intent->lock_record->offset, 100);
}

// A master no replica has attached to since it became master has no backlog
// yet, and Redis draws a new replication ID when the first one attaches: the
// record waits for the ID the replicas will carry (regression: a holder
// killed in between left a lineage nobody had, and an empty node won).
TEST(Decide, MasterWithoutBacklogRecordsNoLineage) {
  ConsulState c = Reachable();
  c.lock_held = true;
  RedisState r = HealthyMaster();
  r.repl_backlog_active = false;
  const Decision d = Decide(c, r, Options(), kNow, {});
  ASSERT_TRUE(d.intent && d.intent->lock_record) << d.reason;
  EXPECT_EQ(d.intent->lock_record->replid, "");
}

TEST(Decide, CandidateWithoutTheLockIsNeverPassing) {
  ConsulState c = Reachable();
  c.lock_free = true;
  const Decision d = Decide(c, HealthyMaster(), Options(), kNow, {});
  ASSERT_TRUE(d.intent);
  EXPECT_EQ(d.intent->check_status, "warning");
}

TEST(Decide, CheckOutputCarriesCurrentInfo) {
  ConsulState c = Reachable();
  c.lock_held = true;
  RedisState r = HealthyMaster();
  r.info = "role:master\r\nmaster_repl_offset:12345\r\n";
  const Decision d = Decide(c, r, Options(), kNow, {});
  ASSERT_TRUE(d.intent);
  EXPECT_EQ(d.intent->check_output, r.info);  // already first
  EXPECT_EQ(d.intent->check_status, "passing");
}

TEST(ReplicationSectionFirst, Table) {
  struct {
    const char* name;
    std::string in, want;
  } rows[] = {
      {"empty", "", ""},
      {"no section", "# Server\r\na:1\r\n", "# Server\r\na:1\r\n"},
      {"already first", "# Replication\r\nrole:master\r\n", "# Replication\r\nrole:master\r\n"},
      {"middle", "# Server\r\na:1\r\n\r\n# Replication\r\nrole:slave\r\n\r\n# CPU\r\nc:2\r\n",
       "# Replication\r\nrole:slave\r\n\r\n# Server\r\na:1\r\n\r\n# CPU\r\nc:2\r\n"},
      {"last", "# Server\na:1\n# Replication\nrole:master\n", "# Replication\nrole:master\n# Server\na:1\n"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(ReplicationSectionFirst(row.in), row.want);
  }
}

TEST(RedisCanServe, Table) {
  struct {
    const char* name;
    RedisState state;
    bool want;
  } rows[] = {
      {"master", HealthyMaster(), true},
      {"linked replica", LinkedReplica("h", 1), true},
      {"unhealthy", [] { auto r = HealthyMaster(); r.healthy = false; return r; }(), false},
      {"syncing", [] { auto r = LinkedReplica("h", 1); r.master_sync_in_progress = true; return r; }(), false},
      {"link down", [] { auto r = LinkedReplica("h", 1); r.master_link_up = false; return r; }(), false},
      {"not ready", RedisState{}, false},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(RedisCanServe(row.state), row.want);
  }
}

// Our report tells the peers we are cooling down, so a better-placed one of
// us is waited for rather than passed over.
TEST(Decide, ReportSaysWhenWeAreCoolingDown) {
  ConsulState consul = Reachable();
  consul.lock_free = true;
  const RedisState redis = LinkedReplica("127.0.0.1", 7002);
  DecideMemory memory;
  memory.no_promotion_until = kNow + std::chrono::seconds(1);
  Decision d = Decide(consul, redis, Options(), kNow, memory);
  ASSERT_TRUE(d.intent && d.intent->report);
  EXPECT_TRUE(d.intent->report->cooling);
  memory.no_promotion_until = kNow - std::chrono::seconds(1);
  d = Decide(consul, redis, Options(), kNow, memory);
  ASSERT_TRUE(d.intent && d.intent->report);
  EXPECT_FALSE(d.intent->report->cooling);
}

// ------------------------------------------------------------------ switchover by identity

// Every member of a production group runs Redis on 6379: the master's replica
// lines differ only by address, and the agents' reports carry no address
// (loopback announce). A switchover candidate is matched by run_id, and
// qualifies only when the replica itself says it follows our history,
// linked and not syncing.
PeerReport SamePortPeer(const std::string& node, const std::string& run, int64_t offset, bool syncing = false) {
  PeerReport p{"redis@:6379", "", 6379, true, "slave", "aaaa", "", offset, 100, 0, "", node};
  p.run_id = run;
  p.syncing = syncing;
  return p;
}

RedisState::Replica Inspected(const std::string& ip, const std::string& state, int64_t offset,
                              const std::string& run, const std::string& replid, bool link_up) {
  RedisState::Replica r{ip, 6379, state, offset};
  r.inspected = true;
  r.run_id = run;
  r.replid = replid;
  r.link_up = link_up;
  return r;
}

TEST(Decide, SwitchoverNeverPicksASyncingReplicaInASamePortGroup) {
  ConsulState c = Reachable();
  c.lock_held = true;
  // h2 restarted empty and is in its full sync; h3 is caught up.
  c.peers = {SamePortPeer("h2", "run-h2", 0, /*syncing=*/true), SamePortPeer("h3", "run-h3", 100)};
  RedisState r = HealthyMaster();
  r.writes_paused = true;
  r.replicas = {Inspected("10.0.0.2", "send_bulk", 0, "run-h2", "ffff", false),
                Inspected("10.0.0.3", "online", 100, "run-h3", "aaaa", true)};
  EXPECT_EQ(SwitchoverTarget(c, r, SwitchoverPlan{}), "h3/redis@:6379");
  // Even asked for by name, h2 does not qualify.
  EXPECT_EQ(SwitchoverTarget(c, r, SwitchoverPlan{.to = "h2/redis@:6379"}), "");
  EXPECT_EQ(SwitchoverTarget(c, r, SwitchoverPlan{.to = "h2"}), "");
  EXPECT_EQ(SwitchoverTarget(c, r, SwitchoverPlan{.to = "h3"}), "h3/redis@:6379");
  // An online line whose replica reports another history does not qualify
  // either (a replica that finished a sync from someone else).
  r.replicas[1].replid = "bbbb";
  EXPECT_EQ(SwitchoverTarget(c, r, SwitchoverPlan{}), "");
  // Nor one not read while paused.
  r.replicas[1] = RedisState::Replica{"10.0.0.3", 6379, "online", 100};
  EXPECT_EQ(SwitchoverTarget(c, r, SwitchoverPlan{}), "");
}

TEST(Decide, SwitchoverWaitsForTheTargetToCatchUpThenNamesIt) {
  ConsulState c = Reachable();
  c.lock_held = true;
  c.peers = {SamePortPeer("h2", "run-h2", 90), SamePortPeer("h3", "run-h3", 80)};
  RedisState r = HealthyMaster();  // offset 100
  r.writes_paused = true;
  r.replicas = {Inspected("10.0.0.2", "online", 90, "run-h2", "aaaa", true),
                Inspected("10.0.0.3", "online", 80, "run-h3", "aaaa", true)};
  DecideMemory m;
  m.switchover = SwitchoverPlan{"", kNow + std::chrono::seconds(5)};
  Decision d = Decide(c, r, Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverCatchUp)) << d.reason;
  r.replicas[0].offset = 100;
  d = Decide(c, r, Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverHandOver)) << d.reason;
  ASSERT_TRUE(d.intent && d.intent->lock_record);
  EXPECT_EQ(d.intent->lock_record->successor, "h2/redis@:6379");
}

TEST(Decide, AnOperatorsSwitchoverPastItsDeadlineDoesNotReleaseTheLock) {
  ConsulState c = Reachable();
  c.lock_held = true;
  c.peers = {SamePortPeer("h2", "run-h2", 0, /*syncing=*/true)};
  RedisState r = HealthyMaster();
  r.writes_paused = true;
  DecideMemory m;
  m.switchover = SwitchoverPlan{"", kNow - std::chrono::seconds(1)};
  Decision d = Decide(c, r, Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverCatchUp)) << d.reason;
  ASSERT_TRUE(d.intent);
  EXPECT_TRUE(d.intent->hold_lock);
  // Shutting down, the lock goes anyway (with no successor named).
  m.switchover->release_at_deadline = true;
  d = Decide(c, r, Options(), kNow, m);
  EXPECT_EQ(RuleName(d.rule), RuleName(Rule::kSwitchoverHandOver));
  ASSERT_TRUE(d.intent && d.intent->lock_record);
  EXPECT_FALSE(d.intent->hold_lock);
  EXPECT_EQ(d.intent->lock_record->successor, "");
}

// ------------------------------------------------------------------ elections

TEST(Decide, ASyncingOrLoadingMemberNeverWins) {
  ConsulState c = Reachable();
  c.lock_free = true;
  c.lock_modify_index = 7;
  c.lock_record = LockRecord{.holder_id = kThird, .port = 7003, .replid = "aaaa"};
  DecideMemory m;
  m.lock_free_since = kNow - std::chrono::seconds(5);
  // We are in a full sync: whatever our offset reads, we do not compete.
  RedisState syncing = LinkedReplica("127.0.0.1", 7003);
  syncing.master_sync_in_progress = true;
  syncing.slave_repl_offset = 1000;
  Eligibility e = CheckEligibility(c, syncing, Options(), kNow, m);
  EXPECT_FALSE(e.eligible);
  EXPECT_NE(e.reason.find("full sync"), std::string::npos) << e.reason;
  // A syncing peer with a higher offset is not waited for.
  PeerReport peer{kOther, "", 7002, true, "slave", "aaaa", "", 1000, 100, 7, "", "node"};
  peer.syncing = true;
  c.peers = {peer};
  RedisState ours = LinkedReplica("127.0.0.1", 7003);
  e = CheckEligibility(c, ours, Options(), kNow, m);
  EXPECT_TRUE(e.eligible) << e.reason;
  // Nor a loading one.
  c.peers[0].syncing = false;
  c.peers[0].loading = true;
  c.peers[0].healthy = false;
  e = CheckEligibility(c, ours, Options(), kNow, m);
  EXPECT_TRUE(e.eligible) << e.reason;
}

TEST(Decide, ALoadingMemberHoldsTheOrphanRuleOpenWhileItLoads) {
  ConsulState c = Reachable();
  c.lock_free = true;
  c.lock_modify_index = 7;
  // Nobody visible descends from the last master (we restarted empty).
  c.lock_record = LockRecord{.holder_id = kThird, .port = 7003, .replid = "zzzz"};
  PeerReport loading{kOther, "", 7002, false, "master", "", "", 0, 100, 7, "", "node"};
  loading.loading = true;
  c.peers = {loading};
  DecideMemory m;
  m.lock_free_since = kNow - std::chrono::seconds(30);  // past the 10 s orphan grace
  RedisState ours = HealthyMaster();
  Eligibility e = CheckEligibility(c, ours, Options(), kNow, m);
  EXPECT_FALSE(e.eligible);
  EXPECT_NE(e.reason.find("loading"), std::string::npos) << e.reason;
  // Without it, the orphan grace has passed: we may take the lock.
  c.peers.clear();
  e = CheckEligibility(c, ours, Options(), kNow, m);
  EXPECT_TRUE(e.eligible) << e.reason;
}

TEST(Decide, AnOffsetReportedBeforeTheLockFreedIsWaitedForThenLeftOut) {
  ConsulState c = Reachable();
  c.lock_free = true;
  c.lock_modify_index = 9;
  c.lock_record = LockRecord{.holder_id = kThird, .port = 7003, .replid = "aaaa"};
  // A live peer whose report predates the lock's release: its offset is not
  // final, however high.
  c.peers = {PeerReport{kOther, "", 7002, true, "slave", "aaaa", "", 5000, 100, 0, "", "node"}};
  DecideMemory m;
  RedisState ours = LinkedReplica("127.0.0.1", 7003);
  m.lock_free_since = kNow - std::chrono::milliseconds(500);
  Eligibility e = CheckEligibility(c, ours, Options(), kNow, m);
  EXPECT_FALSE(e.eligible);
  EXPECT_NE(e.reason.find("final offset"), std::string::npos) << e.reason;
  // Past the bound (1 s), it is left out of the ranking.
  m.lock_free_since = kNow - std::chrono::milliseconds(1100);
  e = CheckEligibility(c, ours, Options(), kNow, m);
  EXPECT_TRUE(e.eligible) << e.reason;
}

// ------------------------------------------------------------------ the guard counts what Redis counts

TEST(Decide, MinReplicasCountsReplicasTheMasterSeesOnline) {
  ConsulState c = Reachable();
  c.lock_held = true;
  c.lease_ttl = std::chrono::milliseconds(1500);
  c.lease_deadline = kNow + std::chrono::milliseconds(1400);
  // The only replica reports itself healthy but is in its full sync.
  c.peers = {PeerReport{kOther, "", 7002, true, "slave", "ffff", "", 0, 100, 0, "", "node"}};
  RedisState r = HealthyMaster();
  r.replicas = {{"127.0.0.1", 7002, "send_bulk", 0}};
  Decision d = Decide(c, r, Options(), kNow, DecideMemory{});
  ASSERT_TRUE(d.guard);
  EXPECT_EQ(d.guard->min_replicas_to_write, 0) << "Redis would count none: writes would be refused for the sync";
  r.replicas[0].state = "online";
  d = Decide(c, r, Options(), kNow, DecideMemory{});
  ASSERT_TRUE(d.guard);
  EXPECT_EQ(d.guard->min_replicas_to_write, 1);
  // Strict: never lowered.
  DecideOptions strict = Options();
  strict.min_replicas_strict = true;
  r.replicas.clear();
  d = Decide(c, r, strict, kNow, DecideMemory{});
  ASSERT_TRUE(d.guard);
  EXPECT_EQ(d.guard->min_replicas_to_write, 1);
}

}  // namespace
}  // namespace resec
