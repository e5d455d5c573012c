// The chaos run's summary: the table it prints at the end (one row per fault
// class), its last line, and the JSON file (--out) docs/chaos.md's tables are
// made from.
//
// Thread-safety: value types and stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "resec/status.h"
#include "support/traffic.h"

namespace resec::chaos {

// One fault class over a run.
struct KindStats {
  int faults = 0;
  // Of the episodes the class was part of: the slowest convergence after the
  // heal, the longest two-writable-masters window, the writer's longest gap
  // between acknowledged writes, and its gap at the fault's start.
  int64_t worst_converge_ms = 0;
  int64_t worst_dual_master_ms = 0;
  int64_t longest_outage_ms = 0;
  int64_t longest_outage_at_fault_ms = 0;
  testing::WriteCounts writes;
  // Acknowledged writes WAIT had not confirmed, lost with a master the fault
  // killed, froze or cut off (counted, not a violation; see runner.h, I3).
  int64_t lost_unconfirmed = 0;
  // Violations charged to a fault of this class, by invariant.
  std::map<std::string, int> violations;
};

struct RunSummary {
  nlohmann::json header;  // seed, variant, settings, ...: written as they are
  std::map<std::string, KindStats> kinds;
  int faults = 0;
  double duration_s = 0;
  std::optional<std::string> aborted;
  int violations = 0;
  std::map<std::string, int> violations_by_invariant;
  int64_t lost_wait_acked = 0;
  int64_t lost_acked = 0;  // acknowledged, unconfirmed, lost where that is a violation
  int64_t lost_unconfirmed = 0;
  int64_t worst_converge_ms = 0;
  int64_t worst_dual_master_ms = 0;
  int promotions_checked = 0;
  testing::WriteCounts writes;
  nlohmann::json lists;  // faults, windows, promotions, violations: written as they are
};

// The per-class table and the totals, each line starting "chaos: ".
std::string SummaryTable(const RunSummary& s);
// The last line of every run:
//   chaos: faults=N violations=V lost_wait_acked=L worst_converge_ms=X worst_dual_master_ms=Y
std::string SummaryLastLine(const RunSummary& s);
Status WriteSummaryJson(const RunSummary& s, const std::filesystem::path& path);

}  // namespace resec::chaos
