// The footprint benchmark: what each agent (or sentinel) costs in a steady,
// converged group with no client load. Every 500 ms it samples each process's
// VmRSS (/proc/<pid>/status) and utime+stime (/proc/<pid>/stat) for the given
// number of seconds; for the Consul systems it also counts the HTTP requests
// each agent makes: every agent reaches Consul through its own TcpRelay, Consul
// logs at debug level one "Request finished ... from=127.0.0.1:<port>" line per
// request, and the relay that opened <port> names the agent.
//
// Output: a JSON array with one object per agent/sentinel:
//   {"system","agent","mode","seconds","rss_kib":{"p50","max"},"cpu_percent",
//    "consul_http_requests_per_min", ...}
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

struct FootprintOptions {
  SystemKind system = SystemKind::kResec;
  Mode mode = Mode::kTuned;
  int seconds = 20;
  std::filesystem::path out;
  std::optional<std::string> unavailable;  // see FailoverOptions
  nlohmann::json extra_settings = nlohmann::json::object();
};

StatusOr<nlohmann::json> RunFootprint(const FootprintOptions& options);

}  // namespace resec::bench
