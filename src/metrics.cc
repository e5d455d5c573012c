#include "resec/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <iterator>
#include <sstream>

namespace resec {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

// prometheus-cpp throws std::invalid_argument for an invalid metric or label
// name; every name here is a constant, so a throw is a bug the unit tests hit
// at once, never a runtime condition.
Gauge& AddGauge(Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

Counter& AddCounter(Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

Histogram& AddHistogram(Registry& registry, const char* name, const char* help, const double* begin,
                        const double* end) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
      {}, Histogram::BucketBoundaries(begin, end));
}

double Bool(bool b) { return b ? 1 : 0; }

}  // namespace

void Metrics::TotalFeed::Update(uint64_t total) {
  // A total below the last one comes from an older view (two scrapes that
  // read the board in one order and render in the other): already counted.
  if (total <= last) return;
  counter->Increment(static_cast<double>(total - last));
  last = total;
}

Metrics::Metrics(const std::string& version, const std::string& service_id)
    : registry_(std::make_shared<Registry>()) {
  Registry& r = *registry_;
  prometheus::BuildGauge()
      .Name("resec_build_info")
      .Help("Build information.")
      .Register(r)
      .Add({{"version", version}, {"service_id", service_id}})
      .Set(1);
  auto& role = prometheus::BuildGauge()
                   .Name("resec_role")
                   .Help("Role of the managed Redis (1 for the current role).")
                   .Register(r);
  // The role names are the original's words, as in the service names.
  role_[MetricsView::Role::kMaster] = &role.Add({{"role", "master"}});
  role_[MetricsView::Role::kReplica] = &role.Add({{"role", "slave"}});
  role_[MetricsView::Role::kUnknown] = &role.Add({{"role", "unknown"}});
  lock_held_ = &AddGauge(r, "resec_lock_held", "1 while this agent holds the Consul lock.");
  redis_healthy_ = &AddGauge(r, "resec_redis_healthy", "1 while the managed Redis answers and is not loading.");
  consul_reachable_ =
      &AddGauge(r, "resec_consul_reachable", "1 while the Consul agent answers (error statuses included).");
  master_link_up_ = &AddGauge(r, "resec_master_link_up", "1 while the replica's link to its master is up.");
  registered_ = &AddGauge(r, "resec_registered", "1 while our service is registered in Consul.");
  replication_offset_ = &AddGauge(r, "resec_replication_offset", "Replication offset of the managed Redis.");
  replication_lag_family_ = &prometheus::BuildGauge()
                                 .Name("resec_replication_lag_bytes")
                                 .Help("Bytes this Redis is behind its master (0 on the master).")
                                 .Register(r);
  replica_lag_family_ = &prometheus::BuildGauge()
                             .Name("resec_replica_lag_bytes")
                             .Help("On a master: bytes each replica has not acknowledged yet.")
                             .Register(r);
  passing_masters_ =
      &AddGauge(r, "resec_passing_masters", "Passing instances of the master service seen in Consul.");
  serving_ = &AddGauge(r, "resec_serving", "1 when /health answers ok.");
  reconciles_.counter = &AddCounter(r, "resec_reconciles_total", "Decisions made.");
  promote_commands_.counter = &AddCounter(r, "resec_promote_commands_total", "REPLICAOF NO ONE commands sent.");
  demotions_.counter = &AddCounter(r, "resec_demotions_total", "Times our master was told to replicate another.");
  replicate_commands_.counter =
      &AddCounter(r, "resec_replicate_commands_total", "REPLICAOF host port commands sent.");
  hold_commands_.counter = &AddCounter(r, "resec_hold_commands_total",
                                       "Holds sent: REPLICAOF to no server, keeping the data off a master.");
  lock_acquisitions_.counter =
      &AddCounter(r, "resec_lock_acquisitions_total", "Times this agent acquired the lock.");
  lock_losses_.counter = &AddCounter(r, "resec_lock_losses_total", "Times this agent lost or released the lock.");
  loop_stalls_.counter =
      &AddCounter(r, "resec_loop_stalls_total", "Times the reconciler loop was found stalled.");
  switchovers_.counter = &AddCounter(r, "resec_switchovers_total",
                                    "Hand-overs this agent completed as master: the lock released to a successor.");
  last_reconcile_ = &AddGauge(r, "resec_last_reconcile_seconds", "Duration of the last decision.");
  reconcile_ = &AddHistogram(r, "resec_reconcile_duration_seconds", "Time one decision took.",
                             std::begin(kReconcileBuckets), std::end(kReconcileBuckets));
  failure_detection_ = &AddHistogram(
      r, "resec_failure_detection_duration_seconds",
      "From the first sign of the master's failure this agent saw to this agent acting on it.",
      std::begin(kFailoverBuckets), std::end(kFailoverBuckets));
  promotion_ = &AddHistogram(r, "resec_promotion_duration_seconds",
                             "From this agent's decision to take over to its Redis serving as master under the lock.",
                             std::begin(kFailoverBuckets), std::end(kFailoverBuckets));
  switchover_ = &AddHistogram(r, "resec_switchover_duration_seconds",
                              "From a switchover request accepted by this master to its successor holding the lock.",
                              std::begin(kFailoverBuckets), std::end(kFailoverBuckets));
  consul_errors_.family =
      &prometheus::BuildCounter().Name("resec_consul_errors_total").Help("Failed Consul calls, by operation.").Register(r);
  redis_errors_.family = &prometheus::BuildCounter()
                              .Name("resec_redis_errors_total")
                              .Help("Failed Redis operations, by operation.")
                              .Register(r);
  reconcile_fed_.cumulative.assign(std::size(kReconcileBuckets), 0);
}

