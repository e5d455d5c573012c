// Injected time. Every timeout, TTL and backoff reads a Clock so that unit
// tests can drive them with FakeClock instead of sleeping.
//
// Thread-safety: SystemClock is stateless; FakeClock and OffsetClock are
// internally locked.
#pragma once

#include <chrono>

#include "resec/mutex.h"

namespace resec {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return SteadyClock::now(); }
};

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return now_;
  }
  void Advance(Duration d) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    now_ += d;
  }

 private:
  mutable Mutex mu_;
  TimePoint now_ GUARDED_BY(mu_) = TimePoint(std::chrono::hours(1));
};

// Real time plus an offset the test moves: actors keep running on time, and
// a test can still jump past a period (the 1 s re-publish) at once.
class OffsetClock final : public Clock {
 public:
  TimePoint Now() const override EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return SteadyClock::now() + offset_;
  }
  void Advance(Duration d) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    offset_ += d;
  }

 private:
  mutable Mutex mu_;
  Duration offset_ GUARDED_BY(mu_){0};
};

}  // namespace resec
