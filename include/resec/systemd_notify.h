// SystemdNotifier: the agent's side of systemd's Type=notify protocol.
//
//   READY=1     once the reconciler has made its first real decision (both
//               watchers reported, whatever the outcome), so `systemctl start`
//               and units ordered After=resec.service wait for a working agent;
//   STATUS=...  the role and lock state, shown by `systemctl status`;
//   STOPPING=1  when shutdown begins;
//   WATCHDOG=1  every WATCHDOG_USEC/2, sent by the reconciler's own loop (it
//               calls Update() after every round and wakes by NextPing() at
//               the latest), so systemd restarts an agent whose loop hangs,
//               not merely one whose process died.
//
// Without $NOTIFY_SOCKET (not run by systemd, or Type=simple) every call is a
// no-op. Built without libsystemd, likewise. No thread of its own.
//
// Thread-safety: one owner thread (the reconciler's loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "resec/clock.h"
#include "resec/reconciler.h"

namespace resec {

class SystemdNotifier {
 public:
  struct Progress {
    bool ready = false;       // the first real decision has been made
    uint64_t decisions = 0;   // grows while the reconciler is alive
    std::string status;       // one line for STATUS=
  };

  // Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (via sd_watchdog_enabled).
  SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // After each round of the loop: READY once, STATUS when it changes, the
  // watchdog ping when due.
  void Update(const Progress& progress, TimePoint now);
  // When the loop must run again at the latest for the watchdog (nullopt: no
  // watchdog, or stopping).
  std::optional<TimePoint> NextPing() const;
  // Sends STOPPING=1 and stops pinging the watchdog (a shutdown may take a few
  // seconds; TimeoutStopSec covers it, not WatchdogSec). Idempotent.
  void Stopping();

  bool enabled() const { return enabled_; }
  // Zero when systemd asked for no watchdog.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  bool Notify(const std::string& message);

  bool enabled_ = false;
  std::chrono::microseconds watchdog_{0};
  bool ready_sent_ = false;
  bool stopping_ = false;
  std::string last_status_;
  std::optional<TimePoint> next_ping_;
};

// The agent's progress: ready after the first decision past "waiting for the
// initial state", decisions made, status = role, lock and rule.
SystemdNotifier::Progress AgentProgress(const BoardSnapshot& snap);

}  // namespace resec
