// What the benchmark compares: the systems, their settings (documented
// defaults and fastest documented-safe), the fault scenarios and the harness's
// own constants. Every value here ends up in the JSON the harness writes, so a
// figure can always be traced back to the exact configuration that produced it.
//
// Thread-safety: constant tables and pure functions.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace resec::bench {

enum class SystemKind { kResec, kSentinel, kResecGo };
enum class Mode { kDefaults, kTuned };
// The failover scenarios, all on the production-topology rig (failover.h).
enum class Scenario {
  kRedisCrash,
  kAgentCrash,
  kSwitchover,
  kHostCrash,
  kHostFreeze,
  kHostPartition,
  kConsulLeaderKill,
  kConsulRollingRestart,
  kConsulAgentRestart,
};

std::string_view SystemName(SystemKind s);
std::string_view ModeName(Mode m);
std::string_view ScenarioName(Scenario s);
std::optional<SystemKind> ParseSystem(std::string_view s);
std::optional<Scenario> ParseScenario(std::string_view s);
const std::vector<Scenario>& AllScenarios();

// One configuration entry of a system: an environment variable of the agents
// (resec, resec-go) or a sentinel.conf directive (sentinel).
struct Setting {
  std::string name;
  std::string value;
};

// The settings the harness applies to `system` in `mode`: the agents'
// environment (besides REDIS_ADDR / CONSUL_HTTP_ADDR / STATE_*, which are
// per-instance), or the per-master sentinel.conf directives.
std::vector<Setting> SettingsFor(SystemKind system, Mode mode);

// When a scenario's recovery action happens (restart, resume, restart of the
// stopped agent), counted from the fault.
std::chrono::milliseconds RecoverAfter(Scenario scenario);

// A fault of Consul itself (its servers or the master host's client agent),
// where what matters is whether the master keeps writing and stays master:
// longest_write_stall_ms and failover.
bool IsConsulFault(Scenario scenario);

// Why `scenario` does not apply to `system`, or nullopt when it does.
std::optional<std::string> NotApplicable(SystemKind system, Scenario scenario);

// How many runs `scripts/bench.sh all` makes of a scenario (the full run).
int FullRuns(Scenario scenario);

// The original Go resec (v1.1.2) has no state server. It logs this line at
// info level from its Consul loop (resec/consul/manager.go,
// acquireConsulLeadership) as soon as that loop runs, which is after its
// configuration was accepted (a rejected one exits with log.Fatal) and its
// Redis watcher was started: the point at which our state server starts
// answering. So LOG_LEVEL must stay info or debug. Its Consul registration is
// no readiness signal: an agent restarted while no passing master is in the
// catalog (after an agent or host crash, before the dead session's lock is
// released) registers nothing for up to ~45 s, and that wait is part of what
// the benchmark measures, not start-up.
inline constexpr char kResecGoReadyLogLine[] = "Trying to acquire consul lock";

// The shared group token of the peer protocol in the tuned settings of ours:
// a fixed, made-up value (the bench's groups are its own).
inline constexpr char kBenchPeerToken[] = "resec-bench-peer-token-0123456789abcdef";

// ---- The harness's own constants (recorded in the JSON too). ----
// The client's cadence, timeouts and WAIT are the shared writer's
// (support/traffic.h: kWriteInterval, kClientConnectTimeout, ...).
// A run whose group has not converged this long after the fault is a failed
// run (the 120 s).
inline constexpr std::chrono::seconds kConvergeTimeout{120};
// Starting a group and its first convergence: on loopback (footprint) a few
// seconds; on the rig the servers' first election, three hosts and the
// group's first election take 10-30 s under load, so 90 s only catches a
// broken setup.
inline constexpr std::chrono::seconds kStartTimeout{90};
// How often the run loop checks convergence: each check is a few round trips
// over the rig's management path, so 50 ms keeps converged_ms accurate to
// about that.
inline constexpr std::chrono::milliseconds kCheckInterval{50};
// Sentinel discovery poll: clients ask a sentinel on every reconnect; polling
// every 20 ms stands in for that (Consul clients use blocking queries, which
// answer as soon as the catalog changes).
inline constexpr std::chrono::milliseconds kSentinelPollInterval{20};
// Acknowledged writes the writer must have before the fault, so every run
// starts from a group that is demonstrably serving.
inline constexpr int kWarmupAcks = 250;
// The steady state of a run: after the warm-up, with the writer running,
// before the fault. Consul's cost per agent (HTTP requests, Raft applies) is
// read from Consul's own counters at its two ends. 5 s holds some 10
// renewals of a lock holder and a few Raft applies, enough for a per-run
// figure whose median over the runs is stable, at 5 s per run.
inline constexpr std::chrono::seconds kSteadyWindow{5};
// After a Consul fault's recovery the run watches this much longer, so a
// stall that follows the recovery (a session renewal that fails a little
// later, a re-election when the restarted server rejoins) is still counted.
inline constexpr std::chrono::seconds kConsulSettle{5};
// After the warm-up the fault waits a uniformly random 0 to this long. A run
// starts when the group has converged, which is detected right after one of
// the agents' periodic loops acted, so without it every fault landed at
// about the same phase of those loops (the Go resec's 1 s INFO poll: every
// redis-crash took ~1000 ms; with the jitter 270-1085 ms). One second covers
// the longest such period (the Go resec's INFO poll, Sentinel's 1 s PING).
inline constexpr std::chrono::milliseconds kFaultJitter{1000};

// The harness constants as JSON, for the "settings" object.
nlohmann::json HarnessSettingsJson(Scenario scenario);

}  // namespace resec::bench
