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
    case Rule::kSwitchoverCatchUp: return "switchover-catch-up";
    case Rule::kSwitchoverHandOver: return "switchover-hand-over";
    case Rule::kPromote: return "promote";
    case Rule::kRedisRestarted: return "redis-restarted";
    case Rule::kWaitForMaster: return "wait-for-master";
    case Rule::kCompete: return "compete";
    case Rule::kWaitForBetterCandidate: return "wait-for-better-candidate";
    case Rule::kHoldReplication: return "hold-replication";
    case Rule::kFollowMaster: return "follow-master";
    case Rule::kReplicaCannotServe: return "replica-cannot-serve";
    case Rule::kReplicaHealthy: return "replica-healthy";
  }
  return "unknown";
}

std::string ReplicationSectionFirst(const std::string& info) {
  const std::string header = "# Replication";
  const auto start = info.find(header);
  if (start == std::string::npos || start == 0) return info;
  // The section runs to the next "# " header (or the end).
  auto end = info.find("\n# ", start + header.size());
  end = end == std::string::npos ? info.size() : end + 1;
  return info.substr(start, end - start) + info.substr(0, start) + info.substr(end);
}

bool RedisCanServe(const RedisState& redis) {
  if (!redis.ready || !redis.healthy) return false;
  if (redis.role == RedisRole::kMaster) return true;
  return redis.role == RedisRole::kReplica && redis.master_link_up && !redis.master_sync_in_progress;
}

std::vector<SwitchoverCandidate> SwitchoverCandidates(const ConsulState& consul, const RedisState& redis) {
  std::vector<SwitchoverCandidate> out;
  for (const auto& r : redis.replicas) {
    // What the master sees (online) and what the replica says of itself
    // (read while our writes are paused): it follows our history, linked,
    // not syncing. A port or an address alone says nothing: every host of a
    // production group runs Redis on 6379.
    if (r.state != "online" || !r.inspected || !r.link_up || r.run_id.empty() ||
        r.replid != redis.master_replid) {
      continue;
    }
    for (const auto& p : consul.peers) {
      if (p.run_id != r.run_id || !p.healthy || p.priority <= 0 || p.syncing || p.loading) continue;
      out.push_back({MemberKey(p.node, p.id), p.id, p.node, r.offset});
    }
  }
  std::sort(out.begin(), out.end(), [](const SwitchoverCandidate& a, const SwitchoverCandidate& b) {
    return a.offset != b.offset ? a.offset > b.offset : a.member < b.member;
  });
  return out;
}

std::string SwitchoverTarget(const ConsulState& consul, const RedisState& redis, const SwitchoverPlan& plan) {
  const std::vector<SwitchoverCandidate> candidates = SwitchoverCandidates(consul, redis);
  for (const auto& c : candidates) {
    // The requested member, once it qualifies (by member key, by service ID,
    // or by node name when that names one member); otherwise the best.
    if (plan.to.empty() || c.member == plan.to || c.id == plan.to || c.node == plan.to) return c.member;
  }
  return "";
}

std::optional<ServiceInstance> CurrentMaster(const ConsulState& consul, const DecideOptions& options) {
  // A free lock means the last master's agent released it or lost its
  // session: whatever the catalog still shows is not a master to follow.
  if (consul.lock_free || consul.lock_held) return std::nullopt;
  auto is_self = [&](const ServiceInstance& m) { return m.id == options.self_id && m.node == options.self_node; };
  if (consul.lock_record) {
    const LockRecord& r = *consul.lock_record;
    for (const auto& m : consul.masters) {
      if (m.id == r.holder_id && (r.node.empty() || m.node == r.node) && !is_self(m)) return m;
    }
  }
  std::vector<const ServiceInstance*> others;
  for (const auto& m : consul.masters) {
    if (!is_self(m)) others.push_back(&m);
  }
  // Without a record naming the holder, only an unambiguous catalog is trusted.
  if (!consul.lock_record && others.size() == 1) return *others.front();
  return std::nullopt;
}

