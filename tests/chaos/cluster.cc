#include "cluster.h"

#include <charconv>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/calls.h"
#include "support/consul_health.h"
#include "support/redis_conn.h"
#include "support/free_port.h"
#include "support/wait_for.h"

namespace resec::chaos {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::RedisOnce;
using testing::TailFile;
using testing::WaitFor;

namespace {

// Observation requests cross a veth inside one machine: a live server answers
// in about a millisecond. 300 ms bounds what a paused or cut one costs a check
// (the runner's path is never cut, but the process may be SIGSTOPped).
constexpr milliseconds kObserveTimeout{300};
// redis-server answers PING within milliseconds, or once it has replayed its
// append-only file: a second or two for what a long run writes.
constexpr std::chrono::seconds kRedisReadyTimeout{30};
// A Consul server opens its HTTP port within a second or two of starting;
// the cluster then needs a Raft election (about a second with
// raft_multiplier 1) and retry-join rounds (every second).
constexpr std::chrono::seconds kConsulReadyTimeout{30};
// The agent's state server listens as soon as the agent has parsed its
// configuration; an ASan build takes longer to start.
constexpr std::chrono::seconds kAgentReadyTimeout{15};

std::string InfoValue(const std::string& info, const std::string& key) {
  std::istringstream in(info);
  std::string line;
  const std::string prefix = key + ":";
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.compare(0, prefix.size(), prefix) == 0) return line.substr(prefix.size());
  }
  return "";
}

int ToInt(const std::string& s, int fallback) {
  int v = 0;
  if (std::from_chars(s.data(), s.data() + s.size(), v).ec != std::errc()) return fallback;
  return v;
}

StatusOr<std::vector<ServiceInstance>> ParseHealth(const testing::HttpReply& reply, const std::string& path) {
  auto parsed = testing::ParseHealthReply(reply, path);
  if (!parsed.ok()) return parsed.status();
  std::vector<ServiceInstance> out;
  for (const testing::HealthInstance& h : *parsed) {
    out.push_back({.id = h.id, .node = h.node, .address = h.address, .port = h.port, .status = h.WorstStatus()});
  }
  return out;
}

std::string Slurp(const std::filesystem::path& p, int lines) { return TailFile(p, lines); }

}  // namespace

Cluster::Cluster(const Network& net, ClusterOptions options) : net_(net), options_(std::move(options)) {
  for (int i = 0; i < kNodes; ++i) {
    std::error_code ec;
    std::filesystem::create_directories(node_dir(i) / "redis", ec);
    std::filesystem::create_directories(node_dir(i) / "consul-data", ec);
    if (!net_.namespaces()) {
      // Loopback: the nodes share the host's port space.
      NodePorts& p = ports_[i];
      p.redis = testing::FreePort();
      p.consul_http = testing::FreePort();
      p.consul_server = testing::FreePort();
      p.consul_serf = testing::FreePort();
      p.state = testing::FreePort();
    }
  }
}

Cluster::~Cluster() {
  for (auto& a : agents_) a.Kill();
  for (auto& r : redis_) r.Kill();
  for (auto& c : consul_) c.Kill();
}

std::vector<testing::Endpoint> Cluster::ConsulClientAddrs() const {
  std::vector<testing::Endpoint> out;
  for (int i = 0; i < kNodes; ++i) out.push_back({net(i).ip, ports(i).consul_http});
  return out;
}

int Cluster::NodeOfName(const std::string& name) const {
  for (int i = 0; i < kNodes; ++i) {
    if (node_name(i) == name) return i;
  }
  return -1;
}

