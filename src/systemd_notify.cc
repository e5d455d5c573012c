#include "resec/systemd_notify.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#ifdef RESEC_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace resec {
namespace {

using std::chrono::microseconds;

}  // namespace

SystemdNotifier::Progress AgentProgress(const BoardSnapshot& snap) {
  SystemdNotifier::Progress p;
  // The first decision past "waiting for the initial state": both watchers
  // have reported and the agent acts on what it saw, even if that is
  // "Consul unreachable" (a start blocked on Consul would only be restarted
  // by systemd into the same wait).
  p.ready = snap.decided && snap.decision.rule != Rule::kWaitForInitialState;
  p.decisions = snap.counters.reconciles;
  p.status = std::string(RoleName(snap.redis.role)) + ", lock " +
             (snap.consul.lock_held ? "held" : (snap.consul.lock_free ? "free" : "held by another")) + ": " +
             std::string(RuleName(snap.decision.rule));
  return p;
}

SystemdNotifier::SystemdNotifier() {
#ifdef RESEC_HAVE_SYSTEMD
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  if (!enabled_) return;
  uint64_t usec = 0;
  // 0: keep WATCHDOG_USEC in the environment; our children (none) would not care.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_ = microseconds(usec);
  spdlog::debug("systemd: notify socket set{}", watchdog_.count() > 0
                                                    ? ", watchdog every " + std::to_string(watchdog_.count() / 1000) + " ms"
                                                    : std::string());
#endif
}

void SystemdNotifier::Update(const Progress& p, TimePoint now) {
  if (!enabled_ || stopping_) return;
  if (!ready_sent_ && p.ready) {
    Notify("READY=1\nSTATUS=" + p.status);
    spdlog::info("systemd: ready ({})", p.status);
    ready_sent_ = true;
    last_status_ = p.status;
  } else if (ready_sent_ && p.status != last_status_) {
    Notify("STATUS=" + p.status);
    last_status_ = p.status;
  }
  // The loop that calls this is the one the watchdog watches: a ping is
  // sent only by a loop that is still going round.
  if (watchdog_.count() > 0 && (!next_ping_ || now >= *next_ping_)) {
    Notify("WATCHDOG=1");
    next_ping_ = now + std::chrono::duration_cast<Duration>(watchdog_ / 2);
  }
}

std::optional<TimePoint> SystemdNotifier::NextPing() const {
  if (!enabled_ || stopping_ || watchdog_.count() == 0) return std::nullopt;
  return next_ping_;
}

void SystemdNotifier::Stopping() {
  if (!enabled_ || stopping_) return;
  stopping_ = true;
  Notify("STOPPING=1\nSTATUS=shutting down: releasing the lock and deregistering");
}

bool SystemdNotifier::Notify(const std::string& message) {
#ifdef RESEC_HAVE_SYSTEMD
  const int rc = sd_notify(0, message.c_str());
  if (rc < 0) {
    spdlog::warn("systemd: sd_notify failed: {}", std::strerror(-rc));
    return false;
  }
  return rc > 0;
#else
  (void)message;
  return false;
#endif
}

}  // namespace resec
