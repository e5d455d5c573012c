// Prometheus for real (issue 16, item 4): Debian's prometheus scrapes a live
// group of three agents, with the example rules of examples/prometheus/
// loaded, and its HTTP API shows the group as the agents see it, across a
// failover; promtool's linter passes every agent's /metrics in every role.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "support/agent_group.h"
#include "support/prometheus_server.h"
#include "support/status_matchers.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kConverge = 30s;
// Prometheus scrapes every 500ms (below); a few scrapes and a rule
// evaluation fit well inside this, even on a loaded machine.
constexpr auto kSeen = 20s;
const std::string kExamples = std::string(RESEC_SOURCE_DIR) + "/examples/prometheus";

// The example rules, the agents as static targets of job "resec" in group
// "g1" (as examples/prometheus/prometheus.yml lists them), scraped and
// evaluated every 500ms so the test takes seconds, not minutes.
std::string ScrapeConfig(Group& g) {
  std::ostringstream c;
  c << "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n  evaluation_interval: 500ms\n"
    << "rule_files:\n  - " << kExamples << "/resec.rules.yml\n  - " << kExamples << "/resec.alerts.yml\n"
    << "scrape_configs:\n  - job_name: resec\n    static_configs:\n      - labels: {group: g1}\n        targets:\n";
  for (int i = 0; i < g.size(); ++i) c << "          - 127.0.0.1:" << g.agent(i).state_port() << "\n";
  return c.str();
}

std::string Target(Group& g, int i) { return "127.0.0.1:" + std::to_string(g.agent(i).state_port()); }

// The single value of an instant query that must return one element.
std::optional<double> Scalar(const PrometheusServer& prom, const std::string& promql) {
  auto r = prom.Query(promql);
  if (!r.ok() || r->size() != 1) return std::nullopt;
  return r->front().value;
}

// The instances (targets) of the agents reporting the master role.
std::set<std::string> MasterInstances(const PrometheusServer& prom) {
  std::set<std::string> out;
  auto r = prom.Query("resec_role{job=\"resec\",role=\"master\"} == 1");
  if (!r.ok()) return {"query failed: " + r.status().ToString()};
  for (const PromSample& s : *r) out.insert(s.labels.at("instance"));
  return out;
}

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return "{" + out + "}";
}

TEST(Prometheus, ScrapesTheGroupAndSeesTheFailover) {
  Group g({});
  ASSERT_OK(g.Start());
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  PrometheusServer prom(ScrapeConfig(g));
  ASSERT_OK(prom.Start());

  // Every agent scraped, and exactly one reports the master role: ours.
  EXPECT_TRUE(WaitFor([&] { return Scalar(prom, "count(up{job=\"resec\"} == 1)") == 3; }, kSeen));
  EXPECT_TRUE(WaitFor([&] { return MasterInstances(prom) == std::set<std::string>{Target(g, *m)}; }, kSeen))
      << "master role reported by " << Join(MasterInstances(prom)) << ", master " << Target(g, *m);
  // The example recording rules evaluate against real series.
  EXPECT_TRUE(WaitFor([&] { return Scalar(prom, "group:resec_lock_held:sum{group=\"g1\"}") == 1; }, kSeen));
  EXPECT_TRUE(WaitFor([&] { return Scalar(prom, "group:resec_agents_up:sum{group=\"g1\"}") == 3; }, kSeen));
  const auto acquisitions_before = Scalar(prom, "sum(resec_lock_acquisitions_total)");
  ASSERT_TRUE(acquisitions_before.has_value());

  // Fail the master's Redis; another member takes over.
  g.redis(*m).Kill();
  const auto m2 = g.WaitForNewMaster(*m, kConverge);
  ASSERT_TRUE(m2) << g.Describe();

  // Prometheus sees the failover counter move (one more master term in the
  // group) and, once more, exactly one agent reporting the master role: the
  // new master's. The old master's agent is still scraped (up), its Redis gone.
  EXPECT_TRUE(WaitFor(
      [&] { return Scalar(prom, "sum(resec_lock_acquisitions_total)") == *acquisitions_before + 1; }, kSeen))
      << "before: " << *acquisitions_before << ", now: "
      << Scalar(prom, "sum(resec_lock_acquisitions_total)").value_or(-1);
  EXPECT_TRUE(WaitFor([&] { return MasterInstances(prom) == std::set<std::string>{Target(g, *m2)}; }, kSeen))
      << "master role reported by " << Join(MasterInstances(prom)) << ", new master " << Target(g, *m2);
  EXPECT_TRUE(WaitFor([&] { return Scalar(prom, "count(up{job=\"resec\"} == 1)") == 3; }, kSeen));
  EXPECT_TRUE(WaitFor(
      [&] {
        return Scalar(prom, "resec_redis_healthy{instance=\"" + Target(g, *m) + "\"}") == 0 &&
               Scalar(prom, "increase(resec_lock_losses_total{instance=\"" + Target(g, *m) + "\"}[1m])") > 0;
      },
      kSeen));

  // Every rule of the examples loaded and evaluates without error.
  auto rules = prom.Api("/api/v1/rules");
  ASSERT_OK(rules);
  std::set<std::string> groups;
  int evaluated = 0;
  for (const auto& group : (*rules)["data"]["groups"]) {
    groups.insert(group["name"].get<std::string>());
    for (const auto& rule : group["rules"]) {
      SCOPED_TRACE(rule.value("name", "?"));
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
      ++evaluated;
    }
  }
  EXPECT_EQ(groups, (std::set<std::string>{"resec.rules", "resec.alerts"}));
  EXPECT_EQ(evaluated, 12);
}

void ExpectPromtoolClean(ResecAgent& agent) {
  auto r = agent.Get("/metrics");
  ASSERT_OK(r);
  ASSERT_EQ(r->status, 200);
  auto lint = PromtoolCheckMetrics(r->body);
  ASSERT_OK(lint);
  EXPECT_EQ(lint->exit_code, 0) << lint->output << "\n--- /metrics\n" << r->body;
  EXPECT_EQ(lint->output, "") << r->body;
}

TEST(Prometheus, PromtoolCheckMetricsIsCleanInEveryRole) {
  Group g({});
  ASSERT_OK(g.Start());
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  // A master (with its replicas' lag series) and two replicas.
  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE("agent " + std::to_string(i) + (i == *m ? " (master)" : " (replica)"));
    ExpectPromtoolClean(g.agent(i));
  }
  // An agent whose Redis is gone (error counters by operation appear).
  const int replica = (*m + 1) % g.size();
  g.redis(replica).Kill();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = g.agent(replica).Get("/metrics");
        return r.ok() && r->body.find("resec_redis_healthy 0") != std::string::npos &&
               r->body.find("resec_redis_errors_total{") != std::string::npos;
      },
      10s));
  SCOPED_TRACE("agent " + std::to_string(replica) + " (Redis down)");
  ExpectPromtoolClean(g.agent(replica));
}

}  // namespace
}  // namespace resec::testing
