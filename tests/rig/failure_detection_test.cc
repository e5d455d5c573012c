// Issue #15 on the production-topology rig: with the peer protocol on, the
// group notices a lost host itself (no waiting for Consul's Serf), an
// isolated master stops taking writes before another master takes any, and
// Consul's own trouble (a leader election, the master's Consul agent
// restarting) moves nothing. docs/failure-detection.md explains the design.
// Figures (how fast, how long a stall) come from the benchmark; these tests
// hold the properties, with bounds only where a bound is the property.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "support/rig.h"
#include "support/rig_checks.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Every member of a rig group shares it.
constexpr char kPeerToken[] = "rig-failure-detection-token";

Rig PeerRig(int hosts = 3) { return Rig({.hosts = hosts, .agent_env = {{"PEER_TOKEN", kPeerToken}}}); }

// Consul's Serf alone cannot declare a crashed host failed in less than
// this: a failed probe starts suspicion (1-2 s on a quiet LAN), which lasts
// at least 4 s (suspicion_mult 4 x 1 s probe interval) before the node's
// sessions go. A new master within it was chosen by the group itself.
constexpr auto kFasterThanSerf = 3s;

int64_t WriterNowMs(Clock::time_point origin) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - origin).count();
}

TEST(FailureDetection, AHostCrashIsNoticedByTheGroupNotBySerf) {
  Rig rig = PeerRig();
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  auto writer = rig.MakeWriter(Clock::now());
  writer->Start();
  ASSERT_TRUE(WaitForWaitAcks(*writer, 100, 30s));
  const auto crashed_at = Clock::now();
  rig.CrashHost(master);
  const int next = WaitForMasterElsewhere(rig, master, 20s);
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - crashed_at);
  std::printf("[ rig      ] a passing master elsewhere %lld ms after the host crash\n",
              static_cast<long long>(took.count()));
  ASSERT_GE(next, 0) << "no new master after the host crash";
  EXPECT_LT(took, kFasterThanSerf);
  ASSERT_TRUE(WaitForWaitAcks(*writer, 100, 30s)) << "writes did not resume on the new master";
  ASSERT_TRUE(rig.StartHost(master).ok());
  std::string why;
  std::optional<int> m = rig.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  ExpectNoWaitAckedWriteLost(rig, *writer, *m);
}

TEST(FailureDetection, AnIsolatedMasterRefusesWritesBeforeAnotherAcceptsOne) {
  Rig rig = PeerRig();
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  auto writer = rig.MakeWriter(Clock::now());
  writer->Start();
  ASSERT_TRUE(WaitForWaitAcks(*writer, 100, 30s));
  auto prober = StartProber(rig, master);
  // Cut the master's host off the Consul servers and the other hosts, both
  // ways; clients (the bridge, the prober's management path) still reach it.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(rig.DropFrom(master, rig.server(i).ip).ok());
    ASSERT_TRUE(rig.DropTo(master, rig.server(i).ip).ok());
  }
  for (int k = 0; k < rig.hosts(); ++k) {
    if (k == master) continue;
    ASSERT_TRUE(rig.DropFrom(master, rig.host(k).ip).ok());
    ASSERT_TRUE(rig.DropTo(master, rig.host(k).ip).ok());
  }
  const int next = WaitForMasterElsewhere(rig, master, 20s);
  ASSERT_GE(next, 0) << "the group did not replace its isolated master";
  // The new master takes writes while the old one, still reachable by
  // clients, refuses them.
  ASSERT_TRUE(WaitFor([&] { return prober->LastAccepted(next).has_value(); }, 10s));
  std::this_thread::sleep_for(2s);
  std::string which;
  const int64_t dual = LongestDualWritableMs(*prober, &which);
  std::printf("[ rig      ] longest two-writable-masters window %lld ms\n", static_cast<long long>(dual));
  EXPECT_EQ(dual, 0) << which;
  // Healed, the old master rejoins as a replica of the new one.
  ASSERT_TRUE(rig.ClearDrops(master).ok());
  std::string why;
  std::optional<int> m = rig.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  EXPECT_EQ(LongestDualWritableMs(*prober, &which), 0) << which;
  prober->Stop();
  ExpectNoWaitAckedWriteLost(rig, *writer, *m);
}

// Kills the Consul server that leads Raft and brings it back, or restarts
// the master host's Consul client agent; either way the master keeps
// writing, stays the master, and loses nothing.
void ExpectConsulTroubleMovesNothing(bool leader_kill) {
  Rig rig = PeerRig();
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (::testing::Test::IsSkipped()) return;
  const auto origin = Clock::now();
  auto writer = rig.MakeWriter(origin);
  writer->Start();
  ASSERT_TRUE(WaitForWaitAcks(*writer, 100, 30s));
  const int64_t from_ms = WriterNowMs(origin);
  if (leader_kill) {
    std::optional<int> leader = rig.ConsulLeaderServer();
    ASSERT_TRUE(leader);
    rig.KillConsulServer(*leader);
    // An election, then a while without the old leader.
    std::this_thread::sleep_for(8s);
    ASSERT_TRUE(rig.StartConsulServer(*leader).ok());
  } else {
    ASSERT_TRUE(rig.RestartConsulClient(master).ok());
  }
  std::this_thread::sleep_for(5s);
  const milliseconds gap = LongestWriteGap(*writer, from_ms);
  std::printf("[ rig      ] longest write gap %lld ms\n", static_cast<long long>(gap.count()));
  // The writer itself pauses a little between writes (2 ms) and a reply
  // can take tens of milliseconds on this machine; a stall of a lease
  // (a fenced master) or a failover would be a second or more.
  EXPECT_LT(gap, 1s);
  std::string why;
  std::optional<int> m = rig.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  EXPECT_EQ(*m, master) << "the master moved";
  ExpectNothingLost(rig, *writer, *m, 0);
}

TEST(FailureDetection, AConsulLeaderElectionMovesNothing) { ExpectConsulTroubleMovesNothing(true); }

TEST(FailureDetection, RestartingTheMastersConsulAgentMovesNothing) { ExpectConsulTroubleMovesNothing(false); }

}  // namespace
}  // namespace resec::testing
