// Whole groups of real agents, Redis servers and a Consul dev agent: the
// behaviours the original resec promises, and the fixes we make.
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/agent_group.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kConverge = 30s;

json Services(Group& g) {
  auto r = g.consul().Get("/v1/agent/services");
  if (!r.ok() || r->status != 200) return json::object();
  return json::parse(r->body, nullptr, false);
}

json Checks(Group& g) {
  auto r = g.consul().Get("/v1/agent/checks");
  if (!r.ok() || r->status != 200) return json::object();
  return json::parse(r->body, nullptr, false);
}

std::optional<int> StartAndConverge(Group& g) {
  Status st = g.Start();
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return std::nullopt;
  std::string why;
  auto m = g.WaitConverged(kConverge, &why);
  EXPECT_TRUE(m.has_value()) << why;
  return m;
}

TEST(Group, PrefixModeRegistersExactlyWhatTheOriginalDoes) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  const json services = Services(g);
  const json checks = Checks(g);
  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string id = "redis@:" + std::to_string(g.redis(i).port());
    ASSERT_TRUE(services.contains(id)) << services.dump();
    const json& s = services[id];
    EXPECT_EQ(s["Service"], i == *m ? "redis-master" : "redis-slave");
    EXPECT_EQ(s["Port"], g.redis(i).port());
    // Loopback REDIS_ADDR: registered without an address, Consul shows the node's.
    EXPECT_EQ(s["Address"], "");
    EXPECT_TRUE(s["Tags"].empty());
    const std::string check_id = id + ":replication-status-check";
    ASSERT_TRUE(checks.contains(check_id)) << checks.dump();
    EXPECT_EQ(checks[check_id]["Name"],
              std::string("Resec: ") + (i == *m ? "master" : "slave") + " replication status");
    EXPECT_EQ(checks[check_id]["Status"], "passing");
    EXPECT_EQ(checks[check_id]["ServiceID"], id);
    // The check output is the current INFO text.
    EXPECT_NE(checks[check_id]["Output"].get<std::string>().find("# Replication"), std::string::npos) << checks[check_id].dump();
  }
}

TEST(Group, TagModeUsesOneServiceNameAndTheTags) {
  GroupOptions o;
  o.tag_mode = true;
  Group g(o);
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  const json services = Services(g);
  for (int i = 0; i < g.size(); ++i) {
    const std::string id = "redis@:" + std::to_string(g.redis(i).port());
    ASSERT_TRUE(services.contains(id)) << services.dump();
    EXPECT_EQ(services[id]["Service"], "redis");
    const json want = i == *m ? json{"master", "primary"} : json{"slave", "replica"};
    EXPECT_EQ(services[id]["Tags"], want) << i;
  }
}

TEST(Group, AnnounceAddrIsRegisteredAsGiven) {
  GroupOptions o;
  o.size = 1;
  o.start_agents = false;
  Group g(o);
  ASSERT_TRUE(g.Start().ok());
  g.agent(0).env()["ANNOUNCE_ADDR"] = "127.0.0.1:" + std::to_string(g.redis(0).port());
  ASSERT_TRUE(g.StartAgent(0).ok());
  const std::string id = "redis@127.0.0.1:" + std::to_string(g.redis(0).port());
  ASSERT_TRUE(WaitFor([&] { return Services(g).contains(id); }, 10s)) << Services(g).dump();
  EXPECT_EQ(Services(g)[id]["Address"], "127.0.0.1");
}

TEST(Group, RedisCrashFailsOverAndTheOldMasterRejoinsAsReplica) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  ASSERT_TRUE(g.redis(*m).Call({"SET", "before", "1"}).ok());
  // Replication is asynchronous: only a write the replicas have is promised
  // to survive the master's crash. (WAIT would have to share the SET's
  // connection; each Call opens its own, so read it back from the replicas.)
  for (int i = 0; i < g.size(); ++i) {
    if (i == *m) continue;
    ASSERT_TRUE(WaitFor([&] { return g.redis(i).Call({"GET", "before"}).value_or("") == "1"; }, 5s)) << i;
  }
  g.redis(*m).Kill();
  std::string why;
  std::optional<int> m2;
  ASSERT_TRUE(WaitFor([&] { return (m2 = g.Converged()) && *m2 != *m; }, kConverge)) << g.Describe();
  EXPECT_EQ(*g.redis(*m2).Call({"GET", "before"}), "1");
  ASSERT_TRUE(g.redis(*m).Restart().ok());
  auto m3 = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m3) << why;
  EXPECT_EQ(*m3, *m2);
  EXPECT_EQ(g.redis(*m).Role(), "slave");
}

