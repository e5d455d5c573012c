// Mailbox: the only way into an actor.
//
// An actor receives two sorts of message:
//   - states (a snapshot, an intent, a helper's latest answer): only the
//     newest of each kind matters, so a new value of kind K replaces the
//     pending value of kind K and never one of another kind. The mailbox holds
//     at most one value per kind: it is bounded by construction, and a burst
//     from one producer can never push out another producer's news;
//   - commands (an operator's request, shutdown): each must be acted on, so
//     they queue in order and are never dropped. They are rare by nature.
// Kinds are the alternatives of the State variant.
//
// A state may also be posted quietly: it replaces the pending value of its
// kind like any other but wakes nobody, and goes with whatever wakes the
// owner next (another post, a command, or its own deadline). For routine
// news the owner only needs to have in hand when it next looks: the peer
// transport's receipt times and acks, ten a second per member, were most of
// the reconciler's wake-ups.
//
// The owner waits with Wait(deadline), which hands over everything pending at
// once (a burst is one wake-up), states in the order they last arrived. The
// wake-up is an eventfd, so the owner may wait for one more file descriptor
// at the same time (the reconciler's signalfd).
//
// Thread-safety: Post/Send/Close from any thread; Wait/TakeAll from the owner
// only.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "resec/clock.h"
#include "resec/mutex.h"
#include "resec/thread_annotations.h"

namespace resec {

// An eventfd: Notify() from any thread makes the fd readable until Clear().
class WakeFd {
 public:
  WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~WakeFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;

  int fd() const { return fd_; }
  void Notify() const {
    const uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the owner wakes anyway.
    [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof(one));
  }
  void Clear() const {
    uint64_t value = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd_, &value, sizeof(value));
  }

 private:
  int fd_;
};

template <typename State, typename Command = std::monostate>
class Mailbox {
 public:
  static constexpr std::size_t kKinds = std::variant_size_v<State>;

  struct Batch {
    std::vector<State> states;  // at most one per kind, oldest arrival first
    std::vector<Command> commands;
    bool closed = false;       // Close() was called; nothing more will come
    bool extra_ready = false;  // the extra fd given to Wait() is readable
    bool empty() const { return states.empty() && commands.empty(); }
  };

  Mailbox() = default;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Replaces the pending state of the same kind. False once closed.
  bool Post(State state) EXCLUDES(mu_) { return Put(std::move(state), /*wake=*/true); }

  // Like Post(), without waking the owner. A pending value that was posted
  // loudly stays due: the quiet one replacing it carries that news too.
  bool PostQuietly(State state) EXCLUDES(mu_) { return Put(std::move(state), /*wake=*/false); }

  // Queues a command. False once closed.
  bool Send(Command command) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (closed_) return false;
      commands_.push_back(std::move(command));
    }
    wake_.Notify();
    return true;
  }

  // Ends the mailbox: Post/Send fail from now on, Wait returns at once with
  // closed set (after handing over what was pending).
  void Close() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      closed_ = true;
    }
    wake_.Notify();
  }

  // Everything pending; waits until something is, `timeout` passes, the
  // mailbox is closed, or `extra_fd` (if >= 0) becomes readable. (A timeout,
  // not a deadline: the owner's deadlines are on its injected Clock.)
  // States posted quietly are handed over with the rest, or when the
  // timeout passes, but do not end the wait by themselves.
  Batch Wait(Duration timeout, int extra_fd = -1) EXCLUDES(mu_) {
    const TimePoint deadline = SteadyClock::now() + timeout;
    for (;;) {
      wake_.Clear();  // before looking: a post after this look wakes the poll below
      if (Due()) return TakeAll();
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return TakeAll();
      std::array<pollfd, 2> fds{pollfd{wake_.fd(), POLLIN, 0}, pollfd{extra_fd, POLLIN, 0}};
      const int n = ::poll(fds.data(), extra_fd >= 0 ? 2 : 1,
                           static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
      if (n < 0 && errno != EINTR) return TakeAll();  // cannot wait: let the owner run its timers
      if (extra_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
        Batch batch = TakeAll();
        batch.extra_ready = true;
        return batch;
      }
    }
  }

  // Everything pending, without waiting.
  Batch TakeAll() EXCLUDES(mu_) {
    wake_.Clear();
    Batch batch;
    MutexLock lock(mu_);
    batch.closed = closed_;
    std::vector<Slot*> pending;
    for (auto& slot : slots_) {
      if (slot) pending.push_back(&*slot);
    }
    std::sort(pending.begin(), pending.end(), [](const Slot* a, const Slot* b) { return a->arrival < b->arrival; });
    for (Slot* slot : pending) batch.states.push_back(std::move(slot->state));
    for (auto& slot : slots_) slot.reset();
    batch.commands.assign(std::make_move_iterator(commands_.begin()), std::make_move_iterator(commands_.end()));
    commands_.clear();
    return batch;
  }

  bool closed() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return closed_;
  }

  // Readable while something posted loudly is pending (or after Close()):
  // for an owner that polls more descriptors than Wait() takes, then calls
  // TakeAll().
  int wake_fd() const { return wake_.fd(); }

 private:
  struct Slot {
    State state;
    uint64_t arrival = 0;
    bool wake = true;
  };

  bool Put(State state, bool wake) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (closed_) return false;
      std::optional<Slot>& slot = slots_[state.index()];
      const bool due = wake || (slot && slot->wake);
      slot = Slot{std::move(state), ++arrivals_, due};
    }
    if (wake) wake_.Notify();
    return true;
  }

  // Something the owner must be woken for is pending.
  bool Due() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (closed_ || !commands_.empty()) return true;
    return std::any_of(slots_.begin(), slots_.end(), [](const auto& slot) { return slot && slot->wake; });
  }

  mutable Mutex mu_;
  std::array<std::optional<Slot>, kKinds> slots_ GUARDED_BY(mu_);
  std::deque<Command> commands_ GUARDED_BY(mu_);
  uint64_t arrivals_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
  WakeFd wake_;
};

}  // namespace resec