namespace {

struct Candidate {
  std::string id;
  bool master = false;
  std::string following;
  std::string replid;
  std::string replid2;
  int64_t offset = 0;
  int priority = 0;
  bool cooling = false;
};

std::string Following(const RedisState& redis) {
  if (redis.role != RedisRole::kReplica) return "";
  return redis.master_host + ":" + std::to_string(redis.master_port);
}

bool Cooling(const DecideMemory& memory, TimePoint now) {
  return memory.no_promotion_until && now < *memory.no_promotion_until;
}

PeerReport ReportOf(const RedisState& redis, const DecideOptions& options, bool cooling) {
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
  r.following = Following(redis);
  r.node = options.self_node;
  r.cooling = cooling;
  r.run_id = redis.run_id;
  r.syncing = redis.role == RedisRole::kReplica && redis.master_sync_in_progress;
  r.loading = redis.loading;
  r.peer = options.peer_address;
  return r;
}

ConsulIntent BaseIntent(const ConsulState& consul, const RedisState& redis, const DecideOptions& options,
                        const DecideMemory& memory, TimePoint now) {
  ConsulIntent intent;
  intent.check_output = ReplicationSectionFirst(redis.info);
  intent.report = ReportOf(redis, options, Cooling(memory, now));
  intent.report->free_index = consul.lock_free && !memory.own_offset_stale ? consul.lock_modify_index : 0;
  return intent;
}

// The address peers reach us at: the announce address, else the one the
// catalog gives for our master registration (the node's address), once
// visible. A record without it falls back to matching by port.
std::string OwnAddress(const ConsulState& consul, const DecideOptions& options) {
  if (!options.announce_host.empty()) return options.announce_host;
  for (const auto& m : consul.masters) {
    if (m.id == options.self_id && m.node == options.self_node) return m.address;
  }
  return "";
}

// What the holder writes into the lock key: who, where, and the data's lineage.
// The lineage is the replication ID our Redis has as master with a backlog.
// Not before: a replica's ID is its old master's, and a master without a
// backlog (none attached since it became master) draws a new ID when the
// first replica attaches; neither ID is one its replicas will carry (a full
// sync brings no replid2). A holder dying before its record caught up would
// leave a lineage nobody descends from, and after the orphan grace an empty
// node could win. Without one the offsets decide, which an empty node loses.
LockRecord RecordOf(const ConsulState& consul, const RedisState& redis, const DecideOptions& options,
                    const std::string& successor) {
  return LockRecord{.holder_id = options.self_id,
                    .address = OwnAddress(consul, options),
                    .port = options.announce_port,
                    .replid = redis.role == RedisRole::kMaster && redis.repl_backlog_active ? redis.master_replid
                                                                                        : std::string(),
                    .offset = redis.DataOffset(),
                    .successor = successor,
                    .node = options.self_node,
                    .run_id = redis.run_id};
}

// Whether the lock is ours with time to spare on the lease the Consul
// servers last confirmed; otherwise another may already be promoted.
bool LeaseOk(const ConsulState& consul, TimePoint now) {
  // A group of three or more can replace its holder on its own (a quorum
  // voting it gone): then the group's lease is what counts, and Consul's
  // trouble (a leader election, our agent restarting) does not stop writes.
  if (consul.peer_mode && consul.group_size >= 3) {
    return consul.lock_held && consul.peer_lease_until && now < *consul.peer_lease_until;
  }
  // Not `reachable`: one failed call (a check update answered 500) proves
  // nothing about the session; the lease runs out on its own if it matters.
  return consul.lock_held && now + consul.lease_ttl / 3 < consul.lease_deadline;
}

// A master proves it may take writes only while its lease is good.
WriteGuard GuardFor(const ConsulState& consul, const RedisState& redis, const DecideOptions& options,
                    TimePoint now) {
  WriteGuard g;
  if (redis.role != RedisRole::kMaster) return g;
  g.pause_writes = options.fencing && !LeaseOk(consul, now);
  if (consul.lock_held && options.min_replicas_to_write > 0) {
    // Only as many as Redis itself counts (replicas it sees online: a
    // replica in a full sync reports itself healthy but acks nothing), so a
    // master whose replicas are all gone or resyncing still takes writes
    // while its agent holds the lock. Strict: never lowered.
    const auto online = std::count_if(redis.replicas.begin(), redis.replicas.end(),
                                      [](const RedisState::Replica& r) { return r.state == "online"; });
    g.min_replicas_to_write = options.min_replicas_strict || online >= options.min_replicas_to_write
                                  ? options.min_replicas_to_write
                                  : 0;
    g.min_replicas_max_lag = options.min_replicas_max_lag;
  }
  return g;
}

// Whether our Redis is cut off from any master (or syncing): the moment a
// master that restarted could feed it a full resync.
bool LinkNotUp(const RedisState& redis) {
  return redis.role == RedisRole::kReplica && (!redis.master_link_up || redis.master_sync_in_progress);
}

}  // namespace

