#include "scale_report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.h"

namespace resec::bench {

using nlohmann::json;

namespace {

std::string Num(const json& v, int precision = 1) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", precision, v.get<double>());
  return buf;
}

const json& At(const json& j, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return kNull;
    p = &(*p)[k];
  }
  return *p;
}

std::string Series(const json& r) {
  return r.value("system", "?") + " " + r.value("mode", "?") + " " +
         (r.value("write_load", false) ? "50 SET/s/group" : "idle");
}

}  // namespace

StatusOr<std::string> WriteScaleReport(const std::filesystem::path& dir) {
  std::vector<json> results;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename();
    if (name.rfind("scale-", 0) != 0 || e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    json j = json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("groups")) results.push_back(std::move(j));
  }
  if (ec) return Internal("reading " + dir.string() + ": " + ec.message());
  if (results.empty()) return FailedPrecondition("no scale-*.json in " + dir.string());
  // Idle before load, then by system, tuned before defaults, then by N.
  auto order = [](const json& r) {
    return std::tuple(r.value("write_load", false), r.value("system", ""), r.value("mode", "") != "tuned",
                      r.value("groups", 0));
  };
  std::sort(results.begin(), results.end(), [&](const json& a, const json& b) { return order(a) < order(b); });

  std::ostringstream md;
  md << "| system | mode | load | N | agents | HTTP req/min/agent | holder | replica | Raft applies/s | per group"
        " | per group, agents' own | Consul CPU % (3 servers) | Consul RSS MB (mean) | agent RSS MB | agent CPU %"
        " | failover ms p50 | failover runs ms | machine busy % |\n"
     << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
  for (const json& r : results) {
    md << "| " << r.value("system", "?") << " | " << r.value("mode", "?") << " | "
       << (r.value("write_load", false) ? "50 SET/s/group" : "idle") << " | " << r.value("groups", 0) << " | "
       << r.value("agents", 0) << " | ";
    if (r.contains("unavailable")) {
      md << "unavailable: " << r["unavailable"].get<std::string>() << " |||||||||||||\n";
      continue;
    }
    std::string runs;
    if (r.contains("failover_runs") && r["failover_runs"].is_array()) {
      for (const json& x : r["failover_runs"]) runs += (runs.empty() ? "" : ", ") + Num(x["failover_ms"], 0);
    }
    md << Num(r["consul_http_req_per_min_per_agent"]) << " | "
       << Num(At(r, {"consul_http_req_per_min_per_agent_by_role", "holder"})) << " | "
       << Num(At(r, {"consul_http_req_per_min_per_agent_by_role", "replica"})) << " | "
       << Num(At(r, {"raft_applies_per_s", "total"}), 3) << " | "
       << Num(At(r, {"raft_applies_per_s", "per_group"}), 4) << " | "
       << Num(At(r, {"raft_applies_per_s", "per_group_by_agents"}), 4) << " | "
       << Num(At(r, {"consul_server_cpu_pct", "total"})) << " | " << Num(At(r, {"consul_server_rss_mb", "mean"}))
       << " | " << Num(r["agent_rss_mb"]) << " | " << Num(r["agent_cpu_pct"], 2) << " | " << Num(r["failover_ms"], 0)
       << " | " << runs << " | " << Num(At(r, {"machine", "busy_pct_of_all_cores_in_window"})) << " |\n";
  }
  {
    std::ofstream out(dir / "table.md");
    out << md.str();
    if (!out) return Internal("cannot write " + (dir / "table.md").string());
  }

  // One gnuplot data block per series, rows sorted by N.
  std::map<std::string, std::vector<const json*>> series;
  for (const json& r : results) {
    if (!r.contains("unavailable")) series[Series(r)].push_back(&r);
  }
  std::ofstream dat(dir / "cost.dat");
  dat << "# N http_req_per_min_per_agent raft_applies_per_s consul_cpu_pct_total failover_ms\n";
  std::vector<std::string> titles;
  for (auto& [name, rows] : series) {
    std::sort(rows.begin(), rows.end(),
              [](const json* a, const json* b) { return a->value("groups", 0) < b->value("groups", 0); });
    dat << "# " << name << "\n";
    for (const json* r : rows) {
      auto v = [](const json& x) { return x.is_number() ? std::to_string(x.get<double>()) : std::string("NaN"); };
      dat << r->value("groups", 0) << " " << v((*r)["consul_http_req_per_min_per_agent"]) << " "
          << v(At(*r, {"raft_applies_per_s", "total"})) << " " << v(At(*r, {"consul_server_cpu_pct", "total"}))
          << " " << v((*r)["failover_ms"]) << "\n";
    }
    dat << "\n\n";
    titles.push_back(name);
  }
  dat.close();
  std::ofstream gp(dir / "cost.gp");
  gp << "# gnuplot cost.gp, run in this directory (resec_bench scale-report does)\n"
     << "set terminal pngcairo size 1100,760 font 'sans,9'\n"
     << "set output 'cost.png'\n"
     << "set multiplot layout 2,2 title 'N groups of 3 agents on one 3-server Consul cluster (loopback, 2 cores)'\n"
     << "set logscale x\n"
     << "set xlabel 'groups N'\n"
     << "set grid\n"
     << "set key top left font ',8'\n"
     << "set datafile missing 'NaN'\n";
  // Titles hold blanks, which gnuplot's word() would split: an array.
  gp << "array T[" << titles.size() << "]\n";
  for (size_t i = 0; i < titles.size(); ++i) gp << "T[" << i + 1 << "] = '" << titles[i] << "'\n";
  auto panel = [&](const std::string& title, int column, bool logy) {
    gp << "set title '" << title << "'\n" << (logy ? "set logscale y\n" : "unset logscale y\n");
    gp << "plot for [i=1:" << titles.size() << "] 'cost.dat' index (i-1) using 1:" << column
       << " with linespoints lw 2 pt 7 title T[i]\n";
  };
  panel("Consul HTTP requests/min per agent", 2, true);
  panel("Raft applies/s (whole cluster, leader telemetry)", 3, true);
  panel("Consul servers CPU % of one core (sum of 3)", 4, false);
  panel("redis-crash failover of one group, ms (p50)", 5, false);
  gp << "unset multiplot\n";
  gp.close();
  auto p = testing::ChildProcess::Start({.argv = {"gnuplot", "-e", "cd '" + dir.string() + "'",
                                                  (std::filesystem::absolute(dir) / "cost.gp").string()},
                                         .log_dir = dir,
                                         .log_name = "gnuplot.log"});
  if (!p.ok()) return p.status();
  auto exit = p->Wait(std::chrono::seconds(60));
  if (!exit || !exit->Exited() || exit->code != 0) return Internal("gnuplot failed: " + p->ReadLog());
  std::filesystem::remove(dir / "gnuplot.log", ec);
  return md.str();
}

}  // namespace resec::bench
