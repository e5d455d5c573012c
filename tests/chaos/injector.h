// FaultInjector: how each fault kind (faults.h) is done to the rig and
// undone, and what the group's processes are expected to be doing meanwhile.
//
// A fault is a small state machine. Inject() starts it; once its drawn
// duration is over the runner calls Advance() every tick until the fault
// reports itself healed (ActiveFault::healed). Most heal in one step (start
// the process again, SIGCONT, link up); some wait on the group between steps
// without blocking the runner (a slow load, a full sync, a rolling restart
// that lets the group converge before the next host). A step that starts a
// process waits until it answers, as the rig's Start* methods do (a booting
// host: its Consul client joined, Redis loaded, the agent's state server up).
//
// The injector keeps, per host, what the runner's invariants need to judge
// what they see: which processes ought to run (I4: anything else that exits
// did so on its own), when an agent was dead or stopped (I1's excuse), when a
// Redis came back, which hosts are cut off, when an agent's no-promotion
// cool-down (TILT) ends, and each agent's clock offset.
//
// Thread-safety: owned by the runner's main thread, which must also own the
// rig (processes die with the thread that started them).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faults.h"
#include "resec/status.h"
#include "support/rig.h"

namespace resec::chaos {

using Tp = testing::Clock::time_point;

struct ActiveFault {
  FaultDraw draw;
  FaultKind kind = FaultKind::kRedisRestart;
  int target = -1;  // host (or server) index; -1 for the multi-member kinds
  int master = -1;  // the master's host when the fault started
  std::string role;
  std::string note;  // what happened beyond the plan (a switchover's answer, ...)
  int episode = 0;
  Tp start;
  Tp injected;  // the fault fully in place
  Tp heal_at;
  std::optional<Tp> healed;
  // Progress of the multi-step kinds.
  int phase = 0;
  size_t step = 0;
  std::vector<int> order;  // rolling restarts: the members in turn
  int helper = -1;         // the replica a switchover makes resync
  Tp step_started;         // when the current step of a rolling restart began
  Tp deadline;             // the current wait gives up here
  Tp next_look;            // waits look at the group this often
};

struct InjectorOptions {
  // Keys of the data set (key:0..), to tell a finished full sync.
  int64_t keys = 0;
  // Microseconds per key for the slow kinds (key-load-delay,
  // rdb-key-save-delay).
  int slow_us = 200;
  // How long a waiting step may take before it is a failure: a rolling
  // restart's convergence after each host (I2's bound), a slow load or sync.
  std::chrono::milliseconds converge_bound{0};
  std::chrono::milliseconds slow_bound{0};
};

// Per host, for the invariants.
struct HostWatch {
  bool agent_expected = true;
  bool redis_expected = true;
  bool consul_expected = true;
  std::vector<std::pair<Tp, Tp>> agent_down;  // [from, to]; to = Tp::max() while down
  std::optional<Tp> redis_back;               // when its Redis last came back
  std::string redis_back_how;
  bool cut = false;    // its link is down or drops traffic
  Tp tilt_until{};     // its agent makes no promotion before this
  std::chrono::seconds clock_offset{0};
};

class FaultInjector {
 public:
  // report(invariant, fault number, message): a violation a fault's own step
  // found (an agent that did not exit 0 on SIGTERM, a rolling restart that
  // did not converge). log(line): the timeline.
  using Report = std::function<void(const std::string&, int, const std::string&)>;
  using Log = std::function<void(const std::string&)>;
  FaultInjector(testing::Rig& rig, InjectorOptions options, Report report, Log log);

  // Starts f (kind, target and master set).
  Status Inject(ActiveFault& f);
  // Takes f's next step; f.healed is set by the last one.
  Status Advance(ActiveFault& f);
  // "h2", "s1", "every host".
  std::string TargetName(const ActiveFault& f) const;

  HostWatch& host(int k) { return hosts_.at(static_cast<size_t>(k)); }
  const HostWatch& host(int k) const { return hosts_.at(static_cast<size_t>(k)); }
  // Whether Consul server i ought to run.
  bool& server_expected(int i) { return servers_expected_.at(static_cast<size_t>(i)).expected; }
  // Dead or stopped at some point in [from, to], or back less than the
  // comeback grace before `from`.
  bool AgentDownDuring(int k, Tp from, Tp to) const;
  void MarkAgentDown(int k);
  void MarkAgentBack(int k);

 private:
  // One step of each multi-step kind; true once the fault is healed.
  StatusOr<bool> StepSlowLoad(ActiveFault& f);
  StatusOr<bool> StepFullResync(ActiveFault& f);
  StatusOr<bool> StepSwitchover(ActiveFault& f);
  StatusOr<bool> StepRollingRestart(ActiveFault& f);
  StatusOr<bool> StepServerRollingRestart(ActiveFault& f);
  // Restarts host k's Redis (as `how` says), recording its comeback.
  Status StartRedis(int k, const testing::RedisStart& how, const std::string& why);
  // `resec switchover` on the master's host; the answer goes to f.note.
  void RunSwitchover(ActiveFault& f);
  // Host k's Consul client joins the servers again (PUT /v1/agent/join), as
  // an operator or a configuration management run would once the host is
  // back: after a cut long enough for Serf to declare a member failed, Serf
  // retries it only every 30 s, and only with a probability of failed over
  // live members, so rejoining on its own takes from seconds to minutes.
  void RejoinConsul(int k);
  // rdb-key-save-delay on every host (0: off).
  void SetSaveDelay(int us);
  // The peers a one-way drop cuts host k from.
  std::vector<std::string> DropPeers(int k, bool servers_only) const;
  // The hosts other than `master`, the one at `pick` first.
  std::vector<int> Others(int master, double pick) const;
  bool Synced(int k) const;  // a replica with its link up, no sync running, every key

  testing::Rig& rig_;
  InjectorOptions options_;
  Report report_;
  Log log_;
  std::vector<HostWatch> hosts_;
  struct ServerWatch {
    bool expected = true;
  };
  std::vector<ServerWatch> servers_expected_;
  std::string bridge_ip_;  // the group's clients (the writer) live behind it
};

}  // namespace resec::chaos
