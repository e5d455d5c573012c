// Metrics: the exposition prometheus-cpp renders from a MetricsView and from
// events, read back line by line; and MakeMetricsView's translation of a
// board snapshot.
#include "resec/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "resec/metrics_view.h"

namespace resec {
namespace {

// Sample lines ("name{labels} value") by their name-and-labels part, exactly
// as rendered; HELP and TYPE lines by family.
struct Exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> help;

  std::optional<double> Get(const std::string& series) const {
    const auto it = samples.find(series);
    if (it == samples.end()) return std::nullopt;
    return it->second;
  }
};

Exposition Parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# TYPE ")) {
      const std::string rest = line.substr(7);
      e.types[rest.substr(0, rest.find(' '))] = rest.substr(rest.find(' ') + 1);
    } else if (line.starts_with("# HELP ")) {
      const std::string rest = line.substr(7);
      e.help[rest.substr(0, rest.find(' '))] = rest.substr(rest.find(' ') + 1);
    } else if (!line.empty() && line[0] != '#') {
      const size_t space = line.rfind(' ');
      e.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  }
  return e;
}

TEST(Metrics, EveryFamilyHasItsNameTypeAndHelp) {
  Metrics m("1.2.3", "redis@:6379");
  // prometheus-cpp leaves out a family without series: these four have
  // series only when the view has something to show.
  MetricsView v;
  v.replication_lag_bytes = 0;
  v.replica_lag_bytes = {{"10.0.0.2:6379", 0}};
  v.consul_errors = {{"renew session", 1}};
  v.redis_errors = {{"info", 1}};
  const Exposition e = Parse(m.Render(v));
  // The contract with dashboards and alert rules (docs/operations.md).
  const std::map<std::string, std::string> want = {
      {"resec_build_info", "gauge"},
      {"resec_role", "gauge"},
      {"resec_lock_held", "gauge"},
      {"resec_redis_healthy", "gauge"},
      {"resec_consul_reachable", "gauge"},
      {"resec_master_link_up", "gauge"},
      {"resec_registered", "gauge"},
      {"resec_replication_offset", "gauge"},
      {"resec_replication_lag_bytes", "gauge"},
      {"resec_replica_lag_bytes", "gauge"},
      {"resec_passing_masters", "gauge"},
      {"resec_serving", "gauge"},
      {"resec_reconciles_total", "counter"},
      {"resec_promote_commands_total", "counter"},
      {"resec_demotions_total", "counter"},
      {"resec_replicate_commands_total", "counter"},
      {"resec_hold_commands_total", "counter"},
      {"resec_lock_acquisitions_total", "counter"},
      {"resec_lock_losses_total", "counter"},
      {"resec_loop_stalls_total", "counter"},
      {"resec_switchovers_total", "counter"},
      {"resec_last_reconcile_seconds", "gauge"},
      {"resec_reconcile_duration_seconds", "histogram"},
      {"resec_failure_detection_duration_seconds", "histogram"},
      {"resec_promotion_duration_seconds", "histogram"},
      {"resec_switchover_duration_seconds", "histogram"},
      {"resec_consul_errors_total", "counter"},
      {"resec_redis_errors_total", "counter"},
  };
  EXPECT_EQ(e.types, want);
  for (const auto& [name, type] : want) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(e.help.contains(name));
    EXPECT_FALSE(e.help.at(name).empty());
  }
  EXPECT_EQ(e.help.at("resec_lock_held"), "1 while this agent holds the Consul lock.");
  EXPECT_EQ(e.Get("resec_build_info{service_id=\"redis@:6379\",version=\"1.2.3\"}"), 1);
}

