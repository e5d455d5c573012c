// Rig: resec deployed the way production runs it (issue #13), on one machine.
//
//   3 Consul servers   each in a namespace of its own (rig_network.h),
//                      -server -bootstrap-expect=3, raft_multiplier 1
//   2..5 hosts         each a namespace holding, as a machine would:
//     consul client    `consul agent` (no -server) joined to the three
//                      servers, Serf defaults, HTTP on 127.0.0.1:8500, a
//                      data dir that survives a restart (a rebooted host's
//                      client restores its services and check state)
//     redis-server     port 6379 on the host's address and 127.0.0.1
//     resec            the binary under test, configured like
//                      examples/systemd (REDIS_ADDR defaulting to
//                      127.0.0.1:6379, ANNOUNCE_ADDR unset) or
//                      examples/docker-compose (REDIS_ADDR redis<k>:6379,
//                      Redis with that file's command line), read from those
//                      files (deployment_example.h)
//
// Start() brings the servers up, then each host as its init system would:
// the Consul client and Redis side by side, resec once what the example
// orders it after is ready (systemd: resec.service's After=, with Consul and
// Redis Type=notify units) or started (compose: depends_on). The host faults
// act on all of a host's processes at once; the rest on one process.
//
// The rig observes through a management path a partition does not cut: a
// thread inside the host's (or server's) namespace talks to 127.0.0.1 there
// (netns.h). Clients of the group (MakeWriter) use the bridge from the root
// namespace like real clients, so a cut-off host is out of their reach.
//
// Logs and data live in a TempDir named after the running test (kept when it
// fails): h<k>/{consul,redis,resec}.log, h<k>/redis (Redis' dir), h<k>/consul
// (the client's data dir), s<i>/consul.log. A failed test prints the tails of
// the agents' and Redis' logs.
//
// Thread-safety: one owner thread starts and stops processes and injects
// faults (children die with that thread: PDEATHSIG). The observation calls
// (Redis, Info, ConsulHttp, Service, Converged, ...) are safe from any thread.
#pragma once

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resec/status.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/consul_health.h"
#include "support/deployment_example.h"
#include "support/rig_network.h"
#include "support/temp_dir.h"
#include "support/test_logs.h"
#include "support/traffic.h"

