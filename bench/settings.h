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
enum class Scenario { kRedisCrash, kAgentCrash, kNodeCrash, kNodeFreeze, kSwitchover };

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

// Why `scenario` does not apply to `system`, or nullopt when it does.
std::optional<std::string> NotApplicable(SystemKind system, Scenario scenario);

// How many runs `scripts/bench.sh all` makes of a scenario (the full run).
int FullRuns(Scenario scenario);

// ---- The harness's own constants (recorded in the JSON too). ----
// The writer sends one write every 2 ms: fine enough to resolve a failover to
// a few milliseconds, light enough not to load a 2-core machine.
inline constexpr std::chrono::milliseconds kWriteInterval{2};
// Client connect timeout: on loopback a live server accepts in microseconds;
// 100 ms only bounds the cost of a SIGSTOPped one (the kernel still accepts).
inline constexpr std::chrono::milliseconds kClientConnectTimeout{100};
// Reply timeout: above WAIT's own 100 ms budget, so a WAIT that times out
// inside Redis still answers, while a frozen master costs at most 250 ms.
inline constexpr std::chrono::milliseconds kClientReplyTimeout{250};
// WAIT numreplicas timeout: one replica, 100 ms (the issue's `WAIT 1 100`).
inline constexpr int kWaitReplicas = 1;
inline constexpr int kWaitTimeoutMs = 100;
// A run whose group has not converged this long after the fault is a failed
// run (the 120 s).
inline constexpr std::chrono::seconds kConvergeTimeout{120};
// Starting a group (Consul, 3 Redis, 3 agents or sentinels) and its first
// convergence: 60 s is many times what it takes, so only a broken setup hits it.
inline constexpr std::chrono::seconds kStartTimeout{60};
// How often the run loop checks convergence: each check is a few loopback
// round trips, so 50 ms keeps converged_ms accurate to about that.
inline constexpr std::chrono::milliseconds kCheckInterval{50};
// Sentinel discovery poll: clients ask a sentinel on every reconnect; polling
// every 20 ms stands in for that (Consul clients use blocking queries, which
// answer as soon as the catalog changes).
inline constexpr std::chrono::milliseconds kSentinelPollInterval{20};
// Acknowledged writes the writer must have before the fault, so every run
// starts from a group that is demonstrably serving.
inline constexpr int kWarmupAcks = 250;
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
