#include "resec/decide.h"

#include <algorithm>
#include <vector>

namespace resec {

std::string_view RuleName(Rule rule) {
  switch (rule) {
    case Rule::kWaitForInitialState: return "wait-for-initial-state";
    case Rule::kConsulUnreachable: return "consul-unreachable";
    case Rule::kRedisUnhealthy: return "redis-unhealthy";
    case Rule::kMasterKeepsLock: return "master-keeps-lock";
    case Rule::kPromote: return "promote";
    case Rule::kWaitForMaster: return "wait-for-master";
    case Rule::kCompete: return "compete";
    case Rule::kWaitForBetterCandidate: return "wait-for-better-candidate";
    case Rule::kFollowMaster: return "follow-master";
    case Rule::kReplicaCannotServe: return "replica-cannot-serve";
    case Rule::kReplicaHealthy: return "replica-healthy";
  }
  return "unknown";
}

bool RedisCanServe(const RedisState& redis) {
  if (!redis.ready || !redis.healthy) return false;
  if (redis.role == RedisRole::kMaster) return true;
  return redis.role == RedisRole::kReplica && redis.master_link_up && !redis.master_sync_in_progress;
}

std::optional<ServiceInstance> CurrentMaster(const ConsulState& consul, const std::string& self_id) {
  // A free lock means the last master's agent released it or lost its
  // session: whatever the catalog still shows is not a master to follow.
  if (consul.lock_free || consul.lock_held) return std::nullopt;
  if (consul.lock_record) {
    for (const auto& m : consul.masters) {
      if (m.id == consul.lock_record->holder_id && m.id != self_id) return m;
    }
  }
  std::vector<const ServiceInstance*> others;
  for (const auto& m : consul.masters) {
    if (m.id != self_id) others.push_back(&m);
  }
  // Without a record naming the holder, only an unambiguous catalog is trusted.
  if (!consul.lock_record && others.size() == 1) return *others.front();
  return std::nullopt;
}

namespace {

struct Candidate {
  std::string id;
  std::string replid;
  std::string replid2;
  int64_t offset = 0;
  int priority = 0;
};

PeerReport ReportOf(const RedisState& redis, const DecideOptions& options) {
  PeerReport r;
  r.id = options.self_id;
  r.address = options.announce_host;
  r.port = options.announce_port;
  r.healthy = redis.healthy;
  r.role = std::string(RoleName(redis.role));
  r.replid = redis.master_replid;
  r.replid2 = redis.master_replid2;
  r.offset = redis.DataOffset();
  r.priority = options.priority;
  return r;
}

ConsulIntent BaseIntent(const RedisState& redis, const DecideOptions& options) {
  ConsulIntent intent;
  intent.check_output = redis.info;
  intent.report = ReportOf(redis, options);
  return intent;
}

}  // namespace

Eligibility CheckEligibility(const ConsulState& consul, const RedisState& redis,
                             const DecideOptions& options, TimePoint now, const DecideMemory& memory) {
  if (options.priority <= 0) return {false, "priority 0: this instance is never promoted"};
  if (memory.no_promotion_until && now < *memory.no_promotion_until) {
    return {false, "cooling down after the agent's loop stalled"};
  }
  if (!options.elect_best) return {true, "any healthy instance may take the lock"};

  std::vector<Candidate> candidates;
  candidates.push_back({options.self_id, redis.master_replid, redis.master_replid2, redis.DataOffset(),
                        options.priority});
  for (const auto& p : consul.peers) {
    if (p.id == options.self_id || !p.healthy || p.priority <= 0) continue;
    candidates.push_back({p.id, p.replid, p.replid2, p.offset, p.priority});
  }

  // Lineage: when the last master is known, only data that descends from it
  // may win; a Redis restarted empty has a fresh replication ID.
  if (consul.lock_record && !consul.lock_record->replid.empty()) {
    const std::string& last = consul.lock_record->replid;
    auto descends = [&](const Candidate& c) { return c.replid == last || c.replid2 == last; };
    if (std::any_of(candidates.begin(), candidates.end(), descends)) {
      if (!descends(candidates.front())) {
        return {false, "our data does not descend from the last master (replid " + last + ")"};
      }
      std::erase_if(candidates, [&](const Candidate& c) { return !descends(c); });
    }
  }

  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.offset != b.offset) return a.offset > b.offset;
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.id < b.id;
  });
  const auto self = std::find_if(candidates.begin(), candidates.end(),
                                 [&](const Candidate& c) { return c.id == options.self_id; });
  const auto rank = static_cast<int64_t>(self - candidates.begin());
  if (rank == 0) return {true, "most up-to-date candidate"};

  const TimePoint since = memory.lock_free_since.value_or(now);
  if (now - since >= rank * options.election_grace) {
    return {true, "better candidates did not take the lock in time"};
  }
  const Candidate& best = candidates.front();
  return {false, "waiting for " + best.id + " (offset " + std::to_string(best.offset) + ", ours " +
                     std::to_string(self->offset) + ")"};
}

