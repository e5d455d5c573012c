#include "machine.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>

namespace resec::bench {

namespace {

std::string FieldOf(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

double Round1(double v) { return std::round(v * 10.0) / 10.0; }

}  // namespace

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json MachineJson() {
  nlohmann::json j;
  j["nproc"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string mem = FieldOf("/proc/meminfo", "MemTotal");
  j["memory_kib"] = mem.empty() ? 0 : std::stoll(mem);
  utsname u{};
  if (::uname(&u) == 0) j["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  j["cpu_model"] = FieldOf("/proc/cpuinfo", "model name");
  j["date"] = UtcNow();
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) == 3) j["loadavg"] = {Round1(load[0]), Round1(load[1]), Round1(load[2])};
  return j;
}

std::optional<double> Percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

nlohmann::json Distribution(const std::vector<double>& values) {
  nlohmann::json j;
  for (auto [name, p] : {std::pair{"p50", 50.0}, {"p95", 95.0}, {"p99", 99.0}, {"max", 100.0}}) {
    const auto v = Percentile(values, p);
    j[name] = v ? nlohmann::json(Round1(*v)) : nlohmann::json(nullptr);
  }
  return j;
}

}  // namespace resec::bench