TEST(Metrics, GaugesFollowTheView) {
  Metrics m("v", "id");
  MetricsView v;
  v.role = MetricsView::Role::kMaster;
  v.lock_held = true;
  v.redis_healthy = true;
  v.consul_reachable = true;
  v.registered = true;
  v.serving = true;
  v.replication_offset = 12345;
  v.replication_lag_bytes = 0;
  v.passing_masters = 1;
  v.last_reconcile_seconds = 0.25;
  Exposition e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_role{role=\"master\"}"), 1);
  EXPECT_EQ(e.Get("resec_role{role=\"slave\"}"), 0);
  EXPECT_EQ(e.Get("resec_role{role=\"unknown\"}"), 0);
  EXPECT_EQ(e.Get("resec_lock_held"), 1);
  EXPECT_EQ(e.Get("resec_redis_healthy"), 1);
  EXPECT_EQ(e.Get("resec_consul_reachable"), 1);
  EXPECT_EQ(e.Get("resec_master_link_up"), 0);
  EXPECT_EQ(e.Get("resec_registered"), 1);
  EXPECT_EQ(e.Get("resec_serving"), 1);
  EXPECT_EQ(e.Get("resec_replication_offset"), 12345);
  EXPECT_EQ(e.Get("resec_replication_lag_bytes"), 0);
  EXPECT_EQ(e.Get("resec_passing_masters"), 1);
  EXPECT_EQ(e.Get("resec_last_reconcile_seconds"), 0.25);

  v.role = MetricsView::Role::kReplica;
  v.lock_held = false;
  v.replication_lag_bytes.reset();
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_role{role=\"master\"}"), 0);
  EXPECT_EQ(e.Get("resec_role{role=\"slave\"}"), 1);
  EXPECT_EQ(e.Get("resec_lock_held"), 0);
  // Unknown lag is an absent series, not a 0 that reads as "in sync".
  EXPECT_FALSE(e.Get("resec_replication_lag_bytes").has_value());
  v.replication_lag_bytes = 77;
  EXPECT_EQ(Parse(m.Render(v)).Get("resec_replication_lag_bytes"), 77);
}

TEST(Metrics, ReplicaLagSeriesComeAndGoWithTheReplicas) {
  Metrics m("v", "id");
  MetricsView v;
  v.replica_lag_bytes = {{"10.0.0.2:6379", 0}, {"10.0.0.3:6379", 4096}};
  Exposition e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_replica_lag_bytes{replica=\"10.0.0.2:6379\"}"), 0);
  EXPECT_EQ(e.Get("resec_replica_lag_bytes{replica=\"10.0.0.3:6379\"}"), 4096);
  v.replica_lag_bytes = {{"10.0.0.3:6379", 10}};
  e = Parse(m.Render(v));
  EXPECT_FALSE(e.Get("resec_replica_lag_bytes{replica=\"10.0.0.2:6379\"}").has_value());
  EXPECT_EQ(e.Get("resec_replica_lag_bytes{replica=\"10.0.0.3:6379\"}"), 10);
  // A label value the format must escape.
  v.replica_lag_bytes = {{"a\"b\\c", 1}};
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_replica_lag_bytes{replica=\"a\\\"b\\\\c\"}"), 1);
}

TEST(Metrics, CountersFollowTheTotalsAndNeverGoDown) {
  Metrics m("v", "id");
  MetricsView v;
  v.reconciles = 10;
  v.lock_acquisitions = 1;
  v.consul_errors = {{"renew session", 2}};
  Exposition e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconciles_total"), 10);
  EXPECT_EQ(e.Get("resec_lock_acquisitions_total"), 1);
  EXPECT_EQ(e.Get("resec_consul_errors_total{operation=\"renew session\"}"), 2);
  // The same totals again: nothing is counted twice, however often scraped.
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconciles_total"), 10);
  EXPECT_EQ(e.Get("resec_consul_errors_total{operation=\"renew session\"}"), 2);
  v.reconciles = 25;
  v.promote_commands = 1;
  v.demotions = 2;
  v.replicate_commands = 3;
  v.hold_commands = 4;
  v.lock_losses = 5;
  v.loop_stalls = 6;
  v.switchovers = 8;
  v.consul_errors["acquire lock"] = 1;
  v.redis_errors = {{"info", 7}};
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconciles_total"), 25);
  EXPECT_EQ(e.Get("resec_promote_commands_total"), 1);
  EXPECT_EQ(e.Get("resec_demotions_total"), 2);
  EXPECT_EQ(e.Get("resec_replicate_commands_total"), 3);
  EXPECT_EQ(e.Get("resec_hold_commands_total"), 4);
  EXPECT_EQ(e.Get("resec_lock_losses_total"), 5);
  EXPECT_EQ(e.Get("resec_loop_stalls_total"), 6);
  EXPECT_EQ(e.Get("resec_switchovers_total"), 8);
  EXPECT_EQ(e.Get("resec_consul_errors_total{operation=\"acquire lock\"}"), 1);
  EXPECT_EQ(e.Get("resec_redis_errors_total{operation=\"info\"}"), 7);
  // A lower total comes from an older view (two scrapes racing): ignored,
  // and the counter goes on from the highest total it has seen.
  v.reconciles = 3;
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconciles_total"), 25);
  v.reconciles = 30;
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconciles_total"), 30);
  // An operation that left the view keeps its series.
  v.consul_errors.erase("renew session");
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_consul_errors_total{operation=\"renew session\"}"), 2);
}

