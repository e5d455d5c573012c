// Reconciler: the actor that turns watcher snapshots into decisions.
//
// It waits on one inbox fed by both watchers (a single wait point means a
// burst of snapshots from either side is coalesced into one decision without
// any debounce sleep), runs Decide(), and sends the Consul intent and the
// Redis command that the decision asks for. It also decides periodically so
// the check output stays fresh and election graces expire on time, and it
// keeps a Sentinel-style TILT guard: when its own loop stalled (a paused
// process, a time jump) it makes no promotion for a cool-down.
//
// StateBoard is the mutex-guarded copy of the latest state that the state
// server, the signal dumps and the metrics read.
//
// Thread-safety: Reconciler runs on its own thread; StateBoard is locked.
#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <stop_token>
#include <thread>
#include <variant>

#include "resec/clock.h"
#include "resec/config.h"
#include "resec/decide.h"
#include "resec/queue.h"
#include "resec/state.h"

namespace resec {

// std::monostate only wakes the loop (a request arrived by another path).
using AgentEvent = std::variant<ConsulState, RedisState, std::monostate>;

struct Counters {
  uint64_t reconciles = 0;
  uint64_t promotions = 0;
  uint64_t demotions = 0;  // ReplicateFrom sent while our Redis was master
  uint64_t replicate_commands = 0;
  uint64_t hold_commands = 0;  // HoldReplication sent
  uint64_t lock_acquisitions = 0;
  uint64_t lock_losses = 0;
  uint64_t stalls = 0;
  double last_reconcile_seconds = 0;
  // Histogram of decision durations (seconds), for /metrics.
  static constexpr double kBuckets[] = {0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05};
  uint64_t duration_buckets[std::size(kBuckets)] = {};
  uint64_t duration_count = 0;
  double duration_sum = 0;
};

struct BoardSnapshot {
  ConsulState consul;
  RedisState redis;
  Decision decision;
  ConsulIntent intent;
  DecideMemory memory;
  Counters counters;
  bool decided = false;
};

class StateBoard {
 public:
  void Set(BoardSnapshot snapshot) {
    std::lock_guard lock(mu_);
    snapshot_ = std::move(snapshot);
  }
  BoardSnapshot Get() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

 private:
  mutable std::mutex mu_;
  BoardSnapshot snapshot_;
};

DecideOptions MakeDecideOptions(const Config& config);

class Reconciler {
 public:
  Reconciler(const Config& config, const Clock& clock, BoundedQueue<AgentEvent>& inbox,
             BoundedQueue<ConsulIntent>& intents, BoundedQueue<RedisCommand>& redis_commands,
             StateBoard& board);
  ~Reconciler() { Stop(); }
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  void Start();
  void Stop();  // idempotent; the last decision stays on the board
  // Asks for a planned switchover (SIGTERM on the master, or an operator's
  // request); ignored unless we are the master holding the lock. Any thread.
  void RequestSwitchover(std::string to);

 private:
  void Run(std::stop_token stop);
  void Absorb(AgentEvent event);
  void ReconcileOnce(TimePoint now);

  const Config config_;
  const DecideOptions options_;
  const Clock& clock_;
  BoundedQueue<AgentEvent>& inbox_;
  BoundedQueue<ConsulIntent>& intents_;
  BoundedQueue<RedisCommand>& redis_commands_;
  StateBoard& board_;
  BoundedQueue<std::string> switchover_requests_{4};

  // Reconciler thread only.
  ConsulState consul_;
  RedisState redis_;
  DecideMemory memory_;
  Counters counters_;
  std::optional<ConsulIntent> last_intent_;
  std::optional<RedisCommand> last_command_;
  std::optional<WriteGuard> last_guard_;
  std::string handled_switchover_nonce_;
  TimePoint last_command_at_{};
  Rule last_rule_ = Rule::kWaitForInitialState;
  std::string last_reason_;
  bool logged_once_ = false;

  std::jthread thread_;
};

}  // namespace resec
