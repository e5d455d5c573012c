#include "support/rig.h"

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/agent_group.h"
#include "support/consul_agent.h"
#include "support/netns.h"
#include "support/redis_conn.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A process on a veth answers a local request in about a millisecond; 500 ms
// bounds what a frozen or loading one costs an observation.
constexpr milliseconds kObserveTimeout{500};
// Three servers with raft_multiplier 1 elect a leader within a few seconds
// of the third one starting (bootstrap-expect waits for all three).
constexpr seconds kServersReadyTimeout{60};
// A client agent answers HTTP within a second or two; knowing the leader
// also needs its first retry-join round, which runs at start.
constexpr seconds kClientReadyTimeout{30};
// redis-server answers at once unless it loads a large data set; the data
// knob makes loads take 20 s and more on purpose.
constexpr seconds kRedisReadyTimeout{120};
// The agent's state server listens once the agent has parsed its settings.
constexpr seconds kAgentReadyTimeout{20};
// An operator command (switchover waits up to SWITCHOVER_TIMEOUT, 5 s by
// default, plus its own Consul round trips).
constexpr seconds kCliTimeout{60};
// The MSET batch of LoadKeys: large enough to load 100k keys in a second,
// small enough that one command stays well under the client's timeout.
constexpr int kLoadBatch = 1000;
// libfaketime's preload (Debian package libfaketime) and its offset file.
constexpr char kFaketimeLib[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

std::string InfoText(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

}  // namespace

std::map<std::string, std::string> ParseInfoText(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

Rig::Rig(RigOptions options) : options_(std::move(options)), dir_(options_.dir_tag) {
  if (options_.resec_bin.empty()) options_.resec_bin = ResecBinary();
}

Rig::~Rig() {
  for (Host& h : hosts_) h.agent.Kill();
  for (Host& h : hosts_) {
    for (Sidecar& s : h.sidecars) s.process.Kill();
  }
  for (Host& h : hosts_) h.redis.Kill();
  for (Host& h : hosts_) h.consul.Kill();
  for (ChildProcess& s : servers_) s.Kill();
}

Status Rig::Start() {
  if (dir_.path().empty()) return Internal("rig: no directory");
  auto net = RigNetwork::Create(options_.hosts, dir_.path());
  if (!net.ok()) return net.status();
  net_ = std::move(*net);
  if (Status st = PrepareHosts(); !st.ok()) return st;
  if (Status st = StartServers(); !st.ok()) return st;
  for (int k = 0; k < hosts(); ++k) {
    if (Status st = options_.start_agents ? StartHost(k) : StartConsulClient(k); !st.ok()) return st;
    if (!options_.start_agents) {
      if (Status st = StartRedis(k); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

Status Rig::PrepareHosts() {
  if (!ConsulBinary().ok()) return ConsulBinary().status();
  hosts_.resize(static_cast<size_t>(options_.hosts));
  for (int k = 0; k < hosts(); ++k) {
    auto ex = ReadDeploymentExample(options_.style, k + 1, RESEC_SOURCE_DIR);
    if (!ex.ok()) return ex.status();
    Host& h = hosts_[static_cast<size_t>(k)];
    h.env = ex->agent_env;
    const std::string port = ":" + std::to_string(kRedisPort);
    switch (options_.redis_addr) {
      case RedisAddrForm::kExample: break;
      case RedisAddrForm::kLoopback: h.env["REDIS_ADDR"] = "127.0.0.1" + port; break;
      case RedisAddrForm::kHostIp: h.env["REDIS_ADDR"] = host(k).ip + port; break;
      case RedisAddrForm::kHostname: h.env["REDIS_ADDR"] = "redis" + std::to_string(k + 1) + port; break;
    }
    if (options_.announce_addr) h.env["ANNOUNCE_ADDR"] = host(k).ip + port;
    for (const auto& [key, value] : options_.agent_env) h.env[key] = value;
    if (!options_.redis_defaults) h.redis_args = ex->redis_args;
    h.order = *ex;
    h.redis_args.insert(h.redis_args.end(), options_.redis_args.begin(), options_.redis_args.end());
    std::error_code ec;
    std::filesystem::create_directories(host_dir(k) / "redis", ec);
    std::filesystem::create_directories(host_dir(k) / "consul", ec);
    logs_.Add(host(k).name + " resec", agent_log(k));
    logs_.Add(host(k).name + " redis", redis_log(k));
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ Consul

Status Rig::WaitConsulLeader(const std::string& ns, const std::string& who, ChildProcess& process,
                             const std::filesystem::path& log, milliseconds timeout) {
  const bool up = WaitFor(
      [&] {
        if (!process.Running()) return true;
        auto r = InNetns(ns, [] {
          return HttpCall("GET", "127.0.0.1", kConsulHttpPort, "/v1/status/leader", "", {}, kObserveTimeout);
        });
        return r.ok() && r->status == 200 && r->body.size() > 2;  // "" while there is no leader
      },
      // 5 ms: a Type=notify unit's readiness reaches systemd at once, and
      // what starts after it (resec) must not start much later here.
      timeout, milliseconds(5));
  if (process.Running() && up) return Status::Ok();
  const std::string what = process.Running() ? "knows no Consul leader" : "exited during start";
  process.Kill();
  return Unavailable(who + ": consul " + what + "; log tail:\n" + TailFile(log, 20));
}

Status Rig::StartServers() {
  servers_.resize(RigNetwork::kServers);
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    std::error_code ec;
    std::filesystem::create_directories(server_dir(i) / "data", ec);
    if (Status st = StartConsulServer(i); !st.ok()) return st;
  }
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    if (Status st = WaitConsulServer(i); !st.ok()) return st;
  }
  return Status::Ok();
}

Status Rig::WaitConsulServer(int i) {
  return WaitConsulLeader(server(i).ns, server(i).name, servers_.at(i), server_dir(i) / "consul.log",
                          kServersReadyTimeout);
}

Status Rig::StartConsulServer(int i) {
  if (servers_.at(i).Running()) return FailedPrecondition(server(i).name + ": consul already running");
  std::vector<std::string> argv = {*ConsulBinary(),
                                   "agent",
                                   "-server",
                                   "-bootstrap-expect=3",
                                   "-node=" + server(i).name,
                                   "-bind=" + server(i).ip,
                                   // The writer asks the servers over the bridge;
                                   // the rig over the namespace's loopback.
                                   "-client=127.0.0.1 " + server(i).ip,
                                   "-data-dir=" + (server_dir(i) / "data").string(),
                                   "-log-level=info",
                                   "-hcl=performance { raft_multiplier = 1 }",
                                   "-hcl=disable_update_check = true"};
  for (int j = 0; j < RigNetwork::kServers; ++j) {
    if (j != i) argv.push_back("-retry-join=" + server(j).ip);
  }
  argv.insert(argv.end(), options_.consul_args.begin(), options_.consul_args.end());
  auto child = ChildProcess::Start(
      {.argv = RigNetwork::InMember(server(i), argv), .log_dir = server_dir(i), .log_name = "consul.log"});
  if (!child.ok()) return child.status();
  servers_[i] = std::move(*child);
  return Status::Ok();
}

Status Rig::SpawnConsulClient(int k) {
  Host& h = hosts_.at(k);
  if (h.consul.Running()) return FailedPrecondition(host(k).name + ": consul already running");
  // A production client: no -server, Serf and everything else at its
  // defaults (HTTP on 127.0.0.1:8500), a data dir that outlives a restart.
  std::vector<std::string> argv = {*ConsulBinary(),
                                   "agent",
                                   "-node=" + host(k).name,
                                   "-bind=" + host(k).ip,
                                   "-client=127.0.0.1",
                                   "-data-dir=" + (host_dir(k) / "consul").string(),
                                   "-log-level=info",
                                   "-hcl=disable_update_check = true"};
  for (int i = 0; i < RigNetwork::kServers; ++i) argv.push_back("-retry-join=" + server(i).ip);
  argv.insert(argv.end(), options_.consul_args.begin(), options_.consul_args.end());
  auto child = ChildProcess::Start(
      {.argv = RigNetwork::InMember(host(k), argv), .log_dir = host_dir(k), .log_name = "consul.log"});
  if (!child.ok()) return child.status();
  h.consul = std::move(*child);
  return Status::Ok();
}

// Ready as a Type=notify consul.service is: joined, so it knows the leader.
Status Rig::WaitConsulClient(int k) {
  return WaitConsulLeader(host(k).ns, host(k).name, hosts_.at(k).consul, host_dir(k) / "consul.log",
                          kClientReadyTimeout);
}

Status Rig::StartConsulClient(int k) {
  if (Status st = SpawnConsulClient(k); !st.ok()) return st;
  return WaitConsulClient(k);
}

Status Rig::RestartConsulClient(int k, bool graceful) {
  Host& h = hosts_.at(k);
  if (graceful) {
    h.consul.Stop(seconds(10));
  } else {
    h.consul.Kill();
  }
  return StartConsulClient(k);
}

std::optional<int> Rig::ConsulLeaderServer() const {
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    auto r = ConsulServerHttp(i, "GET", "/v1/status/leader");
    if (!r.ok() || r->status != 200) continue;
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_string()) continue;
    const std::string leader = j.get<std::string>();  // "ip:8300"
    const std::string ip = leader.substr(0, leader.rfind(':'));
    for (int s = 0; s < RigNetwork::kServers; ++s) {
      if (server(s).ip == ip) return s;
    }
  }
  return std::nullopt;
}

// ------------------------------------------------------------------ Redis

Status Rig::StartRedis(int k, const RedisStart& how) {
  if (Status st = SpawnRedis(k, how); !st.ok()) return st;
  return WaitRedis(k, how.wait_loaded);
}

Status Rig::SpawnRedis(int k, const RedisStart& how) {
  Host& h = hosts_.at(k);
  if (h.redis.Running()) return FailedPrecondition(host(k).name + ": redis already running");
  if (how.wipe) WipeRedis(k);
  std::vector<std::string> argv = {"redis-server"};
  argv.insert(argv.end(), h.redis_args.begin(), h.redis_args.end());
  const std::vector<std::string> where = {
      "--port", std::to_string(kRedisPort), "--bind", host(k).ip, "127.0.0.1",
      "--dir", (host_dir(k) / "redis").string(), "--daemonize", "no",
      // A host's own firewall, not protected mode, guards production Redis
      // (the official image turns protected mode off as well).
      "--protected-mode", "no"};
  argv.insert(argv.end(), where.begin(), where.end());
  argv.insert(argv.end(), how.extra_args.begin(), how.extra_args.end());
  auto child = ChildProcess::Start(
      {.argv = RigNetwork::InMember(host(k), argv), .log_dir = host_dir(k), .log_name = "redis.log"});
  if (!child.ok()) return child.status();
  h.redis = std::move(*child);
  return Status::Ok();
}

// Ready as a Type=notify redis-server is once it has loaded its data
// (`loaded`), or answering at all.
Status Rig::WaitRedis(int k, bool loaded) {
  Host& h = hosts_.at(k);
  // 2 ms: the readiness gap of a notify unit is what the tests measure
  // windows against, so the rig must not add much to it.
  const bool up = WaitFor(
      [&] {
        if (!h.redis.Running()) return true;
        auto r = Redis(k, {"PING"}, kObserveTimeout);
        if (!loaded) return r.ok() || r.status().message().find("LOADING") != std::string::npos;
        return r.ok() && *r == "PONG";
      },
      kRedisReadyTimeout, milliseconds(2));
  if (h.redis.Running() && up) return Status::Ok();
  const std::string what = h.redis.Running() ? "did not answer PING" : "exited during start";
  h.redis.Kill();
  return Unavailable(host(k).name + ": redis-server " + what + "; log tail:\n" + TailFile(redis_log(k), 20));
}

void Rig::WipeRedis(int k) {
  std::error_code ec;  // a file that is already gone is what we want
  for (const auto& entry : std::filesystem::directory_iterator(host_dir(k) / "redis", ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
}

// ------------------------------------------------------------------ agents

int Rig::StatePort(int k) const {
  const auto& env = agent_env(k);
  auto it = env.find("STATE_LISTEN_ADDR");
  if (it == env.end()) return 8080;  // the agent's default, 0.0.0.0:8080
  int port = 0;
  const std::string& v = it->second;
  const auto colon = v.rfind(':');
  std::from_chars(v.data() + colon + 1, v.data() + v.size(), port);
  return port;
}

Status Rig::StartAgent(int k, const std::map<std::string, std::string>& extra_env) {
  Host& h = hosts_.at(k);
  if (h.agent.Running()) return FailedPrecondition(host(k).name + ": resec already running");
  std::map<std::string, std::string> env = h.env;
  for (const auto& [key, value] : extra_env) env[key] = value;
  if (options_.faketime) {
    const std::filesystem::path offset = host_dir(k) / "faketime";
    if (!std::filesystem::exists(offset)) std::ofstream(offset) << "+0\n";
    env["LD_PRELOAD"] = kFaketimeLib;
    env["FAKETIME_TIMESTAMP_FILE"] = offset.string();
    env["FAKETIME_NO_CACHE"] = "1";  // re-read the file on every clock read: steps apply at once
    if (!options_.faketime_monotonic) env["DONT_FAKE_MONOTONIC"] = "1";
    // An ASan agent refuses to start with another library preloaded before
    // its runtime; libfaketime only wraps clock calls, which ASan leaves be.
    const char* asan = std::getenv("ASAN_OPTIONS");
    env["ASAN_OPTIONS"] = std::string(asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "") +
                          "verify_asan_link_order=0";
  }
  // The log is appended to across restarts: only what this start writes counts.
  std::error_code ec;  // no log yet: the first start
  const auto log_size = std::filesystem::file_size(agent_log(k), ec);
  const size_t log_offset = ec ? 0 : static_cast<size_t>(log_size);
  auto child = ChildProcess::Start({.argv = RigNetwork::InMember(host(k), {options_.resec_bin}),
                                    .env = env,
                                    .log_dir = host_dir(k),
                                    .log_name = "resec.log"});
  if (!child.ok()) return child.status();
  h.agent = std::move(*child);
  const std::string& ready_line = options_.agent_ready_log_line;
  const bool state_server =
      ready_line.empty() && env.contains("STATE_SERVER") && env.at("STATE_SERVER") == "true";
  const int port = StatePort(k);
  const bool logged = ready_line.empty() || WaitFor(
                                                [&] {
                                                  return !h.agent.Running() ||
                                                         h.agent.ReadLog().find(ready_line, log_offset) !=
                                                             std::string::npos;
                                                },
                                                kAgentReadyTimeout, milliseconds(20));
  const bool up = logged && (!state_server || WaitFor(
                                       [&] {
                                         if (!h.agent.Running()) return true;
                                         auto r = InNetns(host(k).ns, [&] {
                                           return HttpCall("GET", "127.0.0.1", port, "/state", "", {},
                                                           kObserveTimeout);
                                         });
                                         return r.ok() && r->status == 200;
                                       },
                                       kAgentReadyTimeout, milliseconds(20)));
  if (!h.agent.Running()) {
    const ExitStatus exit = h.agent.Wait(milliseconds(0)).value_or(ExitStatus{});
    return Unavailable(host(k).name + ": resec exited during start (" + exit.ToString() + "); log tail:\n" +
                       TailFile(agent_log(k), 30));
  }
  if (!up) {
    h.agent.Kill();
    return Unavailable(host(k).name + (ready_line.empty() ? ": resec's state server did not answer"
                                                          : ": resec did not log '" + ready_line + "'") +
                       "; log tail:\n" +
                       TailFile(agent_log(k), 30));
  }
  return Status::Ok();
}

ExitStatus Rig::StopAgent(int k, milliseconds timeout) { return hosts_.at(k).agent.Stop(timeout); }

ChildProcess& Rig::Process(int k, HostProcess which) {
  Host& h = hosts_.at(k);
  switch (which) {
    case HostProcess::kConsul: return h.consul;
    case HostProcess::kRedis: return h.redis;
    case HostProcess::kAgent: return h.agent;
  }
  return h.agent;
}

Status Rig::StepAgentClock(int k, std::chrono::seconds offset) {
  if (!options_.faketime) return FailedPrecondition("the rig's agents do not run under faketime");
  std::ofstream out(host_dir(k) / "faketime", std::ios::trunc);
  out << (offset.count() >= 0 ? "+" : "") << offset.count() << "s\n";
  if (!out) return Internal("cannot write " + (host_dir(k) / "faketime").string());
  return Status::Ok();
}

CommandResult Rig::RunResec(int k, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {options_.resec_bin};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = "cli-" + std::to_string(++cli_runs_) + ".log";
  CommandResult result;
  auto child = ChildProcess::Start(
      {.argv = RigNetwork::InMember(host(k), argv), .env = agent_env(k), .log_dir = host_dir(k), .log_name = log});
  if (!child.ok()) {
    result.output = child.status().message();
    return result;
  }
  std::optional<ExitStatus> exit = child->Wait(kCliTimeout);
  result.exit = exit.value_or(child->Kill());
  result.output = child->ReadLog();
  // Drop the launcher's "=== start" marker line.
  if (result.output.rfind("===", 0) == 0) result.output = result.output.substr(result.output.find('\n') + 1);
  return result;
}

// ------------------------------------------------------------------ hosts

Status Rig::StartHost(int k, const RedisStart& how) {
  const DeploymentExample& order = hosts_.at(k).order;
  if (Status st = SpawnConsulClient(k); !st.ok()) return st;
  if (Status st = SpawnRedis(k, how); !st.ok()) return st;
  if (order.wait_until_ready && order.agent_after_redis) {
    if (Status st = WaitRedis(k, how.wait_loaded); !st.ok()) return st;
  }
  if (order.wait_until_ready && order.agent_after_consul) {
    if (Status st = WaitConsulClient(k); !st.ok()) return st;
  }
  if (options_.start_agents) {
    if (Status st = StartAgent(k); !st.ok()) return st;
  }
  if (Status st = WaitRedis(k, how.wait_loaded); !st.ok()) return st;
  if (Status st = WaitConsulClient(k); !st.ok()) return st;
  for (Sidecar& s : hosts_.at(k).sidecars) {
    if (Status st = SpawnSidecar(k, s); !st.ok()) return st;
  }
  return Status::Ok();
}

std::vector<ChildProcess*> Rig::Host::Processes() {
  std::vector<ChildProcess*> out;
  // A handle that never held a process (no agent with start_agents = false)
  // is no process of the host.
  for (ChildProcess* p : {&agent, &redis, &consul}) {
    if (p->pid() > 0) out.push_back(p);
  }
  for (Sidecar& s : sidecars) out.push_back(&s.process);
  return out;
}

Status Rig::SpawnSidecar(int k, Sidecar& s) {
  if (s.process.Running()) return FailedPrecondition(host(k).name + ": " + s.name + " already running");
  auto child = ChildProcess::Start(
      {.argv = RigNetwork::InMember(host(k), s.argv), .log_dir = host_dir(k), .log_name = s.name + ".log"});
  if (!child.ok()) return child.status();
  s.process = std::move(*child);
  return Status::Ok();
}

Status Rig::AddSidecar(int k, const std::string& name, std::vector<std::string> argv) {
  if (FindSidecar(k, name) != nullptr) return FailedPrecondition(host(k).name + ": sidecar " + name + " exists");
  Host& h = hosts_.at(k);
  h.sidecars.push_back({.name = name, .argv = std::move(argv), .process = {}});
  logs_.Add(host(k).name + " " + name, host_dir(k) / (name + ".log"));
  return SpawnSidecar(k, h.sidecars.back());
}

Rig::Sidecar* Rig::FindSidecar(int k, const std::string& name) {
  for (Sidecar& s : hosts_.at(k).sidecars) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool Rig::SidecarRunning(int k, const std::string& name) {
  Sidecar* s = FindSidecar(k, name);
  return s != nullptr && s->process.Running();
}

bool Rig::SidecarPaused(int k, const std::string& name) const {
  for (const Sidecar& s : hosts_.at(k).sidecars) {
    if (s.name == name) return s.process.paused();
  }
  return false;
}

void Rig::CrashHost(int k) {
  Host& h = hosts_.at(k);
  // Every signal first, then the reaping: the processes die together.
  for (ChildProcess* p : h.Processes()) p->Signal(SIGKILL);
  for (ChildProcess* p : h.Processes()) p->Kill();
}

Status Rig::RestartHost(int k, const RedisStart& how) {
  CrashHost(k);
  return StartHost(k, how);
}

Status Rig::FreezeHost(int k) {
  Host& h = hosts_.at(k);
  for (ChildProcess* p : h.Processes()) p->Signal(SIGSTOP);
  for (ChildProcess* p : h.Processes()) {
    if (!p->Pause()) return Unavailable(host(k).name + ": a process exited instead of stopping");
  }
  return Status::Ok();
}

void Rig::ThawHost(int k) {
  Host& h = hosts_.at(k);
  // The reverse of the freeze: the agent last.
  std::vector<ChildProcess*> all = h.Processes();
  for (auto it = all.rbegin(); it != all.rend(); ++it) (*it)->Resume();
}

// ------------------------------------------------------------------ observation

StatusOr<std::string> Rig::Redis(int k, const std::vector<std::string>& argv, milliseconds timeout) const {
  return InNetns(host(k).ns, [&] { return RedisOnce("127.0.0.1", kRedisPort, argv, timeout); });
}

std::map<std::string, std::string> Rig::Info(int k, const std::string& section) const {
  auto r = Redis(k, {"INFO", section}, kObserveTimeout);
  return r.ok() ? ParseInfoText(*r) : std::map<std::string, std::string>{};
}

StatusOr<HttpReply> Rig::ConsulServerHttp(int i, const std::string& method, const std::string& path,
                                          const std::string& body) const {
  return InNetns(server(i).ns, [&] {
    return HttpCall(method, "127.0.0.1", kConsulHttpPort, path, body, {}, kObserveTimeout);
  });
}

StatusOr<HttpReply> Rig::ConsulClientHttp(int k, const std::string& method, const std::string& path) const {
  return InNetns(host(k).ns, [&] {
    return HttpCall(method, "127.0.0.1", kConsulHttpPort, path, "", {}, kObserveTimeout);
  });
}

StatusOr<HttpReply> Rig::ConsulGet(const std::string& path) const {
  Status last = Unavailable("no Consul server answered " + path);
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    auto r = ConsulServerHttp(i, "GET", path);
    if (r.ok() && r->status == 200) return r;
    if (!r.ok()) last = r.status();
  }
  return last;
}

StatusOr<std::vector<HealthInstance>> Rig::Service(const std::string& service) const {
  auto r = ConsulGet("/v1/health/service/" + service);
  if (!r.ok()) return r.status();
  return ParseHealthReply(*r, service);
}

int Rig::HostOf(const std::string& name) const {
  for (int k = 0; k < hosts(); ++k) {
    if (name == host(k).name || name == host(k).ip || name == "redis" + std::to_string(k + 1)) return k;
  }
  return -1;
}

std::optional<int> Rig::RedisConverged(std::string* why, const std::vector<int>& down) const {
  auto fail = [&](std::string reason) -> std::optional<int> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  auto is_down = [&](int k) { return std::find(down.begin(), down.end(), k) != down.end(); };
  std::vector<std::map<std::string, std::string>> info(static_cast<size_t>(hosts()));
  std::optional<int> master;
  for (int k = 0; k < hosts(); ++k) {
    if (is_down(k)) continue;
    info[k] = Info(k, "replication");
    const std::string role = InfoText(info[k], "role");
    if (role.empty()) return fail(host(k).name + ": Redis does not answer");
    if (role == "master") {
      if (master) return fail("two Redis masters: " + host(*master).name + " and " + host(k).name);
      master = k;
    }
  }
  if (!master) return fail("no Redis master");
  for (int k = 0; k < hosts(); ++k) {
    if (k == *master || is_down(k)) continue;
    const std::string upstream = InfoText(info[k], "master_host");
    if (HostOf(upstream) != *master || InfoText(info[k], "master_link_status") != "up") {
      return fail(host(k).name + " replicates " + upstream + " (link " + InfoText(info[k], "master_link_status") +
                  "), not " + host(*master).name);
    }
  }
  return master;
}

std::optional<int> Rig::Converged(std::string* why, const std::vector<int>& down) const {
  auto fail = [&](std::string reason) -> std::optional<int> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  const std::optional<int> master = RedisConverged(why, down);
  if (!master) return std::nullopt;
  auto masters = Service("redis-master");
  auto slaves = Service("redis-slave");
  if (!masters.ok()) return fail("catalog: " + masters.status().message());
  if (!slaves.ok()) return fail("catalog: " + slaves.status().message());
  std::vector<int> passing_slaves;
  int passing_masters = 0;
  for (const HealthInstance& e : *masters) {
    if (!e.Passing()) continue;
    ++passing_masters;
    if (HostOf(e.node) != *master) return fail("a passing master instance on " + e.node);
  }
  if (passing_masters != 1) return fail(std::to_string(passing_masters) + " passing master instances");
  for (const HealthInstance& e : *slaves) {
    if (e.Passing()) passing_slaves.push_back(HostOf(e.node));
  }
  for (int k = 0; k < hosts(); ++k) {
    const bool listed = std::count(passing_slaves.begin(), passing_slaves.end(), k) == 1;
    if (std::find(down.begin(), down.end(), k) != down.end()) continue;
    if (k != *master && !listed) return fail(host(k).name + " is not listed once as a passing slave");
    if (k == *master && std::count(passing_slaves.begin(), passing_slaves.end(), k) > 0) {
      return fail(host(k).name + " is listed as master and slave");
    }
  }
  return master;
}

std::optional<int> Rig::WaitConverged(milliseconds timeout, std::string* why) const {
  std::optional<int> m;
  WaitFor([&] { return (m = Converged(why)).has_value(); }, timeout, milliseconds(100));
  return m;
}

std::string Rig::Describe() const {
  std::ostringstream o;
  o << "rig " << net_->id() << ": bridge " << net_->bridge() << " " << net_->bridge_ip() << " (" << net_->subnet()
    << "), directory " << dir_.path().string() << "\n";
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    o << "  " << server(i).name << "  " << server(i).ip << "  consul server, HTTP " << server(i).ip << ":8500"
      << "  (ip netns exec " << server(i).ns << " ...)\n";
  }
  for (int k = 0; k < hosts(); ++k) {
    o << "  " << host(k).name << "  " << host(k).ip << "  redis " << redis_addr(k) << ", consul client, resec"
      << "  (ip netns exec " << host(k).ns << " ...; logs " << host_dir(k).string() << ")\n";
  }
  return o.str();
}

// ------------------------------------------------------------------ data

Status Rig::LoadKeys(int k, int64_t n, size_t value_size) {
  return InNetns(host(k).ns, [&]() -> Status {
    // A batch of 1000 keys of a few hundred bytes takes milliseconds; 30 s
    // covers a master that is busy forking for a full sync.
    std::unique_ptr<RedisConn> conn = RedisConn::Connect("127.0.0.1", kRedisPort, seconds(1), seconds(30));
    if (conn == nullptr) return Unavailable(host(k).name + ": cannot connect to Redis");
    const std::string value(value_size, 'v');
    for (int64_t first = 0; first < n; first += kLoadBatch) {
      std::vector<std::string> argv = {"MSET"};
      for (int64_t i = first; i < std::min<int64_t>(n, first + kLoadBatch); ++i) {
        argv.push_back("key:" + std::to_string(i));
        argv.push_back(value);
      }
      ReplyPtr r = conn->Command(argv);
      if (r == nullptr) return Unavailable(host(k).name + ": MSET got no reply");
      if (r->type == REDIS_REPLY_ERROR) return FailedPrecondition(host(k).name + ": MSET: " + RenderReply(r.get()));
    }
    return Status::Ok();
  });
}

int64_t Rig::CountKeys(int k) const {
  // KEYS over 100k keys takes a few milliseconds; EVAL_RO works on replicas.
  auto r = Redis(k, {"EVAL_RO", "return #redis.call('KEYS', ARGV[1])", "0", "key:*"}, seconds(10));
  if (!r.ok()) return -1;
  int64_t n = -1;
  std::from_chars(r->data(), r->data() + r->size(), n);
  return n;
}

StatusOr<std::vector<int64_t>> Rig::WrittenSequence(int k) const {
  // Some 10^4 short strings: milliseconds; 10 s covers a Redis still loading.
  auto r = Redis(k, {"LRANGE", kSeqKey, "0", "-1"}, seconds(10));
  if (!r.ok()) return r.status();
  return IntegerLines(*r);
}

// ------------------------------------------------------------------ clients

std::unique_ptr<Writer> Rig::MakeWriter(Clock::time_point origin) const {
  std::vector<Endpoint> consul;
  for (int i = 0; i < RigNetwork::kServers; ++i) consul.push_back({server(i).ip, kConsulHttpPort});
  std::vector<std::string> addrs;
  for (int k = 0; k < hosts(); ++k) addrs.push_back(redis_addr(k));
  return std::make_unique<Writer>(consul, addrs, origin, net_->HostNames());
}

std::unique_ptr<Prober> Rig::MakeProber(Clock::time_point origin, milliseconds interval,
                                        milliseconds timeout) const {
  std::vector<Endpoint> targets;
  for (int k = 0; k < hosts(); ++k) targets.push_back({"127.0.0.1", kRedisPort, host(k).ns});
  return std::make_unique<Prober>(targets, origin, interval, timeout);
}

std::vector<Endpoint> Rig::ServerEndpoints() const {
  std::vector<Endpoint> out;
  for (int i = 0; i < RigNetwork::kServers; ++i) out.push_back({"127.0.0.1", kConsulHttpPort, server(i).ns});
  return out;
}

}  // namespace resec::testing
