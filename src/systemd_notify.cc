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
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// How often the probe is read before READY and for STATUS updates: READY
// follows the first decision within this, which is well below anything
// systemd's start timeout (90s by default) would notice.
constexpr milliseconds kPollInterval{100};

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

SystemdNotifier::SystemdNotifier(Probe probe) : probe_(std::move(probe)) {
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
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
#endif
}

SystemdNotifier::~SystemdNotifier() {
  if (thread_.joinable()) {
    thread_.request_stop();
    cv_.NotifyAll();
    thread_.join();
  }
}

void SystemdNotifier::Stopping() {
  if (!enabled_) return;
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.NotifyAll();
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

void SystemdNotifier::Run(std::stop_token stop) {
  // Between polls the watchdog must be pinged at least every WATCHDOG_USEC/2
  // (systemd's recommendation), so poll at least four times per interval.
  milliseconds tick = kPollInterval;
  if (watchdog_.count() > 0) {
    tick = std::min(tick, std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(watchdog_ / 4)));
  }
  const auto half = std::chrono::duration_cast<Steady::duration>(watchdog_ / 2);
  Steady::time_point last_progress = Steady::now();
  Steady::time_point next_ping = Steady::now();
  std::optional<uint64_t> last_decisions;
  bool ready_sent = false;
  bool stall_logged = false;
  std::string last_status;
  while (!stop.stop_requested()) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    const Progress p = probe_();
    const Steady::time_point now = Steady::now();
    if (!last_decisions || p.decisions != *last_decisions) {
      last_decisions = p.decisions;
      last_progress = now;
    }
    if (!ready_sent && p.ready) {
      Notify("READY=1\nSTATUS=" + p.status);
      spdlog::info("systemd: ready ({})", p.status);
      ready_sent = true;
      last_status = p.status;
    } else if (ready_sent && p.status != last_status) {
      Notify("STATUS=" + p.status);
      last_status = p.status;
    }
    if (watchdog_.count() > 0 && now >= next_ping) {
      if (ShouldPing(now, last_progress)) {
        Notify("WATCHDOG=1");
        stall_logged = false;
      } else if (!stall_logged) {
        // Withholding the ping is the point: systemd then kills and restarts us.
        spdlog::error("systemd: the reconciler made no decision for {} ms; withholding the watchdog ping",
                      std::chrono::duration_cast<milliseconds>(now - last_progress).count());
        stall_logged = true;
      }
      next_ping = now + half;
    }
    MutexLock lock(mu_);
    cv_.WaitFor(mu_, stop, tick, [this]() REQUIRES(mu_) { return stopping_; });
  }
}

}  // namespace resec