TEST(Group, AgentCrashFailsOverWhenTheCheckExpiresAndTheAgentRejoins) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  g.agent(*m).Kill();
  const auto killed = std::chrono::steady_clock::now();
  // Session bound to the agent's TTL check (3 x 1s here): well before the 15s session TTL.
  const std::optional<int> m2 = g.WaitForNewMaster(*m, kConverge);
  ASSERT_TRUE(m2) << g.Describe();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
  EXPECT_LT(took, 12s) << "new master after " << took.count() << " ms";
  ASSERT_TRUE(g.StartAgent(*m).ok());
  std::string why;
  auto m3 = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m3) << why;
  EXPECT_EQ(*m3, *m2);
}

TEST(Group, SigtermReleasesTheLockAndDeregistersAtOnce) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  const auto start = std::chrono::steady_clock::now();
  auto exit = g.agent(*m).Stop(10s);
  EXPECT_TRUE(exit.Exited() && exit.code == 0) << exit.ToString();
  const auto stopped = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(stopped, 5s);
  const std::string id = "redis@:" + std::to_string(g.redis(*m).port());
  EXPECT_FALSE(Services(g).contains(id));
  // No TTL to wait for: the lock was released explicitly (no lock-delay).
  ASSERT_TRUE(g.WaitForNewMaster(*m, 3s)) << g.Describe();
}

TEST(Group, SurvivesConsulRestartAndEndsWithOneMaster) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  g.consul().Stop();
  std::this_thread::sleep_for(30s);  // the scenario itself: Consul gone for 30 s
  for (int i = 0; i < g.size(); ++i) EXPECT_TRUE(g.agent(i).Running()) << i;
  ASSERT_TRUE(g.consul().Restart().ok());
  std::string why;
  auto m2 = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m2) << why;
  for (int i = 0; i < g.size(); ++i) EXPECT_TRUE(g.agent(i).Running()) << i;
}

TEST(Group, MasterFrozenOffConsulEndsWithExactlyOnePassingMaster) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  // Freezing the (single) Consul agent cuts every agent's Consul path for 5 s.
  ASSERT_TRUE(g.consul().Pause());
  std::this_thread::sleep_for(5s);
  ASSERT_TRUE(g.consul().Resume());
  std::string why;
  ASSERT_TRUE(g.WaitConverged(kConverge, &why)) << why;
  // And it stays that way.
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(g.WaitConverged(kConverge, &why)) << why;
}

TEST(Group, WorksWithRedisPasswordAndConsulAclsWithTheDocumentedPolicy) {
  GroupOptions o;
  o.redis_password = "s3cret-redis-pass";
  o.consul.acl = true;
  o.start_agents = false;
  Group g(o);
  ASSERT_TRUE(g.Start().ok());
  auto token = g.consul().CreateToken(
      R"(key_prefix "resec/" { policy = "write" }
         session_prefix "" { policy = "write" }
         service_prefix "" { policy = "write" }
         node_prefix "" { policy = "read" })");
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  for (int i = 0; i < g.size(); ++i) {
    g.agent(i).env()["CONSUL_HTTP_TOKEN"] = *token;
    ASSERT_TRUE(g.StartAgent(i).ok());
  }
  std::string why;
  auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  for (int i = 0; i < g.size(); ++i) {
    const std::string log = g.agent(i).ReadLog();
    EXPECT_EQ(log.find(*token), std::string::npos) << "token leaked in agent " << i;
    EXPECT_EQ(log.find("s3cret-redis-pass"), std::string::npos) << "password leaked in agent " << i;
    auto state = g.agent(i).Get("/state");
    ASSERT_TRUE(state.ok());
    EXPECT_TRUE(json::accept(state->body));
    EXPECT_EQ(state->body.find(*token), std::string::npos);
    EXPECT_EQ(state->body.find("s3cret-redis-pass"), std::string::npos);
  }
}