namespace resec::testing {

// How REDIS_ADDR names the local Redis.
enum class RedisAddrForm {
  kExample,   // as the example writes it (systemd: unset; compose: redis<k>:6379)
  kLoopback,  // 127.0.0.1:6379
  kHostIp,    // <host ip>:6379
  kHostname,  // redis<k>:6379
};

struct RigOptions {
  DeploymentStyle style = DeploymentStyle::kSystemd;
  int hosts = 3;
  RedisAddrForm redis_addr = RedisAddrForm::kExample;
  bool announce_addr = false;  // ANNOUNCE_ADDR=<host ip>:6379
  // On top of the example's settings, for every agent.
  std::map<std::string, std::string> agent_env = {};
  // Appended to every redis-server command line.
  std::vector<std::string> redis_args = {};
  // Redis with its defaults only, without the example's Redis settings (a
  // deployment that skipped them; the yardsticks, which have none).
  bool redis_defaults = false;
  // The agent binary: "" means $RESEC_BIN, else the build's resec. Another
  // agent (the Go resec, for benchmarks) works if it takes the same settings.
  std::string resec_bin = {};
  bool start_agents = true;
  // Agents run under libfaketime (Debian's faketime) so StepAgentClock works.
  // Only the wall clock steps by default: libfaketime 0.9.10 fakes
  // CLOCK_MONOTONIC as realtime plus the offset for clock_gettime, but does
  // not wrap pthread_cond_clockwait, which std::condition_variable's timed
  // waits use; their steady_clock deadlines (about 1.8e9 s) then never come,
  // and an agent's timed sleep (a watch's backoff) never ends.
  // faketime_monotonic = true fakes the monotonic clock anyway (the agent's
  // steady_clock reads steps, even backwards), for tests that only read it.
  bool faketime = false;
  bool faketime_monotonic = false;
  // Names the run directory ($TMPDIR/resec-<test>-<dir_tag>-XXXXXX), so a
  // kept directory says which harness made it (the chaos runner: its seed).
  std::string dir_tag = "rig";
  // Appended to every Consul agent's command line, servers and clients (the
  // benchmarks turn on Prometheus telemetry to read Consul's own counters).
  std::vector<std::string> consul_args = {};
  // For an agent without a state server (the Go resec): a line it logs once
  // it is up, which StartAgent waits for instead of GET /state.
  std::string agent_ready_log_line = {};
};

// INFO's text as key -> value (section headers and blank lines skipped), for
// harnesses that keep their own connection to a host's Redis.
std::map<std::string, std::string> ParseInfoText(const std::string& text);

// One of a host's processes, for the harnesses that watch or signal them
// directly (Rig::Process).
enum class HostProcess { kConsul, kRedis, kAgent };

// How Redis (re)starts.
struct RedisStart {
  bool wipe = false;                        // delete its data first
  std::vector<std::string> extra_args = {}; // this start only (e.g. --key-load-delay 200)
  // StartRedis waits until it has loaded its data (PING answers PONG, not
  // LOADING); false: until it answers at all (LOADING included).
  bool wait_loaded = true;
};

struct CommandResult {
  ExitStatus exit;
  std::string output;  // stdout and stderr
};

class Rig {
 public:
  static constexpr int kRedisPort = 6379;
  static constexpr int kConsulHttpPort = 8500;

  explicit Rig(RigOptions options);
  // Agents first (so they do not react to the rest going away), then Redis,
  // the Consul clients, the servers and the network.
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  // Builds the network and starts everything. A machine without namespaces
  // fails here with one line naming what is missing.
  Status Start();

