#include "report.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "failover.h"
#include "machine.h"
#include "settings.h"
#include "support/child_process.h"

namespace resec::bench {

using nlohmann::json;

namespace {

constexpr char kBegin[] = "<!-- bench:latest:begin -->";
constexpr char kEnd[] = "<!-- bench:latest:end -->";

std::optional<json> ReadJson(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string Str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::string Num(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(0);
    o << v.get<double>();
    return o.str();
  }
  return v.dump();
}

std::string At(const json& j, const char* obj, const char* key) {
  if (!j.contains(obj) || !j[obj].is_object() || !j[obj].contains(key)) return "-";
  return Num(j[obj][key]);
}

int SystemOrder(const std::string& s) { return s == "resec" ? 0 : s == "resec-go" ? 1 : 2; }
int ModeOrder(const std::string& m) { return m == "tuned" ? 0 : 1; }
int ScenarioOrder(const std::string& s) {
  int i = 0;
  for (Scenario sc : AllScenarios()) {
    if (ScenarioName(sc) == s) return i;
    ++i;
  }
  return i;
}

struct FailoverEntry {
  json summary;
  json runs;  // the .runs.json "runs" array (may be empty)
  std::string system, mode, scenario;
};

std::vector<FailoverEntry> LoadFailover(const std::filesystem::path& dir) {
  std::vector<FailoverEntry> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("failover-", 0) != 0 || name.ends_with(".runs.json") || !name.ends_with(".json")) continue;
    auto j = ReadJson(e.path());
    if (!j || !j->is_object()) continue;
    FailoverEntry f;
    f.summary = *j;
    f.system = Str(*j, "system");
    f.scenario = Str(*j, "scenario");
    f.mode = j->contains("settings") ? Str((*j)["settings"], "mode") : "";
    if (auto r = ReadJson(RunsPathFor(e.path())); r && r->contains("runs")) f.runs = (*r)["runs"];
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const FailoverEntry& a, const FailoverEntry& b) {
    return std::tuple(ScenarioOrder(a.scenario), SystemOrder(a.system), ModeOrder(a.mode)) <
           std::tuple(ScenarioOrder(b.scenario), SystemOrder(b.system), ModeOrder(b.mode));
  });
  return out;
}

std::vector<json> LoadFootprint(const std::filesystem::path& dir) {
  std::vector<json> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("footprint-", 0) != 0 || !name.ends_with(".json")) continue;
    auto j = ReadJson(e.path());
    if (!j || !j->is_array()) continue;
    for (auto& a : *j) out.push_back(a);
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return std::tuple(SystemOrder(Str(a, "system")), ModeOrder(Str(a, "mode")), Str(a, "agent")) <
           std::tuple(SystemOrder(Str(b, "system")), ModeOrder(Str(b, "mode")), Str(b, "agent"));
  });
  return out;
}

// The 1-based number of `note` in `notes`, adding it the first time.
size_t NoteNumber(std::vector<std::string>* notes, const std::string& note) {
  for (size_t i = 0; i < notes->size(); ++i) {
    if ((*notes)[i] == note) return i + 1;
  }
  notes->push_back(note);
  return notes->size();
}

std::string FailoverTable(const std::vector<FailoverEntry>& entries, std::vector<std::string>* notes) {
  std::ostringstream o;
  o << "| scenario | system | mode | runs | failed | unavailable ms p50 | p95 | p99 | max "
       "| converged ms p50 | p95 | p99 | max | longest write stall ms p50 | max | failovers "
       "| lost acked | lost WAIT-acked |\n"
    << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& f : entries) {
    const json& s = f.summary;
    o << "| " << f.scenario << " | " << f.system << " | " << f.mode << " | ";
    if (s.contains("not_applicable") || s.contains("unavailable")) {
      const bool na = s.contains("not_applicable");
      const size_t n = NoteNumber(notes, na ? f.system + " / " + f.scenario + ": not applicable: " +
                                                  Str(s, "not_applicable")
                                            : f.system + ": system unavailable: " + Str(s, "unavailable"));
      o << (na ? "n/a" : "unavailable") << " [" << n << "] |";
      for (int i = 0; i < 14; ++i) o << " |";  // the remaining columns, empty
      o << "\n";
      continue;
    }
    o << Num(s["runs"]) << " | " << Num(s["failed_runs"]) << " | " << At(s, "unavailable_ms", "p50") << " | "
      << At(s, "unavailable_ms", "p95") << " | " << At(s, "unavailable_ms", "p99") << " | "
      << At(s, "unavailable_ms", "max") << " | " << At(s, "converged_ms", "p50") << " | "
      << At(s, "converged_ms", "p95") << " | " << At(s, "converged_ms", "p99") << " | "
      << At(s, "converged_ms", "max") << " | " << At(s, "longest_write_stall_ms", "p50") << " | "
      << At(s, "longest_write_stall_ms", "max") << " | "
      << (s.contains("failover_runs") && !s["failover_runs"].is_null()
              ? Num(s["failover_runs"]) + "/" + Num(s["runs"])
              : "-")
      << " | " << Num(s["lost_acked"]) << " | " << Num(s["lost_wait_acked"]) << " |\n";
  }
  return o.str();
}

