// Facts about the machine a benchmark ran on, and the small statistics the
// reports use.
//
// Thread-safety: stateless functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace resec::bench {

// {"nproc","memory_kib","kernel","cpu_model","date","loadavg"}; date is UTC
// ISO 8601, loadavg the 1/5/15-minute load when this was called (other work
// on a shared machine shows up there).
nlohmann::json MachineJson();

// "2026-11-27T20:47:53Z"
std::string UtcNow();

// Nearest-rank percentile (p in (0, 100]) of `values`; nullopt when empty.
std::optional<double> Percentile(std::vector<double> values, double p);

// {"p50","p95","p99","max"} of `values` (nulls when empty), rounded to 0.1.
nlohmann::json Distribution(const std::vector<double>& values);

}  // namespace resec::bench
