#include "resec/consul/records.h"

#include <nlohmann/json.hpp>

namespace resec::consul {
namespace {

using nlohmann::json;

// Reads an optional member of the expected type; a wrong type is an error,
// a missing member keeps the default (older agents may write fewer fields).
template <typename T>
bool Read(const json& j, const char* key, T& out, std::string& error) {
  if (!j.contains(key) || j.at(key).is_null()) return true;
  const json& v = j.at(key);
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) {
      error = std::string("field ") + key + " is not a string";
      return false;
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) {
      error = std::string("field ") + key + " is not a boolean";
      return false;
    }
  } else {
    if (!v.is_number_integer()) {
      error = std::string("field ") + key + " is not an integer";
      return false;
    }
  }
  out = v.get<T>();
  return true;
}

StatusOr<json> ParseObject(std::string_view text, const char* what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Internal(std::string("decode ") + what + ": not a JSON object");
  return j;
}

}  // namespace

std::string EncodeLockRecord(const LockRecord& r) {
  json j{{"holder_id", r.holder_id}, {"address", r.address}, {"port", r.port},
         {"replid", r.replid},       {"offset", r.offset}};
  if (!r.successor.empty()) j["successor"] = r.successor;
  if (!r.node.empty()) j["node"] = r.node;
  if (!r.run_id.empty()) j["run_id"] = r.run_id;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<LockRecord> DecodeLockRecord(std::string_view text) {
  auto j = ParseObject(text, "lock record");
  if (!j.ok()) return j.status();
  LockRecord r;
  std::string error;
  if (!Read(*j, "holder_id", r.holder_id, error) || !Read(*j, "address", r.address, error) ||
      !Read(*j, "port", r.port, error) || !Read(*j, "replid", r.replid, error) ||
      !Read(*j, "offset", r.offset, error) || !Read(*j, "successor", r.successor, error) ||
      !Read(*j, "node", r.node, error) || !Read(*j, "run_id", r.run_id, error)) {
    return Internal("decode lock record: " + error);
  }
  if (r.holder_id.empty()) return Internal("decode lock record: no holder_id");
  return r;
}

std::string EncodePeerReport(const PeerReport& p) {
  json j{{"id", p.id},         {"address", p.address}, {"port", p.port},
         {"healthy", p.healthy}, {"role", p.role},     {"replid", p.replid},
         {"replid2", p.replid2}, {"offset", p.offset}, {"priority", p.priority},
         {"free_index", p.free_index}, {"following", p.following}, {"node", p.node},
         {"cooling", p.cooling}};
  // Optional, so reports from older agents still decode (and theirs ours).
  if (!p.run_id.empty()) j["run_id"] = p.run_id;
  if (p.syncing) j["syncing"] = true;
  if (p.loading) j["loading"] = true;
  if (!p.peer.empty()) j["peer"] = p.peer;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<PeerReport> DecodePeerReport(std::string_view text) {
  auto j = ParseObject(text, "peer report");
  if (!j.ok()) return j.status();
  PeerReport p;
  std::string error;
  if (!Read(*j, "id", p.id, error) || !Read(*j, "address", p.address, error) ||
      !Read(*j, "port", p.port, error) || !Read(*j, "healthy", p.healthy, error) ||
      !Read(*j, "role", p.role, error) || !Read(*j, "replid", p.replid, error) ||
      !Read(*j, "replid2", p.replid2, error) || !Read(*j, "offset", p.offset, error) ||
      !Read(*j, "priority", p.priority, error) || !Read(*j, "free_index", p.free_index, error) ||
      !Read(*j, "following", p.following, error) || !Read(*j, "node", p.node, error) ||
      !Read(*j, "cooling", p.cooling, error) || !Read(*j, "run_id", p.run_id, error) ||
      !Read(*j, "syncing", p.syncing, error) || !Read(*j, "loading", p.loading, error) ||
      !Read(*j, "peer", p.peer, error)) {
    return Internal("decode peer report: " + error);
  }
  if (p.id.empty()) return Internal("decode peer report: no id");
  return p;
}

std::string MembersPrefix(const std::string& lock_key) { return lock_key + "/members/"; }
std::string SwitchoverKey(const std::string& lock_key) { return lock_key + "/switchover"; }

std::string EncodeSwitchoverRequest(const SwitchoverRequest& r) {
  return json{{"to", r.to}, {"nonce", r.nonce}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<SwitchoverRequest> DecodeSwitchoverRequest(std::string_view text) {
  auto j = ParseObject(text, "switchover request");
  if (!j.ok()) return j.status();
  SwitchoverRequest r;
  std::string error;
  if (!Read(*j, "to", r.to, error) || !Read(*j, "nonce", r.nonce, error)) {
    return Internal("decode switchover request: " + error);
  }
  return r;
}

}  // namespace resec::consul