Status Cluster::StartConsul(int i) {
  if (consul_[i].Running()) return FailedPrecondition(node_name(i) + ": consul already running");
  const NodeNet& n = net(i);
  const NodePorts& p = ports(i);
  std::string client = n.ip;
  if (n.mgmt_ip != n.ip) client += " " + n.mgmt_ip;
  std::vector<std::string> argv = {options_.consul_bin,
                                   "agent",
                                   "-server",
                                   "-bootstrap-expect=3",
                                   "-node=" + node_name(i),
                                   "-bind=" + n.ip,
                                   "-client=" + client,
                                   "-data-dir=" + (node_dir(i) / "consul-data").string(),
                                   "-http-port=" + std::to_string(p.consul_http),
                                   "-server-port=" + std::to_string(p.consul_server),
                                   "-serf-lan-port=" + std::to_string(p.consul_serf),
                                   "-serf-wan-port=-1",
                                   "-dns-port=-1",
                                   "-grpc-port=-1",
                                   "-grpc-tls-port=-1",
                                   // Rejoin quickly after a restart or a healed cut.
                                   "-retry-interval=1s",
                                   "-log-level=warn",
                                   "-hcl=performance { raft_multiplier = 1 }",
                                   "-hcl=autopilot { cleanup_dead_servers = false }",
                                   "-hcl=disable_update_check = true"};
  for (int j = 0; j < kNodes; ++j) {
    if (j != i) argv.push_back("-retry-join=" + net(j).ip + ":" + std::to_string(ports(j).consul_serf));
  }
  auto child = ChildProcess::Start({.argv = net_.InNode(i, argv), .log_dir = node_dir(i), .log_name = "consul.log"});
  if (!child.ok()) return child.status();
  consul_[i] = std::move(*child);
  const bool up = WaitFor(
      [&] {
        if (!consul_[i].Running() || Stopped()) return true;
        auto r = testing::HttpCall("GET", n.mgmt_ip, p.consul_http, "/v1/status/leader", "", {}, kObserveTimeout);
        return r.ok() && r->status == 200;
      },
      kConsulReadyTimeout, milliseconds(50));
  if (Stopped()) return Cancelled("interrupted");
  if (!consul_[i].Running() || !up) {
    const std::string what = consul_[i].Running() ? "did not answer HTTP in 30 s" : "exited during start";
    consul_[i].Kill();
    return Unavailable(node_name(i) + ": consul " + what + "; log tail:\n" + Slurp(consul_log(i), 30));
  }
  return Status::Ok();
}

Status Cluster::WaitConsulCluster(milliseconds timeout) {
  const bool ok = WaitFor(
      [&] {
        if (Stopped()) return true;
        std::string first;
        for (int i = 0; i < kNodes; ++i) {
          auto r = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/status/leader", "", {},
                                     kObserveTimeout);
          if (!r.ok() || r->status != 200) return false;
          json j = json::parse(r->body, nullptr, false);
          if (!j.is_string() || j.get<std::string>().empty()) return false;
          if (i == 0) first = j.get<std::string>();
          if (j.get<std::string>() != first) return false;
          auto peers = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/status/peers", "", {},
                                         kObserveTimeout);
          if (!peers.ok() || peers->status != 200) return false;
          json pj = json::parse(peers->body, nullptr, false);
          if (!pj.is_array() || pj.size() != kNodes) return false;
        }
        return true;
      },
      timeout, milliseconds(100));
  if (Stopped()) return Cancelled("interrupted");
  if (ok) return Status::Ok();
  std::string tails;
  for (int i = 0; i < kNodes; ++i) tails += "--- " + consul_log(i).string() + "\n" + Slurp(consul_log(i), 15);
  return Unavailable("the Consul servers did not agree on a leader with three peers; logs:\n" + tails);
}