  int hosts() const { return options_.hosts; }
  const RigOptions& options() const { return options_; }
  // 0-based indexes; host k is named h<k+1>.
  const RigMember& host(int k) const { return net_->host(k); }
  const RigMember& server(int i) const { return net_->server(i); }
  RigNetwork& network() { return *net_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  void KeepDir() { dir_.Keep(); }
  std::string redis_addr(int k) const { return host(k).ip + ":" + std::to_string(kRedisPort); }
  // Host k's agent environment (the example's, the variant's, the options').
  const std::map<std::string, std::string>& agent_env(int k) const { return hosts_.at(k).env; }
  std::filesystem::path agent_log(int k) const { return host_dir(k) / "resec.log"; }
  std::filesystem::path redis_log(int k) const { return host_dir(k) / "redis.log"; }
  // Text for an operator: every member, its address and how to reach it.
  std::string Describe() const;

  // ---- Processes of a host (each waits until its process answers).
  Status StartConsulClient(int k);
  Status StartRedis(int k, const RedisStart& how = {});
  Status StartAgent(int k, const std::map<std::string, std::string>& extra_env = {});
  // A booting host: the Consul client and Redis side by side, then resec in
  // the example's order (see above; not with start_agents = false), then its
  // sidecars. Returns once all of them answer.
  Status StartHost(int k, const RedisStart& how = {});
  // A further process of host k, started in its namespace with its hosts
  // file (a Redis Sentinel, for the benchmarks): part of the host for
  // CrashHost, FreezeHost, ThawHost and StartHost (which starts it again
  // with the same argv). Returns once it runs; whether it answers is the
  // caller's to check.
  Status AddSidecar(int k, const std::string& name, std::vector<std::string> argv);
  bool SidecarRunning(int k, const std::string& name);
  bool SidecarPaused(int k, const std::string& name) const;

  // ---- Faults.
  // SIGKILL every process of the host at once, its Consul client included.
  void CrashHost(int k);
  // CrashHost, then StartHost.
  Status RestartHost(int k, const RedisStart& how = {});
  // SIGSTOP / SIGCONT every process of the host.
  Status FreezeHost(int k);
  void ThawHost(int k);
  // The host's link down / up (its processes keep running).
  Status PartitionHost(int k) { return net_->Partition(host(k)); }
  Status HealHost(int k) { return net_->Heal(host(k)); }
  // One-way drops at host k (nftables in its namespace).
  Status DropFrom(int k, const std::string& peer_ip) { return net_->DropFrom(host(k), peer_ip); }
  Status DropTo(int k, const std::string& peer_ip) { return net_->DropTo(host(k), peer_ip); }
  Status ClearDrops(int k) { return net_->ClearDrops(host(k)); }
  bool FreezeAgent(int k) { return hosts_.at(k).agent.Pause(); }
  // Any signal to the agent, without waiting (SIGTERM: a switchover that
  // the caller follows); false when it is not running.
  bool SignalAgent(int k, int sig) { return hosts_.at(k).agent.Signal(sig); }
  bool AgentRunning(int k) { return hosts_.at(k).agent.Running(); }
  bool ThawAgent(int k) { return hosts_.at(k).agent.Resume(); }
  // SIGTERM (a planned stop: the agent hands over and exits); SIGKILL after
  // `timeout`.
  ExitStatus StopAgent(int k, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void KillAgent(int k) { hosts_.at(k).agent.Kill(); }
  void KillRedis(int k) { hosts_.at(k).redis.Kill(); }
  void WipeRedis(int k);  // Redis must be down
  bool FreezeRedis(int k) { return hosts_.at(k).redis.Pause(); }
  bool ThawRedis(int k) { return hosts_.at(k).redis.Resume(); }
  // `systemctl restart consul` (SIGTERM: a client leaves gracefully) or a
  // crash of the client (SIGKILL), then a start.
  Status RestartConsulClient(int k, bool graceful = true);
  void KillConsulServer(int i) { servers_.at(i).Kill(); }
  // SIGTERM (`systemctl restart consul` on a server), SIGKILL after `timeout`.
  ExitStatus StopConsulServer(int i, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return servers_.at(i).Stop(timeout);
  }
  Status StartConsulServer(int i);
  // Waits until server i runs and knows a Raft leader.
  Status WaitConsulServer(int i);
  // The server that leads Raft, per any server that answers.
  std::optional<int> ConsulLeaderServer() const;
  // Moves host k's agent clock to `offset` from real time (the wall clock,
  // and the monotonic one unless RigOptions::faketime_monotonic is false);
  // the agent sees it at its next clock read. Requires RigOptions::faketime.
  Status StepAgentClock(int k, std::chrono::seconds offset);
  // The handle of one of host k's processes / of server i's, for what the
  // methods above do not cover: whether it still runs (Running(), Wait()),
  // a graceful stop (Stop(): SIGTERM, as systemctl stop), another signal.
  // A process stopped through it is started again with the Start* methods.
  ChildProcess& Process(int k, HostProcess which);
  ChildProcess& ServerProcess(int i) { return servers_.at(i); }
  // SIGUSR1: the agent logs its Consul and Redis state.
  bool DumpAgentState(int k) { return hosts_.at(k).agent.Signal(SIGUSR1); }
  // `resec <args>` run inside host k's namespace with its agent's settings,
  // as an operator on that host would (`resec status`, `resec switchover`).
  CommandResult RunResec(int k, const std::vector<std::string>& args);

  // ---- Observation over the management path.
  StatusOr<std::string> Redis(int k, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;
  // INFO <section> as key -> value; empty when Redis does not answer.
  std::map<std::string, std::string> Info(int k, const std::string& section) const;
  StatusOr<HttpReply> ConsulServerHttp(int i, const std::string& method, const std::string& path,
                                       const std::string& body = "") const;
  // Host k's Consul client agent, over the host's loopback.
  StatusOr<HttpReply> ConsulClientHttp(int k, const std::string& method, const std::string& path) const;
  // GET from the first server that answers 200.
  StatusOr<HttpReply> ConsulGet(const std::string& path) const;
  // Every instance of `service` (redis-master, redis-slave) with its health.
  StatusOr<std::vector<HealthInstance>> Service(const std::string& service) const;
  // The host whose node name, address or host name this is; -1 if none.
  int HostOf(const std::string& name_or_address) const;
  // One Redis master, every other Redis replicating it with its link up,
  // exactly one passing master instance in Consul on the master's host and
  // one passing slave instance on each other host. The master's index, or
  // nullopt with *why. Hosts in `down` (crashed, frozen or cut off: out of
  // the group for now) are left out, except that a passing master instance
  // on one still counts against convergence: clients would follow it.
  std::optional<int> Converged(std::string* why = nullptr, const std::vector<int>& down = {}) const;
  // The Redis half of Converged: the master's index, or nullopt with *why.
  std::optional<int> RedisConverged(std::string* why = nullptr, const std::vector<int>& down = {}) const;
  std::optional<int> WaitConverged(std::chrono::milliseconds timeout, std::string* why = nullptr) const;

  // ---- Data.
  // MSETs keys key:0..key:<n-1> with values of `value_size` bytes into host
  // k's Redis.
  Status LoadKeys(int k, int64_t n, size_t value_size);
  // How many key:* keys host k's Redis holds (-1 when it does not answer).
  int64_t CountKeys(int k) const;
  // The writer's sequence as stored in host k's Redis.
  StatusOr<std::vector<int64_t>> WrittenSequence(int k) const;

  // ---- Clients.
  // A writer that discovers the master through the servers' health API and
  // writes over the bridge, as a client of the group would.
  std::unique_ptr<Writer> MakeWriter(Clock::time_point origin) const;
  // A prober of every host's Redis over the management path.
  std::unique_ptr<Prober> MakeProber(Clock::time_point origin, std::chrono::milliseconds interval,
                                     std::chrono::milliseconds timeout) const;
  // The servers' HTTP API over the management path.
  std::vector<Endpoint> ServerEndpoints() const;

 private:
  struct Sidecar {
    std::string name;
    std::vector<std::string> argv;
    ChildProcess process;
  };
  struct Host {
    std::map<std::string, std::string> env;
    std::vector<std::string> redis_args;  // the example's and the options'
    DeploymentExample order;              // its start-order fields
    ChildProcess consul;
    ChildProcess redis;
    std::vector<Sidecar> sidecars;
    ChildProcess agent;  // last: destroyed first
    // Every process the host has started, the agent first (the order faults
    // use).
    std::vector<ChildProcess*> Processes();
  };

  std::filesystem::path host_dir(int k) const { return dir_.path() / host(k).name; }
  std::filesystem::path server_dir(int i) const { return dir_.path() / server(i).name; }
  Status StartServers();
  Status SpawnSidecar(int k, Sidecar& s);
  Sidecar* FindSidecar(int k, const std::string& name);
  Status PrepareHosts();
  Status SpawnConsulClient(int k);
  Status WaitConsulClient(int k);
  Status SpawnRedis(int k, const RedisStart& how);
  Status WaitRedis(int k, bool loaded);
  Status WaitConsulLeader(const std::string& ns, const std::string& who, ChildProcess& process,
                          const std::filesystem::path& log, std::chrono::milliseconds timeout);
  int StatePort(int k) const;

  RigOptions options_;
  TempDir dir_;
  TestLogs logs_;
  std::unique_ptr<RigNetwork> net_;
  std::vector<ChildProcess> servers_;
  std::vector<Host> hosts_;  // after servers_: destroyed first
  int cli_runs_ = 0;
};

}  // namespace resec::testing
