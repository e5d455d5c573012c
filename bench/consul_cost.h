// What a group costs Consul during the steady state of a failover run, read
// from Consul's own telemetry (/v1/agent/metrics?format=prometheus; the rig's
// Consul agents run with kConsulTelemetryArgs):
//
//   HTTP requests per agent: every host's Consul client agent counts the
//     requests it has served (consul_api_http_count, by method and path);
//     on a rig host only the agent under test talks to it, so the growth of
//     that sum over the window is the agent's request count. The bench's own
//     metrics reads (path v1_agent_metrics) are left out.
//   Raft applies: the Raft leader's consul_raft_apply counter, the writes
//     the whole cluster makes (Consul's own background ones included: node
//     coordinates, anti-entropy; a rig without our agents shows that floor).
//
// A counter read at both ends of a window gives a rate; a window whose
// leader changed, or whose read failed, gives none (null in the JSON).
//
// Thread-safety: stateless functions over a Rig's observation calls.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/rig.h"

namespace resec::bench {

// Consul agent arguments that keep Prometheus-format counters (cumulative,
// unlike the in-memory sink's 10 s intervals) for as long as a run lasts.
inline const std::vector<std::string> kConsulTelemetryArgs = {
    "-hcl=telemetry { prometheus_retention_time = \"1h\" disable_hostname = true }"};

struct ConsulCounters {
  testing::Clock::time_point at;
  std::vector<std::optional<double>> http_requests;  // per host
  std::optional<int> leader;                          // server index
  std::optional<double> raft_applies;                 // the leader's
};

ConsulCounters ReadConsulCounters(const testing::Rig& rig);

// The window's rates: {"window_s", "http_requests_per_min": {"h1": .., ...},
// "http_requests_per_min_per_agent" (their mean), "..._master_host",
// "..._replica_hosts" (mean), "raft_applies_per_s"}. `agents`: whether the
// hosts run agents that talk to Consul (false for Sentinel: no HTTP figures).
nlohmann::json ConsulCost(const testing::Rig& rig, const ConsulCounters& from, const ConsulCounters& to,
                          int master_host, bool agents);

// The sum of every sample of `metric` (lines "metric{labels} value" or
// "metric value") in Prometheus text, leaving out samples whose labels
// contain `skip_label` (when not empty).
double SumPrometheus(const std::string& text, const std::string& metric, const std::string& skip_label = "");

}  // namespace resec::bench