Metrics::~Metrics() = default;

void Metrics::ObserveFailureDetection(double seconds) {
  if (seconds >= 0) failure_detection_->Observe(seconds);
}
void Metrics::ObservePromotion(double seconds) {
  if (seconds >= 0) promotion_->Observe(seconds);
}
void Metrics::ObserveSwitchover(double seconds) {
  if (seconds >= 0) switchover_->Observe(seconds);
}
void Metrics::ObserveReconcile(double seconds) {
  if (seconds >= 0) reconcile_->Observe(seconds);
}

std::string Metrics::Render(const MetricsView& view) {
  MutexLock lock(mu_);
  UpdateLocked(view);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

void Metrics::UpdateLocked(const MetricsView& view) {
  for (auto& [role, gauge] : role_) gauge->Set(Bool(view.role == role));
  lock_held_->Set(Bool(view.lock_held));
  redis_healthy_->Set(Bool(view.redis_healthy));
  consul_reachable_->Set(Bool(view.consul_reachable));
  master_link_up_->Set(Bool(view.master_link_up));
  registered_->Set(Bool(view.registered));
  serving_->Set(Bool(view.serving));
  replication_offset_->Set(static_cast<double>(view.replication_offset));
  if (view.replication_lag_bytes) {
    if (!replication_lag_) replication_lag_ = &replication_lag_family_->Add({});
    replication_lag_->Set(static_cast<double>(*view.replication_lag_bytes));
  } else if (replication_lag_) {
    // Absent, not 0, while no master is known: a 0 would read as "in sync".
    replication_lag_family_->Remove(replication_lag_);
    replication_lag_ = nullptr;
  }
  for (auto it = replica_lag_.begin(); it != replica_lag_.end();) {
    if (view.replica_lag_bytes.contains(it->first)) {
      ++it;
    } else {
      // A replica that left: its series ends instead of freezing at its last lag.
      replica_lag_family_->Remove(it->second);
      it = replica_lag_.erase(it);
    }
  }
  for (const auto& [replica, lag] : view.replica_lag_bytes) {
    prometheus::Gauge*& gauge = replica_lag_[replica];
    if (!gauge) gauge = &replica_lag_family_->Add({{"replica", replica}});
    gauge->Set(static_cast<double>(lag));
  }
  passing_masters_->Set(view.passing_masters);
  last_reconcile_->Set(view.last_reconcile_seconds);

  reconciles_.Update(view.reconciles);
  promote_commands_.Update(view.promote_commands);
  demotions_.Update(view.demotions);
  replicate_commands_.Update(view.replicate_commands);
  hold_commands_.Update(view.hold_commands);
  lock_acquisitions_.Update(view.lock_acquisitions);
  lock_losses_.Update(view.lock_losses);
  loop_stalls_.Update(view.loop_stalls);
  switchovers_.Update(view.switchovers);
  UpdateLabelled(consul_errors_, view.consul_errors);
  UpdateLabelled(redis_errors_, view.redis_errors);
  if (view.reconcile_durations) UpdateReconcileTotals(*view.reconcile_durations);
}

void Metrics::UpdateLabelled(LabelledTotals& totals, const std::map<std::string, uint64_t>& by_label) {
  for (const auto& [label, total] : by_label) {
    TotalFeed& feed = totals.by_label[label];
    // An operation's counter, once it exists, stays: a counter's series never
    // disappears while the process lives.
    if (!feed.counter) feed.counter = &totals.family->Add({{"operation", label}});
    feed.Update(total);
  }
}

void Metrics::UpdateReconcileTotals(const MetricsView::HistogramTotals& totals) {
  const size_t n = std::size(kReconcileBuckets);
  // A view with other buckets than ours cannot be fed without inventing data;
  // MakeMetricsView checks the bounds at compile time, so this is never hit.
  if (totals.cumulative.size() != n) return;
  MetricsView::HistogramTotals& fed = reconcile_fed_;
  // Older than what was fed (see TotalFeed::Update), or nothing new.
  if (totals.count <= fed.count) return;
  // prometheus-cpp takes per-bucket (not cumulative) increments, one more
  // than the bounds for the +Inf bucket.
  std::vector<double> increments(n + 1, 0);
  uint64_t below_now = 0;
  uint64_t below_fed = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t now = totals.cumulative[i] - std::min(totals.cumulative[i], below_now);
    const uint64_t then = fed.cumulative[i] - std::min(fed.cumulative[i], below_fed);
    increments[i] = now >= then ? static_cast<double>(now - then) : 0;
    below_now = totals.cumulative[i];
    below_fed = fed.cumulative[i];
  }
  const uint64_t inf_now = totals.count - std::min(totals.count, below_now);
  const uint64_t inf_then = fed.count - std::min(fed.count, below_fed);
  increments[n] = inf_now >= inf_then ? static_cast<double>(inf_now - inf_then) : 0;
  reconcile_->ObserveMultiple(increments, totals.sum - fed.sum);
  fed = totals;
}

}  // namespace resec
