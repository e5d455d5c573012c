// The systems under benchmark, behind one interface: three Redis servers on
// loopback, each paired with a "companion" process that watches it (a resec
// agent, Go or ours, with one shared Consul dev agent; or a Redis Sentinel).
// The failover runner injects faults through this interface, asks whether the
// group has converged, and gets a MasterDiscovery that finds the master the
// way that system's clients do.
//
// Thread-safety: a BenchSystem belongs to the thread that started it (its
// children die with that thread, see ChildProcess). A MasterDiscovery holds
// only ports and may be used from one other thread, concurrently with the
// owner's calls.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "resec/status.h"
#include "settings.h"
#include "support/redis_server.h"

namespace resec::bench {

// Finds the current master as the system's clients would.
class MasterDiscovery {
 public:
  virtual ~MasterDiscovery() = default;
  // The port of the master the system advertises now, or nullopt when it
  // advertises none or cannot be asked (the client then keeps what it has).
  // Blocks at most about 1.5 s.
  virtual std::optional<int> Next() = 0;
};

struct SystemOptions {
  SystemKind kind = SystemKind::kResec;
  Mode mode = Mode::kTuned;
  // Footprint runs: each agent reaches Consul through its own TCP relay so
  // Consul's request log can be attributed to it, and Consul logs at debug.
  bool count_consul_requests = false;
};

// One agent's or sentinel's process, for footprint sampling.
struct CompanionProcess {
  std::string name;
  pid_t pid = -1;
};

class BenchSystem {
 public:
  virtual ~BenchSystem() = default;

  // Starts everything and waits (up to kStartTimeout) for a converged group.
  virtual Status Start() = 0;

  int size() const { return 3; }
  virtual testing::RedisServer& redis(int i) = 0;
  int RedisPort(int i) { return redis(i).port(); }
  // A fresh discovery for a client thread.
  virtual std::unique_ptr<MasterDiscovery> MakeDiscovery() = 0;

  // The master's index when the group has converged: exactly one live Redis
  // master, every other live Redis replicating it with its link up, and the
  // system's discovery agreeing (Consul: exactly one passing master service,
  // pointing at it; Sentinel: every live sentinel names it). "Live" excludes
  // killed and SIGSTOPped processes.
  virtual std::optional<int> Converged() = 0;
  virtual std::string Describe() = 0;

  // Fault injection and recovery on node i (Redis i and its companion).
  Status KillRedis(int i);
  Status StartRedis(int i);
  Status PauseRedis(int i);
  Status ResumeRedis(int i);
  virtual Status KillCompanion(int i) = 0;
  virtual Status StartCompanion(int i) = 0;
  virtual Status PauseCompanion(int i) = 0;
  virtual Status ResumeCompanion(int i) = 0;
  // A planned switchover away from `master`.
  virtual Status BeginSwitchover(int master) = 0;
  // The switchover's recovery step (restart the stopped agent); false means
  // "not yet, call again"; with last_chance it must finish (kill if needed).
  virtual StatusOr<bool> FinishSwitchover(int master, bool last_chance) = 0;

  virtual std::vector<CompanionProcess> Companions() = 0;
  // Footprint runs of the Consul systems: Consul's log, and which companion
  // a Consul request's source port belongs to. nullopt elsewhere.
  virtual std::optional<std::filesystem::path> ConsulLog() { return std::nullopt; }
  virtual std::optional<int> CompanionOfSourcePort(int /*port*/) const { return std::nullopt; }
  // Copies every process log into `dest` (for a failed run).
  virtual void CopyLogs(const std::filesystem::path& dest) = 0;

 protected:
  bool RedisLive(int i);
  // The Redis half of Converged().
  std::optional<int> RedisConverged();
  std::string DescribeRedis();
};

// A system of `options.kind`; resec-go runs the binary in $RESEC_BIN (the
// caller points it there), with the same fixture, Consul and discovery as
// ours; the fixture knows it is up from its log, as it has no state server.
std::unique_ptr<BenchSystem> MakeSystem(const SystemOptions& options);

// Fields of an INFO reply ("role" -> "master").
std::vector<std::pair<std::string, std::string>> ParseInfoFields(const std::string& info);
std::string InfoValue(const std::string& info, const std::string& key);

}  // namespace resec::bench