TEST(Group, TokenWithoutSessionWriteLogsAPermissionErrorAndKeepsRunning) {
  GroupOptions o;
  o.size = 1;
  o.consul.acl = true;
  o.start_agents = false;
  Group g(o);
  ASSERT_TRUE(g.Start().ok());
  auto token = g.consul().CreateToken(
      R"(key_prefix "resec/" { policy = "write" }
         service_prefix "" { policy = "write" }
         node_prefix "" { policy = "read" })");
  ASSERT_TRUE(token.ok());
  g.agent(0).env()["CONSUL_HTTP_TOKEN"] = *token;
  ASSERT_TRUE(g.StartAgent(0).ok());
  ASSERT_TRUE(WaitFor([&] { return g.agent(0).ReadLog().find("Permission denied") != std::string::npos; }, 15s))
      << g.agent(0).ReadLog();
  std::this_thread::sleep_for(3s);
  EXPECT_TRUE(g.agent(0).Running());
  const std::string log = g.agent(0).ReadLog();
  // Once per state change, not once per retry.
  size_t count = 0;
  for (size_t pos = 0; (pos = log.find("create session failed", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_LE(count, 2u) << log;
}

TEST(Group, HealthIsFailWhileAReplicaSyncsAndOkAfter) {
  Group g({});
  auto m = StartAndConverge(g);
  ASSERT_TRUE(m);
  const int r = (*m + 1) % g.size();
  // Make the next full sync last a few seconds.
  ASSERT_TRUE(g.redis(*m).Call({"CONFIG", "SET", "repl-diskless-sync", "yes"}).ok());
  ASSERT_TRUE(g.redis(*m).Call({"CONFIG", "SET", "repl-diskless-sync-delay", "3"}).ok());
  ASSERT_TRUE(WaitFor([&] { return g.agent(r).Get("/health")->status == 200; }, 5s));
  g.redis(r).Kill();
  ASSERT_TRUE(g.redis(r).Restart().ok());  // empty: needs a full sync
  ASSERT_TRUE(WaitFor(
      [&] {
        auto h = g.agent(r).Get("/health");
        // During the (delayed) full sync the replica's link is not up yet.
        return h.ok() && h->status == 503 && h->body == "fail" &&
               g.redis(r).InfoField("replication", "master_link_status") != "up";
      },
      10s));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto h = g.agent(r).Get("/health");
        return h.ok() && h->status == 200 && h->body == "ok";
      },
      20s));
}

TEST(Group, SignalDumpsAndJsonLogs) {
  GroupOptions o;
  o.size = 1;
  o.env["LOG_FORMAT"] = "json";
  o.env["LOG_LEVEL"] = "error";  // dumps are written whatever the level
  Group g(o);
  ASSERT_TRUE(g.Start().ok());
  ASSERT_TRUE(g.WaitConverged(kConverge));
  ASSERT_TRUE(g.agent(0).Signal(SIGUSR1));
  ASSERT_TRUE(WaitFor([&] { return g.agent(0).ReadLog().find("redis state:") != std::string::npos; }, 5s));
  ASSERT_TRUE(g.agent(0).Signal(SIGUSR2));
  ASSERT_TRUE(WaitFor([&] { return g.agent(0).ReadLog().find("reconciler state:") != std::string::npos; }, 5s));
  std::istringstream lines(g.agent(0).ReadLog());
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("===", 0) == 0) continue;  // the launcher's banner
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_TRUE(j.contains("@timestamp") && j.contains("@level") && j.contains("@message")) << line;
    ++parsed;
  }
  EXPECT_GE(parsed, 3);
}

}  // namespace
}  // namespace resec::testing
