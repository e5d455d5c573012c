// Reconciler: the actor that turns observations into intents.
//
// It owns the ReconcilerMemory and nothing else: no client, no I/O. Its
// owner (the agent's main loop) waits on the reconciler's mailbox, where
// both watchers post their observations (the newest of each kind replaces
// the older) and the signal handling queues commands (switchover, shutdown),
// and hands every batch to Handle(). Handle() runs Step() for each event,
// then sends both watchers the newest intents (every time: intents are
// desired state, so a repeat costs a watcher one comparison and repairs
// whatever it lost), updates the StateBoard, and says when it wants to run
// again with no news.
//
// StateBoard is the mutex-guarded copy of the latest state that the state
// server, the signal dumps and the metrics read.
//
// Thread-safety: the mailbox takes posts from any thread; Handle() and the
// rest from the owning thread only. StateBoard is locked.
#pragma once

#include <chrono>
#include <functional>
#include <variant>

#include "resec/clock.h"
#include "resec/config.h"
#include "resec/decide.h"
#include "resec/mailbox.h"
#include "resec/metrics.h"
#include "resec/mutex.h"
#include "resec/state.h"
#include "resec/step.h"

namespace resec {

struct BoardSnapshot {
  ConsulState consul;  // as Step read it (lease worked out)
  RedisState redis;
  PeerView peers;
  Decision decision;
  ConsulIntent intent;
  RedisIntent redis_intent;
  // Since when the lock has been free, as the election counts it. The rest
  // of the reconciler's memory stays on its thread: a copy of all of it on
  // every pass (ten or more a second) served this one field.
  std::optional<TimePoint> lock_free_since;
  Counters counters;
  bool decided = false;
};

class StateBoard {
 public:
  void Set(BoardSnapshot snapshot) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    snapshot_ = std::move(snapshot);
  }
  BoardSnapshot Get() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return snapshot_;
  }

 private:
  mutable Mutex mu_;
  BoardSnapshot snapshot_ GUARDED_BY(mu_);
};

DecideOptions MakeDecideOptions(const Config& config);
StepOptions MakeStepOptions(const Config& config);

class Reconciler {
 public:
  using Inbox =
      Mailbox<std::variant<ConsulState, RedisState, PeerView>, std::variant<event::Switchover, event::Shutdown>>;
  using SendConsul = std::function<void(ConsulIntent)>;
  using SendRedis = std::function<void(RedisIntent)>;
  using SendPeer = std::function<void(PeerIntent)>;

  // `metrics` (may be null; it must outlive the reconciler) receives the
  // durations Step measures (StepResult::measured).
  Reconciler(const Config& config, const Clock& clock, StateBoard& board, SendConsul send_consul,
             SendRedis send_redis, SendPeer send_peer = {}, Metrics* metrics = nullptr);
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  Inbox& inbox() { return inbox_; }
  // Everything in `batch`, in order (an empty batch is the passing of time).
  // Returns when to be called again at the latest.
  TimePoint Handle(Inbox::Batch batch);
  // Shutdown has finished (the lock released, the service deregistered, or
  // the deadline passed): the loop may end.
  bool done() const { return done_; }

 private:
  void Apply(const Event& event);

  const StepOptions options_;
  const Clock& clock_;
  StateBoard& board_;
  const SendConsul send_consul_;
  const SendRedis send_redis_;
  const SendPeer send_peer_;
  Metrics* const metrics_;
  Inbox inbox_;
  ReconcilerMemory memory_;
  StepResult last_;
  // What each actor was last sent: an unchanged wish is not sent again. The
  // actors converge on their own timers; waking all three on every decision
  // (ten or more a second with the peer protocol on) cost each agent about
  // a third of its idle CPU, which a fleet on shared hosts pays per group.
  std::optional<ConsulIntent> sent_consul_;
  std::optional<RedisIntent> sent_redis_;
  std::optional<PeerIntent> sent_peer_;
  bool done_ = false;
};

}  // namespace resec
