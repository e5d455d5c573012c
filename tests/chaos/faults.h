// The chaos runner's fault menu and its seeded planner.
//
// Each kind is one row of a table (faults.cc): its name, what it acts on (a
// host, a Consul server, every host or every server in turn), which of the
// target's processes and links it touches (two overlapping faults never touch
// the same one), and what it costs the group (an agent nobody can fence with,
// Redis data thrown away, a master that may lose the writes it had not yet
// replicated). How each is injected on the rig is in injector.h.
//
// A FaultDraw is everything random about one fault, drawn up front from the
// seed in a fixed order whatever happens at run time, so `--seed S` replays
// the same sequence of kinds, durations, targets ("the master" or "another
// member", plus which one), variants and overlaps. Which host that is
// concretely depends on where the master is when the fault starts, and is
// logged.
//
// Thread-safety: value types and pure functions; a FaultPlanner belongs to
// one thread.
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
  // Redis alone.
  kRedisRestart,       // SIGKILL redis-server, restart it with whatever it has on disk
  kRedisRestartEmpty,  // SIGKILL redis-server, delete its data, restart it empty
  kRedisKillFenced,    // SIGKILL redis-server, restart it with --min-replicas-to-write 1
  kRedisPause,         // SIGSTOP redis-server, SIGCONT
  kSlowRdbLoad,        // SAVE, SIGKILL, restart loading the snapshot slowly (key-load-delay)
  kFullResync,         // a replica restarted empty full-syncs, slowly (rdb-key-save-delay), under writes
  kRollingRestart,     // every host in turn: SIGTERM the agent (it hands over), restart Redis, start the agent
  // The agent alone.
  kAgentRestart,     // SIGKILL resec, restart it
  kAgentPause,       // SIGSTOP resec for seconds, SIGCONT
  kAgentFreezeLong,  // SIGSTOP resec longer than any write pause it or its peers set (> 10 s)
  kClockStep,        // the agent's clocks (wall and monotonic) jump forwards
  kSwitchover,       // `resec switchover`, sometimes while a replica full-syncs
  // The whole host.
  kHostCrash,       // SIGKILL Consul client, Redis and resec at once; boot the host again
  kHostCrashEmpty,  // the same, Redis' data gone (a replaced disk)
  kHostFreeze,      // SIGSTOP all three, SIGCONT
  kHostPartition,   // the host's link down, up
  kOneWayDrop,      // nftables drops one direction of the host's traffic
  kConsulClientRestart,  // the host's Consul client stopped (leave or crash), started again
  // Consul servers.
  kConsulServerKill,     // SIGKILL one server, start it again
  kConsulLeaderKill,     // SIGKILL the Raft leader, start it again
  kConsulRollingRestart, // every server in turn: SIGTERM, start, wait for its leader
};

inline constexpr FaultKind kAllKinds[] = {
    FaultKind::kRedisRestart,     FaultKind::kRedisRestartEmpty,   FaultKind::kRedisKillFenced,
    FaultKind::kRedisPause,       FaultKind::kSlowRdbLoad,         FaultKind::kFullResync,
    FaultKind::kRollingRestart,   FaultKind::kAgentRestart,        FaultKind::kAgentPause,
    FaultKind::kAgentFreezeLong,  FaultKind::kClockStep,           FaultKind::kSwitchover,
    FaultKind::kHostCrash,        FaultKind::kHostCrashEmpty,      FaultKind::kHostFreeze,
    FaultKind::kHostPartition,    FaultKind::kOneWayDrop,          FaultKind::kConsulClientRestart,
    FaultKind::kConsulServerKill, FaultKind::kConsulLeaderKill,    FaultKind::kConsulRollingRestart,
};

// What a fault acts on.
enum class Target {
  kHost,        // one host (the master's or another, as drawn)
  kReplica,     // one host that is not the master
  kServer,      // one Consul server (kConsulLeaderKill: the leader)
  kAllHosts,    // every host in turn
  kAllServers,  // every server in turn
};

// A host's processes and links, as bits: overlapping faults on one host act
// on disjoint sets.
inline constexpr unsigned kUsesRedis = 1, kUsesAgent = 2, kUsesConsulClient = 4, kUsesLink = 8, kUsesClock = 16;

std::string_view KindName(FaultKind k);
std::optional<FaultKind> ParseKind(std::string_view s);
Target TargetOf(FaultKind k);
unsigned Resources(FaultKind k);
// The agent is dead or stopped while the fault lasts: nobody fences its Redis
// but min-replicas-to-write (I1's excuse).
bool ImpairsAgent(FaultKind k);
// Redis restarts without the data it held (`redis_keeps_data`: the
// deployment persists it, as systemd's RDB snapshots do; compose keeps
// nothing). Survivable only while the others hold everything: such a fault
// never overlaps another.
bool LosesData(FaultKind k, bool redis_keeps_data);
// Never overlaps another fault: it takes a while and needs the rest of the
// group healthy (a full sync, a rolling restart, a switchover).
bool RunsAlone(FaultKind k, bool redis_keeps_data);
// On the master's host it stops, kills or cuts off the master's Redis, which
// may then lose writes it acknowledged but had not yet replicated (Redis'
// replication is asynchronous: WAIT says which writes are safe).
bool MayLoseUnreplicatedWrites(FaultKind k);

struct FaultDraw {
  int number = 0;  // 1-based position in the run
  FaultKind kind = FaultKind::kRedisRestart;
  bool target_master = false;  // the master's host, else another member
  double pick = 0;             // which of the others, in [0, 1)
  double variant = 0;          // the kind's own choice (direction, step size, ...), in [0, 1)
  double variant2 = 0;         // a second one
  std::chrono::milliseconds duration{0};
  bool overlap = false;   // the next fault starts before this one heals
  double overlap_at = 0;  // ... at this fraction of this one's duration
};

struct PlannerOptions {
  uint64_t seed = 1;
  double overlap = 0.2;
  std::chrono::milliseconds min_duration{1000};
  std::chrono::milliseconds max_duration{4000};
  std::vector<FaultKind> kinds;  // those that may be drawn
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
