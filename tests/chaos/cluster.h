// Cluster: the chaos runner's three nodes, each a redis-server, a resec agent
// and a Consul server (a real three-server cluster, so its leader can be
// lost), started inside the node's network namespace (see network.h).
//
// The Cluster starts, kills, pauses and restarts the processes and observes
// the group (INFO of each Redis, each Consul server's view of the leader, the
// catalog, the sessions) through the runner's management path. It decides
// nothing: the runner knows which faults it injected.
//
//   Redis: appendonly yes, appendfsync always, no RDB snapshots, data in the
//     node's directory: a SIGKILL loses nothing acknowledged; WipeRedis()
//     deletes the files for a restart without data.
//   Consul: -server -bootstrap-expect 3, retry-join of the others every
//     second, raft_multiplier 1, and no autopilot clean-up of dead servers (a
//     server that comes back rejoins as the voter it was, instead of waiting
//     out server_stabilization_time as a new one).
//   Agents: the benchmark's tuned settings (bench/settings.cc), REDIS_ADDR and
//     ANNOUNCE_ADDR the node's address, CONSUL_HTTP_ADDR the node's own server.
//
// Thread-safety: every process is started from the thread that owns the
// Cluster (their PDEATHSIG is tied to it); observation calls are stateless
// network requests and may come from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "network.h"
#include "resec/status.h"
#include "support/child_process.h"
#include "support/traffic.h"

namespace resec::chaos {

struct NodePorts {
  int redis = 6379;
  int consul_http = 8500;
  int consul_server = 8300;
  int consul_serf = 8301;
  int state = 8080;
};

struct ClusterOptions {
  std::filesystem::path dir;  // one sub-directory per node
  std::string resec_bin;
  std::string consul_bin;
  // The agents' settings (besides the per-node addresses).
  std::map<std::string, std::string> agent_env;
  // Appended to every redis-server command line.
  std::vector<std::string> redis_extra_args;
  // Set when the run is interrupted: every wait gives up at once.
  const std::atomic<bool>* stop = nullptr;
};

// What one Redis says about itself (INFO replication).
struct RedisView {
  bool reachable = false;
  std::string error;
  std::string role;  // "master" / "slave"
  std::string master_host;
  int master_port = 0;
  std::string link;  // master_link_status
  int64_t offset = -1;
};

// One instance of the master or slave service in the catalog.
struct ServiceInstance {
  std::string id;
  std::string node;     // Consul node name
  std::string address;  // Service.Address, else the node's
  int port = 0;
  std::string status;  // worst of its checks (passing < warning < critical), with the failing ones
};

struct ClusterView {
  std::array<RedisView, kNodes> redis;
  std::array<std::string, kNodes> leader;  // each server's answer ("" none; "?" unreachable)
  std::array<int, kNodes> peers = {-1, -1, -1};
  bool catalog_ok = false;
  std::string catalog_error;
  std::vector<ServiceInstance> masters;
  std::vector<ServiceInstance> slaves;
};

class Cluster {
 public:
  Cluster(const Network& net, ClusterOptions options);
  // Agents first (so they do not react to the rest going away), then Redis,
  // then Consul.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int size() const { return kNodes; }
  const NodeNet& net(int i) const { return net_.node(i); }
  const NodePorts& ports(int i) const { return ports_.at(static_cast<size_t>(i)); }
  std::string node_name(int i) const { return "chaos-n" + std::to_string(i + 1); }
  std::string redis_addr(int i) const { return net(i).ip + ":" + std::to_string(ports(i).redis); }
  // The Consul HTTP addresses a client on the cluster network would use.
  std::vector<testing::Endpoint> ConsulClientAddrs() const;
  // Node index of a Consul node name, -1 if none.
  int NodeOfName(const std::string& name) const;

  // Starts each process; each waits until its process answers (Redis PING,
  // Consul HTTP, agent state server) and fails with its log tail otherwise.
  Status StartConsul(int i);
  Status StartRedis(int i);
  Status StartAgent(int i);
  // Asks node i's Consul server to join the others' Serf. After a cut long
  // enough for Serf to declare the node failed, Serf itself only retries a
  // failed member every 30 s (its reconnect interval); an operator, or a
  // configuration management run, would join it at once.
  void JoinConsul(int i);
  // Waits until every server names the same leader and knows three peers.
  Status WaitConsulCluster(std::chrono::milliseconds timeout);

  void KillConsul(int i) { consul_[i].Kill(); }
  testing::ExitStatus StopConsul(int i) { return consul_[i].Stop(std::chrono::seconds(10)); }
  void KillRedis(int i) { redis_[i].Kill(); }
  void WipeRedis(int i);  // Redis must be down
  bool PauseRedis(int i) { return redis_[i].Pause(); }
  bool ResumeRedis(int i) { return redis_[i].Resume(); }
  void KillAgent(int i) { agents_[i].Kill(); }
  bool PauseAgent(int i) { return agents_[i].Pause(); }
  bool ResumeAgent(int i) { return agents_[i].Resume(); }
  testing::ChildProcess& agent(int i) { return agents_[i]; }
  testing::ChildProcess& redis(int i) { return redis_[i]; }
  testing::ChildProcess& consul(int i) { return consul_[i]; }
  std::filesystem::path agent_log(int i) const { return node_dir(i) / "resec.log"; }
  std::filesystem::path redis_log(int i) const { return node_dir(i) / "redis.log"; }
  std::filesystem::path consul_log(int i) const { return node_dir(i) / "consul.log"; }

  // The node whose Consul server is the Raft leader, per any server that
  // answers; nullopt when none knows one.
  std::optional<int> ConsulLeaderNode() const;

  ClusterView Observe() const;
  // One converged master, or nullopt with *why: every Redis answers, exactly
  // one is master, the others replicate it with their link up; every Consul
  // server names the same leader and three peers; the catalog holds exactly
  // one master instance (passing, on the master's node and address) and one
  // passing slave instance on each other node, and nothing else.
  static std::optional<int> Converged(const Cluster& c, const ClusterView& v, std::string* why);
  std::string Describe(const ClusterView& v) const;

  // Sessions named `name` (the agents' lock session name); -1 if Consul does
  // not answer.
  int CountSessions(const std::string& name) const;

 private:
  std::filesystem::path node_dir(int i) const { return options_.dir / ("n" + std::to_string(i + 1)); }
  bool Stopped() const { return options_.stop != nullptr && options_.stop->load(); }
  // A server to ask (the first that has a leader), -1 if none answers.
  int AnyConsulWithLeader() const;

  const Network& net_;
  ClusterOptions options_;
  std::array<NodePorts, kNodes> ports_;
  std::array<testing::ChildProcess, kNodes> consul_;
  std::array<testing::ChildProcess, kNodes> redis_;
  std::array<testing::ChildProcess, kNodes> agents_;  // last: destroyed first
};

}  // namespace resec::chaos
