// The chaos run: sets up the network and the cluster, injects the planned
// faults one episode at a time (a fault, sometimes a second one overlapping
// it), and checks the invariants continuously:
//
//   I1  dual master: the prober's rounds in which two or more Redis servers
//       accepted a write. None may occur while every accepting server's agent
//       is alive; a window is excused up to MIN_REPLICAS_MAX_LAG + 2 s only
//       when an accepting server's agent was dead or stopped (or restarted or
//       resumed less than 3 s before), since then nobody is left to fence that
//       Redis but min-replicas-to-write.
//   I2  convergence: after every heal, within the converge bound (by default
//       2 x CONSUL_LOCK_TTL + CONSUL_CHECK_TTL + CONSUL_LOCK_DELAY + 5 s: a
//       session nobody renews is invalidated by Consul between one and two
//       TTLs, then the lock-delay runs, then Redis and the catalog catch up),
//       the cluster converges (Cluster::Converged) and its master accepts a
//       probe write.
//   I3  no WAIT-acknowledged write lost: checked from the master after every
//       converged heal (the writes since the previous check) and in full at
//       the end.
//   I4  no agent exits unless the runner killed it; no sanitizer report in an
//       agent's log; at the end, as many lock sessions as agents and every
//       agent exits 0 on SIGTERM. (Stale service instances are part of I2:
//       the catalog must hold exactly one instance per node.)
//
// Thread-safety: RunChaos runs on the main thread, which must outlive every
// child process it starts; `stop` may be set from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "faults.h"

namespace resec::chaos {

struct RunnerOptions {
  int faults = 20;
  uint64_t seed = 1;
  double overlap = 0.2;
  int net_id = 0;
  bool loopback = false;  // skip namespaces even when they would work
  std::string resec_bin;
  std::string consul_bin;
  std::filesystem::path out_json;  // "" for none
  std::filesystem::path dir;       // run directory: logs, data
  bool keep_dir = false;           // keep it even when the run passes
  std::chrono::milliseconds min_fault{1000};
  std::chrono::milliseconds max_fault{4000};
  std::optional<std::chrono::milliseconds> converge_timeout;  // default: from the settings
  std::vector<FaultKind> kinds;                                // empty: all
  std::string agent_log_level = "info";
  // Start every redis-server with min-replicas-to-write 1, so a Redis that
  // (re)starts refuses writes until its agent has decided what it is (the
  // agent sets the value itself on a master). Off by default: the run then
  // shows what an unprepared deployment gets.
  // The recommended deployment (docs/failover.md): Redis boots refusing
  // writes until its agent sets it up. --redis-unfenced-boot tests without.
  bool redis_boot_fenced = true;
  std::string replay_command;  // printed with a violation
};

// Returns the exit code: 0 no violation, 1 violations, 3 the runner could not
// run (setup failed, the cluster never recovered), 130 interrupted.
int RunChaos(const RunnerOptions& options, const std::atomic<bool>& stop);

}  // namespace resec::chaos
