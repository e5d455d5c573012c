// Decide: the reconciler's pure decision function.
//
// Given what the watchers last reported, what should Consul and Redis look
// like? The rules follow the original resec's decision order (first match
// wins; see shared/resec-reference.md) with the fixes this project makes:
// non-holders step down instead of deregistering every master, a holder that
// lost the lock demotes at once, only the most up-to-date eligible candidate
// competes for a free lock, and a replica holds its data off any master that
// could only replace it (CheckFollow).
//
// No I/O, no clock reads, no logging: time and memory come in as arguments so
// a table-driven test can pin every row.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resec/clock.h"
#include "resec/state.h"

namespace resec {

struct DecideOptions {
  std::string self_id;        // our service ID
  std::string self_node;      // our Consul node (service IDs repeat across nodes)
  std::string announce_host;  // empty: peers see our node's address
  int announce_port = 0;
  // Tie-breaker between equally up-to-date candidates; 0 = never promote.
  int priority = 100;
  // The original's rule: a replica whose link has been down longer than this
  // cannot serve and is deregistered.
  std::chrono::seconds link_down_limit{10};
  // false: the original's behaviour, any healthy agent competes for a free lock.
  bool elect_best = true;
  // How long the best candidate has to take a free lock before the next in
  // line may; the n-th candidate waits n x this.
  std::chrono::milliseconds election_grace{1000};
  // The session lock-delay: after Consul invalidates the holder's session no
  // one can acquire for this long, so every candidate's grace starts after it
  // (else the best candidate and the next both try the moment it ends).
  std::chrono::milliseconds lock_delay{0};
  // After the lock frees, how long candidates wait for every live peer to
  // report its final offset before ranking with what they have.
  // (Past it, a peer that has not reported after the lock freed is left out
  // of the ranking: its offset is older than the election.)
  std::chrono::milliseconds report_freshness_wait{1000};
  // When no live member descends from the last master, how long a free lock
  // waits before any member may take it anyway (else a group that lost all
  // its data could never recover).
  std::chrono::milliseconds orphan_grace{10000};
  // ... and while a member is loading its dataset (an RDB of gigabytes loads
  // for minutes), up to this long.
  std::chrono::milliseconds orphan_load_wait{std::chrono::minutes(10)};
  // How long after the lock frees a better candidate in its stall cool-down
  // (5 s) is waited for; past this it is passed over like any slow one.
  std::chrono::milliseconds cooling_wait{6000};
  // Fence a master that cannot prove it still holds the lock (CLIENT PAUSE WRITE).
  bool fencing = true;
  // min-replicas-to-write for our master, when at least that many healthy
  // replicas report in; 0 turns it off.
  int min_replicas_to_write = 1;
  int min_replicas_max_lag = 10;
  // Keep min-replicas-to-write even while fewer replicas are online (a
  // master alone, or with every replica resyncing, then refuses writes).
  bool min_replicas_strict = false;
  // Where our peer protocol listens, as peers reach it ("" when off).
  std::string peer_address;
};

// A planned switchover under way (resec switchover, or SIGTERM on the master).
struct SwitchoverPlan {
  std::string to;  // requested member, or empty: the best caught-up replica
  TimePoint deadline{};
  // Set by the reconciler once a decision released the lock to `successor`:
  // from then on we never take it back, whatever INFO says next.
  bool handed_over = false;
  std::string successor;
  // Shutting down: past the deadline the lock is released anyway. An
  // operator's switchover is abandoned instead (the master keeps the lock
  // and takes writes again): no hand-over beats a hand-over to a replica
  // that lacks writes.
  bool release_at_deadline = false;
  bool operator==(const SwitchoverPlan&) const = default;
};

// What the reconciler remembers between decisions (it owns the clock).
struct DecideMemory {
  std::optional<TimePoint> lock_free_since;  // when we first saw the lock free
  std::optional<TimePoint> no_promotion_until;  // stall cool-down (TILT)
  std::optional<SwitchoverPlan> switchover;
  // The lock freed after our last Redis snapshot: our own offset may be up
  // to a throttle period old, so we neither report nor compete until a fresh
  // observation arrives.
  bool own_offset_stale = false;
  // Our Redis' run_id when we took the lock: a holder whose Redis restarted
  // since (however briefly) no longer vouches for its data.
  std::optional<std::string> lock_run_id;
};

enum class Rule {
  kWaitForInitialState,
  kConsulUnreachable,
  kRedisUnhealthy,
  kMasterKeepsLock,    // holder, Redis is master: refresh
  kSwitchoverCatchUp,  // holder handing over: writes paused, waiting for the successor
  kSwitchoverHandOver, // holder handing over: successor caught up, release to it
  kPromote,            // holder, Redis not master yet
  kRedisRestarted,     // holder whose Redis restarted under it: step down
  kWaitForMaster,      // lock held by another agent whose master is not known yet
  kCompete,            // lock free: compete (if eligible)
  kWaitForBetterCandidate,  // no current master, someone else should win
  kHoldReplication,    // keep our data off a master that could only replace it
  kFollowMaster,       // not replicating the current master: REPLICAOF
  kReplicaCannotServe, // syncing or link down too long: deregister
  kReplicaHealthy,     // replicating the current master: refresh
};
std::string_view RuleName(Rule rule);

struct Decision {
  Rule rule = Rule::kWaitForInitialState;
  std::string reason;
  std::optional<ConsulIntent> intent;  // nullopt: leave the Consul side as it is
  std::optional<RedisCommand> redis;   // nullopt: nothing to tell Redis
  std::optional<WriteGuard> guard;     // nullopt: leave Redis' write guard as it is
  std::optional<ServiceInstance> master;  // the master we follow, if any
};

Decision Decide(const ConsulState& consul, const RedisState& redis, const DecideOptions& options,
                TimePoint now, const DecideMemory& memory);

// The master a non-holder should follow: the lock holder's registration when
// the lock record names it, otherwise the only passing master that is not us.
// nullopt while the lock is free or the catalog is ambiguous.
std::optional<ServiceInstance> CurrentMaster(const ConsulState& consul, const DecideOptions& options);

// Whether our Redis may replicate from `master` (the one CurrentMaster names)
// without losing data: either Redis will continue our history (partial
// resync from a master at or past our offset), or the full resync takes the
// data of the very redis-server process the lock holder vouched for (its
// run_id in the lock record). A master that restarted behind a dead agent,
// empty or from an older file, is neither: following it would throw away
// writes the group acknowledged. Needs RedisState::upstream for `master`.
struct FollowCheck {
  bool safe = false;
  std::string reason;
};
FollowCheck CheckFollow(const RedisState& redis, const ServiceInstance& master,
                        const std::optional<LockRecord>& record);

// Whether this agent may compete for a free lock now, and why not.
struct Eligibility {
  bool eligible = false;
  std::string reason;
};
Eligibility CheckEligibility(const ConsulState& consul, const RedisState& redis,
                             const DecideOptions& options, TimePoint now, const DecideMemory& memory);

// INFO text with its "# Replication" section moved to the front: Consul keeps
// only the first 4 KB of a check's output, and the replication status is
// what the check is named for.
std::string ReplicationSectionFirst(const std::string& info);

// A replica a switchover may hand over to: online as the master sees it,
// and, by its own INFO read while our writes are paused, following our
// history (our replication ID), linked and not syncing; matched to its
// agent's report by run_id, never by address or port. Best (highest
// offset) first.
struct SwitchoverCandidate {
  std::string member;  // MemberKey(node, id)
  std::string id;
  std::string node;
  int64_t offset = 0;
};
std::vector<SwitchoverCandidate> SwitchoverCandidates(const ConsulState& consul, const RedisState& redis);

// The member a switchover hands over to: the requested one (member key,
// service ID or node name) once it qualifies, else the best candidate.
// Empty while none qualifies.
std::string SwitchoverTarget(const ConsulState& consul, const RedisState& redis, const SwitchoverPlan& plan);

// /health: Redis healthy and either master, or a replica with its link up and
// no sync in progress.
bool RedisCanServe(const RedisState& redis);

}  // namespace resec
