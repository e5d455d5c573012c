// The chaos runner's fault menu and its seeded planner.
//
// A FaultDraw is everything random about one fault, drawn up front from the
// seed in a fixed order whatever happens at run time, so `--seed S` replays
// the same sequence of kinds, durations, targets ("the master" or "another
// node", plus which one) and overlaps. Which node that is concretely depends
// on where the master is when the fault starts, and is logged.
//
// Thread-safety: value types; a FaultPlanner belongs to one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace resec::chaos {

enum class FaultKind {
  kRedisRestart,       // SIGKILL redis-server, restart it with its data (AOF)
  kRedisRestartEmpty,  // SIGKILL redis-server, delete its data, restart it empty
  kAgentRestart,       // SIGKILL resec, restart it
  kNodeRestart,        // SIGKILL both, restart both (Redis with its data)
  kNodeRestartEmpty,   // SIGKILL both, delete Redis' data, restart both
  kRedisPause,         // SIGSTOP redis-server, SIGCONT
  kAgentPause,         // SIGSTOP resec, SIGCONT
  kConsulLeaderKill,   // SIGKILL the Consul server that is Raft leader, restart it
  kConsulRestart,      // SIGTERM a Consul server, start it again
  kPartition,          // cut a node off the network (Redis, agent and Consul server together), restore
};

inline constexpr FaultKind kAllKinds[] = {
    FaultKind::kRedisRestart, FaultKind::kRedisRestartEmpty, FaultKind::kAgentRestart,
    FaultKind::kNodeRestart,  FaultKind::kRedisPause,        FaultKind::kAgentPause,
    FaultKind::kConsulLeaderKill, FaultKind::kConsulRestart, FaultKind::kPartition,
    FaultKind::kNodeRestartEmpty,
};

std::string_view KindName(FaultKind k);
std::optional<FaultKind> ParseKind(std::string_view s);

// What the fault leaves impaired on its node while it lasts.
bool ImpairsAgent(FaultKind k);   // the agent is dead or stopped: nobody fences its Redis
bool IsConsulFault(FaultKind k);  // the node is chosen by Consul role (leader) or as a server
// Restarts a Redis without its data: survivable only while the other two
// nodes hold everything, so it never overlaps another fault.
bool LosesData(FaultKind k);

struct FaultDraw {
  int number = 0;  // 1-based position in the run
  FaultKind kind = FaultKind::kRedisRestart;
  bool target_master = false;  // the master's node, else one of the others
  double pick = 0;             // which of the others, in [0, 1)
  std::chrono::milliseconds duration{0};
  bool overlap = false;    // the next fault starts before this one heals
  double overlap_at = 0;   // ... at this fraction of this one's duration
};

struct PlannerOptions {
  uint64_t seed = 1;
  double overlap = 0.2;
  std::chrono::milliseconds min_duration{1000};
  std::chrono::milliseconds max_duration{4000};
  // Kinds that may be drawn (partition is left out on loopback).
  std::vector<FaultKind> kinds;
};

class FaultPlanner {
 public:
  explicit FaultPlanner(PlannerOptions options);
  // The next fault; the same sequence for the same options.
  FaultDraw Next();

 private:
  PlannerOptions options_;
  std::mt19937_64 rng_;
  int count_ = 0;
};

}  // namespace resec::chaos