Status Cluster::StartRedis(int i) {
  if (redis_[i].Running()) return FailedPrecondition(node_name(i) + ": redis already running");
  const NodeNet& n = net(i);
  std::vector<std::string> argv = {"redis-server", "--port", std::to_string(ports(i).redis), "--bind", n.ip};
  if (n.mgmt_ip != n.ip) argv.push_back(n.mgmt_ip);
  const std::vector<std::string> rest = {
      "--dir", (node_dir(i) / "redis").string(), "--daemonize", "no", "--protected-mode", "no",
      // Every acknowledged write is in the file before the reply: a SIGKILL
      // loses nothing (the data directory is on tmpfs, so this costs little).
      "--appendonly", "yes", "--appendfsync", "always", "--save", "",
      // Redis 7 waits 5 s for more replicas before a diskless full sync.
      "--repl-diskless-sync-delay", "0"};
  argv.insert(argv.end(), rest.begin(), rest.end());
  argv.insert(argv.end(), options_.redis_extra_args.begin(), options_.redis_extra_args.end());
  auto child = ChildProcess::Start({.argv = net_.InNode(i, argv), .log_dir = node_dir(i), .log_name = "redis.log"});
  if (!child.ok()) return child.status();
  redis_[i] = std::move(*child);
  const bool up = WaitFor(
      [&] {
        if (!redis_[i].Running() || Stopped()) return true;
        auto r = RedisOnce(n.mgmt_ip, ports(i).redis, {"PING"}, kObserveTimeout);
        return r.ok() && *r == "PONG";
      },
      kRedisReadyTimeout, milliseconds(10));
  if (Stopped()) return Cancelled("interrupted");
  if (!redis_[i].Running() || !up) {
    const std::string what = redis_[i].Running() ? "did not answer PING in 30 s" : "exited during start";
    redis_[i].Kill();
    return Unavailable(node_name(i) + ": redis-server " + what + "; log tail:\n" + Slurp(redis_log(i), 20));
  }
  return Status::Ok();
}

void Cluster::WipeRedis(int i) {
  std::error_code ec;  // a file that is already gone is what we want
  for (const auto& entry : std::filesystem::directory_iterator(node_dir(i) / "redis", ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
}

Status Cluster::StartAgent(int i) {
  if (agents_[i].Running()) return FailedPrecondition(node_name(i) + ": agent already running");
  const NodeNet& n = net(i);
  std::map<std::string, std::string> env = options_.agent_env;
  env["REDIS_ADDR"] = redis_addr(i);
  env["ANNOUNCE_ADDR"] = redis_addr(i);
  env["CONSUL_HTTP_ADDR"] = n.ip + ":" + std::to_string(ports(i).consul_http);
  env["STATE_SERVER"] = "true";
  // In a namespace, listen everywhere so the runner reaches it over mgmt.
  env["STATE_LISTEN_ADDR"] =
      (n.ns.empty() ? n.ip : std::string("0.0.0.0")) + ":" + std::to_string(ports(i).state);
  auto child = ChildProcess::Start(
      {.argv = net_.InNode(i, {options_.resec_bin}), .env = env, .log_dir = node_dir(i), .log_name = "resec.log"});
  if (!child.ok()) return child.status();
  agents_[i] = std::move(*child);
  const bool up = WaitFor(
      [&] {
        if (!agents_[i].Running() || Stopped()) return true;
        auto r = testing::HttpCall("GET", n.mgmt_ip, ports(i).state, "/state", "", {}, kObserveTimeout);
        return r.ok() && r->status == 200;
      },
      kAgentReadyTimeout, milliseconds(20));
  if (Stopped()) return Cancelled("interrupted");
  if (!agents_[i].Running()) {
    const testing::ExitStatus exit = agents_[i].Wait(milliseconds(0)).value_or(testing::ExitStatus{});
    return Unavailable(node_name(i) + ": resec exited during start (" + exit.ToString() +
                       "); log tail:\n" + Slurp(agent_log(i), 30));
  }
  if (!up) {
    agents_[i].Kill();
    return Unavailable(node_name(i) + ": resec state server did not answer in 15 s; log tail:\n" +
                       Slurp(agent_log(i), 30));
  }
  return Status::Ok();
}

std::optional<int> Cluster::ConsulLeaderNode() const {
  for (int i = 0; i < kNodes; ++i) {
    auto r = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/status/leader", "", {},
                               kObserveTimeout);
    if (!r.ok() || r->status != 200) continue;
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_string()) continue;
    const std::string leader = j.get<std::string>();  // "ip:server-port"
    const auto colon = leader.rfind(':');
    if (colon == std::string::npos) continue;
    const std::string ip = leader.substr(0, colon);
    const int port = ToInt(leader.substr(colon + 1), 0);
    for (int k = 0; k < kNodes; ++k) {
      if (net(k).ip == ip && ports(k).consul_server == port) return k;
    }
  }
  return std::nullopt;
}

