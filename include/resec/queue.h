// BoundedQueue: the only channel between actors.
//
// Semantics follow ClickHouse Keeper's queue: push fails after close(); pop
// drains what is left after close() and then returns nullopt. A full queue
// means a stuck consumer, so a producer never blocks on it forever: Push()
// either fails (commands: the sender decides) or, with PushCoalesce(), drops
// the oldest element (snapshots: only the newest state matters).
//
// Thread-safety: every method may be called from any thread; mu_ guards the
// contents and the closed flag.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "resec/mutex.h"

namespace resec {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Fails when closed or full.
  [[nodiscard]] bool Push(T value) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (closed_ || items_.size() >= capacity_) return false;
      items_.push_back(std::move(value));
    }
    cv_.NotifyOne();
    return true;
  }

  // Never blocks: when full, the oldest element is dropped to make room.
  // Returns false only when closed.
  bool PushCoalesce(T value) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (closed_) return false;
      if (items_.size() >= capacity_) {
        items_.pop_front();
        ++dropped_;
      }
      items_.push_back(std::move(value));
    }
    cv_.NotifyOne();
    return true;
  }

  // Blocks until an element arrives or the queue is closed and drained.
  std::optional<T> Pop() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    cv_.Wait(mu_, [&]() REQUIRES(mu_) { return closed_ || !items_.empty(); });
    return TakeLocked();
  }

  template <typename Rep, typename Period>
  std::optional<T> TryPopFor(std::chrono::duration<Rep, Period> timeout) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    cv_.WaitFor(mu_, timeout, [&]() REQUIRES(mu_) { return closed_ || !items_.empty(); });
    return TakeLocked();
  }

  std::optional<T> TryPop() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return TakeLocked();
  }

  void Close() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      closed_ = true;
    }
    cv_.NotifyAll();
  }

  bool closed() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return closed_;
  }
  std::size_t size() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return items_.size();
  }
  // How many snapshots PushCoalesce() discarded; a growing number means a slow consumer.
  std::size_t dropped() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return dropped_;
  }

 private:
  std::optional<T> TakeLocked() REQUIRES(mu_) {
    if (items_.empty()) return std::nullopt;
    std::optional<T> out(std::move(items_.front()));
    items_.pop_front();
    return out;
  }

  const std::size_t capacity_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<T> items_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  std::size_t dropped_ GUARDED_BY(mu_) = 0;
};

}  // namespace resec
