#include "loopback_consul.h"

#include <nlohmann/json.hpp>

#include "support/consul_agent.h"
#include "support/free_port.h"
#include "support/wait_for.h"

namespace resec::bench {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

// A live server answers its status endpoints in milliseconds; 2 s only
// bounds what a starved one costs a readiness poll.
constexpr milliseconds kProbeTimeout{2000};

}  // namespace

LoopbackConsul::LoopbackConsul() {
  for (int i = 0; i < kServers; ++i) {
    Server& s = servers_[static_cast<size_t>(i)];
    s.dir = testing::TempDir("scale-" + name(i));
    s.http_port = testing::FreePort();
    s.server_port = testing::FreePort();
    s.serf_port = testing::FreePort();
  }
}

std::filesystem::path LoopbackConsul::log_path(int i) const {
  return servers_.at(static_cast<size_t>(i)).dir.path() / "consul.log";
}

Status LoopbackConsul::Start(milliseconds timeout) {
  const StatusOr<std::string>& binary = testing::ConsulBinary();
  if (!binary.ok()) return binary.status();
  for (int i = 0; i < kServers; ++i) {
    Server& s = servers_[static_cast<size_t>(i)];
    std::vector<std::string> argv = {
        *binary,
        "agent",
        "-server",
        "-bootstrap-expect=3",
        "-node=" + name(i),
        "-bind=127.0.0.1",
        "-client=127.0.0.1",
        "-data-dir=" + (s.dir.path() / "data").string(),
        "-http-port=" + std::to_string(s.http_port),
        "-server-port=" + std::to_string(s.server_port),
        "-serf-lan-port=" + std::to_string(s.serf_port),
        "-serf-wan-port=-1",
        "-dns-port=-1",
        "-grpc-port=-1",
        "-grpc-tls-port=-1",
        "-retry-interval=1s",
        "-log-level=warn",
        // Production Raft timing (the dev agent's is 1 as well; a server's
        // default is 5, meant for small cloud instances).
        "-hcl=performance { raft_multiplier = 1 }",
        // Cumulative counters for an hour, without the host name in metric
        // names, so a window's start and end can be subtracted.
        "-hcl=telemetry { prometheus_retention_time = \"1h\" disable_hostname = true }",
        "-hcl=limits { http_max_conns_per_client = " + std::to_string(kMaxConnsPerClient) + " }",
        "-hcl=disable_update_check = true"};
    for (int j = 0; j < kServers; ++j) {
      if (j != i) argv.push_back("-retry-join=127.0.0.1:" + std::to_string(servers_[static_cast<size_t>(j)].serf_port));
    }
    auto child = testing::ChildProcess::Start({.argv = argv, .log_dir = s.dir.path(), .log_name = "consul.log"});
    if (!child.ok()) return child.status();
    s.process = std::move(*child);
  }
  std::string last;
  const bool ready = testing::WaitFor(
      [&] {
        std::string leader;
        for (int i = 0; i < kServers; ++i) {
          if (!servers_[static_cast<size_t>(i)].process.Running()) {
            last = name(i) + " exited";
            return true;  // reported below
          }
          auto r = Get(i, "/v1/status/leader", kProbeTimeout);
          if (!r.ok() || r->status != 200) {
            last = name(i) + ": no answer to /v1/status/leader";
            return false;
          }
          const json j = json::parse(r->body, nullptr, false);
          if (!j.is_string() || j.get<std::string>().empty()) {
            last = name(i) + ": no leader yet";
            return false;
          }
          if (i > 0 && j.get<std::string>() != leader) {
            last = "servers name different leaders";
            return false;
          }
          leader = j.get<std::string>();
          auto peers = Get(i, "/v1/status/peers", kProbeTimeout);
          const json p = peers.ok() ? json::parse(peers->body, nullptr, false) : json();
          if (!p.is_array() || p.size() != kServers) {
            last = name(i) + ": fewer than 3 Raft peers";
            return false;
          }
        }
        last.clear();
        return true;
      },
      timeout, milliseconds(200));
  if (!ready || !last.empty()) {
    std::string tails;
    for (int i = 0; i < kServers; ++i) tails += name(i) + ":\n" + testing::TailFile(log_path(i), 15);
    return Unavailable("consul cluster not ready: " + (last.empty() ? "timeout" : last) + "\n" + tails);
  }
  return Status::Ok();
}

StatusOr<testing::HttpReply> LoopbackConsul::Get(int i, const std::string& path, milliseconds timeout) const {
  return testing::HttpCall("GET", "127.0.0.1", http_port(i), path, "", {}, timeout);
}

std::optional<int> LoopbackConsul::Leader() const {
  for (int i = 0; i < kServers; ++i) {
    auto r = Get(i, "/v1/status/leader", kProbeTimeout);
    if (!r.ok() || r->status != 200) continue;
    const json j = json::parse(r->body, nullptr, false);
    if (!j.is_string()) continue;
    // "127.0.0.1:<server port>": every server has the same address here, so
    // the Raft port names it.
    const std::string addr = j.get<std::string>();
    for (int k = 0; k < kServers; ++k) {
      if (addr == "127.0.0.1:" + std::to_string(servers_[static_cast<size_t>(k)].server_port)) return k;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

StatusOr<std::string> LoopbackConsul::Metrics(int i) const {
  auto r = Get(i, "/v1/agent/metrics?format=prometheus");
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unavailable(name(i) + ": metrics: HTTP " + std::to_string(r->status));
  return r->body;
}

std::optional<int64_t> LoopbackConsul::LastLogIndex(int i) const {
  auto r = Get(i, "/v1/agent/self");
  if (!r.ok() || r->status != 200) return std::nullopt;
  const json j = json::parse(r->body, nullptr, false);
  try {
    return std::stoll(j.at("Stats").at("raft").at("last_log_index").get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void LoopbackConsul::CopyLogs(const std::filesystem::path& dest) const {
  std::error_code ec;  // best effort: a missing log is not worth failing over
  std::filesystem::create_directories(dest, ec);
  for (int i = 0; i < kServers; ++i) {
    std::filesystem::copy_file(log_path(i), dest / (name(i) + ".log"),
                               std::filesystem::copy_options::overwrite_existing, ec);
  }
}

}  // namespace resec::bench
