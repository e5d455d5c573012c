// The chaos run on the production-topology rig (tests/support/rig.h): hosts
// with a Consul client each, three Consul servers, Redis on 6379 and resec
// configured as examples/systemd or examples/docker-compose configure it, a
// data set, a writer and a prober. The runner injects the planned faults one
// episode at a time (a fault, sometimes a second one overlapping it) and
// checks the invariants continuously:
//
//   I1  dual master: the prober's rounds in which two or more Redis servers
//       accepted a write. None may occur while every accepting server's agent
//       is alive; a window is excused up to MIN_REPLICAS_MAX_LAG + 2 s only
//       when an accepting server other than the lock holder had its agent
//       dead or stopped (or back less than a second before), since then
//       nobody is left to fence that Redis but min-replicas-to-write.
//   I2  convergence: after every heal, within the converge bound (by default
//       2 x CONSUL_LOCK_TTL + CONSUL_CHECK_TTL + CONSUL_LOCK_DELAY + 5 s: a
//       session nobody renews is invalidated by Consul between one and two
//       TTLs, then the lock-delay runs, then Redis and the catalog catch up),
//       the group converges (convergence.h) and its master accepts a probe
//       write.
//   I3  no acknowledged write lost: checked on the master after every
//       converged heal (the writes since the previous check) and in full at
//       the end. A WAIT-acknowledged write may never be lost. A write
//       acknowledged without WAIT's confirmation may be lost only in an
//       episode whose fault stopped, killed or cut off the master's Redis
//       (Redis replicates asynchronously; such losses are counted per class,
//       not excused anywhere else).
//   I4  agents: no agent exits unless the runner stopped it; a stopped agent
//       exits 0 on SIGTERM; no sanitizer report in an agent's log; at the
//       end, as many lock sessions as agents.
//   I5  promotions: a member that becomes the group's master (a replica
//       promoted, or a Redis its agent made master from boot) was not in a
//       full sync or loading when promoted (INFO of every host, every 50 ms,
//       confirmed in its Redis log), and holds every key of the data set and
//       every write WAIT-acknowledged before it was last seen a replica (or
//       before it started).
//
// Thread-safety: RunChaos runs on the main thread, which must outlive every
// child process it starts; `stop` may be set from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "faults.h"
#include "support/rig.h"

namespace resec::chaos {

struct RunnerOptions {
  int faults = 20;
  uint64_t seed = 1;
  double overlap = 0.2;
  // The rig's variant (RigOptions).
  testing::DeploymentStyle style = testing::DeploymentStyle::kSystemd;
  int hosts = 3;
  testing::RedisAddrForm redis_addr = testing::RedisAddrForm::kExample;
  bool announce = false;
  // On top of the example's settings, for every agent.
  std::map<std::string, std::string> agent_env;
  std::string resec_bin;
  // The data set the master holds from the start: key:0..keys-1, each
  // `value_bytes` long; and the per-key delay (microseconds) of the slow
  // kinds (a slow RDB load, a slow full sync).
  int64_t keys = 20000;
  size_t value_bytes = 100;
  int slow_us = 200;
  std::filesystem::path out_json;  // "" for none
  bool keep_dir = false;           // keep the run directory even when the run passes
  std::chrono::milliseconds min_fault{1000};
  std::chrono::milliseconds max_fault{4000};
  std::optional<std::chrono::milliseconds> converge_timeout;  // default: from the settings
  std::vector<FaultKind> kinds;                                // empty: all
  std::string replay_command;  // printed with a violation
};

// Returns the exit code: 0 no violation, 1 violations, 3 the runner could not
// run (setup failed, the group never recovered), 130 interrupted.
int RunChaos(const RunnerOptions& options, const std::atomic<bool>& stop);

}  // namespace resec::chaos
