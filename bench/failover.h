// The failover benchmark, on the production-topology rig (rig_system.h): N
// independent runs of one fault scenario against one system, each on a
// freshly built rig, with the shared writer (support/traffic.h) running
// throughout as the system's clients would. Per run:
//   unavailable_ms  fault -> first write sent after the fault (after its
//                   injection returned, for one that acts at once) and
//                   acknowledged by the master the group finally converged on
//                   (for a restarted, resumed or reconnected old master, or
//                   one that never lost its role: its first such
//                   acknowledgement);
//   converged_ms    fault -> first moment the group is converged (see
//                   RigSystem::Converged; hosts under a fault left out) on a
//                   master that is either another host or the old one after
//                   the scenario's recovery action;
//   longest_write_stall_ms
//                   the longest gap between acknowledged writes from the
//                   fault to the end of the run (the figure of the Consul
//                   scenarios: how long the master stopped taking writes);
//   failover        whether the master changed (a write acknowledged by
//                   another host after the fault, or another final master);
//   lost_acked / lost_wait_acked
//                   acknowledged (WAIT-acknowledged) writes missing from the
//                   final master once every recovery action has run and the
//                   group has converged again;
//   consul_cost     HTTP requests/min per agent and Raft applies/s during the
//                   run's steady state (consul_cost.h), before the fault.
// A run that does not converge within kConvergeTimeout is a failed run; its
// logs are copied next to the JSON. Percentiles are over the successful runs;
// lost-write totals likewise.
//
// Thread-safety: runs on the calling thread (which owns the child processes).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "resec/status.h"
#include "settings.h"

namespace resec::bench {

struct FailoverOptions {
  SystemKind system = SystemKind::kResec;
  Scenario scenario = Scenario::kRedisCrash;
  Mode mode = Mode::kTuned;
  int runs = 1;
  // The agent binary for resec-go (and ours, if not the build's).
  std::string agent_bin;
  // Summary JSON; per-run details go to the same name with ".runs.json", and
  // logs of failed runs to the same name with ".logs/".
  std::filesystem::path out;
  // Set when the system cannot run here at all (resec-go not buildable): the
  // JSON then says so, with this text, instead of measuring.
  std::optional<std::string> unavailable;
  // Also write every run's writes as CSV (seq, sent_ms, ack_ms, host,
  // wait_acked, present) next to the JSON, with the fault time: for diagnosis.
  bool dump_writes = false;
  bool keep_logs = false;  // copy every run's logs, not only failed runs'
  // Extra facts for "settings" (e.g. which resec-go module was built).
  nlohmann::json extra_settings = nlohmann::json::object();
};

// Runs the benchmark and writes the JSON files; returns the summary. Fails
// only if the output cannot be written: a run that fails is a result.
StatusOr<nlohmann::json> RunFailover(const FailoverOptions& options);

// The path of the per-run file for a summary path ("x.json" -> "x.runs.json").
std::filesystem::path RunsPathFor(const std::filesystem::path& summary);

}  // namespace resec::bench
