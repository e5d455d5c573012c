// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable_any
// with clang's thread-safety annotations (resec/thread_annotations.h), which
// libstdc++'s own types lack. Mutex costs what std::mutex does.
//
//   mutable Mutex mu_;
//   std::deque<T> items_ GUARDED_BY(mu_);
//   CondVar cv_;
//
//   MutexLock lock(mu_);
//   cv_.Wait(mu_, [&]() REQUIRES(mu_) { return !items_.empty(); });
//
// Thread-safety: Mutex and CondVar are shared between threads by design;
// a MutexLock belongs to the thread that made it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

#include "resec/thread_annotations.h"

namespace resec {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// A condition variable used with a Mutex the caller holds. Each wait takes
// the predicate it waits for, run with `mu` held (annotate the lambda
// REQUIRES(mu) when it reads guarded members), so spurious wake-ups are
// handled here once.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  template <typename Predicate>
  void Wait(Mutex& mu, Predicate done) REQUIRES(mu) {
    cv_.wait(mu.mu_, done);
  }
  // Returns done(): false when the deadline passed first.
  template <typename Clock, typename Duration, typename Predicate>
  bool WaitUntil(Mutex& mu, std::chrono::time_point<Clock, Duration> deadline, Predicate done) REQUIRES(mu) {
    return cv_.wait_until(mu.mu_, deadline, done);
  }
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(Mutex& mu, std::chrono::duration<Rep, Period> timeout, Predicate done) REQUIRES(mu) {
    return cv_.wait_for(mu.mu_, timeout, done);
  }
  // Also wakes when `stop` is requested. Returns done().
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(Mutex& mu, std::stop_token stop, std::chrono::duration<Rep, Period> timeout, Predicate done)
      REQUIRES(mu) {
    return cv_.wait_for(mu.mu_, std::move(stop), timeout, done);
  }

  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  // _any: it waits on the std::mutex inside Mutex directly, and it is the
  // one that can also wake on a std::stop_token.
  std::condition_variable_any cv_;
};

}  // namespace resec
