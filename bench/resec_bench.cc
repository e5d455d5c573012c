// resec_bench: the failover and footprint harness behind scripts/bench.sh.
//
//   resec_bench failover  --system resec|sentinel|resec-go --scenario S --runs N
//                         [--out FILE.json] [--tuned|--defaults]
//                         (on the production-topology rig: needs root)
//   resec_bench footprint --system resec|sentinel|resec-go --seconds N
//                         [--out FILE.json] [--tuned|--defaults]
//   resec_bench report    --dir DIR [--docs docs/benchmarks.md] [--title TEXT]
//   resec_bench scale     --system resec|resec-go --groups N [--write-load] [--out FILE.json]
//                         [--tuned|--defaults] [--window S] [--warmup S] [--baseline S]
//                         [--failover-runs N] [--writes-per-s N]
//   resec_bench scale-report --dir DIR   (table.md and cost.png of a scale sweep)
//
// resec-go needs --resec-go-bin PATH (or $RESEC_GO_BIN), or
// --unavailable TEXT to record why it could not be built. --note K=V adds a
// fact to the JSON's settings (which module was built, ...). The binary of
// ours is $RESEC_BIN or the build directory's resec; Consul is $CONSUL_BIN or
// scripts/build-consul.sh's.
//
// Exit status: 0 when the JSON was written (whatever the figures), 1 on a
// usage or output error, 2 when a footprint group could not be started.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "failover.h"
#include "footprint.h"
#include "report.h"
#include "scale.h"
#include "scale_report.h"
#include "settings.h"

namespace resec::bench {
namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  resec_bench failover  --system resec|sentinel|resec-go --scenario SCENARIO\n"
    "                        --runs N [--out FILE.json] [--tuned|--defaults]\n"
    "                        (on the production-topology rig; needs root)\n"
    "  scenarios: redis-crash agent-crash switchover host-crash host-freeze host-partition\n"
    "             consul-leader-kill consul-rolling-restart consul-agent-restart\n"
    "  resec_bench footprint --system resec|sentinel|resec-go --seconds N [--out FILE.json] [--tuned|--defaults]\n"
    "  resec_bench report    --dir DIR [--docs FILE.md] [--title TEXT]\n"
    "  resec_bench scale     --system resec|resec-go --groups N [--write-load] [--out FILE.json] [--tuned|--defaults]\n"
    "                        [--window S] [--warmup S] [--baseline S] [--failover-runs N] [--writes-per-s N]\n"
    "  resec_bench scale-report --dir DIR\n"
    "options for resec-go: --resec-go-bin PATH (or $RESEC_GO_BIN) | --unavailable TEXT\n"
    "any command: --note KEY=VALUE (recorded in the JSON settings)\n"
    "failover: --dump-writes also writes each run's writes as CSV (diagnosis)\n"
    "failover: --keep-logs keeps every run's logs next to the JSON, not only failed runs'\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "resec_bench: %s\n%s", why.c_str(), kUsage);
  return 1;
}

struct Args {
  std::string command;
  std::map<std::string, std::string> values;
  std::vector<std::string> notes;
  bool tuned = true;
  bool dump_writes = false;
  bool keep_logs = false;
  bool write_load = false;
};

std::optional<Args> Parse(int argc, char** argv, std::string* error) {
  Args a;
  if (argc < 2) {
    *error = "no command";
    return std::nullopt;
  }
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--tuned") {
      a.tuned = true;
    } else if (arg == "--defaults") {
      a.tuned = false;
    } else if (arg == "--dump-writes") {
      a.dump_writes = true;
    } else if (arg == "--keep-logs") {
      a.keep_logs = true;
    } else if (arg == "--write-load") {
      a.write_load = true;
    } else if (arg.rfind("--", 0) == 0 && i + 1 < argc) {
      if (arg == "--note") {
        a.notes.push_back(argv[++i]);
      } else {
        a.values[arg.substr(2)] = argv[++i];
      }
    } else {
      *error = "unexpected argument " + arg;
      return std::nullopt;
    }
  }
  return a;
}

std::optional<int> ParseCount(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 6) return std::nullopt;
  const int n = std::stoi(s);
  return n > 0 ? std::optional<int>(n) : std::nullopt;
}

nlohmann::json Notes(const Args& a) {
  nlohmann::json j = nlohmann::json::object();
  for (const std::string& n : a.notes) {
    const auto eq = n.find('=');
    if (eq == std::string::npos) continue;
    j[n.substr(0, eq)] = n.substr(eq + 1);
  }
  return j;
}

// resec-go runs through the same fixtures as ours (the rig, the loopback
// group), which start $RESEC_BIN.
// Set once, before any child starts; nothing else in this process reads it
// concurrently.
std::optional<std::string> PrepareSystem(SystemKind system, const Args& a, std::string* error) {
  if (a.values.contains("unavailable")) return a.values.at("unavailable");
  if (system != SystemKind::kResecGo) return std::nullopt;
  std::string bin = a.values.contains("resec-go-bin") ? a.values.at("resec-go-bin") : "";
  if (bin.empty()) {
    if (const char* env = std::getenv("RESEC_GO_BIN"); env != nullptr) bin = env;
  }
  if (bin.empty()) {
    *error = "resec-go needs --resec-go-bin PATH, $RESEC_GO_BIN, or --unavailable TEXT";
    return std::nullopt;
  }
  ::setenv("RESEC_BIN", bin.c_str(), 1);
  return std::nullopt;
}

