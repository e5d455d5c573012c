// Decide: the reconciler's pure decision function.
//
// Given what the watchers last reported, what should Consul and Redis look
// like? The rules follow the original resec's decision order (first match
// wins; see shared/resec-reference.md) with the fixes this project makes:
// non-holders step down instead of deregistering every master, a holder that
// lost the lock demotes at once, and only the most up-to-date eligible
// candidate competes for a free lock.
//
// No I/O, no clock reads, no logging: time and memory come in as arguments so
// a table-driven test can pin every row.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "resec/clock.h"
#include "resec/state.h"

namespace resec {

struct DecideOptions {
  std::string self_id;        // our service ID
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
};

// What the reconciler remembers between decisions (it owns the clock).
struct DecideMemory {
  std::optional<TimePoint> lock_free_since;  // when we first saw the lock free
  std::optional<TimePoint> no_promotion_until;  // stall cool-down (TILT)
};

enum class Rule {
  kWaitForInitialState,
  kConsulUnreachable,
  kRedisUnhealthy,
  kMasterKeepsLock,    // holder, Redis is master: refresh
  kPromote,            // holder, Redis not master yet
  kWaitForMaster,      // lock held by another agent whose master is not known yet
  kCompete,            // lock free: compete (if eligible)
  kWaitForBetterCandidate,  // no current master, someone else should win
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
  std::optional<ServiceInstance> master;  // the master we follow, if any
};

Decision Decide(const ConsulState& consul, const RedisState& redis, const DecideOptions& options,
                TimePoint now, const DecideMemory& memory);

// The master a non-holder should follow: the lock holder's registration when
// the lock record names it, otherwise the only passing master that is not us.
// nullopt while the lock is free or the catalog is ambiguous.
std::optional<ServiceInstance> CurrentMaster(const ConsulState& consul, const std::string& self_id);

// Whether this agent may compete for a free lock now, and why not.
struct Eligibility {
  bool eligible = false;
  std::string reason;
};
Eligibility CheckEligibility(const ConsulState& consul, const RedisState& redis,
                             const DecideOptions& options, TimePoint now, const DecideMemory& memory);

// /health: Redis healthy and either master, or a replica with its link up and
// no sync in progress.
bool RedisCanServe(const RedisState& redis);

}  // namespace resec
