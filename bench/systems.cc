#include "systems.h"

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "relay.h"
#include "sentinel.h"
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
    // Three agents share one address here: with the peer protocol on, each
    // listens on a port of its own (it advertises the announce host, 127.0.0.1,
    // with that port).
    const bool peers = o.env.contains("PEER_TOKEN");
    // ANNOUNCE_ADDR stays unset for the Go resec (it panics at start with
    // it): it then registers only the port of REDIS_ADDR=127.0.0.1:<port>,
    // and its replicas follow the master at the Consul node's address, which
    // is 127.0.0.1 here (the dev agent binds to it).
    if (options_.kind == SystemKind::kResecGo) o.agent_ready_log_line = kResecGoReadyLogLine;
    group_ = std::make_unique<testing::Group>(o);
    if (Status st = group_->Start(); !st.ok()) return st;
    for (int i = 0; i < size(); ++i) {
      if (peers) group_->agent(i).env()["PEER_LISTEN_ADDR"] = "127.0.0.1:" + std::to_string(testing::FreePort());
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


 private:
  SystemOptions options_;
  std::vector<std::unique_ptr<TcpRelay>> relays_;
  std::unique_ptr<testing::Group> group_;
};

// ---------------------------------------------------------------------------
// Redis Sentinel: three sentinels (quorum 2), one per node, from Debian's
// redis-sentinel, configured with a sentinel.conf each.

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
      conf << SentinelConf({.port = s->port,
                            .bind = {"127.0.0.1"},
                            .dir = s->dir.path(),
                            .master_host = "127.0.0.1",
                            .master_port = redis_[0]->port(),
                            .mode = options_.mode});
      conf.close();
      sentinels_.push_back(std::move(s));
      if (Status st = StartSentinel(i); !st.ok()) return st;
    }
    // Sentinels find each other and the replicas through hello messages
    // (every 2 s) and INFO: wait until each knows the whole group.
    const bool ready = WaitFor(
        [&] {
          for (auto& s : sentinels_) {
            auto r = RedisCall(s->port, {"SENTINEL", "master", kSentinelMasterName}, "", "", kProbeTimeout);
            if (!r.ok() || !SentinelKnowsGroup(*r, size())) return false;
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

  std::optional<int> Converged() override {
    const std::optional<int> m = RedisConverged();
    if (!m) return std::nullopt;
    for (auto& s : sentinels_) {
      auto r = RedisCall(s->port, {"SENTINEL", "get-master-addr-by-name", kSentinelMasterName}, "", "", kProbeTimeout);
      auto a = r.ok() ? SentinelAddress(*r) : std::nullopt;
      if (!a || a->port != RedisPort(*m)) return std::nullopt;
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
      } else {
        auto r =
            RedisCall(s->port, {"SENTINEL", "get-master-addr-by-name", kSentinelMasterName}, "", "", kProbeTimeout);
        auto a = r.ok() ? SentinelAddress(*r) : std::nullopt;
        o << "master=" << (a ? std::to_string(a->port) : r.ok() ? *r : r.status().ToString()) << "\n";
      }
    }
    return o.str();
  }

  Status StartSentinel(int i) {
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
  std::vector<CompanionProcess> Companions() override {
    std::vector<CompanionProcess> out;
    for (size_t i = 0; i < sentinels_.size(); ++i) {
      out.push_back({"sentinel" + std::to_string(i), sentinels_[i]->process.pid()});
    }
    return out;
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

std::optional<int> BenchSystem::RedisConverged() {
  std::vector<std::string> infos(size());
  std::optional<int> master;
  for (int i = 0; i < size(); ++i) {
    auto r = RedisCall(RedisPort(i), {"INFO", "replication"}, "", "", kProbeTimeout);
    if (!r.ok()) return std::nullopt;  // a server that does not answer: not converged
    infos[i] = *r;
    if (InfoValue(*r, "role") == "master") {
      if (master) return std::nullopt;  // two masters
      master = i;
    }
  }
  if (!master) return std::nullopt;
  for (int i = 0; i < size(); ++i) {
    if (i == *master) continue;
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
