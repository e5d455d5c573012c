// The scale benchmark: what N groups of three agents cost one Consul
// cluster, and whether a failover in one group still takes as long when N-1
// others run beside it (issue #16).
//
// Topology, all on 127.0.0.1 (loopback_consul.h says why not the rig): one
// three-server Consul cluster (LoopbackConsul); N groups, each of three
// redis-servers and three agents (ours or the Go resec), with a lock key
// `resec/g<k>/.lock` and a service prefix of its own (`redis-g<k>`; group 0
// keeps the default `redis`, so the one writer of tests/support/traffic.h,
// which follows `redis-master`, times its failover unchanged). Agent i of
// group k talks to server (k + i) mod 3, so a group's members sit on three
// servers, as they would behind three hosts' client agents, and every server
// serves the same number of agents. Each agent reaches its server through
// its own HttpTap port, which counts its requests by endpoint.
//
// A run:
//   1. start the cluster; measure its own Raft applies over `baseline_s`
//      with no agent (coordinate updates and the like: the floor);
//   2. start the groups and wait until every one has converged;
//   3. with --write-load, start WriteLoad (50 SET/s per group to each
//      group's master, found through Consul);
//   4. after `warmup_s`, measure over `window_s`: each agent's requests (per
//      role: the holder is the agent whose Redis is master), the Raft
//      leader's consul_raft_apply counter (and Raft applies by kind from
//      consul_fsm_*), CPU time and RSS of every agent, Redis and Consul server;
//   5. time `failover_runs` redis-crashes of group 0's master while the
//      others run: SIGKILL its redis-server and measure until a write sent
//      after the fault is acknowledged by another node (the failover bench's
//      unavailable_ms); the crashed server is restarted (empty) and the
//      group converges again before the next run.
//
// Output: one JSON object (keys documented in docs/scale.md).
//
// Thread-safety: runs on the calling thread, which owns every child process.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "resec/status.h"
#include "settings.h"

namespace resec::bench {

struct ScaleOptions {
  SystemKind system = SystemKind::kResec;  // resec or resec-go
  Mode mode = Mode::kTuned;
  int groups = 1;
  bool write_load = false;
  int writes_per_s = 50;  // per group, with write_load
  int baseline_s = 30;
  int warmup_s = 30;
  int window_s = 60;
  int failover_runs = 7;  // failover_ms is their median: three left it at the mercy of one run
  std::filesystem::path out;
  std::optional<std::string> unavailable;  // see FailoverOptions
  nlohmann::json extra_settings = nlohmann::json::object();
};

StatusOr<nlohmann::json> RunScale(const ScaleOptions& options);

}  // namespace resec::bench
