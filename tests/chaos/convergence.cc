#include "convergence.h"

#include <sstream>

#include <nlohmann/json.hpp>

namespace resec::chaos {

using nlohmann::json;
using testing::HealthInstance;
using testing::Rig;
using testing::RigNetwork;

namespace {

std::string Field(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

// Server i's answer to a /v1/status/ query as JSON (null when it does not answer).
json ServerStatus(const Rig& rig, int i, const std::string& what) {
  auto r = rig.ConsulServerHttp(i, "GET", "/v1/status/" + what);
  return r.ok() && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
}

}  // namespace

bool ConsulServersAgree(const Rig& rig, std::string* why) {
  std::string first;
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    const json leader = ServerStatus(rig, i, "leader");
    const std::string name = rig.server(i).name;
    if (!leader.is_string() || leader.get<std::string>().empty()) {
      if (why != nullptr) *why = "Consul server " + name + " knows no leader";
      return false;
    }
    if (i == 0) first = leader.get<std::string>();
    if (leader.get<std::string>() != first) {
      if (why != nullptr) *why = "Consul servers disagree on the leader (" + first + " / " + leader.get<std::string>() + ")";
      return false;
    }
    const json peers = ServerStatus(rig, i, "peers");
    if (!peers.is_array() || peers.size() != RigNetwork::kServers) {
      if (why != nullptr) {
        *why = "Consul server " + name + " knows " + (peers.is_array() ? std::to_string(peers.size()) : "no") +
               " Raft peers";
      }
      return false;
    }
  }
  return true;
}

bool ConsulServersHealthy(const Rig& rig, std::string* why) {
  if (!ConsulServersAgree(rig, why)) return false;
  auto r = rig.ConsulGet("/v1/operator/autopilot/health");
  const json j = r.ok() ? json::parse(r->body, nullptr, false) : json();
  if (!j.is_object() || !j.value("Healthy", false) || j.value("FailureTolerance", 0) < 1) {
    if (why != nullptr) *why = "autopilot does not call the servers healthy" + (r.ok() ? "" : ": " + r.status().message());
    return false;
  }
  return true;
}

std::optional<int> GroupConverged(const Rig& rig, std::string* why) {
  std::optional<int> master = rig.Converged(why);
  if (!master) return std::nullopt;
  size_t instances = 0;
  for (const char* service : {"redis-master", "redis-slave"}) {
    auto list = rig.Service(service);
    if (!list.ok()) {
      if (why != nullptr) *why = "catalog: " + list.status().message();
      return std::nullopt;
    }
    instances += list->size();
  }
  if (instances != static_cast<size_t>(rig.hosts())) {
    if (why != nullptr) {
      *why = "the catalog holds " + std::to_string(instances) + " instances for " + std::to_string(rig.hosts()) +
             " hosts (a stale registration)";
    }
    return std::nullopt;
  }
  if (!ConsulServersAgree(rig, why)) return std::nullopt;
  return master;
}

std::string DescribeGroup(const Rig& rig) {
  std::ostringstream o;
  for (int k = 0; k < rig.hosts(); ++k) {
    auto info = rig.Info(k, "replication");
    o << "  " << rig.host(k).name << " redis ";
    const std::string role = Field(info, "role");
    if (role.empty()) {
      o << "does not answer";
    } else if (role == "master") {
      o << "master offset=" << Field(info, "master_repl_offset") << " replicas=" << Field(info, "connected_slaves");
    } else {
      o << "replica of " << Field(info, "master_host") << " link=" << Field(info, "master_link_status")
        << " sync=" << Field(info, "master_sync_in_progress") << " offset=" << Field(info, "slave_repl_offset");
    }
    o << "\n";
  }
  for (const char* service : {"redis-master", "redis-slave"}) {
    auto list = rig.Service(service);
    o << "  catalog " << service << ":";
    if (!list.ok()) {
      o << " " << list.status().message() << "\n";
      continue;
    }
    if (list->empty()) o << " (none)";
    for (const HealthInstance& e : *list) o << " [" << e.id << " on " << e.node << " " << e.WorstStatus() << "]";
    o << "\n";
  }
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    const json leader = ServerStatus(rig, i, "leader");
    const json peers = ServerStatus(rig, i, "peers");
    o << "  consul " << rig.server(i).name << " leader=" << (leader.is_string() ? leader.get<std::string>() : "?")
      << " peers=" << (peers.is_array() ? std::to_string(peers.size()) : "?") << "\n";
  }
  return o.str();
}

}  // namespace resec::chaos