int Failover(const Args& a) {
  const auto system = ParseSystem(a.values.contains("system") ? a.values.at("system") : "");
  if (!system) return Usage("--system must be resec, sentinel or resec-go");
  const auto scenario = ParseScenario(a.values.contains("scenario") ? a.values.at("scenario") : "");
  if (!scenario) return Usage("unknown --scenario");
  const auto runs = ParseCount(a.values.contains("runs") ? a.values.at("runs") : "");
  if (!runs) return Usage("--runs must be a positive number");
  FailoverOptions o;
  o.system = *system;
  o.scenario = *scenario;
  o.mode = a.tuned ? Mode::kTuned : Mode::kDefaults;
  o.runs = *runs;
  o.out = a.values.contains("out") ? a.values.at("out")
                                   : "failover-" + std::string(SystemName(o.system)) + "-" +
                                         std::string(ModeName(o.mode)) + "-" + std::string(ScenarioName(o.scenario)) +
                                         ".json";
  std::string error;
  o.unavailable = PrepareSystem(o.system, a, &error);
  if (!error.empty()) return Usage(error);
  if (const char* bin = std::getenv("RESEC_BIN"); bin != nullptr) o.agent_bin = bin;
  o.extra_settings = Notes(a);
  o.dump_writes = a.dump_writes;
  o.keep_logs = a.keep_logs;
  auto summary = RunFailover(o);
  if (!summary.ok()) {
    std::fprintf(stderr, "resec_bench: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", summary->dump().c_str());
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  return 0;
}

int Footprint(const Args& a) {
  const auto system = ParseSystem(a.values.contains("system") ? a.values.at("system") : "");
  if (!system) return Usage("--system must be resec, sentinel or resec-go");
  const auto seconds = ParseCount(a.values.contains("seconds") ? a.values.at("seconds") : "");
  if (!seconds) return Usage("--seconds must be a positive number");
  FootprintOptions o;
  o.system = *system;
  o.mode = a.tuned ? Mode::kTuned : Mode::kDefaults;
  o.seconds = *seconds;
  o.out = a.values.contains("out") ? a.values.at("out")
                                   : "footprint-" + std::string(SystemName(o.system)) + "-" +
                                         std::string(ModeName(o.mode)) + ".json";
  std::string error;
  o.unavailable = PrepareSystem(o.system, a, &error);
  if (!error.empty()) return Usage(error);
  o.extra_settings = Notes(a);
  auto result = RunFootprint(o);
  if (!result.ok()) {
    std::fprintf(stderr, "resec_bench: footprint: %s\n", result.status().ToString().c_str());
    return 2;
  }
  std::printf("%s\n", result->dump().c_str());
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  return 0;
}

int Report(const Args& a) {
  if (!a.values.contains("dir")) return Usage("report needs --dir");
  ReportOptions o;
  o.dir = a.values.at("dir");
  if (a.values.contains("docs")) o.docs = a.values.at("docs");
  if (a.values.contains("title")) o.title = a.values.at("title");
  auto md = WriteReport(o);
  if (!md.ok()) {
    std::fprintf(stderr, "resec_bench: report: %s\n", md.status().ToString().c_str());
    return 1;
  }
  std::printf("%s", md->c_str());
  return 0;
}

int Scale(const Args& a) {
  const auto system = ParseSystem(a.values.contains("system") ? a.values.at("system") : "");
  if (!system || *system == SystemKind::kSentinel) return Usage("scale: --system must be resec or resec-go");
  const auto groups = ParseCount(a.values.contains("groups") ? a.values.at("groups") : "");
  if (!groups) return Usage("scale: --groups must be a positive number");
  ScaleOptions o;
  o.system = *system;
  o.mode = a.tuned ? Mode::kTuned : Mode::kDefaults;
  o.groups = *groups;
  o.write_load = a.write_load;
  for (auto [flag, field] : {std::pair{"window", &o.window_s}, {"warmup", &o.warmup_s}, {"baseline", &o.baseline_s},
                             {"failover-runs", &o.failover_runs}, {"writes-per-s", &o.writes_per_s}}) {
    if (!a.values.contains(flag)) continue;
    const auto v = ParseCount(a.values.at(flag));
    if (!v) return Usage(std::string("scale: --") + flag + " must be a positive number");
    *field = *v;
  }
  o.out = a.values.contains("out") ? a.values.at("out")
                                   : "scale-" + std::string(SystemName(o.system)) + "-" +
                                         std::string(ModeName(o.mode)) + "-" + std::to_string(o.groups) +
                                         (o.write_load ? "-load" : "-idle") + ".json";
  std::string error;
  o.unavailable = PrepareSystem(o.system, a, &error);
  if (!error.empty()) return Usage(error);
  o.extra_settings = Notes(a);
  auto result = RunScale(o);
  if (!result.ok()) {
    std::fprintf(stderr, "resec_bench: scale: %s\n", result.status().ToString().c_str());
    return 2;
  }
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  return 0;
}

int ScaleReportCommand(const Args& a) {
  if (!a.values.contains("dir")) return Usage("scale-report needs --dir");
  auto md = WriteScaleReport(a.values.at("dir"));
  if (!md.ok()) {
    std::fprintf(stderr, "resec_bench: scale-report: %s\n", md.status().ToString().c_str());
    return 1;
  }
  std::printf("%s", md->c_str());
  return 0;
}

}  // namespace
}  // namespace resec::bench

int main(int argc, char** argv) {
  using namespace resec::bench;
  std::string error;
  const auto args = Parse(argc, argv, &error);
  if (!args) return Usage(error);
  if (args->command == "failover") return Failover(*args);
  if (args->command == "footprint") return Footprint(*args);
  if (args->command == "report") return Report(*args);
  if (args->command == "scale") return Scale(*args);
  if (args->command == "scale-report") return ScaleReportCommand(*args);
  if (args->command == "--help" || args->command == "help") {
    std::printf("%s", kUsage);
    return 0;
  }
  return Usage("unknown command " + args->command);
}
