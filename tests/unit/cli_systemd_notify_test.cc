// The systemd notifier's pure parts: when the agent counts as ready, what
// STATUS says, and when a watchdog ping is withheld.
#include "resec/systemd_notify.h"

#include <gtest/gtest.h>

namespace resec {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(AgentProgress, ReadyAfterTheFirstRealDecision) {
  struct Case {
    std::string name;
    bool decided;
    Rule rule;
    bool ready;
  };
  const std::vector<Case> cases = {
      {"nothing decided yet", false, Rule::kWaitForInitialState, false},
      {"still waiting for both watchers", true, Rule::kWaitForInitialState, false},
      {"Consul unreachable is a decision (systemd would only restart us into the same wait)", true,
       Rule::kConsulUnreachable, true},
      {"master", true, Rule::kMasterKeepsLock, true},
      {"replica", true, Rule::kReplicaHealthy, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BoardSnapshot snap;
    snap.decided = c.decided;
    snap.decision.rule = c.rule;
    EXPECT_EQ(AgentProgress(snap).ready, c.ready);
  }
}

TEST(AgentProgress, StatusNamesRoleLockAndRule) {
  BoardSnapshot snap;
  snap.decided = true;
  snap.decision.rule = Rule::kMasterKeepsLock;
  snap.redis.role = RedisRole::kMaster;
  snap.consul.lock_held = true;
  snap.counters.reconciles = 42;
  const auto p = AgentProgress(snap);
  EXPECT_EQ(p.status, "master, lock held: master-keeps-lock");
  EXPECT_EQ(p.decisions, 42u);
  snap.redis.role = RedisRole::kReplica;
  snap.consul.lock_held = false;
  snap.decision.rule = Rule::kReplicaHealthy;
  EXPECT_EQ(AgentProgress(snap).status, "slave, lock held by another: replica-healthy");
  snap.consul.lock_free = true;
  EXPECT_EQ(AgentProgress(snap).status, "slave, lock free: replica-healthy");
}

TEST(SystemdNotifier, OutsideSystemdItIsInert) {
  // The test process has no NOTIFY_SOCKET (systemd never runs the tests).
  if (std::getenv("NOTIFY_SOCKET") != nullptr) GTEST_SKIP() << "running under a notify-type unit";
  SystemdNotifier notifier;
  EXPECT_FALSE(notifier.enabled());
  EXPECT_EQ(notifier.watchdog_interval().count(), 0);
  notifier.Update(SystemdNotifier::Progress{.ready = true}, steady_clock::now());
  // No watchdog to keep the loop awake for.
  EXPECT_FALSE(notifier.NextPing().has_value());
  notifier.Stopping();
}

}  // namespace
}  // namespace resec