FollowCheck CheckFollow(const RedisState& redis, const ServiceInstance& master,
                        const std::optional<LockRecord>& record) {
  const std::optional<UpstreamProbe>& up = redis.upstream;
  if (!up || up->host != master.address || up->port != master.port) return {false, "not read yet"};
  if (!up->reachable) return {false, "unreachable"};
  if (up->role != RedisRole::kMaster) return {false, "not a master (yet)"};
  const int64_t ours = redis.DataOffset();
  // Redis' own PSYNC rule: the master knows our replication ID and has at
  // least our offset, so it sends only what we lack.
  if (!redis.master_replid.empty() &&
      ((up->replid == redis.master_replid && up->offset >= ours) ||
       (up->replid2 == redis.master_replid && up->second_offset > ours))) {
    return {true, "it continues our history"};
  }
  // Otherwise a full resync replaces our data with its own.
  if (!record) return {true, "no lock record to check it against"};
  // A holder that does not record run IDs (the original resec) vouches by address only.
  if (record->run_id.empty()) return {true, "the lock holder vouches for it"};
  if (record->run_id == up->run_id) return {true, "it is the Redis the lock holder vouched for"};
  return {false, "its Redis is not the one the lock holder vouched for (restarted since the election?)"};
}

Eligibility CheckEligibility(const ConsulState& consul, const RedisState& redis,
                             const DecideOptions& options, TimePoint now, const DecideMemory& memory) {
  if (options.priority <= 0) return {false, "priority 0: this instance is never promoted"};
  if (Cooling(memory, now)) {
    return {false, "cooling down after the agent's loop stalled"};
  }
  if (!options.elect_best) return {true, "any healthy instance may take the lock"};

  if (memory.own_offset_stale) return {false, "reading our own final offset"};
  const TimePoint free_since = memory.lock_free_since.value_or(now);
  const auto live = [&](const PeerReport& p) {
    return !(p.id == options.self_id && p.node == options.self_node) && p.healthy && p.priority > 0;
  };

  // In a group of three or more speaking the peer protocol, the lock may
  // have been freed (or Consul ended the session) while the holder still
  // holds its group's lease: only a quorum saying it is gone lets another
  // take over. The holder itself may always take its lock back.
  const bool previous_holder_is_us = consul.lock_record && consul.lock_record->holder_id == options.self_id &&
                                     consul.lock_record->node == options.self_node &&
                                     redis.role == RedisRole::kMaster &&
                                     consul.lock_record->run_id == redis.run_id;
  if (consul.peer_mode && consul.group_size >= 3 && consul.lock_record && !consul.holder_replaceable &&
      !previous_holder_is_us) {
    return {false, "the last holder may still hold its group's lease: waiting for a quorum to call it gone"};
  }

  // A holder that handed over named its successor: nobody else goes first.
  if (consul.lock_record && !consul.lock_record->successor.empty()) {
    const std::string& successor = consul.lock_record->successor;
    if (successor == MemberKey(options.self_node, options.self_id)) return {true, "designated successor"};
    const bool successor_live = std::any_of(consul.peers.begin(), consul.peers.end(), [&](const PeerReport& p) {
      return live(p) && MemberKey(p.node, p.id) == successor;
    });
    if (successor_live && now - free_since < options.lock_delay + options.election_grace) {
      return {false, "waiting for the designated successor " + successor};
    }
  }

  // A Redis in a full sync holds what its master had when the sync began at
  // best (and nothing of it until the sync ends), whatever its replication
  // ID and offset read: it never wins.
  if (redis.role == RedisRole::kReplica && redis.master_sync_in_progress) {
    return {false, "our Redis is in a full sync"};
  }

  // Offsets only compare once reported after the lock freed (the old master
  // is gone, so they are final). A live peer is waited for that long; past
  // it, its offset is not trusted and it is left out of the ranking (a
  // broken agent must not stall the group).
  const bool final_only = consul.lock_modify_index != 0;
  auto is_final = [&](const PeerReport& p) { return !final_only || p.free_index == consul.lock_modify_index; };
  if (final_only && now - free_since < options.report_freshness_wait) {
    for (const auto& p : consul.peers) {
      if (live(p) && !is_final(p)) {
        return {false, "waiting for " + p.id + " to report its final offset"};
      }
    }
  }

  std::vector<Candidate> candidates;
  const std::string self_key = MemberKey(options.self_node, options.self_id);
  candidates.push_back({self_key, redis.role == RedisRole::kMaster, Following(redis), redis.master_replid,
                        redis.master_replid2, redis.DataOffset(), options.priority, false});
  bool loading_member = false;
  for (const auto& p : consul.peers) {
    if (p.id == options.self_id && p.node == options.self_node) continue;
    if (p.loading) loading_member = true;
    if (!p.healthy || p.priority <= 0 || p.syncing || p.loading || !is_final(p)) continue;
    candidates.push_back(
        {MemberKey(p.node, p.id), p.role == RoleName(RedisRole::kMaster), p.following, p.replid, p.replid2, p.offset,
         p.priority, p.cooling});
  }

  // When the ranking below starts to count: the lock-delay after the lock
  // freed, or the end of a wait that held every candidate back alike.
  TimePoint ranked_from = free_since + options.lock_delay;
  // Lineage: when the last master is known, only data that descends from it
  // may win; a Redis restarted empty has a fresh replication ID.
  if (consul.lock_record && !consul.lock_record->replid.empty()) {
    const LockRecord& rec = *consul.lock_record;
    const std::string& last = rec.replid;
    // The holder's address as its replicas' Redis names it: an empty record
    // address (loopback announce) matches any host on that port.
    auto follows_holder = [&](const Candidate& c) {
      const auto colon = c.following.rfind(':');
      if (colon == std::string::npos || c.following.substr(colon + 1) != std::to_string(rec.port)) return false;
      return rec.address.empty() || c.following.substr(0, colon) == rec.address;
    };
    auto descends = [&](const Candidate& c) {
      return c.replid == last || c.replid2 == last || follows_holder(c);
    };
    if (std::any_of(candidates.begin(), candidates.end(), descends)) {
      if (!descends(candidates.front())) {
        return {false, "our data does not descend from the last master (replid " + last + ")"};
      }
      std::erase_if(candidates, [&](const Candidate& c) { return !descends(c); });
    } else if (now - free_since < options.orphan_grace ||
               (loading_member && now - free_since < options.orphan_load_wait)) {
      // Nobody visible holds the last master's data. That is a disaster
      // (every node restarted empty) or, far more often, peers that are
      // between sessions for a moment, or loading their dataset (which can
      // take minutes): give them time to reappear.
      return {false, "no live member holds the last master's data (replid " + last + ") yet" +
                         (loading_member ? "; a member is loading its dataset" : "")};
    } else {
      // The grace held everyone back: the best goes first now, the others
      // each wait their turn from here, or they all race at its end.
      const auto waited =
          loading_member ? std::max(options.orphan_grace, options.orphan_load_wait) : options.orphan_grace;
      ranked_from = std::max(ranked_from, free_since + waited);
    }
  }

  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.offset != b.offset) return a.offset > b.offset;
    // At equal data, keep the current master (no needless failover when
    // Consul lost the lock, e.g. a dev agent restarted).
    if (a.master != b.master) return a.master;
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.id < b.id;
  });
  const auto self = std::find_if(candidates.begin(), candidates.end(),
                                 [&](const Candidate& c) { return c.id == self_key; });
  const auto rank = static_cast<int64_t>(self - candidates.begin());
  if (rank == 0) return {true, "most up-to-date candidate"};

  // A better candidate that stalled cannot take the lock until its cool-down
  // ends; passing it over after the usual grace would give up whatever only
  // it holds.
  const auto cooling = std::find_if(candidates.begin(), self, [](const Candidate& c) { return c.cooling; });
  if (cooling != self && now - free_since < options.lock_delay + options.cooling_wait) {
    return {false, "waiting for " + cooling->id + " (offset " + std::to_string(cooling->offset) +
                       ") to end its cool-down after a stall"};
  }

  if (now - ranked_from >= rank * options.election_grace) {
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
    // A master we cannot yet prove is ours (an agent restarted while Consul
    // is away) takes no writes meanwhile.
    if (options.fencing && redis.ready && redis.healthy && redis.role == RedisRole::kMaster) {
      d.guard = WriteGuard{.pause_writes = true};
    }
    return d;
  }
  if (!consul.reachable) {
    d.rule = Rule::kConsulUnreachable;
    // The watcher logs each failing call once; the decision line stays the
    // same while the outage lasts, so it is logged once too.
    d.reason = "Consul unreachable";
    // Change nothing in Consul, but a master that cannot renew its lease
    // fences itself before another could be promoted.
    if (redis.healthy) d.guard = GuardFor(consul, redis, options, now);
    // Nor can a master that restarted feed our Redis meanwhile: what we read
    // of it needs no Consul, and the last lock record we saw still names
    // the run that was elected.
    if (redis.healthy && redis.upstream && redis.role == RedisRole::kReplica && !redis.Held()) {
      const ServiceInstance ours{.address = redis.upstream->host, .port = redis.upstream->port};
      if (!CheckFollow(redis, ours, consul.lock_record).safe) {
        d.redis = cmd::HoldReplication{ours.address, ours.port};
      }
    }
    return d;
  }
  if (!redis.healthy) {
    d.rule = Rule::kRedisUnhealthy;
    d.reason = "Redis unhealthy: " + redis.error;
    d.intent = ConsulIntent{};  // release the lock, deregister, withdraw our report
    d.intent->check_status = "critical";
    d.intent->check_output = redis.error;
    // A loading Redis is alive and may hold data nobody else has: it stays
    // visible to elections (never a winner while loading) so they wait for it.
    if (redis.loading) d.intent->report = ReportOf(redis, options, Cooling(memory, now));
    return d;
  }

  ConsulIntent intent = BaseIntent(consul, redis, options, memory, now);
  d.guard = GuardFor(consul, redis, options, now);

  if (memory.switchover && memory.switchover->handed_over && redis.role == RedisRole::kMaster &&
      (consul.lock_held || consul.lock_free)) {
    // Handed over: keep the lock released (naming the successor), writes
    // paused and our master unadvertised until the successor takes over.
    intent.hold_lock = false;
    intent.lock_record = RecordOf(consul, redis, options, memory.switchover->successor);
    intent.register_as = RedisRole::kReplica;
    intent.check_status = "warning";
    d.guard->pause_writes = true;
    d.rule = Rule::kSwitchoverHandOver;
    d.reason = "switchover: handed over to " +
               (memory.switchover->successor.empty() ? std::string("the best candidate") : memory.switchover->successor);
    d.intent = std::move(intent);
    return d;
  }

  if (consul.lock_held && memory.lock_run_id && *memory.lock_run_id != redis.run_id) {
    // Our Redis restarted while we held the lock (a crash between two polls,
    // or faster than our release reached Consul): it may be empty or older
    // than what was acknowledged. Never vouch for it: release, and hold it
    // off so nobody resyncs from it; the election decides who has the data.
    d.rule = Rule::kRedisRestarted;
    d.reason = "our Redis restarted while we held the lock: stepping down";
    intent.hold_lock = false;
    intent.register_as = RedisRole::kReplica;
    intent.check_status = "warning";
    d.redis = cmd::HoldReplication{};
    d.intent = std::move(intent);
    return d;
  }

  if (consul.lock_held) {
    intent.hold_lock = true;
    intent.lock_record = RecordOf(consul, redis, options, "");
    if (redis.role == RedisRole::kMaster && memory.switchover) {
      // Planned switchover: no write may be acknowledged that the successor
      // does not have, so pause writes, wait until it has caught up, then
      // release the lock naming it. Past the deadline: a plain release.
      intent.register_as = RedisRole::kMaster;
      d.guard->pause_writes = true;
      const std::string target = SwitchoverTarget(consul, redis, *memory.switchover);
      // Only a snapshot read after the pause took effect has the final
      // offset; the target qualified on identity and lineage already.
      bool caught_up = false;
      if (redis.writes_paused) {
        for (const auto& c : SwitchoverCandidates(consul, redis)) {
          if (c.member == target && c.offset >= redis.master_repl_offset) caught_up = true;
        }
      }
      if (caught_up || (now >= memory.switchover->deadline && memory.switchover->release_at_deadline)) {
        d.rule = Rule::kSwitchoverHandOver;
        d.reason = caught_up ? "switchover: " + target + " has every write; handing over"
                             : "switchover: deadline passed; releasing the lock";
        intent.hold_lock = false;
        intent.lock_record->successor = caught_up ? target : "";
      } else {
        d.rule = Rule::kSwitchoverCatchUp;
        d.reason = target.empty() ? "switchover: waiting for a replica that is online, follows our history "
                                  "and is not syncing"
                                : "switchover: writes paused, waiting for " + target + " to catch up";
      }
      d.intent = std::move(intent);
      return d;
    }
    if (redis.role == RedisRole::kMaster) {
      d.rule = Rule::kMasterKeepsLock;
      d.reason = "holding the lock and Redis is master";
      intent.register_as = RedisRole::kMaster;
      intent.retire_stale_masters = true;
    } else if (Cooling(memory, now)) {
      // Our loop just stalled (the agent was frozen): what we know of the
      // lock is from before, and the group may have replaced us meanwhile
      // (our peers' acks renew a lease, not the lock). Promoting now could
      // fence and demote the master that replaced us.
      d.rule = Rule::kPromote;
      d.reason = "holding the lock as we last saw it, but our loop stalled: not promoting yet";
      intent.register_as = RedisRole::kReplica;
      intent.check_status = "warning";
    } else if (options.fencing && !LeaseOk(consul, now)) {
      // A lock we believe held but cannot confirm (cut off from the servers)
      // may already be someone else's: promoting now could make two masters.
      d.rule = Rule::kPromote;
      d.reason = "holding the lock, but Consul has not confirmed our session lately: not promoting yet";
      intent.register_as = RedisRole::kReplica;
      intent.check_status = "warning";
    } else {
      d.rule = Rule::kPromote;
      d.reason = "holding the lock: promoting Redis to master";
      d.redis = cmd::PromoteToMaster{};
      // Advertised as master only once Redis really is one, so clients never
      // get READONLY from the "master".
      intent.register_as = RedisRole::kReplica;
      intent.check_status = RedisCanServe(redis) ? "passing" : "warning";
    }
    d.intent = std::move(intent);
    return d;
  }

  const std::optional<ServiceInstance> master = CurrentMaster(consul, options);
  if (!master) {
    // Nobody to follow. We stay registered, under the replica's name, so our
    // TTL check exists for the lock session to be bound to (an agent that
    // dies then loses the lock when the check expires); but a Redis that is
    // master without the lock (fresh, or deposed) is never passing.
    intent.register_as = RedisRole::kReplica;
    intent.check_status = redis.role == RedisRole::kReplica && RedisCanServe(redis) ? "passing" : "warning";
    // Until a master is elected, our data stays ours: a replica cut off from
    // its master could otherwise reconnect to it after a restart and resync
    // to whatever it came back with, and a master that is not the Redis the
    // last holder vouched for (it restarted) must not feed anyone.
    const bool stale_master = redis.role == RedisRole::kMaster && consul.lock_record &&
                              !consul.lock_record->run_id.empty() && consul.lock_record->run_id != redis.run_id;
    const bool hold = !redis.Held() && (LinkNotUp(redis) || stale_master);
    if (hold) d.redis = cmd::HoldReplication{};
    if (!consul.lock_free) {
      // Another agent holds the lock and is promoting its Redis: the term of
      // the master we still replicate, if that is not the new holder's, has
      // ended. We stop acknowledging its stream at once: a former master its
      // agent could not pause (hung, then resumed after the new master's
      // fence gave up on it) would otherwise have writes WAIT-confirmed by
      // us that the new master never sees, lost when we resync from it.
      const std::optional<LockRecord>& record = consul.lock_record;
      const bool replicating_former = redis.role == RedisRole::kReplica && !redis.Held() && record &&
                                      (record->port != redis.master_port ||
                                       (!record->address.empty() && record->address != redis.master_host));
      if (!hold && replicating_former) d.redis = cmd::HoldReplication{record->address, record->port};
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
  // Following a master is verified before it can cost data: when we are not
  // linked to it yet, and whenever our link to it is down or syncing.
  // (`upstream` while linked: our agent lost its connection to that master.)
  if (!following || LinkNotUp(redis) || redis.upstream) {
    const FollowCheck check = CheckFollow(redis, *master, consul.lock_record);
    if (!check.safe) {
      d.rule = Rule::kHoldReplication;
      d.reason = "holding our data off master " + master->id + ": " + check.reason;
      d.redis = cmd::HoldReplication{master->address, master->port};
      intent.register_as = RedisRole::kReplica;
      intent.check_status = "warning";
      d.intent = std::move(intent);
      return d;
    }
  }
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
