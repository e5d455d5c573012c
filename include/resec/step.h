// Step: all of the reconciler's policy, as one pure function.
//
//   Step(memory, event, now, options) -> (memory', intents, when to wake)
//
// The reconciler's loop owns a ReconcilerMemory and feeds every event to
// Step: an observation from a watcher, the passing of time (Tick), an
// operator's or a signal's request. Step folds the event into memory, works
// out what the facts mean, asks Decide() (the decision order, see decide.h)
// what Consul and Redis should look like, and returns the complete intents
// for both watchers. Besides Decide it owns:
//   - the lease: from the servers' last confirmation of our session (and of
//     our check, when the session is bound to it), never the watcher's opinion;
//   - lock loss: the original's monitor (CONSUL_LOCK_MONITOR_RETRIES reads
//     failed, that many intervals apart) ends a held lock;
//   - the stall guard (Sentinel's TILT): woken much later than it asked to be,
//     the loop was stopped or time jumped, so it makes no promotion for a while;
//   - elections' bookkeeping: when the lock freed, our own offset read after;
//   - switchover: requests from `resec switchover` (KV) or a signal, the
//     plan, and the hand-over;
//   - promotion and demotion of a former master: which master to fence and
//     catch up with before REPLICAOF NO ONE, and which to demote after;
//   - shutdown: hand over if we are the master, then leave Consul clean.
//
// No I/O, no clock reads, no logging: time comes in as `now`, and what is
// worth a log line comes back as notes. Table-tested (tests/unit/step_test.cc).
//
// Thread-safety: pure; value types.
#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "resec/clock.h"
#include "resec/decide.h"
#include "resec/peer/votes.h"
#include "resec/state.h"

namespace resec {

struct StepOptions {
  DecideOptions decide;
  // How often Step wants to run with no news: the check output (INFO text)
  // is refreshed and time-based rules (election graces) fire at this pace.
  std::chrono::milliseconds refresh{1000};
  // The original's lock monitor: a held lock counts as lost after this many
  // failed reads, this far apart.
  int lock_monitor_retries = 3;
  std::chrono::milliseconds lock_monitor_retry_interval{1000};
  std::chrono::milliseconds switchover_timeout{5000};
  // How long shutdown may take in all: the hand-over, then Consul's clean-up.
  std::chrono::milliseconds shutdown_deadline{5000};
  // The peer protocol (docs/failure-detection.md); off unless configured.
  peer::Options peer;
  // Where peers reach our protocol: this host (empty: Consul's address for
  // our node) and port.
  std::string peer_host;
  int peer_port = 0;
};

// Decisions and commands counted for /metrics and the dumps.
struct Counters {
  uint64_t reconciles = 0;
  uint64_t promotions = 0;
  uint64_t demotions = 0;  // our master told to follow another
  uint64_t replicate_commands = 0;
  uint64_t hold_commands = 0;
  uint64_t lock_acquisitions = 0;
  uint64_t lock_losses = 0;
  uint64_t stalls = 0;
  uint64_t switchovers = 0;  // hand-overs completed (the lock released to a successor)
  double last_reconcile_seconds = 0;
  // Histogram of decision durations (seconds), for /metrics.
  static constexpr double kBuckets[] = {0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05};
  uint64_t duration_buckets[std::size(kBuckets)] = {};
  uint64_t duration_count = 0;
  double duration_sum = 0;
  bool operator==(const Counters&) const = default;
};

// Everything the reconciler remembers between events.
struct ReconcilerMemory {
  ConsulState consul;  // the newest observations, as the watchers sent them
  RedisState redis;
  PeerView peers;
  // When this agent started (its first event): a promise given before a
  // restart is honoured by not voting for a lease after it.
  std::optional<TimePoint> started_at;
  // The lock term we last held, and the last one we held and gave up.
  uint64_t held_term = 0;
  uint64_t stepped_down_term = 0;
  DecideMemory decide;
  std::string handled_switchover_nonce;  // the KV request last acted on
  std::optional<std::string> requested_switchover;  // from a signal, not yet taken up
  // When the loop was told to wake at the latest: a wake much later means it
  // was stalled.
  std::optional<TimePoint> next_wake;
  // Fresh-observation requests (RedisIntent::observe) sent so far.
  uint64_t observe_seq = 0;
  // The master our Redis followed when we promoted it: demoted (made to
  // follow us) until it is seen doing so, or kDemoteFor passes.
  std::optional<std::pair<std::string, int>> former_master;
  TimePoint former_since{};
  // The standing write guard (Decide leaves it out when it has no opinion).
  WriteGuard guard;
  // The standing Consul intent (likewise); none until Decide has made one.
  std::optional<ConsulIntent> consul_intent;
  // The Redis intent last returned, to count what changed.
  RedisIntent redis_intent;
  bool lock_held = false;  // as Step last read it (acquisitions and losses)
  bool lock_loss_noted = false;
  std::string destroy_noted;  // the session whose ending was logged
  // Shutdown: when it was asked for, whether we hand over first, and since
  // when Consul is being cleaned up.
  std::optional<TimePoint> shutdown_at;
  bool shutdown_handover = false;
  std::optional<TimePoint> cleanup_since;
  // For the duration histograms (StepResult::measured): whether the lock has
  // been seen held since we started (a free lock at start-up is no failure),
  // when we took it (until our Redis serves as master), and when the
  // switchover under way was asked for (until the successor holds the lock).
  bool saw_lock_held = false;
  std::optional<TimePoint> acquired_at;
  std::optional<TimePoint> switchover_since;
  // The decision last logged (one line per transition).
  Rule last_rule = Rule::kWaitForInitialState;
  std::string last_reason;
  bool decided = false;
  Counters counters;
};

namespace event {
struct Tick {};  // time passed; nothing else happened
struct Switchover {
  std::string to;  // member ID or node/ID, empty: the best replica
};
struct Shutdown {};
}  // namespace event

using Event = std::variant<ConsulState, RedisState, PeerView, event::Tick, event::Switchover, event::Shutdown>;

struct StepNote {
  enum class Level { kInfo, kWarn };
  Level level = Level::kInfo;
  std::string text;
};

struct StepResult {
  ReconcilerMemory memory;
  Decision decision;
  // The Consul observation as Step read it: lease and lock loss worked out.
  ConsulState view;
  std::optional<ConsulIntent> consul;  // nullopt until Decide has made one
  RedisIntent redis;
  std::optional<PeerIntent> peer;      // nullopt: the peer protocol is off
  TimePoint next_wake{};  // Step wants a Tick by then at the latest
  bool done = false;      // shutdown finished: the loop may end
  std::vector<StepNote> notes;
  // Durations that ended with this step, for /metrics' histograms:
  // failure_detection, from the lock seen free after it had a holder to our
  // taking it; promotion, from our taking the lock to our Redis serving as
  // master; switchover, from a hand-over asked of us to the successor
  // holding the lock.
  struct Measured {
    std::optional<Duration> failure_detection;
    std::optional<Duration> promotion;
    std::optional<Duration> switchover;
  } measured;
};

StepResult Step(ReconcilerMemory memory, const Event& event, TimePoint now, const StepOptions& options);

// The lease our session gives a master, from the watcher's facts (see
// ConsulState): {deadline, ttl}. Exposed for the table tests.
std::pair<TimePoint, Duration> Lease(const ConsulState& consul);

}  // namespace resec
