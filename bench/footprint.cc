#include "footprint.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "machine.h"
#include "report.h"
#include "systems.h"

namespace resec::bench {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kSampleInterval{500};
// Let start-up work (initial sync, first registrations) finish before the
// window opens: the footprint is about the steady state.
constexpr milliseconds kSettle{2000};

struct ProcSample {
  bool ok = false;
  int64_t rss_kib = 0;
  int64_t ticks = 0;  // utime + stime, in clock ticks
};

ProcSample SampleProc(pid_t pid) {
  ProcSample s;
  const std::string base = "/proc/" + std::to_string(pid);
  std::ifstream status(base + "/status");
  std::string line;
  bool have_rss = false;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream in(line.substr(6));
      in >> s.rss_kib;
      have_rss = true;
    }
  }
  std::ifstream stat(base + "/stat");
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (!have_rss || close == std::string::npos) return s;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // After the command: field 3 (state) is f[0], so utime (14) and stime (15)
  // are f[11] and f[12].
  if (f.size() < 13) return s;
  s.ticks = std::stoll(f[11]) + std::stoll(f[12]);
  s.ok = true;
  return s;
}

// Milliseconds since the epoch of a Consul log timestamp
// ("2026-11-27T20:47:53.757Z"), or -1.
int64_t ParseConsulTime(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(::timegm(&tm)) * 1000 + ms;
}

int64_t EpochMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Requests Consul finished within [from_ms, to_ms], by source port.
std::map<int, int64_t> ConsulRequestsBySourcePort(const std::filesystem::path& log, int64_t from_ms,
                                                  int64_t to_ms) {
  std::map<int, int64_t> out;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("agent.http: Request finished") == std::string::npos) continue;
    const int64_t t = ParseConsulTime(line.substr(0, line.find(' ')));
    if (t < from_ms || t > to_ms) continue;
    const auto from = line.find("from=");
    if (from == std::string::npos) continue;
    const auto colon = line.find(':', from);
    if (colon == std::string::npos) continue;
    int port = 0;
    const char* p = line.data() + colon + 1;
    if (std::from_chars(p, line.data() + line.size(), port).ec != std::errc()) continue;
    ++out[port];
  }
  return out;
}

json SettingsJson(const FootprintOptions& o) {
  json s = {{"mode", ModeName(o.mode)}};
  json system = json::object();
  for (const Setting& st : SettingsFor(o.system, o.mode)) system[st.name] = st.value;
  s[o.system == SystemKind::kSentinel ? "sentinel_conf" : "env"] = system;
  s["sample_interval_ms"] = kSampleInterval.count();
  s["settle_ms"] = kSettle.count();
  s["client_load"] = "none (steady, converged group)";
  for (auto& [k, v] : o.extra_settings.items()) s[k] = v;
  return s;
}

}  // namespace

StatusOr<json> RunFootprint(const FootprintOptions& o) {
  json result = json::array();
  if (o.unavailable) {
    result.push_back({{"system", SystemName(o.system)},
                      {"mode", ModeName(o.mode)},
                      {"seconds", o.seconds},
                      {"rss_kib", {{"p50", nullptr}, {"max", nullptr}}},
                      {"cpu_percent", nullptr},
                      {"consul_http_requests_per_min", nullptr},
                      {"unavailable", *o.unavailable},
                      {"settings", SettingsJson(o)},
                      {"machine", MachineJson()}});
    if (Status st = WriteJson(o.out, result); !st.ok()) return st;
    return result;
  }
  const bool consul = o.system != SystemKind::kSentinel;
  auto sys = MakeSystem({.kind = o.system, .mode = o.mode, .count_consul_requests = consul});
  if (Status st = sys->Start(); !st.ok()) return st;
  const std::vector<CompanionProcess> procs = sys->Companions();
  for (const auto& p : procs) {
    if (p.pid <= 0) return Internal("no pid found for " + p.name);
  }
  std::this_thread::sleep_for(kSettle);

  const int64_t from_ms = EpochMs();
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(o.seconds);
  std::vector<std::vector<double>> rss(procs.size());
  std::vector<ProcSample> first(procs.size()), last(procs.size());
  for (auto next = start; next <= end; next += kSampleInterval) {
    std::this_thread::sleep_until(next);
    for (size_t i = 0; i < procs.size(); ++i) {
      ProcSample s = SampleProc(procs[i].pid);
      if (!s.ok) return Internal(procs[i].name + " (pid " + std::to_string(procs[i].pid) + ") exited during sampling");
      if (!first[i].ok) first[i] = s;
      last[i] = s;
      rss[i].push_back(static_cast<double>(s.rss_kib));
    }
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t to_ms = EpochMs();

  std::vector<int64_t> requests(procs.size(), 0);
  int64_t unattributed = 0;
  if (consul) {
    // Consul writes the line when the request finishes; give the last ones a
    // moment to reach the file.
    std::this_thread::sleep_for(milliseconds(200));
    for (auto [port, n] : ConsulRequestsBySourcePort(*sys->ConsulLog(), from_ms, to_ms)) {
      if (auto i = sys->CompanionOfSourcePort(port)) {
        requests[static_cast<size_t>(*i)] += n;
      } else {
        unattributed += n;
      }
    }
  }
  const double ticks_per_s = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double window_min = static_cast<double>(to_ms - from_ms) / 60000.0;
  const json settings = SettingsJson(o);
  const json machine = MachineJson();
  for (size_t i = 0; i < procs.size(); ++i) {
    const json dist = Distribution(rss[i]);
    const double cpu = static_cast<double>(last[i].ticks - first[i].ticks) / ticks_per_s / elapsed * 100.0;
    json a = {{"system", SystemName(o.system)},
              {"agent", procs[i].name},
              {"mode", ModeName(o.mode)},
              {"seconds", o.seconds},
              {"rss_kib", {{"p50", dist["p50"]}, {"max", dist["max"]}}},
              {"cpu_percent", std::round(cpu * 100.0) / 100.0}};
    if (consul) {
      a["consul_http_requests_per_min"] = std::round(static_cast<double>(requests[i]) / window_min * 10.0) / 10.0;
      a["consul_http_unattributed_per_min"] = std::round(static_cast<double>(unattributed) / window_min * 10.0) / 10.0;
      a["consul_http_count_method"] =
          "Consul debug log 'Request finished' lines in the window, attributed to the agent by source port "
          "through a per-agent TCP relay";
    } else {
      a["consul_http_requests_per_min"] = nullptr;
    }
    a["settings"] = settings;
    a["machine"] = machine;
    std::fprintf(stderr, "[%s %s footprint] %s: RSS p50 %s KiB, max %s KiB, CPU %.2f%%%s\n",
                 std::string(SystemName(o.system)).c_str(), std::string(ModeName(o.mode)).c_str(),
                 procs[i].name.c_str(), dist["p50"].dump().c_str(), dist["max"].dump().c_str(), cpu,
                 consul ? (", Consul " + a["consul_http_requests_per_min"].dump() + " req/min").c_str() : "");
    result.push_back(std::move(a));
  }
  if (Status st = WriteJson(o.out, result); !st.ok()) return st;
  return result;
}

}  // namespace resec::bench
