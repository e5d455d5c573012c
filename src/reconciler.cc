#include "resec/reconciler.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace resec {
namespace {

using std::chrono::milliseconds;

// How often we decide with no news, so a replica's check output (the INFO
// text) is refreshed and time-based rules (election grace) fire.
constexpr milliseconds kElectionTick{100};
// A command Redis has not acted on is repeated after this long; a repeat is
// harmless (the Redis watcher skips commands already in effect).
constexpr milliseconds kCommandRepeat{1000};
// TILT: a loop that wakes this much later than it should have was stalled
// (SIGSTOP, swapped out, a clock jump). Its view of the world is stale, so it
// must not promote until it has watched for a while.
constexpr milliseconds kStallThreshold{2000};
constexpr milliseconds kStallCoolDown{5000};
// After a switchover's deadline, how long a handed-over lock may stay
// untaken before we compete for it again (the successor died meanwhile).
constexpr milliseconds kSwitchoverGiveUp{3000};

void LogDiff(const char* side, const nlohmann::json& before, const nlohmann::json& after) {
  for (const std::string& line : DiffFields(before, after)) {
    // "modified: .lock_held = true" -> "modified: .Consul.lock_held = true"
    std::string text = line;
    const auto dot = text.find(" .");
    if (dot != std::string::npos) text.insert(dot + 2, std::string(side) + ".");
    spdlog::debug("{}", text);
  }
}

}  // namespace

DecideOptions MakeDecideOptions(const Config& config) {
  DecideOptions o;
  o.self_id = config.ServiceId();
  o.announce_host = config.announce_addr.host;
  o.announce_port = config.announce_addr.port;
  o.priority = config.redis_priority;
  o.lock_delay = config.lock_delay;
  o.fencing = config.fencing;
  o.min_replicas_to_write = config.min_replicas_to_write;
  o.min_replicas_max_lag = static_cast<int>(config.min_replicas_max_lag.count());
  return o;
}

Reconciler::Reconciler(const Config& config, const Clock& clock, BoundedQueue<AgentEvent>& inbox,
                       BoundedQueue<ConsulIntent>& intents, BoundedQueue<RedisCommand>& redis_commands,
                       StateBoard& board)
    : config_(config),
      options_(MakeDecideOptions(config)),
      clock_(clock),
      inbox_(inbox),
      intents_(intents),
      redis_commands_(redis_commands),
      board_(board) {}

void Reconciler::RequestSwitchover(std::string to) {
  switchover_requests_.PushCoalesce(std::move(to));
  inbox_.PushCoalesce(std::monostate{});
}

void Reconciler::Start() {
  thread_ = std::jthread([this](std::stop_token st) { Run(st); });
}

void Reconciler::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void Reconciler::Absorb(AgentEvent event) {
  const bool debug = spdlog::should_log(spdlog::level::debug);
  if (auto* c = std::get_if<ConsulState>(&event)) {
    if (debug) LogDiff("Consul", ToJson(consul_), ToJson(*c));
    if (consul_.lock_held && !c->lock_held) counters_.lock_losses++;
    if (!consul_.lock_held && c->lock_held) counters_.lock_acquisitions++;
    consul_ = std::move(*c);
  } else if (auto* r_ptr = std::get_if<RedisState>(&event)) {
    auto& r = *r_ptr;
    memory_.own_offset_stale = false;
    if (debug) LogDiff("Redis", ToJson(redis_), ToJson(r));
    redis_ = std::move(r);
  }
}

void Reconciler::Run(std::stop_token stop) {
  TimePoint last_wake = clock_.Now();
  milliseconds wait = config_.healthcheck_interval;
  while (!stop.stop_requested()) {
    std::optional<AgentEvent> event = inbox_.TryPopFor(wait);
    if (!event && inbox_.closed()) break;
    // Coalesce the burst: every snapshot is complete, so only the newest of
    // each side matters and one decision covers them all.
    while (event) {
      Absorb(std::move(*event));
      event = inbox_.TryPop();
    }
    const TimePoint now = clock_.Now();
    if (now - last_wake > wait + kStallThreshold) {
      counters_.stalls++;
      memory_.no_promotion_until = now + kStallCoolDown;
      spdlog::warn("reconciler: loop stalled for {} ms; no promotion for {} ms",
                   std::chrono::duration_cast<milliseconds>(now - last_wake).count(), kStallCoolDown.count());
    }
    last_wake = now;
    ReconcileOnce(now);
    // Time-based rules need a prompt second look; otherwise the periodic
    // refresh is enough.
    wait = last_rule_ == Rule::kWaitForBetterCandidate || last_rule_ == Rule::kPromote ||
                   last_rule_ == Rule::kSwitchoverCatchUp || last_rule_ == Rule::kSwitchoverHandOver
               ? kElectionTick
               : std::min(config_.healthcheck_interval, milliseconds(1000));
    // A master's lease runs out on time, not on news: wake when it is due
    // to be fenced (Consul may be silent exactly then).
    if (consul_.lock_held && redis_.role == RedisRole::kMaster && consul_.lease_ttl.count() > 0) {
      const TimePoint fence_at = consul_.lease_deadline - consul_.lease_ttl / 3;
      const auto until = std::chrono::ceil<milliseconds>(fence_at - clock_.Now()) + milliseconds(1);
      wait = std::clamp(until, milliseconds(1), wait);
    }
  }
}