// Consul's cost in the steady window of the failover runs, per system and
// mode: the median over every measured run of every scenario (each run's
// window is the same steady state before its fault).
std::string ConsulCostTable(const std::vector<FailoverEntry>& entries) {
  struct Costs {
    std::vector<double> per_agent, master, replicas, raft;
  };
  std::map<std::pair<std::string, std::string>, Costs> by_system;
  auto add = [](std::vector<double>* v, const json& c, const char* key) {
    if (c.contains(key) && c[key].is_number()) v->push_back(c[key].get<double>());
  };
  for (const auto& f : entries) {
    if (!f.runs.is_array()) continue;
    Costs& c = by_system[{f.system, f.mode}];
    for (const auto& r : f.runs) {
      if (!r.contains("consul_cost") || !r["consul_cost"].is_object()) continue;
      const json& k = r["consul_cost"];
      add(&c.per_agent, k, "http_requests_per_min_per_agent");
      add(&c.master, k, "http_requests_per_min_master_host");
      add(&c.replicas, k, "http_requests_per_min_replica_hosts");
      add(&c.raft, k, "raft_applies_per_s");
    }
  }
  if (by_system.empty()) return "";
  auto median = [](const std::vector<double>& v, int precision) -> std::string {
    const auto p = Percentile(v, 50);
    if (!p) return "n/a";
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(precision);
    o << *p;
    return o.str();
  };
  std::ostringstream o;
  o << "| system | mode | runs | Consul HTTP req/min per agent | master's host | replicas' hosts "
       "| Raft applies/s |\n"
    << "|---|---|---:|---:|---:|---:|---:|\n";
  for (const auto& [key, c] : by_system) {
    if (c.raft.empty() && c.per_agent.empty()) continue;
    o << "| " << key.first << " | " << key.second << " | " << std::max(c.raft.size(), c.per_agent.size()) << " | "
      << median(c.per_agent, 1) << " | " << median(c.master, 1) << " | " << median(c.replicas, 1) << " | "
      << median(c.raft, 2) << " |\n";
  }
  return o.str();
}

std::string FootprintTable(const std::vector<json>& agents, std::vector<std::string>* notes) {
  if (agents.empty()) return "";
  std::ostringstream o;
  o << "| system | mode | process | seconds | RSS KiB p50 | RSS KiB max | CPU % | Consul HTTP req/min |\n"
    << "|---|---|---|---:|---:|---:|---:|---:|\n";
  for (const json& a : agents) {
    o << "| " << Str(a, "system") << " | " << Str(a, "mode") << " | ";
    if (a.contains("unavailable")) {
      const size_t n = NoteNumber(notes, Str(a, "system") + ": system unavailable: " + Str(a, "unavailable"));
      o << "unavailable [" << n << "] | | | | | |\n";
      continue;
    }
    std::ostringstream cpu;
    cpu.setf(std::ios::fixed);
    cpu.precision(2);
    cpu << (a.contains("cpu_percent") && a["cpu_percent"].is_number() ? a["cpu_percent"].get<double>() : 0.0);
    o << Str(a, "agent") << " | " << Num(a["seconds"]) << " | " << At(a, "rss_kib", "p50") << " | "
      << At(a, "rss_kib", "max") << " | " << cpu.str() << " | "
      << (a["consul_http_requests_per_min"].is_null() ? "n/a" : Num(a["consul_http_requests_per_min"])) << " |\n";
  }
  return o.str();
}