int Cluster::AnyConsulWithLeader() const {
  for (int i = 0; i < kNodes; ++i) {
    auto r = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/status/leader", "", {},
                               kObserveTimeout);
    if (!r.ok() || r->status != 200) continue;
    json j = json::parse(r->body, nullptr, false);
    if (j.is_string() && !j.get<std::string>().empty()) return i;
  }
  return -1;
}

ClusterView Cluster::Observe() const {
  ClusterView v;
  for (int i = 0; i < kNodes; ++i) {
    RedisView& r = v.redis[i];
    auto info = RedisOnce(net(i).mgmt_ip, ports(i).redis, {"INFO", "replication"}, kObserveTimeout);
    if (!info.ok()) {
      r.error = info.status().message();
    } else {
      r.reachable = true;
      r.role = InfoValue(*info, "role");
      r.master_host = InfoValue(*info, "master_host");
      r.master_port = ToInt(InfoValue(*info, "master_port"), 0);
      r.link = InfoValue(*info, "master_link_status");
      const std::string off = InfoValue(*info, r.role == "master" ? "master_repl_offset" : "slave_repl_offset");
      r.offset = ToInt(off, -1);
    }
  }
  int ask = -1;
  for (int i = 0; i < kNodes; ++i) {
    auto r = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/status/leader", "", {},
                               kObserveTimeout);
    json j = r.ok() && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
    v.leader[i] = j.is_string() ? j.get<std::string>() : "?";
    if (ask < 0 && j.is_string() && !v.leader[i].empty()) ask = i;
    auto p = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/status/peers", "", {},
                               kObserveTimeout);
    json pj = p.ok() && p->status == 200 ? json::parse(p->body, nullptr, false) : json();
    v.peers[i] = pj.is_array() ? static_cast<int>(pj.size()) : -1;
  }
  if (ask < 0) {
    v.catalog_error = "no Consul server knows a leader";
    return v;
  }
  for (auto [path, out] : {std::pair{std::string("/v1/health/service/redis-master"), &v.masters},
                           std::pair{std::string("/v1/health/service/redis-slave"), &v.slaves}}) {
    auto r = testing::HttpCall("GET", net(ask).mgmt_ip, ports(ask).consul_http, path, "", {}, kObserveTimeout);
    if (!r.ok()) {
      v.catalog_error = r.status().message();
      return v;
    }
    auto parsed = ParseHealth(*r, path);
    if (!parsed.ok()) {
      v.catalog_error = parsed.status().message();
      return v;
    }
    *out = std::move(*parsed);
  }
  v.catalog_ok = true;
  return v;
}

