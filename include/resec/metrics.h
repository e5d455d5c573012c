// Metrics: the agent's Prometheus metrics, kept in a prometheus-cpp registry
// and rendered in the text exposition format (0.0.4) for /metrics.
//
// Two inputs, so this module knows nothing of the actors that feed it:
//   - a MetricsView, a plain value with everything the agent *is* right now
//     (role, lock, health, offsets, lag per replica) and the running totals
//     it keeps (decisions, commands, lock terms, errors by operation). Render()
//     brings every metric to the view it is given; totals are fed to the
//     counters as the rise since the highest total seen, so a counter only
//     ever rises however often or rarely /metrics is scraped;
//   - events, for the durations nobody can read off a snapshot: Observe*()
//     adds one observation to a histogram at the moment it happens.
//
// Names, types and help texts are the exposition's contract with dashboards
// and alert rules (docs/operations.md, examples/prometheus/); renaming one is
// a breaking change.
//
// Thread-safety: every method may be called from any thread. Observe*() go
// straight to prometheus-cpp's histograms, which are internally synchronised.
// Render() is serialised by mu_ so two concurrent scrapes never interleave the
// update of the gauges and counters with each other's serialisation (each
// scrape shows one view). The view's producer (the state server's handler
// today) calls Render(); the actors call Observe*().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resec/mutex.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace resec {

// Everything /metrics shows that a snapshot of the agent can tell. Plain
// values only: whatever shape the agent's state takes, one function
// (MakeMetricsView) translates it into this.
struct MetricsView {
  enum class Role { kUnknown, kMaster, kReplica };

  // ---- what the agent is now (gauges)
  Role role = Role::kUnknown;
  bool lock_held = false;
  bool redis_healthy = false;
  bool consul_reachable = false;
  bool master_link_up = false;
  bool registered = false;
  bool serving = false;  // /health answers ok
  int64_t replication_offset = 0;
  // Bytes behind the master (0 on the master); nullopt while no master is
  // known, and then the series is absent rather than a misleading 0.
  std::optional<int64_t> replication_lag_bytes;
  // On a master: bytes each replica ("ip:port") has not acknowledged yet.
  std::map<std::string, int64_t> replica_lag_bytes;
  int passing_masters = 0;
  double last_reconcile_seconds = 0;

  // ---- running totals since the agent started (counters). A total below
  // one Render() has already seen comes from an older view (two scrapes
  // racing) and is ignored: the counters show the highest totals seen.
  uint64_t reconciles = 0;
  uint64_t promote_commands = 0;
  uint64_t demotions = 0;
  uint64_t replicate_commands = 0;
  uint64_t hold_commands = 0;
  uint64_t lock_acquisitions = 0;
  uint64_t lock_losses = 0;
  uint64_t loop_stalls = 0;
  uint64_t switchovers = 0;  // hand-overs completed as master
  std::map<std::string, uint64_t> consul_errors;  // by operation
  std::map<std::string, uint64_t> redis_errors;   // by operation

  // Decision durations as running totals, for a core that keeps its own
  // histogram (today's reconciler does). `cumulative[i]` counts decisions that
  // took at most Metrics::kReconcileBuckets[i] seconds. Leave it empty when
  // the core calls Metrics::ObserveReconcile() instead.
  struct HistogramTotals {
    std::vector<uint64_t> cumulative;
    uint64_t count = 0;
    double sum = 0;
  };
  std::optional<HistogramTotals> reconcile_durations;
};

