#include "systems.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "relay.h"
#include "support/agent_group.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/free_port.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace resec::bench {

using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::RedisCall;
using testing::RedisServer;
using testing::WaitFor;

namespace {

// Probes of the group's state: a live server answers on loopback in well under
// a millisecond, so 200 ms only bounds what a wedged one costs a check.
constexpr milliseconds kProbeTimeout{200};

void CopyFile(const std::filesystem::path& from, const std::filesystem::path& to_dir, const std::string& name) {
  std::error_code ec;  // best effort: a missing log is not worth failing over
  std::filesystem::create_directories(to_dir, ec);
  std::filesystem::copy_file(from, to_dir / name, std::filesystem::copy_options::overwrite_existing, ec);
}

// The direct children of this process whose environment has `needle`
// (REDIS_ADDR=...): how the footprint finds an agent's pid without the
// fixture exposing it.
pid_t ChildWithEnv(const std::string& needle) {
  const std::string self = std::to_string(::getpid());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid != self) continue;
    std::ifstream env(entry.path() / "environ", std::ios::binary);
    std::string var;
    while (std::getline(env, var, '\0')) {
      if (var == needle) return static_cast<pid_t>(std::stoi(name));
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------
// resec and resec-go: the test fixture's Group (Consul dev agent, 3 Redis,
// 3 agents), agents configured from the settings table.

// The original Go resec (v1.1.2) has no state server, so the fixture cannot
// ask it whether it is up. It logs this line at info level from its Consul
// loop (resec/consul/manager.go, acquireConsulLeadership) as soon as that
// loop runs, which is after its configuration was accepted (a rejected one
// exits with log.Fatal) and its Redis watcher was started: the same point
// at which our state server starts answering. Its Consul registration is no
// readiness signal: an agent restarted while no passing master is in the
// catalog (agent or node crash, before the dead session's lock is released)
// registers nothing for up to ~45 s, and that wait is part of what the
// benchmark measures, not start-up.
constexpr char kResecGoReadyLogLine[] = "Trying to acquire consul lock";

class ConsulDiscovery : public MasterDiscovery {
 public:
  explicit ConsulDiscovery(int consul_port) : consul_port_(consul_port) {}

  // A blocking query on the passing master service, as a Consul-aware client
  // (or consul-template) watches it: it answers as soon as the catalog changes.
  std::optional<int> Next() override {
    std::string path = "/v1/health/service/redis-master?passing";
    // wait=1s keeps the thread responsive to Stop(); the read timeout allows
    // Consul's jitter (wait/16) on top.
    if (index_ > 0) path += "&index=" + std::to_string(index_) + "&wait=1s";
    const auto start = std::chrono::steady_clock::now();
    auto r = testing::HttpCall("GET", "127.0.0.1", consul_port_, path, "", {}, milliseconds(2500));
    std::optional<int> port;
    uint64_t next_index = 0;
    if (r.ok() && r->status == 200) {
      if (auto it = r->headers.find("X-Consul-Index"); it != r->headers.end()) {
        next_index = std::strtoull(it->second.c_str(), nullptr, 10);
      }
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (j.is_array() && !j.empty() && j[0].contains("Service") && j[0]["Service"].contains("Port")) {
        // Several passing masters: a client takes the first, so do we.
        port = j[0]["Service"]["Port"].get<int>();
      }
    }
    // Never send an index below 1 or one that went backwards (Consul's rules).
    const bool same = next_index == index_;
    index_ = next_index < index_ ? 0 : next_index;
    if (same && std::chrono::steady_clock::now() - start < milliseconds(10)) {
      std::this_thread::sleep_for(milliseconds(10));  // an error or a non-blocking answer: no busy spin
    }
    return port;
  }

 private:
  int consul_port_;
  uint64_t index_ = 0;
};

class ConsulSystem : public BenchSystem {
 public:
  explicit ConsulSystem(const SystemOptions& options) : options_(options) {}

  ~ConsulSystem() override {
    group_.reset();   // agents, Redis and Consul before the relays they talk through
    relays_.clear();
  }

  Status Start() override {
    testing::GroupOptions o;
    o.size = size();
    o.start_agents = false;
    o.consul.node_name = "resec-bench";
    // Debug logs carry one "Request finished ... from=" line per HTTP request.
    o.consul.log_level = options_.count_consul_requests ? "debug" : "warn";
    for (const Setting& s : SettingsFor(options_.kind, options_.mode)) o.env[s.name] = s.value;
    // ANNOUNCE_ADDR stays unset for the Go resec (it panics at start with
    // it): it then registers only the port of REDIS_ADDR=127.0.0.1:<port>,
    // and its replicas follow the master at the Consul node's address, which
    // is 127.0.0.1 here (the dev agent binds to it).
    if (options_.kind == SystemKind::kResecGo) o.agent_ready_log_line = kResecGoReadyLogLine;
    group_ = std::make_unique<testing::Group>(o);
    if (Status st = group_->Start(); !st.ok()) return st;
    for (int i = 0; i < size(); ++i) {
      if (options_.count_consul_requests) {
        auto relay = TcpRelay::Start(group_->consul().http_port());
        if (!relay.ok()) return relay.status();
        group_->agent(i).env()["CONSUL_HTTP_ADDR"] = "127.0.0.1:" + std::to_string((*relay)->port());
        relays_.push_back(std::move(*relay));
      }
      if (Status st = group_->StartAgent(i); !st.ok()) return st;
    }
    if (!WaitFor([&] { return Converged().has_value(); }, kStartTimeout, milliseconds(100))) {
      return Unavailable("group did not converge after start:\n" + Describe());
    }
    return Status::Ok();
  }

  RedisServer& redis(int i) override { return group_->redis(i); }

  std::unique_ptr<MasterDiscovery> MakeDiscovery() override {
    return std::make_unique<ConsulDiscovery>(group_->consul().http_port());
  }

  std::optional<int> Converged() override {
    const std::optional<int> m = RedisConverged();
    if (!m) return std::nullopt;
    auto catalog = group_->Catalog();
    if (!catalog.ok() || catalog->passing_master_ports != std::vector<int>{RedisPort(*m)}) return std::nullopt;
    return m;
  }

  std::string Describe() override {
    std::ostringstream o;
    o << DescribeRedis();
    auto c = group_->Catalog();
    if (!c.ok()) {
      o << "consul: " << c.status().ToString() << "\n";
      return o.str();
    }
    o << "consul passing masters:";
    for (int p : c->passing_master_ports) o << ' ' << p;
    o << "; passing slaves:";
    for (int p : c->passing_slave_ports) o << ' ' << p;
    o << "\n";
    return o.str();
  }

  Status KillCompanion(int i) override {
    group_->agent(i).Kill();
    return Status::Ok();
  }
  Status StartCompanion(int i) override {
    return group_->StartAgent(i);
  }
  Status PauseCompanion(int i) override {
    if (!group_->agent(i).Pause()) return FailedPrecondition("agent " + std::to_string(i) + " is not running");
    return Status::Ok();
  }
  Status ResumeCompanion(int i) override {
    if (!group_->agent(i).Resume()) return FailedPrecondition("agent " + std::to_string(i) + " is not running");
    return Status::Ok();
  }

  // SIGTERM to the master's agent: both resecs release the lock and
  // deregister on it (ours also hands over; the Go resec leaves its Redis a
  // master until its restarted agent demotes it); the agent is restarted
  // later, as a rolling restart would.
  Status BeginSwitchover(int master) override {
    if (!group_->agent(master).Signal(SIGTERM)) return FailedPrecondition("master agent is not running");
    return Status::Ok();
  }
  StatusOr<bool> FinishSwitchover(int master, bool last_chance) override {
    if (group_->agent(master).Running()) {
      if (!last_chance) return false;
      group_->agent(master).Kill();
    }
    if (Status st = group_->StartAgent(master); !st.ok()) return st;
    return true;
  }

  std::vector<CompanionProcess> Companions() override {
    std::vector<CompanionProcess> out;
    for (int i = 0; i < size(); ++i) {
      out.push_back({std::string(SystemName(options_.kind)) + std::to_string(i),
                     ChildWithEnv("REDIS_ADDR=" + group_->redis(i).addr())});
    }
    return out;
  }

  std::optional<int> CompanionOfSourcePort(int port) const override {
    for (size_t i = 0; i < relays_.size(); ++i) {
      if (relays_[i]->UpstreamSourcePorts().contains(port)) return static_cast<int>(i);
    }
    return std::nullopt;
  }
  std::optional<std::filesystem::path> ConsulLog() override { return group_->consul().log_path(); }

  void CopyLogs(const std::filesystem::path& dest) override {
    CopyFile(group_->consul().log_path(), dest, "consul.log");
    for (int i = 0; i < size(); ++i) {
      CopyFile(group_->agent(i).log_path(), dest, "agent" + std::to_string(i) + ".log");
      CopyFile(group_->redis(i).log_path(), dest, "redis" + std::to_string(i) + ".log");
    }
  }

 private:
  SystemOptions options_;
  std::vector<std::unique_ptr<TcpRelay>> relays_;
  std::unique_ptr<testing::Group> group_;
};

// ---------------------------------------------------------------------------
// Redis Sentinel: three sentinels (quorum 2), one per node, from Debian's
// redis-sentinel, configured with a sentinel.conf each.

constexpr char kMasterName[] = "mymaster";

std::map<std::string, std::string> PairsOf(const std::string& flat) {
  std::map<std::string, std::string> out;
  std::istringstream in(flat);
  std::string k, v;
  while (std::getline(in, k) && std::getline(in, v)) out[k] = v;
  return out;
}

std::optional<int> PortOfAddrReply(const std::string& reply) {
  const auto nl = reply.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  const std::string port = reply.substr(nl + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoi(port);
}

class SentinelDiscovery : public MasterDiscovery {
 public:
  explicit SentinelDiscovery(std::vector<int> ports) : ports_(std::move(ports)) {}

  // SENTINEL get-master-addr-by-name, as Sentinel-aware clients do: ask the
  // sentinel that answered last, move to the next one when it does not.
  std::optional<int> Next() override {
    std::this_thread::sleep_for(kSentinelPollInterval);
    for (size_t tries = 0; tries < ports_.size(); ++tries) {
      auto r = RedisCall(ports_[preferred_], {"SENTINEL", "get-master-addr-by-name", kMasterName}, "", "",
                         milliseconds(100));
      if (r.ok()) return PortOfAddrReply(*r);
      preferred_ = (preferred_ + 1) % ports_.size();
    }
    return std::nullopt;
  }

 private:
  std::vector<int> ports_;
  size_t preferred_ = 0;
};

class SentinelSystem : public BenchSystem {
 public:
  explicit SentinelSystem(const SystemOptions& options) : options_(options) {}

  ~SentinelSystem() override {
    sentinels_.clear();  // sentinels first, so they do not react to Redis going away
    redis_.clear();
  }

  Status Start() override {
    for (int i = 0; i < size(); ++i) {
      redis_.push_back(std::make_unique<RedisServer>());
      if (Status st = redis_.back()->Start(); !st.ok()) return st;
    }
    for (int i = 1; i < size(); ++i) {
      if (Status st = redis_[i]->ReplicaOf(*redis_[0]); !st.ok()) return st;
    }
    for (int i = 0; i < size(); ++i) {
      auto s = std::make_unique<Sentinel>();
      s->port = testing::FreePort();
      s->conf = s->dir.path() / "sentinel.conf";
      std::ofstream conf(s->conf);
      conf << "port " << s->port << "\n"
           << "bind 127.0.0.1\n"
           << "daemonize no\n"
           << "dir " << s->dir.path().string() << "\n"
           << "sentinel monitor " << kMasterName << " 127.0.0.1 " << redis_[0]->port() << " 2\n";
      for (const Setting& st : SettingsFor(SystemKind::kSentinel, options_.mode)) {
        conf << "sentinel " << st.name << " " << kMasterName << " " << st.value << "\n";
      }
      conf.close();
      sentinels_.push_back(std::move(s));
      if (Status st = StartCompanion(i); !st.ok()) return st;
    }
    // Sentinels find each other and the replicas through hello messages
    // (every 2 s) and INFO: wait until each knows the whole group.
    const bool ready = WaitFor(
        [&] {
          for (auto& s : sentinels_) {
            auto r = RedisCall(s->port, {"SENTINEL", "master", kMasterName}, "", "", kProbeTimeout);
            if (!r.ok()) return false;
            auto f = PairsOf(*r);
            if (f["num-other-sentinels"] != "2" || f["num-slaves"] != "2") return false;
          }
          return true;
        },
        kStartTimeout, milliseconds(200));
    if (!ready) return Unavailable("sentinels did not discover the group:\n" + Describe());
    if (!WaitFor([&] { return Converged().has_value(); }, kStartTimeout, milliseconds(100))) {
      return Unavailable("sentinel group did not converge after start:\n" + Describe());
    }
    return Status::Ok();
  }

  RedisServer& redis(int i) override { return *redis_.at(i); }

  std::unique_ptr<MasterDiscovery> MakeDiscovery() override {
    std::vector<int> ports;
    for (auto& s : sentinels_) ports.push_back(s->port);
    return std::make_unique<SentinelDiscovery>(ports);
  }

  std::optional<int> Converged() override {
    const std::optional<int> m = RedisConverged();
    if (!m) return std::nullopt;
    for (auto& s : sentinels_) {
      if (!s->process.Running() || s->process.paused()) continue;
      auto r = RedisCall(s->port, {"SENTINEL", "get-master-addr-by-name", kMasterName}, "", "", kProbeTimeout);
      if (!r.ok() || PortOfAddrReply(*r) != RedisPort(*m)) return std::nullopt;
    }
    return m;
  }

  std::string Describe() override {
    std::ostringstream o;
    o << DescribeRedis();
    for (size_t i = 0; i < sentinels_.size(); ++i) {
      auto& s = sentinels_[i];
      o << "sentinel" << i << " :" << s->port << " ";
      if (!s->process.Running()) {
        o << "down\n";
      } else if (s->process.paused()) {
        o << "paused\n";
      } else {
        auto r = RedisCall(s->port, {"SENTINEL", "get-master-addr-by-name", kMasterName}, "", "", kProbeTimeout);
        o << "master=" << (r.ok() ? std::to_string(PortOfAddrReply(*r).value_or(0)) : r.status().ToString())
          << "\n";
      }
    }
    return o.str();
  }

  Status KillCompanion(int i) override {
    sentinels_.at(i)->process.Kill();
    return Status::Ok();
  }
  // Starts (or restarts, with the config file it rewrote) sentinel i.
  Status StartCompanion(int i) override {
    Sentinel& s = *sentinels_.at(i);
    if (s.process.Running()) return FailedPrecondition("sentinel " + std::to_string(i) + " is running");
    auto p = ChildProcess::Start(
        {.argv = {"redis-sentinel", s.conf.string()}, .log_dir = s.dir.path(), .log_name = "sentinel.log"});
    if (!p.ok()) return p.status();
    s.process = std::move(*p);
    if (!WaitFor([&] { return RedisCall(s.port, {"PING"}, "", "", kProbeTimeout).ok(); }, std::chrono::seconds(10))) {
      return Unavailable("sentinel " + std::to_string(i) + " did not answer:\n" +
                         testing::TailFile(s.process.log_path(), 20));
    }
    return Status::Ok();
  }
  Status PauseCompanion(int i) override {
    if (!sentinels_.at(i)->process.Pause()) return FailedPrecondition("sentinel is not running");
    return Status::Ok();
  }
  Status ResumeCompanion(int i) override {
    if (!sentinels_.at(i)->process.Resume()) return FailedPrecondition("sentinel is not running");
    return Status::Ok();
  }

  // SENTINEL FAILOVER: a forced failover without asking the others.
  Status BeginSwitchover(int /*master*/) override {
    Status last = Unavailable("no sentinel answered");
    for (auto& s : sentinels_) {
      auto r = RedisCall(s->port, {"SENTINEL", "FAILOVER", kMasterName}, "", "", milliseconds(2000));
      if (r.ok()) return Status::Ok();
      last = r.status();
    }
    return last;
  }
  StatusOr<bool> FinishSwitchover(int, bool) override { return true; }

  std::vector<CompanionProcess> Companions() override {
    std::vector<CompanionProcess> out;
    for (size_t i = 0; i < sentinels_.size(); ++i) {
      out.push_back({"sentinel" + std::to_string(i), sentinels_[i]->process.pid()});
    }
    return out;
  }

  void CopyLogs(const std::filesystem::path& dest) override {
    for (int i = 0; i < size(); ++i) {
      CopyFile(sentinels_[i]->process.log_path(), dest, "sentinel" + std::to_string(i) + ".log");
      CopyFile(sentinels_[i]->conf, dest, "sentinel" + std::to_string(i) + ".conf");
      CopyFile(redis_[i]->log_path(), dest, "redis" + std::to_string(i) + ".log");
    }
  }

 private:
  struct Sentinel {
    int port = 0;
    testing::TempDir dir{"sentinel"};
    std::filesystem::path conf;
    ChildProcess process;  // last: killed before the directory goes
  };

  SystemOptions options_;
  std::vector<std::unique_ptr<RedisServer>> redis_;
  std::vector<std::unique_ptr<Sentinel>> sentinels_;
};

}  // namespace

// ---------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> ParseInfoFields(const std::string& info) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(info);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    out.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return out;
}

std::string InfoValue(const std::string& info, const std::string& key) {
  for (auto& [k, v] : ParseInfoFields(info)) {
    if (k == key) return v;
  }
  return "";
}

Status BenchSystem::KillRedis(int i) {
  redis(i).Kill();
  return Status::Ok();
}
Status BenchSystem::StartRedis(int i) { return redis(i).Start(); }
Status BenchSystem::PauseRedis(int i) {
  return redis(i).Pause() ? Status::Ok() : FailedPrecondition("redis " + std::to_string(i) + " is not running");
}
Status BenchSystem::ResumeRedis(int i) {
  return redis(i).Resume() ? Status::Ok() : FailedPrecondition("redis " + std::to_string(i) + " is not running");
}

bool BenchSystem::RedisLive(int i) { return redis(i).Running() && !redis(i).process().paused(); }

std::optional<int> BenchSystem::RedisConverged() {
  std::vector<std::string> infos(size());
  std::optional<int> master;
  for (int i = 0; i < size(); ++i) {
    if (!RedisLive(i)) continue;
    auto r = RedisCall(RedisPort(i), {"INFO", "replication"}, "", "", kProbeTimeout);
    if (!r.ok()) return std::nullopt;  // a live server that does not answer: not converged
    infos[i] = *r;
    if (InfoValue(*r, "role") == "master") {
      if (master) return std::nullopt;  // two masters
      master = i;
    }
  }
  if (!master) return std::nullopt;
  for (int i = 0; i < size(); ++i) {
    if (i == *master || infos[i].empty()) continue;
    if (InfoValue(infos[i], "role") != "slave" ||
        InfoValue(infos[i], "master_port") != std::to_string(RedisPort(*master)) ||
        InfoValue(infos[i], "master_link_status") != "up") {
      return std::nullopt;
    }
  }
  return master;
}

std::string BenchSystem::DescribeRedis() {
  std::ostringstream o;
  for (int i = 0; i < size(); ++i) {
    o << "redis" << i << " :" << RedisPort(i) << " ";
    if (!redis(i).Running()) {
      o << "down\n";
      continue;
    }
    if (redis(i).process().paused()) {
      o << "paused\n";
      continue;
    }
    auto r = RedisCall(RedisPort(i), {"INFO", "replication"}, "", "", kProbeTimeout);
    if (!r.ok()) {
      o << r.status().ToString() << "\n";
      continue;
    }
    o << InfoValue(*r, "role") << " master_port=" << InfoValue(*r, "master_port")
      << " link=" << InfoValue(*r, "master_link_status") << "\n";
  }
  return o.str();
}

std::unique_ptr<BenchSystem> MakeSystem(const SystemOptions& options) {
  if (options.kind == SystemKind::kSentinel) return std::make_unique<SentinelSystem>(options);
  return std::make_unique<ConsulSystem>(options);
}

}  // namespace resec::bench
