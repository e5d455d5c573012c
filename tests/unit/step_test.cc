// Step(): the reconciler's policy, driven event by event with an explicit
// clock. Each test walks one path of the state diagram in
// docs/architecture.md and names the transition it pins; the rules inside a
// single decision are Decide()'s tables (decide_test.cc).
#include "resec/step.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace resec {
namespace {

using namespace std::chrono_literals;
using R = RedisIntent::Replication;

const TimePoint kT0 = TimePoint(std::chrono::hours(1));

constexpr char kSelf[] = "redis@:7001";
constexpr char kOther[] = "redis@:7002";

StepOptions Options() {
  StepOptions o;
  o.decide.self_id = kSelf;
  o.decide.announce_port = 7001;
  o.refresh = 1000ms;
  return o;
}

RedisState Master(const std::string& run = "run-self") {
  RedisState r;
  r.ready = r.healthy = true;
  r.role = RedisRole::kMaster;
  r.run_id = run;
  r.master_replid = "aaaa";
  r.master_repl_offset = 100;
  return r;
}

RedisState ReplicaOf(const std::string& host, int port) {
  RedisState r = Master();
  r.role = RedisRole::kReplica;
  r.master_host = host;
  r.master_port = port;
  r.master_link_up = true;
  r.slave_repl_offset = 100;
  return r;
}

// Our session, confirmed by the servers at `at`, nothing else known yet.
ConsulState Consul(TimePoint at) {
  ConsulState c;
  c.ready = c.reachable = true;
  c.node_name = "node";
  c.session_id = "s-self";
  c.session_ttl = 15s;
  c.session_confirmed_at = at;
  c.masters_known = true;
  return c;
}

ConsulState Holding(TimePoint confirmed) {
  ConsulState c = Consul(confirmed);
  c.lock_held = true;
  c.lock_holder_session = "s-self";
  c.lock_record = LockRecord{.holder_id = kSelf, .port = 7001, .replid = "aaaa", .node = "node",
                             .run_id = "run-self"};
  return c;
}

ConsulState HeldByOther(TimePoint at) {
  ConsulState c = Consul(at);
  c.lock_holder_session = "s-other";
  c.lock_record = LockRecord{.holder_id = kOther, .port = 7002, .replid = "aaaa", .node = "node",
                             .run_id = "run-other"};
  c.masters = {ServiceInstance{kOther, "node", "127.0.0.1", 7002, {}}};
  return c;
}

PeerReport LivePeer(int64_t offset = 100) {
  PeerReport p;
  p.id = kOther;
  p.node = "node";
  p.port = 7002;
  p.healthy = true;
  p.role = "slave";
  p.replid = "aaaa";
  p.offset = offset;
  p.priority = 100;
  return p;
}

// Feeds events in order, keeping memory between them.
struct Driver {
  ReconcilerMemory memory;
  StepOptions options = Options();
  StepResult last;
  StepResult Feed(const Event& e, TimePoint now) {
    last = Step(memory, e, now, options);
    memory = last.memory;
    return last;
  }
};

ConsulState HoldingWithAReplica() {
  ConsulState c = Holding(kT0);
  c.peers = {LivePeer()};
  return c;
}

// We hold the lock, our Redis is master, one live replica reports.
Driver HoldingMasterWithAReplica() {
  Driver d;
  d.Feed(Master(), kT0);
  d.Feed(HoldingWithAReplica(), kT0);
  return d;
}

TEST(Step, LeaseComesFromTheServersConfirmationAndTheCheck) {
  ConsulState c = Consul(kT0);
  auto [deadline, ttl] = Lease(c);
  EXPECT_EQ(ttl, 1500ms) << "one confirmation buys the confirmed lease, not the whole TTL";
  EXPECT_EQ(deadline, kT0 + 1500ms);
  // Bound to the check: the check's TTL bounds it too, when sooner.
  c.session_has_check = true;
  c.check_ttl = 6s;
  c.check_confirmed_at = kT0 - 5s;
  std::tie(deadline, ttl) = Lease(c);
  EXPECT_EQ(deadline, kT0 + 1s);
  EXPECT_EQ(ttl, 6s);
  // No session, no lease.
  c.session_id.clear();
  std::tie(deadline, ttl) = Lease(c);
  EXPECT_EQ(ttl.count(), 0);
}

TEST(Step, HolderIsFencedOnceItsLeaseIsNotConfirmedForASecond) {
  Driver d;
  d.Feed(Master(), kT0);
  // Fresh confirmation: writes allowed.
  StepResult r = d.Feed(Holding(kT0), kT0 + 100ms);
  EXPECT_EQ(r.decision.rule, Rule::kMasterKeepsLock);
  EXPECT_FALSE(r.redis.guard.pause_writes);
  EXPECT_EQ(r.redis.replication, R::kMaster);
  // It wakes when the lease is due to be fenced, whatever else happens.
  EXPECT_LE(r.next_wake, kT0 + 1001ms);
  // No renewal confirmed since: a third before the end, it fences.
  r = d.Feed(event::Tick{}, kT0 + 1001ms);
  EXPECT_TRUE(r.redis.guard.pause_writes);
  // Fenced, it no longer insists on being master: the lock may be someone
  // else's, who demotes this Redis and lifts the pause; re-promoting it then
  // would make two masters (chaos seed 3, a healed host partition: 279 ms).
  EXPECT_EQ(r.redis.replication, R::kLeave);
  // A confirmation arrives: writes again, master again.
  r = d.Feed(Holding(kT0 + 1100ms), kT0 + 1150ms);
  EXPECT_FALSE(r.redis.guard.pause_writes);
  EXPECT_EQ(r.redis.replication, R::kMaster);
}

// In a group of three the group's lease is what counts, and an isolated
// holder hears nothing that would wake it: it must wake when the lease runs
// out and pause then, not at its next Redis poll (rig: an isolated master
// paused 50-174 ms after the new master took a write).
TEST(Step, APeerModeHolderWakesAndPausesWhenTheGroupsLeaseRunsOut) {
  Driver d;
  d.options.peer.enabled = true;
  ConsulState c = Holding(kT0);
  c.lock_index = 5;
  PeerReport third = LivePeer();
  third.id = "redis@:7003";
  third.port = 7003;
  c.peers = {LivePeer(), third};
  for (auto& p : c.peers) p.peer = "127.0.0.1:1";
  PeerView view;
  view.listening = true;
  for (const auto& p : c.peers) {
    PeerMember& m = view.members[MemberKey(p.node, p.id)];
    m.received_at = kT0;
    m.acked_sent_at = kT0 - 500ms;  // grants until kT0 + 300 ms (80% of the 1 s lease)
  }
  d.Feed(Master(), kT0);
  d.Feed(view, kT0);
  StepResult r = d.Feed(c, kT0 + 10ms);
  EXPECT_EQ(r.decision.rule, Rule::kMasterKeepsLock);
  EXPECT_FALSE(r.redis.guard.pause_writes);
  EXPECT_LE(r.next_wake, kT0 + 301ms) << "wakes when the group's lease runs out, heard or not";
  r = d.Feed(event::Tick{}, r.next_wake);
  EXPECT_TRUE(r.redis.guard.pause_writes);
}

TEST(Step, IntentsNameTheRunTheyWereDecidedFor) {
  Driver d;
  StepResult r = d.Feed(Master("run-a"), kT0);
  EXPECT_EQ(r.redis.run_id, "run-a");
  EXPECT_EQ(r.decision.rule, Rule::kWaitForInitialState);
  EXPECT_TRUE(r.redis.guard.pause_writes) << "a master nobody vouches for yet takes no writes";
  EXPECT_EQ(r.redis.replication, R::kLeave);
  EXPECT_FALSE(r.consul) << "no Consul intent before Decide has made one";
  r = d.Feed(Master("run-b"), kT0 + 10ms);
  EXPECT_EQ(r.redis.run_id, "run-b");
}

TEST(Step, HeldLockIsLostAfterTheMonitorsRetries) {
  Driver d;
  d.Feed(Master(), kT0);
  d.Feed(Holding(kT0), kT0);
  ConsulState failing = Holding(kT0);
  failing.lock_read_failures = 4;
  failing.lock_read_failing_since = kT0;
  // Enough failures, but not yet three intervals apart: still ours.
  StepResult r = d.Feed(failing, kT0 + 2s);
  EXPECT_TRUE(r.view.lock_held);
  EXPECT_LE(r.next_wake, kT0 + 3001ms) << "wakes when the monitor gives up";
  r = d.Feed(event::Tick{}, kT0 + 3s);
  EXPECT_FALSE(r.view.lock_held);
  EXPECT_EQ(r.memory.counters.lock_losses, 1u);
  EXPECT_EQ(r.memory.counters.lock_acquisitions, 1u);
  ASSERT_FALSE(r.notes.empty());
  // Counted once, not on every step after.
  r = d.Feed(event::Tick{}, kT0 + 3100ms);
  EXPECT_EQ(r.memory.counters.lock_losses, 1u);
}

TEST(Step, AStalledLoopMakesNoPromotionForACoolDown) {
  Driver d;
  d.Feed(ReplicaOf("127.0.0.1", 7002), kT0);
  ConsulState free = Consul(kT0);
  free.lock_free = true;
  StepResult r = d.Feed(free, kT0);
  const TimePoint asked = r.next_wake;
  // Woken 3 s after it asked to be (SIGSTOP): TILT.
  r = d.Feed(event::Tick{}, asked + 3s);
  EXPECT_EQ(r.memory.counters.stalls, 1u);
  ASSERT_TRUE(r.memory.decide.no_promotion_until);
  EXPECT_EQ(*r.memory.decide.no_promotion_until, asked + 3s + 5s);
  EXPECT_FALSE(r.consul->hold_lock);
}

TEST(Step, AFreedLockAsksForAFreshOffsetBeforeCompeting) {
  Driver d;
  d.Feed(ReplicaOf("127.0.0.1", 7002), kT0);
  d.Feed(HeldByOther(kT0), kT0);
  ConsulState free = HeldByOther(kT0);
  free.lock_free = true;
  free.lock_holder_session.clear();
  free.masters.clear();
  StepResult r = d.Feed(free, kT0 + 10ms);
  EXPECT_EQ(r.memory.observe_seq, 1u);
  EXPECT_EQ(r.redis.observe, 1u) << "the Redis watcher is asked for a fresh observation";
  EXPECT_TRUE(r.memory.decide.own_offset_stale);
  EXPECT_FALSE(r.consul->hold_lock);
  // A snapshot read before the request does not count...
  RedisState old = ReplicaOf("127.0.0.1", 7002);
  old.observe_seq = 0;
  r = d.Feed(old, kT0 + 12ms);
  EXPECT_TRUE(r.memory.decide.own_offset_stale);
  // ... one read after it does.
  RedisState fresh = old;
  fresh.observe_seq = 1;
  r = d.Feed(fresh, kT0 + 15ms);
  EXPECT_FALSE(r.memory.decide.own_offset_stale);
  EXPECT_TRUE(r.consul->hold_lock) << r.decision.reason;
}

TEST(Step, PromotionFencesTheFormerMasterThenDemotesItUntilItFollows) {
  Driver d;
  d.Feed(ReplicaOf("10.0.0.2", 7002), kT0);
  // We acquired the lock while linked to the former master.
  StepResult r = d.Feed(Holding(kT0), kT0 + 1ms);
  EXPECT_EQ(r.decision.rule, Rule::kPromote);
  EXPECT_EQ(r.redis.replication, R::kMaster);
  ASSERT_TRUE(r.redis.former);
  EXPECT_EQ(*r.redis.former, std::pair(std::string("10.0.0.2"), 7002));
  EXPECT_FALSE(r.redis.demote) << "demoted only once we are master";
  EXPECT_EQ(r.memory.counters.promotions, 1u);
  // Promoted: the former master is demoted while we hold the lock.
  r = d.Feed(Master(), kT0 + 5ms);
  EXPECT_EQ(r.decision.rule, Rule::kMasterKeepsLock);
  ASSERT_TRUE(r.redis.demote);
  EXPECT_EQ(*r.redis.demote, std::pair(std::string("10.0.0.2"), 7002));
  // Still a master as last read: keep at it.
  RedisState attempt = Master();
  attempt.former = UpstreamProbe{.host = "10.0.0.2", .port = 7002, .reachable = true, .role = RedisRole::kMaster};
  r = d.Feed(attempt, kT0 + 505ms);
  EXPECT_TRUE(r.redis.demote);
  // It follows us now: done.
  attempt.former->role = RedisRole::kReplica;
  r = d.Feed(attempt, kT0 + 1s);
  EXPECT_FALSE(r.redis.demote);
  EXPECT_FALSE(r.memory.former_master);
  EXPECT_EQ(r.memory.counters.promotions, 1u) << "a repeated wish is not a new promotion";
}

TEST(Step, AFailoverIsMeasuredFromTheFreedLockToOurRedisServing) {
  Driver d;
  d.Feed(ReplicaOf("127.0.0.1", 7002), kT0);
  StepResult r = d.Feed(HeldByOther(kT0), kT0);
  EXPECT_FALSE(r.measured.failure_detection);
  ConsulState free = HeldByOther(kT0);
  free.lock_free = true;
  free.lock_holder_session.clear();
  free.masters.clear();
  d.Feed(free, kT0 + 100ms);
  // We take the lock 250 ms after we saw it free ...
  r = d.Feed(Holding(kT0 + 350ms), kT0 + 350ms);
  ASSERT_TRUE(r.measured.failure_detection);
  EXPECT_EQ(*r.measured.failure_detection, 250ms);
  EXPECT_FALSE(r.measured.promotion);
  // ... and our Redis serves as master 40 ms later: measured once.
  r = d.Feed(Master(), kT0 + 390ms);
  ASSERT_TRUE(r.measured.promotion);
  EXPECT_EQ(*r.measured.promotion, 40ms);
  r = d.Feed(Master(), kT0 + 2s);
  EXPECT_FALSE(r.measured.promotion);
  EXPECT_FALSE(r.measured.failure_detection);
}

TEST(Step, ALockFreeAtStartUpIsNoFailureToMeasure) {
  Driver d;
  d.Feed(Master(), kT0);
  ConsulState free = Consul(kT0);
  free.lock_free = true;
  d.Feed(free, kT0);
  const StepResult r = d.Feed(Holding(kT0 + 20ms), kT0 + 20ms);
  EXPECT_FALSE(r.measured.failure_detection) << "nobody failed: the group is starting";
  EXPECT_TRUE(r.measured.promotion) << "our Redis already serves as master";
}

TEST(Step, ASwitchoverIsMeasuredUntilTheSuccessorHoldsTheLock) {
  Driver d = HoldingMasterWithAReplica();
  const ConsulState c = HoldingWithAReplica();
  d.Feed(event::Switchover{""}, kT0 + 1ms);
  // Pretend the hand-over decision was made: released to the successor.
  ASSERT_TRUE(d.memory.decide.switchover);
  d.memory.decide.switchover->handed_over = true;
  ConsulState free = c;
  free.lock_held = false;
  free.lock_free = true;
  free.lock_holder_session.clear();
  StepResult r = d.Feed(free, kT0 + 200ms);
  EXPECT_FALSE(r.measured.switchover) << "released is not yet taken over";
  ConsulState taken = HeldByOther(kT0 + 301ms);
  taken.peers = {LivePeer()};
  r = d.Feed(taken, kT0 + 301ms);
  ASSERT_TRUE(r.measured.switchover);
  EXPECT_EQ(*r.measured.switchover, 300ms);
}

TEST(Step, FormerMasterIsGivenUpAfterAMinute) {
  Driver d;
  d.Feed(ReplicaOf("10.0.0.2", 7002), kT0);
  d.Feed(Holding(kT0), kT0);
  d.Feed(Master(), kT0 + 5ms);
  StepResult r = d.Feed(Holding(kT0 + 60s), kT0 + 60s);
  EXPECT_TRUE(r.redis.demote);
  r = d.Feed(Holding(kT0 + 61s), kT0 + 61s);
  EXPECT_FALSE(r.redis.demote);
}

TEST(Step, SwitchoverRequestIsTakenUpOncePerNonceAndOnlyByTheMaster) {
  Driver d;
  d.Feed(Master(), kT0);
  ConsulState c = Holding(kT0);
  c.peers = {LivePeer()};
  c.switchover_request = SwitchoverRequest{"", "n1"};
  StepResult r = d.Feed(c, kT0);
  ASSERT_TRUE(r.memory.decide.switchover);
  EXPECT_EQ(r.memory.handled_switchover_nonce, "n1");
  EXPECT_TRUE(r.redis.guard.pause_writes) << "a hand-over pauses writes first";
  EXPECT_EQ(r.decision.rule, Rule::kSwitchoverCatchUp);
  EXPECT_LE(r.next_wake, kT0 + 100ms);

  // A replica ignores the request.
  Driver replica;
  replica.Feed(ReplicaOf("127.0.0.1", 7002), kT0);
  ConsulState other = HeldByOther(kT0);
  other.switchover_request = SwitchoverRequest{"", "n1"};
  r = replica.Feed(other, kT0);
  EXPECT_FALSE(r.memory.decide.switchover);
}

TEST(Step, ASignalledSwitchoverStartsAPlan) {
  Driver d = HoldingMasterWithAReplica();
  StepResult r = d.Feed(event::Switchover{"node/" + std::string(kOther)}, kT0 + 1ms);
  ASSERT_TRUE(r.memory.decide.switchover);
  EXPECT_EQ(r.memory.decide.switchover->to, "node/redis@:7002");
}

TEST(Step, ShutdownOfAMasterHandsOverThenCleansUpConsul) {
  Driver d = HoldingMasterWithAReplica();
  StepResult r = d.Feed(event::Shutdown{}, kT0 + 10ms);
  EXPECT_TRUE(r.memory.shutdown_handover);
  ASSERT_TRUE(r.memory.decide.switchover);
  EXPECT_FALSE(r.memory.cleanup_since);
  EXPECT_FALSE(r.consul->shutdown);
  EXPECT_FALSE(r.done);
  // The successor took over and our Redis follows it: clean up.
  ConsulState after = HeldByOther(kT0 + 1s);
  r = d.Feed(after, kT0 + 1s);
  r = d.Feed(ReplicaOf("127.0.0.1", 7002), kT0 + 1s + 5ms);
  ASSERT_TRUE(r.memory.cleanup_since);
  EXPECT_TRUE(r.consul->shutdown);
  EXPECT_FALSE(r.consul->hold_lock);
  EXPECT_EQ(r.redis.replication, R::kLeave);
  EXPECT_FALSE(r.done);
  // Consul says it is done: so are we.
  after.shut_down = true;
  r = d.Feed(after, kT0 + 1s + 20ms);
  EXPECT_TRUE(r.done);
}

TEST(Step, ShutdownOfAReplicaCleansUpAtOnceAndEndsByTheDeadline) {
  Driver d;
  d.Feed(ReplicaOf("127.0.0.1", 7002), kT0);
  d.Feed(HeldByOther(kT0), kT0);
  StepResult r = d.Feed(event::Shutdown{}, kT0 + 10ms);
  ASSERT_TRUE(r.memory.cleanup_since);
  EXPECT_TRUE(r.consul->shutdown);
  EXPECT_FALSE(r.done);
  // Consul never answers: the deadline ends it.
  r = d.Feed(event::Tick{}, kT0 + 10ms + 5s);
  EXPECT_TRUE(r.done);
}

TEST(Step, ShutdownHandOverThatNeverCompletesEndsInCleanUp) {
  Driver d = HoldingMasterWithAReplica();
  d.Feed(event::Shutdown{}, kT0);
  // Switchover timeout (5 s) plus a second of slack.
  StepResult r = d.Feed(Holding(kT0 + 5900ms), kT0 + 5900ms);
  EXPECT_FALSE(r.memory.cleanup_since);
  r = d.Feed(Holding(kT0 + 6s), kT0 + 6s);
  EXPECT_TRUE(r.memory.cleanup_since);
  EXPECT_TRUE(r.consul->shutdown);
}

TEST(Step, AHolderWhoseRedisRestartedStepsDownAndHolds) {
  Driver d;
  d.Feed(Master("run-1"), kT0);
  d.Feed(Holding(kT0), kT0);
  StepResult r = d.Feed(Master("run-2"), kT0 + 100ms);
  EXPECT_EQ(r.decision.rule, Rule::kRedisRestarted);
  EXPECT_FALSE(r.consul->hold_lock);
  EXPECT_EQ(r.redis.replication, R::kHold);
  EXPECT_EQ(r.redis.run_id, "run-2");
  EXPECT_EQ(r.memory.counters.hold_commands, 1u);
}

TEST(Step, AReplicaFollowsTheHolderAndKeepsFollowing) {
  Driver d;
  RedisState r0 = ReplicaOf("127.0.0.1", 7002);
  r0.upstream = UpstreamProbe{.host = "127.0.0.1", .port = 7002, .reachable = true, .run_id = "run-other",
                              .role = RedisRole::kMaster, .replid = "aaaa", .offset = 100};
  d.Feed(r0, kT0);
  StepResult r = d.Feed(HeldByOther(kT0), kT0);
  EXPECT_EQ(r.decision.rule, Rule::kReplicaHealthy);
  EXPECT_EQ(r.redis.replication, R::kFollow) << "the standing wish, not only a one-off command";
  EXPECT_EQ(r.redis.host, "127.0.0.1");
  EXPECT_EQ(r.redis.port, 7002);
  EXPECT_TRUE(r.consul->register_as);
  EXPECT_EQ(r.memory.counters.replicate_commands, 1u);
  r = d.Feed(event::Tick{}, kT0 + 1s);
  EXPECT_EQ(r.redis.replication, R::kFollow);
  EXPECT_EQ(r.memory.counters.replicate_commands, 1u);
}

TEST(Step, ConsulUnreachableLeavesTheConsulIntentAsItWas) {
  Driver d;
  RedisState r0 = ReplicaOf("127.0.0.1", 7002);
  r0.upstream = UpstreamProbe{.host = "127.0.0.1", .port = 7002, .reachable = true, .run_id = "run-other",
                              .role = RedisRole::kMaster, .replid = "aaaa", .offset = 100};
  d.Feed(r0, kT0);
  StepResult before = d.Feed(HeldByOther(kT0), kT0);
  ConsulState away = HeldByOther(kT0);
  away.reachable = false;
  StepResult r = d.Feed(away, kT0 + 1s);
  EXPECT_EQ(r.decision.rule, Rule::kConsulUnreachable);
  ASSERT_TRUE(r.consul);
  EXPECT_EQ(*r.consul, *before.consul);
}

}  // namespace
}  // namespace resec
