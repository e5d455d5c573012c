// Step: see include/resec/step.h.
#include "resec/step.h"

#include <algorithm>

namespace resec {
namespace {

using std::chrono::milliseconds;

// The lock holder's lease: how long one confirmed renewal lets its Redis take
// writes (fenced a third before the end, so after 1 s without confirmation).
// Short because after a partition the servers may drop the session as soon as
// Serf declares the node failed (a few seconds), plus lock-delay.
constexpr milliseconds kConfirmedLease{1500};
// While an election or a hand-over is under way, time-based rules need a
// prompt second look.
constexpr milliseconds kElectionTick{100};
// TILT: a loop that wakes this much later than it asked to was stalled
// (SIGSTOP, swapped out, a clock jump). Its view of the world is stale, so it
// must not promote until it has watched for a while.
constexpr milliseconds kStallThreshold{2000};
constexpr milliseconds kStallCoolDown{5000};
// After a switchover's deadline, how long a handed-over lock may stay
// untaken before we compete for it again (the successor died meanwhile).
constexpr milliseconds kSwitchoverGiveUp{3000};
// How long after our promotion a former master is still demoted: it is
// normally done within milliseconds; one that stays unreachable this long is
// its own agent's (and min-replicas-to-write's) business.
constexpr std::chrono::seconds kDemoteFor{60};
// A shutdown's hand-over gets the switchover timeout plus this for the
// successor's promotion to reach us.
constexpr milliseconds kHandOverSlack{1000};

long long Ms(Duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

bool HasLiveReplica(const ConsulState& consul) {
  return std::any_of(consul.peers.begin(), consul.peers.end(),
                     [](const PeerReport& p) { return p.healthy && p.priority > 0; });
}

// The desired replication when Decide sent no command: keep what the rule
// implies, or leave Redis alone.
RedisIntent ReplicationFor(const Decision& d, const RedisState& redis) {
  using R = RedisIntent::Replication;
  RedisIntent ri;
  if (d.redis) {
    if (std::holds_alternative<cmd::PromoteToMaster>(*d.redis)) {
      ri.replication = R::kMaster;
    } else if (const auto* f = std::get_if<cmd::ReplicateFrom>(&*d.redis)) {
      ri.replication = R::kFollow;
      ri.host = f->host;
      ri.port = f->port;
    } else if (const auto* h = std::get_if<cmd::HoldReplication>(&*d.redis)) {
      ri.replication = R::kHold;
      ri.host = h->host;
      ri.port = h->port;
    }
    return ri;
  }
  switch (d.rule) {
    case Rule::kMasterKeepsLock:
    case Rule::kSwitchoverCatchUp:
    case Rule::kSwitchoverHandOver:
      if (redis.role == RedisRole::kMaster) ri.replication = R::kMaster;
      break;
    case Rule::kReplicaHealthy:
    case Rule::kReplicaCannotServe:
      if (d.master) {
        ri.replication = R::kFollow;
        ri.host = d.master->address;
        ri.port = d.master->port;
      }
      break;
    default:
      break;
  }
  return ri;
}

// In peer mode the members' heartbeats carry what their KV reports carry,
// fresher: offsets as they are, not as last written to Consul.
void OverlayHeartbeats(ConsulState& view, const PeerView& peers, TimePoint now, const peer::Options& o) {
  for (PeerReport& p : view.peers) {
    auto it = peers.members.find(MemberKey(p.node, p.id));
    if (it == peers.members.end() || now - it->second.received_at > o.lease) continue;
    const peer::Heartbeat& h = it->second.last;
    p.healthy = h.healthy;
    p.role = h.role;
    p.replid = h.replid;
    p.replid2 = h.replid2;
    p.offset = h.offset;
    p.following = h.following;
    p.cooling = h.cooling;
    p.run_id = h.run_id;
    p.syncing = h.syncing;
    p.loading = h.loading;
    p.free_index = std::max(p.free_index, h.free_index);
  }
}

PeerIntent MakePeerIntent(const ConsulState& view, const ReconcilerMemory& m,
                          const std::optional<peer::Votes>& votes, const std::string& self_key,
                          const StepOptions& o) {
  PeerIntent pi;
  peer::Heartbeat& h = pi.heartbeat;
  h.from = self_key;
  h.holder = view.lock_held && m.redis.role == RedisRole::kMaster;
  h.term = view.lock_held ? view.lock_index : 0;
  const RedisState& r = m.redis;
  h.healthy = r.healthy;
  h.syncing = r.role == RedisRole::kReplica && r.master_sync_in_progress;
  h.loading = r.loading;
  h.cooling = m.decide.no_promotion_until.has_value() && *m.decide.no_promotion_until > m.next_wake.value_or(TimePoint{});
  h.role = std::string(RoleName(r.role));
  h.run_id = r.run_id;
  h.replid = r.master_replid;
  h.replid2 = r.master_replid2;
  h.offset = r.DataOffset();
  h.priority = o.decide.priority;
  h.following = r.role == RedisRole::kReplica ? r.master_host + ":" + std::to_string(r.master_port) : "";
  h.free_index = view.lock_free && !m.decide.own_offset_stale ? view.lock_modify_index : 0;
  h.seen_term = view.lock_index;
  if (votes && !votes->holder_is_us) {
    if (votes->gone) h.gone_term = votes->term;
    if (votes->crashed) h.crashed_term = votes->term;
  }
  h.stepped_down_term = m.stepped_down_term;
  for (const PeerReport& p : view.peers) {
    if (!p.peer.empty()) pi.peers[MemberKey(p.node, p.id)] = p.peer;
  }
  return pi;
}

}  // namespace

std::pair<TimePoint, Duration> Lease(const ConsulState& consul) {
  if (consul.session_id.empty()) return {TimePoint{}, Duration{}};
  if (consul.session_ttl_only) {
    // Consul ends a session with no checks no sooner than its TTL after the
    // servers received a renewal (which was after we sent it); a tenth off
    // for clock rate error.
    const Duration ttl = consul.session_ttl * 9 / 10;
    return {consul.session_confirmed_at + ttl, ttl};
  }
  Duration ttl = consul.session_ttl.count() > 0 ? std::min<Duration>(consul.session_ttl, kConfirmedLease)
                                                : Duration(kConfirmedLease);
  TimePoint deadline = consul.session_confirmed_at + ttl;
  if (consul.session_has_check) {
    // A session bound to our check also ends when the check's TTL runs out.
    const TimePoint by_check = consul.check_confirmed_at + consul.check_ttl;
    if (by_check < deadline) {
      deadline = by_check;
      ttl = consul.check_ttl;
    }
  }
  return {deadline, ttl};
}

StepResult Step(ReconcilerMemory m, const Event& event, TimePoint now, const StepOptions& o) {
  StepResult out;
  auto note = [&](StepNote::Level level, std::string text) { out.notes.push_back({level, std::move(text)}); };

  // The stall guard first: whatever woke us, a loop far behind its own
  // schedule has been asleep.
  if (m.next_wake && now > *m.next_wake + kStallThreshold) {
    m.counters.stalls++;
    m.decide.no_promotion_until = now + kStallCoolDown;
    note(StepNote::Level::kWarn, "reconciler: loop stalled (woke " + std::to_string(Ms(now - *m.next_wake)) +
                                     " ms late); no promotion for " + std::to_string(kStallCoolDown.count()) + " ms");
  }

  if (!m.started_at) m.started_at = now;
  // ---- fold the event into memory
  if (const auto* c = std::get_if<ConsulState>(&event)) {
    m.consul = *c;
  } else if (const auto* pv = std::get_if<PeerView>(&event)) {
    m.peers = *pv;
  } else if (const auto* r = std::get_if<RedisState>(&event)) {
    m.redis = *r;
    // Our own offset is fresh once read after the last request for it.
    if (r->observe_seq >= m.observe_seq) m.decide.own_offset_stale = false;
  } else if (const auto* s = std::get_if<event::Switchover>(&event)) {
    m.requested_switchover = s->to;
  } else if (std::holds_alternative<event::Shutdown>(event)) {
    if (!m.shutdown_at) {
      m.shutdown_at = now;
      note(StepNote::Level::kInfo, "reconciler: shutting down");
    }
  }

  // ---- what the facts mean
  ConsulState view = m.consul;
  std::tie(view.lease_deadline, view.lease_ttl) = Lease(view);
  const std::string self_key = MemberKey(view.node_name, o.decide.self_id);
  // The group answers for the holder in peer mode: failed reads of the lock
  // (Consul's leader election, our agent restarting) are not its loss.
  if (!o.peer.enabled && view.lock_held && view.lock_read_failures > o.lock_monitor_retries &&
      now - view.lock_read_failing_since >= o.lock_monitor_retries * o.lock_monitor_retry_interval) {
    // The original's monitor: this many failed reads, that far apart, and
    // the lock counts as lost.
    view.lock_held = false;
    if (!m.lock_loss_noted) {
      note(StepNote::Level::kWarn, "reconciler: lost track of the lock after " +
                                       std::to_string(view.lock_read_failures) + " failed reads");
      m.lock_loss_noted = true;
    }
  } else {
    m.lock_loss_noted = false;
  }
  if (view.lock_held != m.lock_held) {
    (view.lock_held ? m.counters.lock_acquisitions : m.counters.lock_losses)++;
    m.lock_held = view.lock_held;
    if (view.lock_held && m.saw_lock_held && m.decide.lock_free_since) {
      out.measured.failure_detection = now - *m.decide.lock_free_since;
    }
    m.acquired_at = view.lock_held ? std::optional<TimePoint>(now) : std::nullopt;
  }
  if (view.lock_held || !view.lock_holder_session.empty()) m.saw_lock_held = true;
  if (m.acquired_at && m.redis.healthy && m.redis.role == RedisRole::kMaster) {
    out.measured.promotion = now - *m.acquired_at;
    m.acquired_at.reset();
  }

  // ---- the peer protocol: fresher election data, the group's lease, votes
  std::optional<peer::Votes> votes;
  if (o.peer.enabled) {
    OverlayHeartbeats(view, m.peers, now, o.peer);
    DecideOptions probe_options = o.decide;
    probe_options.self_node = view.node_name;
    std::optional<std::pair<std::string, int>> master;
    if (const std::optional<ServiceInstance> cm = CurrentMaster(view, probe_options)) {
      master = std::pair(cm->address, cm->port);
    } else if (view.lock_record && !view.lock_record->address.empty()) {
      master = std::pair(view.lock_record->address, view.lock_record->port);
    }
    votes = peer::Count(view, m.redis, m.peers, self_key, master, *m.started_at, now, o.peer);
    view.peer_mode = true;
    view.group_size = votes->members;
    view.peer_lease_until = votes->lease_until;
    view.holder_replaceable = votes->holder_replaceable;
  }
  if (view.lock_held) {
    m.held_term = view.lock_index;
  } else if (m.held_term != 0) {
    m.stepped_down_term = m.held_term;
    m.held_term = 0;
  }

  // ---- switchover requests: from a signal, or `resec switchover` (KV)
  std::optional<std::string> requested = std::move(m.requested_switchover);
  m.requested_switchover.reset();
  if (view.switchover_request && view.switchover_request->nonce != m.handled_switchover_nonce) {
    m.handled_switchover_nonce = view.switchover_request->nonce;
    requested = view.switchover_request->to;
  }
  const bool master_with_lock = view.lock_held && m.redis.role == RedisRole::kMaster;
  if (requested && master_with_lock && !m.decide.switchover) {
    m.decide.switchover = SwitchoverPlan{*requested, now + o.switchover_timeout};
    m.switchover_since = now;
    note(StepNote::Level::kInfo, "reconciler: switchover requested" + (requested->empty() ? "" : " to " + *requested));
  }

  // ---- shutdown, part one: a master hands over first
  const TimePoint handover_end = m.shutdown_at.value_or(now) + o.switchover_timeout + kHandOverSlack;
  if (m.shutdown_at && !m.cleanup_since) {
    if (!m.shutdown_handover && master_with_lock && HasLiveReplica(view)) {
      // A master going away hands over like a planned switchover: writes
      // paused, the best replica caught up, the lock released to it, our
      // Redis re-pointed at it. Nothing acknowledged is lost, and no TTL is
      // waited for.
      m.shutdown_handover = true;
      m.decide.switchover = SwitchoverPlan{.to = "", .deadline = now + o.switchover_timeout,
                                           .release_at_deadline = true};
      m.switchover_since = now;
      note(StepNote::Level::kInfo, "resec: handing over before shutting down");
    }
    const bool handed = m.shutdown_handover && !view.lock_held && m.redis.role == RedisRole::kReplica;
    if (handed) {
      note(StepNote::Level::kInfo, "resec: handed over in " + std::to_string(Ms(now - *m.shutdown_at)) +
                                       " ms; our Redis now replicates " + m.redis.master_host + ":" +
                                       std::to_string(m.redis.master_port));
    } else if (m.shutdown_handover && now >= handover_end) {
      note(StepNote::Level::kWarn, "resec: hand-over did not complete in time; releasing the lock as it stands");
    }
    if (!m.shutdown_handover || handed || now >= handover_end) m.cleanup_since = now;
  }

  // The hand-over is complete once someone else holds the lock.
  if (m.switchover_since && m.decide.switchover && m.decide.switchover->handed_over && !view.lock_held &&
      !view.lock_free) {
    out.measured.switchover = now - *m.switchover_since;
    m.switchover_since.reset();
  }
  if (m.decide.switchover && !m.decide.switchover->handed_over && !m.decide.switchover->release_at_deadline &&
      now >= m.decide.switchover->deadline) {
    note(StepNote::Level::kWarn,
         "reconciler: switchover abandoned: no replica was online, following our history and caught up by the "
         "deadline; keeping the lock");
    m.decide.switchover.reset();
  }
  if (m.decide.switchover &&
      (m.redis.role != RedisRole::kMaster || now > m.decide.switchover->deadline + kSwitchoverGiveUp)) {
    // Demoted (handed over), or the successor never came: normal rules again.
    m.decide.switchover.reset();
  }

  if (!m.decide.switchover) m.switchover_since.reset();

  // ---- election bookkeeping
  if (view.lock_free) {
    if (!m.decide.lock_free_since) {
      m.decide.lock_free_since = now;
      // Election time: rank ourselves by what Redis holds now.
      m.decide.own_offset_stale = true;
      m.observe_seq++;
    }
  } else {
    m.decide.lock_free_since.reset();
  }
  // The Redis run we hold the lock with (see DecideMemory::lock_run_id).
  if (!view.lock_held) {
    m.decide.lock_run_id.reset();
  } else if (!m.decide.lock_run_id && m.redis.healthy && !m.redis.run_id.empty()) {
    m.decide.lock_run_id = m.redis.run_id;
  }

  // ---- decide
  DecideOptions options = o.decide;
  options.self_node = view.node_name;
  if (o.peer.enabled) {
    const std::string host = o.peer_host.empty() ? view.node_address : o.peer_host;
    if (!host.empty()) options.peer_address = host + ":" + std::to_string(o.peer_port);
  }
  Decision d = Decide(view, m.redis, options, now, m.decide);
  if (d.rule == Rule::kSwitchoverHandOver && m.decide.switchover && !m.decide.switchover->handed_over &&
      d.intent && d.intent->lock_record && !d.intent->hold_lock) {
    m.decide.switchover->handed_over = true;
    m.decide.switchover->successor = d.intent->lock_record->successor;
    m.counters.switchovers++;
  }
  m.counters.reconciles++;
  // Once Consul is being cleaned up for shutdown, what Decide would do next
  // (compete for the lock we just released, fence our Redis) is not done:
  // Redis is left as it stands and the decision is not logged.
  const bool cleaning = m.cleanup_since.has_value();
  if (!cleaning && (!m.decided || d.rule != m.last_rule || d.reason != m.last_reason)) {
    // One line per transition, with what an operator greps for.
    note(StepNote::Level::kInfo, "reconcile: " + std::string(RuleName(d.rule)) +
                                     " (role=" + std::string(RoleName(m.redis.role)) +
                                     " lock=" + (view.lock_held ? "held" : (view.lock_free ? "free" : "other")) +
                                     " master=" + (d.master ? d.master->id : "-") + "): " + d.reason);
    m.decided = true;
    m.last_rule = d.rule;
    m.last_reason = d.reason;
  }

  // ---- intents
  if (d.intent && !cleaning) m.consul_intent = *d.intent;
  if (d.guard && !cleaning) m.guard = *d.guard;
  RedisIntent ri = ReplicationFor(d, m.redis);
  using R = RedisIntent::Replication;
  if (ri.replication == R::kMaster && !d.redis && m.guard.pause_writes) {
    // Paused (fenced, or handing over): the lock may be, or is about to be,
    // someone else's. Keep Redis as it is but never insist on master: the
    // new holder demotes this Redis and lifts the pause, and promoting it
    // back before we hear of the new holder would make two masters.
    ri.replication = R::kLeave;
  }
  if (ri.replication == R::kMaster && m.redis.role == RedisRole::kReplica && m.redis.master_link_up &&
      !m.redis.Held() && !m.redis.master_host.empty()) {
    // Promoting from a live link: that master is fenced and caught up with
    // first, and demoted afterwards.
    ri.former = std::pair(m.redis.master_host, m.redis.master_port);
    if (m.former_master != ri.former) {
      m.former_master = ri.former;
      m.former_since = now;
    }
  }
  if (m.former_master) {
    const auto& f = m.redis.former;
    const bool demoted = f && f->host == m.former_master->first && f->port == m.former_master->second &&
                         f->reachable && f->role == RedisRole::kReplica;
    if (demoted || now - m.former_since > kDemoteFor || !view.lock_held) {
      if (demoted) {
        note(StepNote::Level::kInfo, "reconciler: former master " + m.former_master->first + ":" +
                                         std::to_string(m.former_master->second) + " demoted");
      }
      m.former_master.reset();
    } else if (m.redis.role == RedisRole::kMaster && !m.guard.pause_writes) {
      ri.demote = m.former_master;
    }
  }
  ri.guard = m.guard;
  ri.run_id = m.redis.run_id;
  ri.observe = m.observe_seq;

  // Count what changed (a repeated wish is not a new command).
  const RedisIntent& before = m.redis_intent;
  const bool new_target = ri.replication != before.replication || ri.host != before.host || ri.port != before.port;
  if (new_target) {
    if (ri.replication == R::kMaster && m.redis.role != RedisRole::kMaster) m.counters.promotions++;
    if (ri.replication == R::kFollow) m.counters.replicate_commands++;
    if (ri.replication == R::kHold) m.counters.hold_commands++;
    if ((ri.replication == R::kFollow || ri.replication == R::kHold) && m.redis.role == RedisRole::kMaster) {
      m.counters.demotions++;
    }
  }

  std::optional<ConsulIntent> ci = m.consul_intent;
  if (ci) {
    ci->ttl_only_session = o.peer.enabled;
    ci->relaxed_renewal = o.peer.enabled && view.group_size >= 3;
  }
  // A holder a quorum voted gone is replaced: its session is destroyed (by
  // every member that sees the quorum; Consul takes it once).
  if (ci && votes && !view.lock_held && !view.lock_free && votes->holder_speaks && votes->holder_replaceable &&
      !view.lock_holder_session.empty()) {
    ci->destroy_session = view.lock_holder_session;
    if (m.destroy_noted != view.lock_holder_session) {
      note(StepNote::Level::kWarn, "reconciler: the group voted the lock holder " + votes->holder + " gone (" +
                                       (votes->crashed_votes >= (votes->members <= 2 ? 1 : votes->quorum)
                                            ? "its Redis crashed"
                                            : "no heartbeat for a lease") +
                                       "): ending its session");
      m.destroy_noted = view.lock_holder_session;
    }
  }
  // ---- shutdown, part two: leave Consul clean
  if (m.cleanup_since) {
    ConsulIntent leave = ci.value_or(ConsulIntent{});
    leave.shutdown = true;
    leave.hold_lock = false;
    ci = leave;
    ri.replication = R::kLeave;
    ri.demote.reset();
    if (view.shut_down || now >= *m.cleanup_since + o.shutdown_deadline) out.done = true;
  }
  m.redis_intent = ri;

  // ---- when to look again
  milliseconds wait = d.rule == Rule::kWaitForBetterCandidate || d.rule == Rule::kPromote ||
                              d.rule == Rule::kSwitchoverCatchUp || d.rule == Rule::kSwitchoverHandOver ||
                              m.shutdown_at
                          ? kElectionTick
                          : std::min(o.refresh, milliseconds(1000));
  // A master's lease runs out on time, not on news: wake when it is due to
  // be fenced (Consul may be silent exactly then).
  if (view.lock_held && m.redis.role == RedisRole::kMaster && view.lease_ttl.count() > 0) {
    const TimePoint fence_at = view.lease_deadline - view.lease_ttl / 3;
    const auto until = std::chrono::ceil<milliseconds>(fence_at - now) + milliseconds(1);
    wait = std::clamp(until, milliseconds(1), wait);
  }
  // The group's lease and votes, likewise: our pause must not wait for a
  // heartbeat that an isolated holder will never hear.
  if (votes && votes->changes_at) {
    const auto until = std::chrono::ceil<milliseconds>(*votes->changes_at - now) + milliseconds(1);
    wait = std::clamp(until, milliseconds(1), wait);
  }
  if (view.lock_held && view.lock_read_failures > 0) {
    const TimePoint lost_at = view.lock_read_failing_since + o.lock_monitor_retries * o.lock_monitor_retry_interval;
    const auto until = std::chrono::ceil<milliseconds>(lost_at - now) + milliseconds(1);
    wait = std::clamp(until, milliseconds(1), wait);
  }
  out.next_wake = now + wait;
  m.next_wake = out.next_wake;

  if (o.peer.enabled) out.peer = MakePeerIntent(view, m, votes, self_key, o);

  out.decision = std::move(d);
  out.view = std::move(view);
  out.consul = std::move(ci);
  out.redis = std::move(ri);
  out.memory = std::move(m);
  return out;
}

}  // namespace resec
