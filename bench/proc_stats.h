// What a process and the whole machine cost, read from /proc: a process's
// resident memory (VmRSS) and CPU time (utime + stime), and the machine's busy
// CPU time (/proc/stat). The scale benchmark samples hundreds of processes at
// the two ends of its window; the difference of CPU times over the window's
// length is a CPU percentage of one core.
//
// Thread-safety: stateless functions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace resec::bench {

struct ProcStat {
  int64_t rss_kib = 0;
  int64_t cpu_ticks = 0;  // utime + stime, in clock ticks (sysconf(_SC_CLK_TCK))
};

// nullopt when the process is gone (or /proc cannot be read).
std::optional<ProcStat> ReadProcStat(pid_t pid);

// The machine's CPU time since boot, in clock ticks, from the "cpu" line of
// /proc/stat: busy is everything but idle and iowait.
struct MachineCpu {
  int64_t busy_ticks = 0;
  int64_t total_ticks = 0;
};
std::optional<MachineCpu> ReadMachineCpu();

// Percent of one core that `ticks` clock ticks are over `seconds`.
double CpuPercent(int64_t ticks, double seconds);

}  // namespace resec::bench
