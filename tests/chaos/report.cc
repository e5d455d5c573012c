#include "report.h"

#include <cstdio>
#include <fstream>

namespace resec::chaos {

using nlohmann::json;

namespace {

std::string Row(const std::string& kind, int faults, int64_t converge, int64_t dual, int64_t outage,
                int64_t at_fault, const testing::WriteCounts& w, int64_t lost, const std::map<std::string, int>& v) {
  std::string violations;
  for (const auto& [inv, n] : v) violations += (violations.empty() ? "" : ",") + inv + "x" + std::to_string(n);
  char buf[320];
  std::snprintf(buf, sizeof(buf), "chaos: %-22s %6d %10lld %9lld %10lld %9lld %9lld %9lld %10lld %6lld %s\n",
                kind.c_str(), faults, static_cast<long long>(converge), static_cast<long long>(dual),
                static_cast<long long>(outage), static_cast<long long>(at_fault), static_cast<long long>(w.writes),
                static_cast<long long>(w.acked), static_cast<long long>(w.wait_acked), static_cast<long long>(lost),
                violations.empty() ? "-" : violations.c_str());
  return buf;
}

}  // namespace

std::string SummaryTable(const RunSummary& s) {
  char head[256];
  std::snprintf(head, sizeof(head), "chaos: %-22s %6s %10s %9s %10s %9s %9s %9s %10s %6s %s\n", "kind", "faults",
                "converge", "dual", "outage", "at_fault", "writes", "acked", "wait_acked", "lost", "violations");
  std::string out = head;
  int64_t outage = 0, at_fault = 0;
  for (const auto& [name, k] : s.kinds) {
    out += Row(name, k.faults, k.worst_converge_ms, k.worst_dual_master_ms, k.longest_outage_ms,
               k.longest_outage_at_fault_ms, k.writes, k.lost_unconfirmed, k.violations);
    outage = std::max(outage, k.longest_outage_ms);
    at_fault = std::max(at_fault, k.longest_outage_at_fault_ms);
  }
  out += Row("all (incl. warm-up)", s.faults, s.worst_converge_ms, s.worst_dual_master_ms, outage, at_fault, s.writes,
             s.lost_unconfirmed, s.violations_by_invariant);
  out += "chaos: (ms: worst convergence after the heal, longest two-writable-masters window, the writer's longest\n"
         "chaos:  gap between acknowledged writes and its gap at the fault; lost: acknowledged writes WAIT had not\n"
         "chaos:  confirmed, lost with a master the fault killed, froze or cut off)\n";
  return out;
}

std::string SummaryLastLine(const RunSummary& s) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "chaos: faults=%d violations=%d lost_wait_acked=%lld worst_converge_ms=%lld worst_dual_master_ms=%lld",
                s.faults, s.violations, static_cast<long long>(s.lost_wait_acked),
                static_cast<long long>(s.worst_converge_ms), static_cast<long long>(s.worst_dual_master_ms));
  return buf;
}

Status WriteSummaryJson(const RunSummary& s, const std::filesystem::path& path) {
  json j = s.header;
  j["faults"] = s.faults;
  j["duration_s"] = s.duration_s;
  j["aborted"] = s.aborted ? json(*s.aborted) : json(nullptr);
  j["violations"] = s.violations;
  j["violations_by_invariant"] = s.violations_by_invariant;
  j["lost_wait_acked"] = s.lost_wait_acked;
  j["lost_acked"] = s.lost_acked;
  j["lost_acked_unconfirmed_excused"] = s.lost_unconfirmed;
  j["worst_converge_ms"] = s.worst_converge_ms;
  j["worst_dual_master_ms"] = s.worst_dual_master_ms;
  j["promotions_checked"] = s.promotions_checked;
  j["writes"] = {{"writes", s.writes.writes}, {"acked", s.writes.acked}, {"wait_acked", s.writes.wait_acked}};
  json kinds = json::object();
  for (const auto& [name, k] : s.kinds) {
    kinds[name] = {{"faults", k.faults},
                   {"worst_converge_ms", k.worst_converge_ms},
                   {"worst_dual_master_ms", k.worst_dual_master_ms},
                   {"longest_write_outage_ms", k.longest_outage_ms},
                   {"longest_write_outage_at_fault_ms", k.longest_outage_at_fault_ms},
                   {"writes", k.writes.writes},
                   {"acked", k.writes.acked},
                   {"wait_acked", k.writes.wait_acked},
                   {"lost_acked_unconfirmed_excused", k.lost_unconfirmed},
                   {"violations", k.violations}};
  }
  j["kinds"] = kinds;
  for (const auto& [key, value] : s.lists.items()) j[key] = value;
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

}  // namespace resec::chaos
