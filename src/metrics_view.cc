#include "resec/metrics_view.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace resec {
namespace {

// The reconciler's own histogram (Counters) is fed to Metrics as running
// totals, which only works while both use the same bucket bounds.
constexpr bool SameReconcileBuckets() {
  if (std::size(Counters::kBuckets) != std::size(Metrics::kReconcileBuckets)) return false;
  for (size_t i = 0; i < std::size(Counters::kBuckets); ++i) {
    if (Counters::kBuckets[i] != Metrics::kReconcileBuckets[i]) return false;
  }
  return true;
}
static_assert(SameReconcileBuckets(), "Counters::kBuckets and Metrics::kReconcileBuckets must match");

MetricsView::Role ViewRole(RedisRole role) {
  switch (role) {
    case RedisRole::kMaster: return MetricsView::Role::kMaster;
    case RedisRole::kReplica: return MetricsView::Role::kReplica;
    case RedisRole::kUnknown: return MetricsView::Role::kUnknown;
  }
  return MetricsView::Role::kUnknown;
}

}  // namespace

MetricsView MakeMetricsView(const BoardSnapshot& snap) {
  MetricsView v;
  v.role = ViewRole(snap.redis.role);
  v.lock_held = snap.consul.lock_held;
  v.redis_healthy = snap.redis.healthy;
  v.consul_reachable = snap.consul.reachable;
  v.master_link_up = snap.redis.master_link_up;
  v.registered = snap.consul.registered;
  v.serving = RedisCanServe(snap.redis);
  v.replication_offset = snap.redis.DataOffset();
  // On a replica: how far behind the master's last offset report in Consul we
  // are (unknown while the master is); on a master, 0. Per replica, on the
  // master: its own, exact view.
  if (snap.redis.role == RedisRole::kMaster) {
    v.replication_lag_bytes = 0;
  } else if (snap.redis.role == RedisRole::kReplica && snap.decision.master) {
    for (const PeerReport& p : snap.consul.peers) {
      if (p.id == snap.decision.master->id && p.node == snap.decision.master->node &&
          p.role == RoleName(RedisRole::kMaster)) {
        v.replication_lag_bytes = std::max<int64_t>(0, p.offset - snap.redis.DataOffset());
      }
    }
  }
  for (const auto& r : snap.redis.replicas) {
    v.replica_lag_bytes[r.ip + ":" + std::to_string(r.port)] =
        std::max<int64_t>(0, snap.redis.master_repl_offset - r.offset);
  }
  v.passing_masters = static_cast<int>(snap.consul.masters.size());
  v.last_reconcile_seconds = snap.counters.last_reconcile_seconds;

  v.reconciles = snap.counters.reconciles;
  v.promote_commands = snap.counters.promotions;
  v.demotions = snap.counters.demotions;
  v.replicate_commands = snap.counters.replicate_commands;
  v.hold_commands = snap.counters.hold_commands;
  v.lock_acquisitions = snap.counters.lock_acquisitions;
  v.lock_losses = snap.counters.lock_losses;
  v.loop_stalls = snap.counters.stalls;
  v.switchovers = snap.counters.switchovers;
  v.consul_errors = snap.consul.errors;
  v.redis_errors = snap.redis.errors;
  MetricsView::HistogramTotals durations;
  durations.cumulative.assign(std::begin(snap.counters.duration_buckets), std::end(snap.counters.duration_buckets));
  durations.count = snap.counters.duration_count;
  durations.sum = snap.counters.duration_sum;
  v.reconcile_durations = std::move(durations);
  // TODO(lead, new core): the failure detection, promotion and switchover
  // histograms have no source on the board; the core reports them as events
  // (Metrics::ObserveFailureDetection / ObservePromotion / ObserveSwitchover),
  // given the Metrics the Agent owns (see StateServer's constructor).
  return v;
}

}  // namespace resec