TEST(Metrics, ReconcileTotalsFeedTheHistogram) {
  Metrics m("v", "id");
  ASSERT_EQ(std::size(Metrics::kReconcileBuckets), 7u);
  MetricsView v;
  // Cumulative, as the reconciler keeps them: 2 at <=50us, 3 at <=100us, ...
  v.reconcile_durations = MetricsView::HistogramTotals{{2, 3, 3, 3, 3, 3, 4}, 5, 0.1};
  Exposition e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"5e-05\"}"), 2);
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"0.0001\"}"), 3);
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"0.05\"}"), 4);
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"+Inf\"}"), 5);
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_count"), 5);
  EXPECT_DOUBLE_EQ(*e.Get("resec_reconcile_duration_seconds_sum"), 0.1);
  // Scraped again unchanged, then with one more decision past every bucket.
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_count"), 5);
  v.reconcile_durations = MetricsView::HistogramTotals{{2, 3, 3, 3, 3, 3, 4}, 6, 0.3};
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"0.05\"}"), 4);
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"+Inf\"}"), 6);
  EXPECT_DOUBLE_EQ(*e.Get("resec_reconcile_duration_seconds_sum"), 0.3);
  // Events add to the same histogram.
  m.ObserveReconcile(0.00001);
  e = Parse(m.Render(v));
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_bucket{le=\"5e-05\"}"), 3);
  EXPECT_EQ(e.Get("resec_reconcile_duration_seconds_count"), 7);
}

TEST(Metrics, EventsLandInTheirHistograms) {
  Metrics m("v", "id");
  m.ObserveFailureDetection(0.3);
  m.ObservePromotion(0.05);
  m.ObservePromotion(2);
  m.ObserveSwitchover(0.2);
  m.ObserveSwitchover(-1);  // a clock that went backwards: dropped
  const Exposition e = Parse(m.Render(MetricsView{}));
  EXPECT_EQ(e.Get("resec_failure_detection_duration_seconds_count"), 1);
  EXPECT_EQ(e.Get("resec_failure_detection_duration_seconds_bucket{le=\"0.25\"}"), 0);
  EXPECT_EQ(e.Get("resec_failure_detection_duration_seconds_bucket{le=\"0.5\"}"), 1);
  EXPECT_EQ(e.Get("resec_promotion_duration_seconds_count"), 2);
  // An observation equal to a bound falls in that bucket ("le").
  EXPECT_EQ(e.Get("resec_promotion_duration_seconds_bucket{le=\"0.05\"}"), 1);
  EXPECT_EQ(e.Get("resec_promotion_duration_seconds_bucket{le=\"2.5\"}"), 2);
  EXPECT_DOUBLE_EQ(*e.Get("resec_promotion_duration_seconds_sum"), 2.05);
  EXPECT_EQ(e.Get("resec_switchover_duration_seconds_count"), 1);
  EXPECT_EQ(e.Get("resec_switchover_duration_seconds_bucket{le=\"+Inf\"}"), 1);
}

// Scrapes and events from several threads at once (meaningful under TSan);
// views rendered out of order never count twice.
TEST(Metrics, ConcurrentScrapesAndEvents) {
  Metrics m("v", "id");
  std::atomic<bool> failed = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&m, &failed] {
      MetricsView v;
      for (uint64_t i = 1; i <= 200; ++i) {
        v.reconciles = i;
        v.replica_lag_bytes = {{"r" + std::to_string(i % 3), static_cast<int64_t>(i)}};
        if (m.Render(v).find("resec_reconciles_total") == std::string::npos) failed = true;
      }
    });
  }
  threads.emplace_back([&m] {
    for (int i = 0; i < 200; ++i) m.ObservePromotion(0.01 * i);
  });
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed);
  const Exposition e = Parse(m.Render(MetricsView{.reconciles = 200}));
  EXPECT_EQ(e.Get("resec_reconciles_total"), 200);
  EXPECT_EQ(e.Get("resec_promotion_duration_seconds_count"), 200);
}

