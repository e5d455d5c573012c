// The report of a results directory written by `scripts/bench.sh all`: reads
// every failover-*.json (with its .runs.json) and footprint-*.json in it and
// writes
//   table.md          the markdown tables (failover, footprint, settings),
//   unavailable.dat   the per-run unavailable_ms points the plot uses,
//   unavailable.gp    the gnuplot script, and
//   unavailable.png   the plot (one box and the points per system, mode and
//                     scenario; log scale),
// and, given a docs file, replaces its section between
// "<!-- bench:latest:begin -->" and "<!-- bench:latest:end -->" with the
// tables and a link to the plot.
//
// Thread-safety: runs on the calling thread; runs gnuplot as a child.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "resec/status.h"

namespace resec::bench {

// Writes `j` (indented) to `path`, creating its directory: every result file.
Status WriteJson(const std::filesystem::path& path, const nlohmann::json& j);

struct ReportOptions {
  std::filesystem::path dir;
  std::optional<std::filesystem::path> docs;  // docs/benchmarks.md
  std::string title = "";                     // e.g. "quick run"
};

// Returns the markdown it wrote to table.md.
StatusOr<std::string> WriteReport(const ReportOptions& options);

}  // namespace resec::bench
