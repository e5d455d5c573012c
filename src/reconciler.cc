// Reconciler: see include/resec/reconciler.h.
#include "resec/reconciler.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace resec {
namespace {

using std::chrono::milliseconds;

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

StepOptions MakeStepOptions(const Config& config) {
  StepOptions o;
  o.decide = MakeDecideOptions(config);
  o.refresh = config.healthcheck_interval;
  o.lock_monitor_retries = config.lock_monitor_retries;
  o.lock_monitor_retry_interval = config.lock_monitor_retry_interval;
  o.switchover_timeout = config.switchover_timeout;
  o.decide.min_replicas_strict = config.min_replicas_strict;
  if (config.peer_mode()) {
    o.peer.enabled = true;
    o.peer.interval = config.peer_interval;
    o.peer.lease = config.peer_lease;
    // A crash vote needs the holder's agent silent for two and a half
    // heartbeats (250 ms at the default interval): one lost datagram is no
    // silence, and a faster interval notices a crash that much sooner.
    o.peer.silence = config.peer_interval * 5 / 2;
    o.peer_host = !config.peer_advertise_addr.host.empty() ? config.peer_advertise_addr.host
                                                           : config.announce_addr.host;
    o.peer_port = config.peer_advertise_addr.port > 0 ? config.peer_advertise_addr.port
                                                      : config.peer_listen_addr.port;
  }
  return o;
}

Reconciler::Reconciler(const Config& config, const Clock& clock, StateBoard& board, SendConsul send_consul,
                       SendRedis send_redis, SendPeer send_peer, Metrics* metrics)
    : options_(MakeStepOptions(config)),
      clock_(clock),
      board_(board),
      send_consul_(std::move(send_consul)),
      send_redis_(std::move(send_redis)),
      send_peer_(std::move(send_peer)),
      metrics_(metrics) {}

void Reconciler::Apply(const Event& event) {
  if (spdlog::should_log(spdlog::level::debug)) {
    if (const auto* c = std::get_if<ConsulState>(&event)) LogDiff("Consul", ToJson(memory_.consul), ToJson(*c));
    if (const auto* r = std::get_if<RedisState>(&event)) LogDiff("Redis", ToJson(memory_.redis), ToJson(*r));
  }
  const TimePoint started = clock_.Now();
  last_ = Step(std::move(memory_), event, started, options_);
  memory_ = std::move(last_.memory);
  for (const StepNote& n : last_.notes) {
    if (n.level == StepNote::Level::kWarn) {
      spdlog::warn("{}", n.text);
    } else {
      spdlog::info("{}", n.text);
    }
  }
  if (metrics_ != nullptr) {
    const auto seconds = [](Duration d) { return std::chrono::duration<double>(d).count(); };
    const StepResult::Measured& measured = last_.measured;
    if (measured.failure_detection) metrics_->ObserveFailureDetection(seconds(*measured.failure_detection));
    if (measured.promotion) metrics_->ObservePromotion(seconds(*measured.promotion));
    if (measured.switchover) metrics_->ObserveSwitchover(seconds(*measured.switchover));
  }
  const double took = std::chrono::duration<double>(clock_.Now() - started).count();
  Counters& c = memory_.counters;
  c.last_reconcile_seconds = took;
  c.duration_count++;
  c.duration_sum += took;
  for (size_t i = 0; i < std::size(Counters::kBuckets); ++i) {
    if (took <= Counters::kBuckets[i]) c.duration_buckets[i]++;
  }
  if (last_.done) done_ = true;
}

TimePoint Reconciler::Handle(Inbox::Batch batch) {
  if (batch.states.empty() && batch.commands.empty()) Apply(event::Tick{});
  // Commands first: a shutdown asked for in the same breath as news must
  // not be decided against by that news.
  for (auto& command : batch.commands) {
    std::visit([this](auto&& c) { Apply(Event(std::move(c))); }, std::move(command));
  }
  for (auto& state : batch.states) {
    std::visit([this](auto&& s) { Apply(Event(std::move(s))); }, std::move(state));
  }
  // The newest wish, whole, whenever it changed.
  if (last_.consul && last_.consul != sent_consul_) {
    sent_consul_ = last_.consul;
    send_consul_(*last_.consul);
  }
  if (last_.redis != sent_redis_) {
    sent_redis_ = last_.redis;
    send_redis_(last_.redis);
  }
  if (last_.peer && send_peer_ && last_.peer != sent_peer_) {
    sent_peer_ = last_.peer;
    send_peer_(*last_.peer);
  }

  BoardSnapshot snap;
  snap.consul = last_.view;
  snap.redis = memory_.redis;
  snap.peers = memory_.peers;
  snap.decision = last_.decision;
  snap.intent = last_.consul.value_or(ConsulIntent{});
  snap.redis_intent = last_.redis;
  snap.lock_free_since = memory_.decide.lock_free_since;
  snap.counters = memory_.counters;
  snap.decided = memory_.decided;
  board_.Set(std::move(snap));
  return last_.next_wake;
}

}  // namespace resec