std::string SettingsTable(const std::vector<FailoverEntry>& entries) {
  std::map<std::pair<std::string, std::string>, json> seen;
  for (const auto& f : entries) {
    if (!f.summary.contains("settings")) continue;
    const json& s = f.summary["settings"];
    seen[{f.system, f.mode}] = s.contains("env") ? s["env"] : s.contains("sentinel_conf") ? s["sentinel_conf"] : json();
  }
  std::ostringstream o;
  o << "| system | mode | settings |\n|---|---|---|\n";
  for (const auto& [key, s] : seen) {
    o << "| " << key.first << " | " << key.second << " | ";
    bool first = true;
    if (s.is_object()) {
      for (auto& [k, v] : s.items()) {
        o << (first ? "" : ", ") << "`" << k << "=" << (v.is_string() ? v.get<std::string>() : v.dump()) << "`";
        first = false;
      }
    }
    o << " |\n";
  }
  return o.str();
}

// The plot: one column per (scenario, system, mode) with runs; a box plot of
// its unavailable_ms and every run as a point, on a log scale (runs range from
// milliseconds to tens of seconds).
Status WritePlot(const std::filesystem::path& dir, const std::vector<FailoverEntry>& entries) {
  std::ofstream dat(dir / "unavailable.dat");
  std::vector<std::string> labels, colors;
  int column = 0;
  for (const auto& f : entries) {
    std::vector<double> values;
    if (f.runs.is_array()) {
      for (const auto& r : f.runs) {
        if (r.contains("unavailable_ms") && r["unavailable_ms"].is_number()) {
          values.push_back(std::max(1.0, r["unavailable_ms"].get<double>()));
        }
      }
    }
    if (values.empty()) continue;
    dat << "# " << f.scenario << " " << f.system << " " << f.mode << "\n";
    for (double v : values) dat << column << " " << v << "\n";
    dat << "\n\n";
    labels.push_back(f.scenario + "\\n" + f.system + " " + f.mode);
    colors.push_back(f.system == "resec" ? "#1f77b4" : f.system == "resec-go" ? "#2ca02c" : "#d62728");
    ++column;
  }
  dat.close();
  if (column == 0) return FailedPrecondition("no runs to plot");
  std::ofstream gp(dir / "unavailable.gp");
  const int width = std::max(900, 110 * column + 200);
  gp << "set terminal pngcairo size " << width << ",700 font 'sans,9'\n"
     << "set output '" << (dir / "unavailable.png").string() << "'\n"
     << "set title 'Writes unavailable after the fault (box: quartiles, points: runs; blue resec, "
        "green resec-go, red Sentinel)'\n"
     << "set ylabel 'unavailable ms (log scale)'\n"
     << "set logscale y\n"
     << "set grid ytics mytics\n"
     << "set key off\n"
     << "set bmargin 6\n"
     << "set xrange [-0.6:" << column - 0.4 << "]\n"
     << "set style fill transparent solid 0.25 border\n"
     << "set style boxplot nooutliers\n"
     << "set boxwidth 0.5\n"
     << "set xtics rotate by -30 (";
  for (int i = 0; i < column; ++i) gp << (i ? ", " : "") << "\"" << labels[i] << "\" " << i;
  gp << ")\n";
  gp << "colors = \"";
  for (int i = 0; i < column; ++i) gp << (i ? " " : "") << colors[i];
  gp << "\"\n";
  gp << "plot for [i=0:" << column - 1 << "] '" << (dir / "unavailable.dat").string()
     << "' index i using (i):2 with boxplot lc rgb word(colors, i+1), \\\n"
     << "     for [i=0:" << column - 1 << "] '" << (dir / "unavailable.dat").string()
     << "' index i using ($1 + 0.12*(rand(0)-0.5)):2 with points pt 7 ps 0.7 lc rgb word(colors, i+1)\n";
  gp.close();
  auto p = testing::ChildProcess::Start(
      {.argv = {"gnuplot", (dir / "unavailable.gp").string()}, .log_dir = dir, .log_name = "gnuplot.log"});
  if (!p.ok()) return p.status();
  auto exit = p->Wait(std::chrono::seconds(60));
  if (!exit || !exit->Exited() || exit->code != 0) {
    return Internal("gnuplot failed: " + p->ReadLog());
  }
  std::error_code ec;  // its log holds only the start marker when all went well
  std::filesystem::remove(dir / "gnuplot.log", ec);
  return Status::Ok();
}

