// SystemdNotifier: the agent's side of systemd's Type=notify protocol.
//
//   READY=1     once the reconciler has made its first real decision (both
//               watchers reported, whatever the outcome), so `systemctl start`
//               and units ordered After=resec.service wait for a working agent;
//   STATUS=...  the role and lock state, shown by `systemctl status`;
//   STOPPING=1  when shutdown begins;
//   WATCHDOG=1  every WATCHDOG_USEC/2 while the reconciler is still deciding
//               (its decision counter moves), so systemd restarts an agent
//               whose loop hangs, not merely one whose process died.
//
// Without $NOTIFY_SOCKET (not run by systemd, or Type=simple) every call is a
// no-op and no thread is started. Built without libsystemd, likewise.
//
// Thread-safety: construct and call Stopping()/destroy from one owner thread;
// the probe runs on the notifier's own thread and must be thread-safe (the
// agent's reads the mutex-guarded StateBoard).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "resec/mutex.h"
#include "resec/reconciler.h"

namespace resec {

class SystemdNotifier {
 public:
  struct Progress {
    bool ready = false;       // the first real decision has been made
    uint64_t decisions = 0;   // grows while the reconciler is alive
    std::string status;       // one line for STATUS=
  };
  using Probe = std::function<Progress()>;

  // Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (via sd_watchdog_enabled) and,
  // when systemd is listening, starts a thread that polls `probe`.
  explicit SystemdNotifier(Probe probe);
  ~SystemdNotifier();  // stops and joins the thread
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // Sends STOPPING=1 and stops pinging the watchdog (a shutdown may take a few
  // seconds; TimeoutStopSec covers it, not WatchdogSec). Idempotent.
  void Stopping() EXCLUDES(mu_);

  bool enabled() const { return enabled_; }
  // Zero when systemd asked for no watchdog.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

  // Exposed for tests: whether a watchdog ping is due at `now` given when
  // the decision counter last moved. A reconciler that decides at least every
  // second (it does, even idle) and has not for kStallLimit is stuck.
  static constexpr std::chrono::milliseconds kStallLimit{5000};
  static bool ShouldPing(std::chrono::steady_clock::time_point now,
                         std::chrono::steady_clock::time_point last_progress) {
    return now - last_progress < kStallLimit;
  }

 private:
  void Run(std::stop_token stop) EXCLUDES(mu_);
  bool Notify(const std::string& message);

  Probe probe_;
  bool enabled_ = false;
  std::chrono::microseconds watchdog_{0};
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::jthread thread_;
};

// The agent's probe: ready after the first decision past "waiting for the
// initial state", progress = decisions made, status = role, lock and rule.
SystemdNotifier::Progress AgentProgress(const BoardSnapshot& snap);

}  // namespace resec
