// The chaos runner's pure parts: the seeded planner replays, and the
// dual-master detector tells two writable masters from a clean hand-over.
#include <gtest/gtest.h>

#include "dual_master.h"
#include "faults.h"

namespace resec::chaos {
namespace {

using std::chrono::milliseconds;
using testing::Clock;
using testing::Prober;

TEST(FaultPlanner, TheSameSeedDrawsTheSameSequence) {
  const PlannerOptions o{.seed = 7, .kinds = {std::begin(kAllKinds), std::end(kAllKinds)}};
  FaultPlanner a(o), b(o);
  for (int i = 0; i < 200; ++i) {
    const FaultDraw x = a.Next(), y = b.Next();
    SCOPED_TRACE(i);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.duration, y.duration);
    EXPECT_EQ(x.pick, y.pick);
    EXPECT_EQ(x.variant, y.variant);
    EXPECT_EQ(x.overlap, y.overlap);
  }
}

TEST(FaultPlanner, AFrozenAgentOutlastsEveryPauseItSets) {
  FaultPlanner p({.seed = 1, .kinds = {FaultKind::kAgentFreezeLong}});
  for (int i = 0; i < 50; ++i) EXPECT_GT(p.Next().duration, milliseconds(10000));
}

TEST(FaultKinds, EveryKindHasANameThatParsesBack) {
  for (FaultKind k : kAllKinds) EXPECT_EQ(ParseKind(KindName(k)), k) << KindName(k);
}

TEST(FaultKinds, ComposeRestartsLoseDataAndRunAlone) {
  // Compose keeps nothing on disk; systemd's Redis restarts from its snapshot.
  EXPECT_TRUE(LosesData(FaultKind::kRedisRestart, /*redis_keeps_data=*/false));
  EXPECT_FALSE(LosesData(FaultKind::kRedisRestart, /*redis_keeps_data=*/true));
  EXPECT_TRUE(RunsAlone(FaultKind::kHostCrash, false));
  EXPECT_TRUE(LosesData(FaultKind::kRedisRestartEmpty, true));
  EXPECT_FALSE(RunsAlone(FaultKind::kAgentPause, false));
}

// Rounds of a prober with two hosts, built by hand: which host accepted
// which round, with send and answer times relative to `t0`.
struct Accepted {
  int host;
  int sent_ms;
  int answered_ms;
};
Prober::Round MakeRound(int64_t index, Clock::time_point t0, std::vector<Accepted> accepted) {
  Prober::Round r{.index = index};
  for (const Accepted& a : accepted) {
    r.accepted |= 1u << a.host;
    r.when[a.host] = {t0 + milliseconds(a.sent_ms), t0 + milliseconds(a.answered_ms)};
  }
  return r;
}

TEST(DualMasterDetector, AHandOverWithinOneRoundIsNotTwoMasters) {
  // h0 answers its round-1 probe at 21 ms, is paused, h1 is promoted and
  // answers a probe its thread sent late, at 26 ms: the same round, never
  // both writable.
  const auto t0 = Clock::now();
  DualMasterDetector d(2);
  d.Add({MakeRound(0, t0, {{0, 0, 1}}), MakeRound(1, t0, {{0, 20, 21}, {1, 26, 27}}),
         MakeRound(2, t0, {{1, 40, 41}})},
        1);
  d.CloseAll();
  EXPECT_TRUE(d.TakeOverlaps().empty());
}

TEST(DualMasterDetector, TwoHostsAcceptingTogetherOverlap) {
  // h1 (a restarted Redis) accepts rounds 1-3 while h0 accepts every round.
  const auto t0 = Clock::now();
  DualMasterDetector d(2);
  std::vector<Prober::Round> rounds;
  for (int64_t i = 0; i < 6; ++i) {
    std::vector<Accepted> a = {{0, static_cast<int>(i * 20), static_cast<int>(i * 20 + 1)}};
    if (i >= 1 && i <= 3) a.push_back({1, static_cast<int>(i * 20 + 2), static_cast<int>(i * 20 + 3)});
    rounds.push_back(MakeRound(i, t0, a));
  }
  d.Add(rounds, 4);
  const std::vector<DualOverlap> found = d.TakeOverlaps();  // h1's run ended at round 4
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].a, 0);
  EXPECT_EQ(found[0].b, 1);
  EXPECT_EQ(found[0].episode, 4);
  EXPECT_EQ(found[0].from, t0 + milliseconds(22));
  EXPECT_EQ(found[0].to, t0 + milliseconds(63));
  d.CloseAll();
  EXPECT_TRUE(d.TakeOverlaps().empty()) << "each pair of runs is reported once";
}

TEST(DualMasterDetector, OneAcceptedProbeInsideTheMastersRunCounts) {
  const auto t0 = Clock::now();
  DualMasterDetector d(2);
  d.Add({MakeRound(0, t0, {{0, 0, 1}}), MakeRound(1, t0, {{0, 20, 21}, {1, 20, 22}}),
         MakeRound(2, t0, {{0, 40, 41}})},
        1);
  const std::vector<DualOverlap> found = d.TakeOverlaps();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].to - found[0].from, milliseconds(2));  // its send to the answer
}

}  // namespace
}  // namespace resec::chaos
