// LoopbackConsul: a three-server Consul cluster on 127.0.0.1 for the scale
// benchmark: three `consul agent -server -bootstrap-expect=3` processes with
// ports of their own (FreePort), each with its data directory, joined to the
// other two, Raft at production timing (raft_multiplier 1) and telemetry kept
// in Prometheus form so counters can be differenced over a window
// (/v1/agent/metrics?format=prometheus; the in-memory sink only keeps 10 s
// intervals).
//
// Why not the rig's servers (tests/support/rig.h): the rig puts every host
// behind a Consul client agent in a network namespace of its own, ~50 MB and
// a Serf member per host; at 100 groups that is 300 more Consul agents, which
// would dominate this machine's memory and CPU and measure them rather than
// the agents. Here the agents talk to the servers' HTTP API directly (a
// client agent would forward the same reads and writes to the servers as
// RPCs), spread over the three servers.
//
// Every client reaches the servers from 127.0.0.1, so Consul's per-client
// connection limit (limits.http_max_conns_per_client, 200 by default) would
// count hundreds of agents as one client: it is raised to kMaxConnsPerClient.
//
// Thread-safety: Start() and the destructor from the thread that owns the
// processes (see ChildProcess); the HTTP reads from any thread.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "resec/status.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace resec::bench {

class LoopbackConsul {
 public:
  static constexpr int kServers = 3;
  // Far above what 100 agents per server open (a few connections each),
  // and within what a default file limit (20,000 here) lets Consul accept.
  static constexpr int kMaxConnsPerClient = 10000;

  LoopbackConsul();
  ~LoopbackConsul() = default;  // members: the processes die before their directories
  LoopbackConsul(const LoopbackConsul&) = delete;
  LoopbackConsul& operator=(const LoopbackConsul&) = delete;

  // Starts the three servers and waits (up to `timeout`) until each names
  // the same leader and lists three Raft peers.
  Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  int http_port(int i) const { return servers_.at(static_cast<size_t>(i)).http_port; }
  std::string name(int i) const { return "s" + std::to_string(i + 1); }
  pid_t pid(int i) const { return servers_.at(static_cast<size_t>(i)).process.pid(); }
  std::filesystem::path log_path(int i) const;

  StatusOr<testing::HttpReply> Get(int i, const std::string& path,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // The index of the Raft leader, as server 0 (else the next that answers)
  // names it; nullopt while there is none.
  std::optional<int> Leader() const;
  // Server i's telemetry in Prometheus text.
  StatusOr<std::string> Metrics(int i) const;
  // Server i's Raft log index (/v1/agent/self, Stats.raft.last_log_index).
  std::optional<int64_t> LastLogIndex(int i) const;
  // Copies the servers' logs into `dest` (for a failed run).
  void CopyLogs(const std::filesystem::path& dest) const;

 private:
  struct Server {
    int http_port = 0;
    int server_port = 0;
    int serf_port = 0;
    testing::TempDir dir;
    testing::ChildProcess process;  // last: killed before the directory goes
  };
  std::array<Server, kServers> servers_;
};

}  // namespace resec::bench
