#include "support/consul_health.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace resec::testing {
namespace {

using nlohmann::json;

// 0 passing, 1 warning, 2 critical (an unknown status counts as critical).
int Severity(const std::string& status) {
  if (status == "passing") return 0;
  return status == "warning" ? 1 : 2;
}

}  // namespace

bool HealthInstance::Passing() const {
  return std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.second == "passing"; });
}

std::string HealthInstance::WorstStatus() const {
  int worst = 0;
  std::string failing;
  for (const auto& [id, status] : checks) {
    const int level = Severity(status);
    worst = std::max(worst, level);
    if (level > 0) failing += (failing.empty() ? "" : ", ") + id;
  }
  if (worst == 0) return "passing";
  return std::string(worst == 1 ? "warning" : "critical") + " (" + failing + ")";
}

StatusOr<std::vector<HealthInstance>> ParseHealthReply(const HttpReply& reply, const std::string& what) {
  if (reply.status != 200) return Unavailable(what + ": HTTP " + std::to_string(reply.status) + " " + reply.body);
  json j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Internal(what + ": not a JSON array");
  std::vector<HealthInstance> out;
  try {
    for (const json& e : j) {
      HealthInstance s;
      s.id = e.at("Service").value("ID", "");
      s.node = e.at("Node").value("Node", "");
      s.address = e.at("Service").value("Address", "");
      if (s.address.empty()) s.address = e.at("Node").value("Address", "");
      s.port = e.at("Service").value("Port", 0);
      for (const json& c : e.value("Checks", json::array())) {
        s.checks.emplace_back(c.value("CheckID", "?"), c.value("Status", "critical"));
      }
      out.push_back(std::move(s));
    }
  } catch (const json::exception& ex) {
    return Internal(what + ": " + ex.what());
  }
  return out;
}

}  // namespace resec::testing
