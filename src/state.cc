#include "resec/state.h"

#include "resec/redact.h"

namespace resec {

std::string_view RoleName(RedisRole role) {
  switch (role) {
    case RedisRole::kMaster: return "master";
    case RedisRole::kReplica: return "slave";  // the original's word, kept for service names and dumps
    case RedisRole::kUnknown: return "unknown";
  }
  return "unknown";
}

bool RedisState::Held() const {
  return role == RedisRole::kReplica && master_host == cmd::kHoldHost && master_port == cmd::kHoldPort;
}

nlohmann::json ToJson(const RedisState& s, bool include_info) {
  nlohmann::json j = {
      {"ready", s.ready},
      {"healthy", s.healthy},
      {"error", s.error},
      {"role", RoleName(s.role)},
      {"loading", s.loading},
      {"master_host", s.master_host},
      {"master_port", s.master_port},
      {"master_link_up", s.master_link_up},
      {"master_link_down_since_seconds", s.master_link_down_since_seconds},
      {"master_sync_in_progress", s.master_sync_in_progress},
      {"slave_repl_offset", s.slave_repl_offset},
      {"master_replid", s.master_replid},
      {"master_replid2", s.master_replid2},
      {"master_repl_offset", s.master_repl_offset},
      {"second_repl_offset", s.second_repl_offset},
      {"repl_backlog_active", s.repl_backlog_active},
      {"connected_slaves", s.connected_slaves},
      {"run_id", s.run_id},
  };
  if (s.upstream) {
    const UpstreamProbe& u = *s.upstream;
    j["upstream"] = {{"host", u.host},       {"port", u.port},         {"reachable", u.reachable},
                     {"error", u.error},     {"run_id", u.run_id},     {"role", RoleName(u.role)},
                     {"replid", u.replid},   {"replid2", u.replid2},   {"offset", u.offset},
                     {"second_offset", u.second_offset}};
  }
  if (include_info) j["info"] = s.info;
  return j;
}

static nlohmann::json ToJson(const ServiceInstance& i) {
  return {{"id", i.id}, {"node", i.node}, {"address", i.address}, {"port", i.port}, {"tags", i.tags}};
}

static nlohmann::json ToJson(const PeerReport& p) {
  return {{"id", p.id},         {"address", p.address}, {"port", p.port},
          {"healthy", p.healthy}, {"role", p.role},     {"replid", p.replid},
          {"replid2", p.replid2}, {"offset", p.offset}, {"priority", p.priority}};
}

nlohmann::json ToJson(const ConsulState& s) {
  nlohmann::json masters = nlohmann::json::array();
  for (const auto& m : s.masters) masters.push_back(ToJson(m));
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& p : s.peers) peers.push_back(ToJson(p));
  nlohmann::json record = nullptr;
  if (s.lock_record) {
    record = {{"holder_id", s.lock_record->holder_id}, {"address", s.lock_record->address},
              {"port", s.lock_record->port},           {"replid", s.lock_record->replid},
              {"offset", s.lock_record->offset},       {"run_id", s.lock_record->run_id}};
  }
  return {
      {"ready", s.ready},
      {"reachable", s.reachable},
      {"error", s.error},
      {"session_id", MaskUuids(s.session_id)},
      {"lock_held", s.lock_held},
      {"lock_free", s.lock_free},
      {"lock_holder_session", MaskUuids(s.lock_holder_session)},
      {"lock_index", s.lock_index},
      {"lock_record", record},
      {"masters_known", s.masters_known},
      {"masters", masters},
      {"registered", s.registered},
      {"registered_role", RoleName(s.registered_role)},
      {"peers", peers},
  };
}

namespace {

void Diff(const nlohmann::json& before, const nlohmann::json& after, const std::string& path,
          std::vector<std::string>& out) {
  if (before.is_object() && after.is_object()) {
    for (const auto& [key, value] : after.items()) {
      const std::string child = path + "." + key;
      if (before.contains(key)) {
        Diff(before.at(key), value, child, out);
      } else {
        out.push_back("modified: " + child + " = " + value.dump());
      }
    }
    for (const auto& [key, value] : before.items()) {
      if (!after.contains(key)) out.push_back("modified: " + path + "." + key + " removed");
    }
    return;
  }
  if (before != after) out.push_back("modified: " + (path.empty() ? "." : path) + " = " + after.dump());
}

}  // namespace

std::vector<std::string> DiffFields(const nlohmann::json& before, const nlohmann::json& after) {
  std::vector<std::string> out;
  Diff(before, after, "", out);
  return out;
}

}  // namespace resec