std::optional<int> Cluster::Converged(const Cluster& c, const ClusterView& v, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<int> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  std::optional<int> master;
  for (int i = 0; i < kNodes; ++i) {
    if (!v.redis[i].reachable) return fail(c.node_name(i) + " redis does not answer: " + v.redis[i].error);
    if (v.redis[i].role == "master") {
      if (master) return fail("two Redis masters: " + c.node_name(*master) + " and " + c.node_name(i));
      master = i;
    }
  }
  if (!master) return fail("no Redis master");
  const int m = *master;
  for (int i = 0; i < kNodes; ++i) {
    if (i == m) continue;
    const RedisView& r = v.redis[i];
    if (r.master_host != c.net(m).ip || r.master_port != c.ports(m).redis || r.link != "up") {
      return fail(c.node_name(i) + " replicates " + r.master_host + ":" + std::to_string(r.master_port) +
                  " link " + r.link + ", not " + c.redis_addr(m));
    }
  }
  for (int i = 0; i < kNodes; ++i) {
    if (v.leader[i].empty() || v.leader[i] == "?" || v.leader[i] != v.leader[0]) {
      return fail("Consul servers disagree on the leader (" + v.leader[0] + " / " + v.leader[1] + " / " +
                  v.leader[2] + ")");
    }
    if (v.peers[i] != kNodes) return fail(c.node_name(i) + " Consul knows " + std::to_string(v.peers[i]) + " peers");
  }
  if (!v.catalog_ok) return fail("catalog: " + v.catalog_error);
  if (v.masters.size() != 1) return fail(std::to_string(v.masters.size()) + " master service instances");
  const ServiceInstance& sm = v.masters[0];
  if (sm.status != "passing" || sm.node != c.node_name(m) || sm.address != c.net(m).ip ||
      sm.port != c.ports(m).redis) {
    return fail("master service " + sm.id + " on " + sm.node + " " + sm.address + ":" + std::to_string(sm.port) +
                " " + sm.status + " does not match the Redis master " + c.node_name(m));
  }
  if (v.slaves.size() != kNodes - 1) return fail(std::to_string(v.slaves.size()) + " slave service instances");
  std::vector<bool> seen(kNodes, false);
  for (const ServiceInstance& s : v.slaves) {
    const int n = c.NodeOfName(s.node);
    if (n < 0 || n == m || seen[n] || s.status != "passing" || s.address != c.net(n).ip) {
      return fail("slave service " + s.id + " on " + s.node + " " + s.status + " is not one per replica");
    }
    seen[n] = true;
  }
  return m;
}

std::string Cluster::Describe(const ClusterView& v) const {
  std::ostringstream o;
  for (int i = 0; i < kNodes; ++i) {
    const RedisView& r = v.redis[i];
    o << "  " << node_name(i) << " " << redis_addr(i) << " redis ";
    if (!r.reachable) {
      o << "unreachable (" << r.error << ")";
    } else if (r.role == "master") {
      o << "master offset=" << r.offset;
    } else {
      o << r.role << " of " << r.master_host << ":" << r.master_port << " link=" << r.link << " offset=" << r.offset;
    }
    o << "; consul leader=" << (v.leader[i].empty() ? "(none)" : v.leader[i]) << " peers=" << v.peers[i] << "\n";
  }
  if (!v.catalog_ok) {
    o << "  catalog: " << v.catalog_error << "\n";
    return o.str();
  }
  for (auto [label, list] : {std::pair{"master", &v.masters}, std::pair{"slave", &v.slaves}}) {
    o << "  catalog " << label << ":";
    if (list->empty()) o << " (none)";
    for (const ServiceInstance& s : *list) o << " [" << s.id << " on " << s.node << " " << s.status << "]";
    o << "\n";
  }
  return o.str();
}

void Cluster::JoinConsul(int i) {
  for (int j = 0; j < kNodes; ++j) {
    if (j == i) continue;
    // Best effort: the other servers may be down for a fault of their own.
    (void)testing::HttpCall("PUT", net(i).mgmt_ip, ports(i).consul_http,
                            "/v1/agent/join/" + net(j).ip + ":" + std::to_string(ports(j).consul_serf), "", {},
                            milliseconds(2000));
  }
}

int Cluster::CountSessions(const std::string& name) const {
  const int i = AnyConsulWithLeader();
  if (i < 0) return -1;
  auto r = testing::HttpCall("GET", net(i).mgmt_ip, ports(i).consul_http, "/v1/session/list", "", {},
                             kObserveTimeout);
  if (!r.ok() || r->status != 200) return -1;
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_array()) return -1;
  int n = 0;
  for (const json& s : j) {
    if (s.is_object() && s.value("Name", "") == name) ++n;
  }
  return n;
}

}  // namespace resec::chaos