// ------------------------------------------------------------------ MakeMetricsView

TEST(MakeMetricsView, ReplicaLagsBehindItsMastersReport) {
  BoardSnapshot snap;
  snap.redis.role = RedisRole::kReplica;
  snap.redis.healthy = true;
  snap.redis.master_link_up = true;
  snap.redis.slave_repl_offset = 900;
  snap.redis.master_repl_offset = 950;  // a replica's DataOffset is its slave offset
  snap.decision.master = ServiceInstance{"redis@:6380", "node-b", "10.0.0.2", 6380, {}};
  PeerReport master;
  master.id = "redis@:6380";
  master.node = "node-b";
  master.role = "master";
  master.offset = 1000;
  PeerReport other = master;
  other.node = "node-c";  // the same service ID on another node: not our master
  other.offset = 5000;
  snap.consul.peers = {other, master};
  snap.consul.reachable = true;
  snap.consul.masters = {*snap.decision.master};
  snap.counters.reconciles = 42;
  snap.counters.promotions = 1;
  snap.counters.switchovers = 2;
  snap.counters.duration_buckets[0] = 40;
  snap.counters.duration_buckets[6] = 42;
  snap.counters.duration_count = 42;
  snap.counters.duration_sum = 0.001;
  snap.consul.errors = {{"renew session", 3}};
  snap.redis.errors = {{"info", 1}};

  const MetricsView v = MakeMetricsView(snap);
  EXPECT_EQ(v.role, MetricsView::Role::kReplica);
  EXPECT_TRUE(v.redis_healthy);
  EXPECT_TRUE(v.master_link_up);
  EXPECT_TRUE(v.consul_reachable);
  EXPECT_EQ(v.replication_offset, 900);
  EXPECT_EQ(v.replication_lag_bytes, 100);
  EXPECT_TRUE(v.replica_lag_bytes.empty());
  EXPECT_EQ(v.passing_masters, 1);
  EXPECT_EQ(v.reconciles, 42u);
  EXPECT_EQ(v.promote_commands, 1u);
  EXPECT_EQ(v.switchovers, 2u);
  EXPECT_EQ(v.consul_errors, snap.consul.errors);
  EXPECT_EQ(v.redis_errors, snap.redis.errors);
  ASSERT_TRUE(v.reconcile_durations);
  EXPECT_EQ(v.reconcile_durations->cumulative, (std::vector<uint64_t>{40, 0, 0, 0, 0, 0, 42}));
  EXPECT_EQ(v.reconcile_durations->count, 42u);

  // No master known: the lag is unknown, not 0.
  snap.decision.master.reset();
  EXPECT_FALSE(MakeMetricsView(snap).replication_lag_bytes.has_value());
}

TEST(MakeMetricsView, MasterReportsEachReplicasLag) {
  BoardSnapshot snap;
  snap.redis.role = RedisRole::kMaster;
  snap.redis.master_repl_offset = 1000;
  snap.redis.replicas = {{"10.0.0.2", 6379, "online", 1000}, {"10.0.0.3", 6379, "online", 400},
                         {"10.0.0.4", 6379, "online", 1200}};  // ahead of our last INFO: 0, not negative
  snap.consul.lock_held = true;
  const MetricsView v = MakeMetricsView(snap);
  EXPECT_EQ(v.role, MetricsView::Role::kMaster);
  EXPECT_TRUE(v.lock_held);
  EXPECT_EQ(v.replication_lag_bytes, 0);
  EXPECT_EQ(v.replica_lag_bytes,
            (std::map<std::string, int64_t>{{"10.0.0.2:6379", 0}, {"10.0.0.3:6379", 600}, {"10.0.0.4:6379", 0}}));
}

}  // namespace
}  // namespace resec