void Reconciler::ReconcileOnce(TimePoint now) {
  const auto started = SteadyClock::now();
  // Switchover: from a signal (RequestSwitchover) or an operator's KV request.
  std::optional<std::string> requested;
  while (auto r = switchover_requests_.TryPop()) requested = std::move(*r);
  if (consul_.switchover_request && consul_.switchover_request->nonce != handled_switchover_nonce_) {
    handled_switchover_nonce_ = consul_.switchover_request->nonce;
    requested = consul_.switchover_request->to;
  }
  if (requested && consul_.lock_held && redis_.role == RedisRole::kMaster && !memory_.switchover) {
    memory_.switchover = SwitchoverPlan{*requested, now + config_.switchover_timeout};
    spdlog::info("reconciler: switchover requested{}", requested->empty() ? "" : " to " + *requested);
  }
  if (memory_.switchover &&
      (redis_.role != RedisRole::kMaster || now > memory_.switchover->deadline + kSwitchoverGiveUp)) {
    // Demoted (handed over), or the successor never came: normal rules again.
    memory_.switchover.reset();
  }
  if (consul_.lock_free) {
    if (!memory_.lock_free_since) {
      memory_.lock_free_since = now;
      // Election time: rank ourselves by what Redis holds now.
      memory_.own_offset_stale = true;
      redis_commands_.PushCoalesce(cmd::Observe{});
    }
  } else {
    memory_.lock_free_since.reset();
  }

  // The Redis run we hold the lock with (see DecideMemory::lock_run_id).
  if (!consul_.lock_held) {
    memory_.lock_run_id.reset();
  } else if (!memory_.lock_run_id && redis_.healthy && !redis_.run_id.empty()) {
    memory_.lock_run_id = redis_.run_id;
  }

  DecideOptions options = options_;
  options.self_node = consul_.node_name;
  Decision d = Decide(consul_, redis_, options, now, memory_);
  if (d.rule == Rule::kSwitchoverHandOver && memory_.switchover && !memory_.switchover->handed_over &&
      d.intent && d.intent->lock_record) {
    memory_.switchover->handed_over = true;
    memory_.switchover->successor = d.intent->lock_record->successor;
  }
  counters_.reconciles++;

  if (!logged_once_ || d.rule != last_rule_ || d.reason != last_reason_) {
    // One line per transition, with what an operator greps for.
    spdlog::info("reconcile: {} (role={} lock={} master={}): {}", RuleName(d.rule), RoleName(redis_.role),
                 consul_.lock_held ? "held" : (consul_.lock_free ? "free" : "other"),
                 d.master ? d.master->id : "-", d.reason);
    logged_once_ = true;
    last_rule_ = d.rule;
    last_reason_ = d.reason;
  }

  if (d.intent && d.intent != last_intent_) {
    intents_.PushCoalesce(*d.intent);
    last_intent_ = d.intent;
  }
  if (d.redis) {
    if (d.redis != last_command_ || now - last_command_at_ >= kCommandRepeat) {
      if (std::holds_alternative<cmd::PromoteToMaster>(*d.redis)) {
        counters_.promotions++;
      } else if (std::holds_alternative<cmd::HoldReplication>(*d.redis)) {
        counters_.hold_commands++;
      } else {
        counters_.replicate_commands++;
        if (redis_.role == RedisRole::kMaster) counters_.demotions++;
      }
      redis_commands_.PushCoalesce(*d.redis);
      last_command_ = d.redis;
      last_command_at_ = now;
    }
  } else {
    last_command_.reset();
  }
  if (d.guard && d.guard != last_guard_) {
    redis_commands_.PushCoalesce(*d.guard);
    last_guard_ = d.guard;
  }
  const double took = std::chrono::duration<double>(SteadyClock::now() - started).count();
  counters_.last_reconcile_seconds = took;
  counters_.duration_count++;
  counters_.duration_sum += took;
  for (size_t i = 0; i < std::size(Counters::kBuckets); ++i) {
    if (took <= Counters::kBuckets[i]) counters_.duration_buckets[i]++;
  }

  BoardSnapshot snap;
  snap.consul = consul_;
  snap.redis = redis_;
  snap.decision = d;
  snap.intent = last_intent_.value_or(ConsulIntent{});
  snap.memory = memory_;
  snap.counters = counters_;
  snap.decided = true;
  board_.Set(std::move(snap));
}

}  // namespace resec
