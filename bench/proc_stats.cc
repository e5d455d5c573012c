#include "proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace resec::bench {

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const std::string base = "/proc/" + std::to_string(pid);
  ProcStat s;
  bool have_rss = false;
  std::ifstream status(base + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream in(line.substr(6));
      have_rss = static_cast<bool>(in >> s.rss_kib);
      break;
    }
  }
  std::ifstream stat(base + "/stat");
  std::getline(stat, line);
  // The command name is in parentheses and may hold spaces: fields are
  // counted from the last ')'.
  const auto close = line.rfind(')');
  if (!have_rss || close == std::string::npos || close + 2 > line.size()) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (f.size() < 13 && rest >> tok) f.push_back(tok);
  // f[0] is field 3 (state), so utime (14) and stime (15) are f[11] and f[12].
  if (f.size() < 13 || f[0] == "Z") return std::nullopt;
  s.cpu_ticks = std::stoll(f[11]) + std::stoll(f[12]);
  return s;
}

std::optional<MachineCpu> ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  if (!(in >> cpu) || cpu != "cpu") return std::nullopt;
  // user nice system idle iowait irq softirq steal (guest time is already
  // counted in user).
  MachineCpu m;
  int64_t v = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {
    m.total_ticks += v;
    if (i != 3 && i != 4) m.busy_ticks += v;
  }
  return m;
}

double CpuPercent(int64_t ticks, double seconds) {
  static const double kTicksPerSecond = static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (seconds <= 0) return 0;
  return static_cast<double>(ticks) / kTicksPerSecond / seconds * 100.0;
}

}  // namespace resec::bench