class Metrics {
 public:
  // Upper bounds (seconds) of resec_reconcile_duration_seconds: one decision
  // is pure computation, tens of microseconds; the last bucket catches a
  // decision slowed by a loaded machine.
  static constexpr double kReconcileBuckets[] = {0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05};
  // Upper bounds (seconds) of the failure detection, promotion and switchover
  // histograms: from a crash noticed in milliseconds to a master lost only at
  // its session TTL (CONSUL_LOCK_TTL, 15 s by default; 60 s covers a 30 s TTL
  // plus lock-delay).
  static constexpr double kFailoverBuckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60};

  // `version` and `service_id` label resec_build_info.
  Metrics(const std::string& version, const std::string& service_id);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Events. `seconds` < 0 (a clock that went backwards) is dropped.
  //
  // resec_failure_detection_duration_seconds: on an agent that sees the master
  // fail, from the first evidence of the failure (its Redis stopped answering,
  // the replica's link went down, the holder's session went away) to the
  // moment this agent acted on it (started to compete for the lock).
  void ObserveFailureDetection(double seconds);
  // resec_promotion_duration_seconds: on the agent that takes over, from its
  // decision to promote to its Redis answering as master with the lock held.
  void ObservePromotion(double seconds);
  // resec_switchover_duration_seconds: on the master handing over (an
  // operator's `resec switchover` or SIGTERM), from accepting the request to
  // the successor holding the lock and our Redis replicating it.
  void ObserveSwitchover(double seconds);
  // resec_reconcile_duration_seconds, for a core that reports each decision
  // (instead of MetricsView::reconcile_durations; never both).
  void ObserveReconcile(double seconds);

  // Brings every view-fed metric to `view` and returns the whole exposition.
  std::string Render(const MetricsView& view);

 private:
  // A counter fed from a running total: remembers the last total it saw.
  struct TotalFeed {
    prometheus::Counter* counter = nullptr;
    uint64_t last = 0;
    void Update(uint64_t total);
  };
  // A labelled family of such counters (errors by operation).
  struct LabelledTotals {
    prometheus::Family<prometheus::Counter>* family = nullptr;
    std::map<std::string, TotalFeed> by_label;
  };

  void UpdateLocked(const MetricsView& view) REQUIRES(mu_);
  void UpdateLabelled(LabelledTotals& totals, const std::map<std::string, uint64_t>& by_label) REQUIRES(mu_);
  void UpdateReconcileTotals(const MetricsView::HistogramTotals& totals) REQUIRES(mu_);

  // The registry owns every family and metric below; the raw pointers are
  // prometheus-cpp's handles into it, valid for the registry's lifetime.
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Histogram* failure_detection_ = nullptr;
  prometheus::Histogram* promotion_ = nullptr;
  prometheus::Histogram* switchover_ = nullptr;
  prometheus::Histogram* reconcile_ = nullptr;

  Mutex mu_;
  // Everything below is touched only by Render(), under mu_.
  std::map<MetricsView::Role, prometheus::Gauge*> role_ GUARDED_BY(mu_);
  prometheus::Gauge* lock_held_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* redis_healthy_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* consul_reachable_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* master_link_up_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* registered_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* serving_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* replication_offset_ GUARDED_BY(mu_) = nullptr;
  prometheus::Family<prometheus::Gauge>* replication_lag_family_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* replication_lag_ GUARDED_BY(mu_) = nullptr;  // present only while known
  prometheus::Family<prometheus::Gauge>* replica_lag_family_ GUARDED_BY(mu_) = nullptr;
  std::map<std::string, prometheus::Gauge*> replica_lag_ GUARDED_BY(mu_);
  prometheus::Gauge* passing_masters_ GUARDED_BY(mu_) = nullptr;
  prometheus::Gauge* last_reconcile_ GUARDED_BY(mu_) = nullptr;
  TotalFeed reconciles_ GUARDED_BY(mu_);
  TotalFeed promote_commands_ GUARDED_BY(mu_);
  TotalFeed demotions_ GUARDED_BY(mu_);
  TotalFeed replicate_commands_ GUARDED_BY(mu_);
  TotalFeed hold_commands_ GUARDED_BY(mu_);
  TotalFeed lock_acquisitions_ GUARDED_BY(mu_);
  TotalFeed lock_losses_ GUARDED_BY(mu_);
  TotalFeed loop_stalls_ GUARDED_BY(mu_);
  TotalFeed switchovers_ GUARDED_BY(mu_);
  LabelledTotals consul_errors_ GUARDED_BY(mu_);
  LabelledTotals redis_errors_ GUARDED_BY(mu_);
  // The reconcile totals last fed to reconcile_ (MetricsView::reconcile_durations).
  MetricsView::HistogramTotals reconcile_fed_ GUARDED_BY(mu_);
};

}  // namespace resec
