// The systems under benchmark on loopback, for the footprint benchmark
// (footprint.h): three Redis servers on 127.0.0.1, each paired with a
// "companion" process that watches it (a resec agent, Go or ours, with one
// shared Consul dev agent; or a Redis Sentinel). The failover benchmark runs
// on the production-topology rig instead (rig_system.h); the footprint stays
// here because it needs what the rig does not give: every agent's process in
// reach for /proc sampling, and a Consul whose request log a per-agent relay
// can attribute, without root.
//
// Thread-safety: a BenchSystem belongs to the thread that started it (its
// children die with that thread, see ChildProcess).
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

  // The master's index when the group has converged: exactly one live Redis
  // master, every other live Redis replicating it with its link up, and the
  // system's discovery agreeing (Consul: exactly one passing master service,
  // pointing at it; Sentinel: every sentinel names it).
  virtual std::optional<int> Converged() = 0;
  virtual std::string Describe() = 0;

  virtual std::vector<CompanionProcess> Companions() = 0;
  // Footprint runs of the Consul systems: Consul's log, and which companion
  // a Consul request's source port belongs to. nullopt elsewhere.
  virtual std::optional<std::filesystem::path> ConsulLog() { return std::nullopt; }
  virtual std::optional<int> CompanionOfSourcePort(int /*port*/) const { return std::nullopt; }

 protected:
  // The Redis half of Converged().
  std::optional<int> RedisConverged();
  std::string DescribeRedis();
};

// A system of `options.kind`; resec-go runs the binary in $RESEC_BIN (the
// caller points it there), with the same fixture and Consul as ours; the
// fixture knows it is up from its log, as it has no state server.
std::unique_ptr<BenchSystem> MakeSystem(const SystemOptions& options);

// Fields of an INFO reply ("role" -> "master").
std::vector<std::pair<std::string, std::string>> ParseInfoFields(const std::string& info);
std::string InfoValue(const std::string& info, const std::string& key);

}  // namespace resec::bench
