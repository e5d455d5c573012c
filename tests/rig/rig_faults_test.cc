// The rig's own faults do what they say (tests/support/rig.h), so a rig test
// that injects one can trust it: a partition cuts the bridge but not the
// management path, a one-way drop cuts one direction, a frozen host answers
// nothing, a Consul leader kill elects another, a clock step reaches the agent.
#include <gtest/gtest.h>

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/netns.h"
#include "support/redis_conn.h"
#include "support/rig.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;

// A host that answers, answers a local request within milliseconds; 300 ms
// is long enough for a loaded machine and short enough to wait out a cut.
constexpr auto kReach = 300ms;
// After a heal: a neighbour entry that failed during the cut is resolved
// again within Linux's ARP retransmit time (1 s), twice for margin.
constexpr auto kHealed = 2s;

bool ReachableFromRoot(const std::string& ip, int port) {
  return RedisConn::Connect(ip, port, kReach, kReach) != nullptr;
}

TEST(RigFaults, EachFaultActsOnWhatItNames) {
  Rig rig({.hosts = 2, .faketime = true});
  Status st = rig.Start();
  if (!st.ok() && std::getenv("RESEC_RIG_SKIP") != nullptr) GTEST_SKIP() << st.message();
  ASSERT_TRUE(st.ok()) << st.message();
  std::string why;
  // The first election of a fresh rig (see production_topology_test.cc).
  ASSERT_TRUE(rig.WaitConverged(90s, &why)) << why;

  // A partition cuts the bridge, not the management path.
  ASSERT_TRUE(ReachableFromRoot(rig.host(0).ip, Rig::kRedisPort));
  ASSERT_TRUE(rig.PartitionHost(0).ok());
  EXPECT_FALSE(ReachableFromRoot(rig.host(0).ip, Rig::kRedisPort));
  EXPECT_EQ(rig.Redis(0, {"PING"}).value_or(""), "PONG");
  ASSERT_TRUE(rig.HealHost(0).ok());
  // The probe during the cut left the root namespace's neighbour entry for
  // host 0 failed; Linux resolves it again on its next ARP probe, up to a
  // second later (neigh retrans_time_ms).
  EXPECT_TRUE(WaitFor([&] { return ReachableFromRoot(rig.host(0).ip, Rig::kRedisPort); }, kHealed));

  // A one-way drop: host 1 no longer hears the bridge's address, while
  // host 1's own outbound packets to elsewhere still flow.
  ASSERT_TRUE(rig.DropFrom(1, rig.network().bridge_ip()).ok());
  EXPECT_FALSE(ReachableFromRoot(rig.host(1).ip, Rig::kRedisPort));
  // (Host 1 itself lost host 0 during the cut: its neighbour entry too may
  // take up to a second to resolve again.)
  EXPECT_TRUE(WaitFor(
      [&] {
        auto out = InNetns(rig.host(1).ns, [&] {
          return RedisOnce(rig.host(0).ip, Rig::kRedisPort, {"PING"}, kReach);
        });
        return out.value_or("") == "PONG";
      },
      kHealed));
  ASSERT_TRUE(rig.ClearDrops(1).ok());
  EXPECT_TRUE(ReachableFromRoot(rig.host(1).ip, Rig::kRedisPort));

  // A frozen host answers nothing until thawed.
  ASSERT_TRUE(rig.FreezeHost(1).ok());
  EXPECT_FALSE(rig.Redis(1, {"PING"}, kReach).ok());
  rig.ThawHost(1);
  EXPECT_TRUE(WaitFor([&] { return rig.Redis(1, {"PING"}, kReach).ok(); }, 5s));

  // A clock step reaches the agent: the line a SIGUSR1 dump logs carries
  // the stepped wall clock (text logs start with the UTC time).
  ASSERT_TRUE(rig.StepAgentClock(0, std::chrono::hours(24)).ok());
  std::this_thread::sleep_for(1s);  // let the agent's next log line come from the stepped clock
  ASSERT_TRUE(rig.DumpAgentState(0));
  const std::string today = [] {
    std::time_t t = std::time(nullptr);
    char buf[16];
    std::strftime(buf, sizeof(buf), "%Y-%m-%d", std::gmtime(&t));
    return std::string(buf);
  }();
  // The dump's lines land a moment after the signal: read until they have.
  std::string last;
  const bool dumped = WaitFor(
      [&] {
        std::ifstream log(rig.agent_log(0));
        for (std::string line; std::getline(log, line);) {
          if (line.find("consul state:") != std::string::npos) last = line;
        }
        return !last.empty() && last.substr(0, 10) != today;
      },
      5s);
  EXPECT_TRUE(dumped) << "the agent's clock did not step: " << last;

  // Killing the Consul leader elects another; it rejoins when restarted.
  std::optional<int> leader = rig.ConsulLeaderServer();
  ASSERT_TRUE(leader);
  rig.KillConsulServer(*leader);
  EXPECT_TRUE(WaitFor(
      [&] {
        std::optional<int> l = rig.ConsulLeaderServer();
        return l && *l != *leader;
      },
      30s));
  ASSERT_TRUE(rig.StartConsulServer(*leader).ok());

  // An operator's command runs on a host with its agent's settings (the
  // Consul client may first try the server that just came back, which
  // refuses until it listens: retry as an operator would).
  CommandResult status;
  EXPECT_TRUE(WaitFor(
      [&] {
        status = rig.RunResec(0, {"status"});
        return status.exit.code == 0;
      },
      20s, 500ms))
      << status.output;
  EXPECT_NE(status.output.find("LOCK"), std::string::npos) << status.output;
}

}  // namespace
}  // namespace resec::testing