Decision Decide(const ConsulState& consul, const RedisState& redis, const DecideOptions& options,
                TimePoint now, const DecideMemory& memory) {
  Decision d;
  if (!consul.ready || !redis.ready) {
    d.rule = Rule::kWaitForInitialState;
    d.reason = !consul.ready ? "no state from Consul yet" : "no state from Redis yet";
    return d;
  }
  if (!consul.reachable) {
    d.rule = Rule::kConsulUnreachable;
    d.reason = "Consul unreachable: " + consul.error;
    return d;
  }
  if (!redis.healthy) {
    d.rule = Rule::kRedisUnhealthy;
    d.reason = "Redis unhealthy: " + redis.error;
    d.intent = ConsulIntent{};  // release the lock, deregister, withdraw our report
    d.intent->check_status = "critical";
    d.intent->check_output = redis.error;
    return d;
  }

  ConsulIntent intent = BaseIntent(redis, options);

  if (consul.lock_held) {
    intent.hold_lock = true;
    intent.lock_record = LockRecord{options.self_id, options.announce_host, options.announce_port,
                                    redis.master_replid, redis.DataOffset()};
    if (redis.role == RedisRole::kMaster) {
      d.rule = Rule::kMasterKeepsLock;
      d.reason = "holding the lock and Redis is master";
      intent.register_as = RedisRole::kMaster;
    } else {
      d.rule = Rule::kPromote;
      d.reason = "holding the lock: promoting Redis to master";
      d.redis = cmd::PromoteToMaster{};
      // Advertised as master only once Redis really is one, so clients never
      // get READONLY from the "master".
      if (consul.registered && consul.registered_role == RedisRole::kReplica) {
        intent.register_as = RedisRole::kReplica;
      }
    }
    d.intent = std::move(intent);
    return d;
  }

  const std::optional<ServiceInstance> master = CurrentMaster(consul, options.self_id);
  if (!master) {
    // Nobody to follow. A Redis that is master without the lock is not
    // advertised (it is either fresh or a deposed master).
    if (redis.role == RedisRole::kReplica && consul.registered &&
        consul.registered_role == RedisRole::kReplica) {
      intent.register_as = RedisRole::kReplica;
    }
    if (!consul.lock_free) {
      d.rule = Rule::kWaitForMaster;
      d.reason = "the lock is held by another agent whose master is not in the catalog yet";
      d.intent = std::move(intent);
      return d;
    }
    const Eligibility e = CheckEligibility(consul, redis, options, now, memory);
    intent.hold_lock = e.eligible;
    d.rule = e.eligible ? Rule::kCompete : Rule::kWaitForBetterCandidate;
    d.reason = "no master known: " + e.reason;
    d.intent = std::move(intent);
    return d;
  }

  d.master = master;
  const bool following = redis.role == RedisRole::kReplica && redis.master_host == master->address &&
                         redis.master_port == master->port;
  if (!following) {
    d.rule = Rule::kFollowMaster;
    d.reason = "following master " + master->id;
    d.redis = cmd::ReplicateFrom{master->address, master->port};
    intent.register_as = RedisRole::kReplica;
    intent.check_status = "warning";  // registered, not yet serving
    d.intent = std::move(intent);
    return d;
  }

  const bool link_down_too_long =
      !redis.master_link_up && redis.master_link_down_since_seconds >= options.link_down_limit.count();
  if (redis.master_sync_in_progress || link_down_too_long) {
    d.rule = Rule::kReplicaCannotServe;
    d.reason = redis.master_sync_in_progress ? "full sync in progress"
                                             : "master link down for " +
                                                   std::to_string(redis.master_link_down_since_seconds) + "s";
    d.intent = std::move(intent);  // register_as stays nullopt: deregister
    return d;
  }

  d.rule = Rule::kReplicaHealthy;
  d.reason = "replicating master " + master->id;
  intent.register_as = RedisRole::kReplica;
  d.intent = std::move(intent);
  return d;
}

}  // namespace resec