std::string MachineLine(const std::vector<FailoverEntry>& entries, const std::vector<json>& agents) {
  json m;
  if (!entries.empty() && entries.front().summary.contains("machine")) m = entries.front().summary["machine"];
  else if (!agents.empty() && agents.front().contains("machine")) m = agents.front()["machine"];
  if (m.is_null()) return "";
  std::ostringstream o;
  o << Num(m.value("nproc", json())) << " CPUs (" << Str(m, "cpu_model") << "), "
    << (m.contains("memory_kib") ? std::to_string(m["memory_kib"].get<int64_t>() / 1024 / 1024) : "?")
    << " GiB, " << Str(m, "kernel") << "; first result written " << Str(m, "date");
  if (m.contains("loadavg")) o << ", load average then " << m["loadavg"].dump();
  return o.str();
}

}  // namespace

Status WriteJson(const std::filesystem::path& path, const json& j) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  out.close();
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

StatusOr<std::string> WriteReport(const ReportOptions& options) {
  const std::vector<FailoverEntry> entries = LoadFailover(options.dir);
  const std::vector<json> agents = LoadFootprint(options.dir);
  if (entries.empty() && agents.empty()) return NotFound("no failover-*.json or footprint-*.json in " + options.dir.string());
  std::vector<std::string> notes;
  std::ostringstream md;
  md << "Results in `" << options.dir.filename().string() << "`"
     << (options.title.empty() ? "" : " (" + options.title + ")") << ". Machine: " << MachineLine(entries, agents)
     << ".\n\n";
  if (!entries.empty()) {
    md << "### Failover\n\n" << FailoverTable(entries, &notes) << "\n";
    if (const std::string cost = ConsulCostTable(entries); !cost.empty()) {
      md << "### Consul cost in the steady state of the failover runs (writer running, median over runs)\n\n"
         << cost << "\n";
    }
  }
  if (!agents.empty()) {
    md << "### Footprint (steady state, no client load)\n\n" << FootprintTable(agents, &notes) << "\n";
  }
  if (!notes.empty()) {
    md << "Notes:\n\n";
    for (size_t i = 0; i < notes.size(); ++i) md << "[" << i + 1 << "] " << notes[i] << "\n\n";
  }
  if (!entries.empty()) md << "### Settings\n\n" << SettingsTable(entries) << "\n";

  bool plotted = false;
  if (!entries.empty()) {
    Status st = WritePlot(options.dir, entries);
    if (st.ok()) {
      plotted = true;
    } else {
      md << "(no plot: " << st.ToString() << ")\n\n";
    }
  }
  {
    std::ofstream out(options.dir / "table.md");
    out << "# Benchmark results\n\n" << md.str();
    if (plotted) out << "![unavailable_ms per run](unavailable.png)\n";
    if (!out) return Internal("cannot write " + (options.dir / "table.md").string());
  }
  if (options.docs) {
    std::ifstream in(*options.docs);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string doc = ss.str();
    std::string section = std::string(kBegin) + "\n" + md.str();
    if (plotted) {
      const auto rel = std::filesystem::relative(std::filesystem::absolute(options.dir / "unavailable.png"),
                                                 std::filesystem::absolute(*options.docs).parent_path());
      section += "![unavailable_ms per run](" + rel.string() + ")\n";
    }
    section += std::string(kEnd);
    const auto b = doc.find(kBegin);
    const auto e = doc.find(kEnd);
    if (b != std::string::npos && e != std::string::npos && e > b) {
      doc.replace(b, e + std::string(kEnd).size() - b, section);
    } else {
      doc += "\n## Latest results\n\n" + section + "\n";
    }
    std::ofstream out(*options.docs);
    out << doc;
    if (!out) return Internal("cannot write " + options.docs->string());
  }
  return md.str();
}

}  // namespace resec::bench
