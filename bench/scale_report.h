// The report of a scale sweep (`scripts/bench.sh scale-all`): reads every
// scale-*.json in a directory and writes
//   table.md   one row per system, mode, load and N (docs/scale.md copies it),
//   cost.dat   the plotted figures, one block per system, mode and load,
//   cost.gp    the gnuplot script (paths relative to the directory), and
//   cost.png   four panels against N: Consul HTTP requests/min per agent,
//              Raft applies/s, Consul servers' CPU, redis-crash failover.
//
// Thread-safety: runs on the calling thread; runs gnuplot as a child.
#pragma once

#include <filesystem>
#include <string>

#include "resec/status.h"

namespace resec::bench {

// Returns the markdown it wrote to table.md.
StatusOr<std::string> WriteScaleReport(const std::filesystem::path& dir);

}  // namespace resec::bench
