// redis::Watcher: the actor that owns the agent's connections to its Redis.
//
// It polls INFO, turns it into RedisState snapshots for the reconciler, and
// executes the RedisCommands the reconciler sends back. Three threads:
//   - the poller owns `client`: connects (with backoff while unreachable),
//     reads INFO every poll_interval, executes commands between polls;
//   - the liveness thread owns `liveness`, a second connection that sends
//     nothing and blocks in WaitForDisconnect(): a crashed redis-server's
//     kernel closes that socket at once, and the poller is woken to re-check
//     immediately instead of at its next poll;
//   - the forwarder moves commands from `in` into the poller's mailbox, so the
//     poller can wait for "a command, a liveness alarm or the next poll" at
//     once. Commands set the desired replication source, so the newest one
//     supersedes any not yet executed.
//
// What is published (out.PushCoalesce, or the Publisher callback):
//   - ready=true from the first observation on, reachable or not;
//   - unreachable / INFO failed: healthy=false, error=why, other fields default;
//   - loading:1: healthy=false, error="loading";
//   - otherwise healthy=true; error holds the last failed command's error
//     until a later command succeeds or Redis reaches that command's target
//     (so `error` may be non-empty while healthy, for /state and logs).
// A snapshot is pushed when anything but `info` and the two replication
// offsets changed, and at least every second (kRefreshPeriod, timed by the
// injected Clock) so offsets and INFO text stay fresh.
//
// Commands: PromoteToMaster -> REPLICAOF NO ONE, preceded by fencing the
// master we replicate from and followed by demoting it (see connect_peer);
// ReplicateFrom -> REPLICAOF host port then CLIENT KILL TYPE normal;
// HoldReplication -> REPLICAOF to a target nobody listens on (then CLIENT KILL
// when Redis was master). All are skipped when the last INFO already shows
// the target, so repeating a command never restarts a sync.
//
// The last ReplicateFrom or HoldReplication also names the master to watch:
// while our Redis is not linked to it, each observation reads that master's
// INFO (connect_peer) into RedisState::upstream, so the reconciler can see
// whether following it keeps our data. While our Redis is linked, a fourth
// thread, the upstream watch, holds an idle connection to that master: when
// the master's process dies its kernel closes that socket at once, and the
// poller reads the master again (publishing `upstream` unless it is the same
// redis-server, answering) before our Redis, which retries once a second,
// can reconnect to a restarted, possibly empty, master and resync from it.
// Commands arriving while Redis is unreachable are dropped (logged): the
// reconciler decides again from the next snapshot.
//
// Thread-safety: Start() and Stop() may be called from any thread; the
// clients are touched only by their own threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "resec/clock.h"
#include "resec/queue.h"
#include "resec/redis/client.h"
#include "resec/state.h"

namespace resec::redis {

struct WatcherOptions {
  // How often INFO is read (the original resec polls every second; a
  // command or a liveness alarm triggers an extra read at once).
  std::chrono::milliseconds poll_interval{250};
  // The Redis operation timeout the clients were built with; Stop() may take
  // this long when a call to a hung Redis is in flight.
  std::chrono::milliseconds timeout{2000};
  // Opens a connection (same credentials, short timeout) to another Redis of
  // the group. Empty: the watcher only ever talks to its own Redis. Used at
  // the two moments a hand-over needs the other side's exact state:
  //   - while our master's writes are paused, each replica's own processed
  //     offset is read directly (the master's view of it, REPLCONF ACK, is
  //     refreshed only once a second and never during a pause), so a planned
  //     switchover hands over the moment the successor has every write;
  //   - before promoting, the master we still replicate from is paused, we
  //     catch up with its final offset, and after promotion it is made our
  //     replica: an old master whose agent died stops taking writes that the
  //     new master would never see.
  std::function<std::unique_ptr<Client>(const std::string& host, int port)> connect_peer;
  // Our Redis' port as its master lists it among its replicas (to point the
  // former master at us). 0: never demote the former master.
  int self_port = 0;
};

class Watcher {
 public:
  // Receives every published snapshot, on the poller thread. It must not
  // block (push into a coalescing queue): a slow publisher delays polling.
  using Publisher = std::function<void(const RedisState&)>;

  // Takes ownership of two clients: one for INFO/commands, one dedicated to
  // WaitForDisconnect. `clock`, `out` and `in` must outlive the watcher.
  // Snapshots go to out.PushCoalesce().
  Watcher(std::unique_ptr<Client> client, std::unique_ptr<Client> liveness, WatcherOptions options,
          const Clock& clock, BoundedQueue<RedisState>& out, BoundedQueue<RedisCommand>& in);
  // The same, publishing through a callback (the agent merges Redis and
  // Consul snapshots into one inbox).
  Watcher(std::unique_ptr<Client> client, std::unique_ptr<Client> liveness, WatcherOptions options,
          const Clock& clock, Publisher publish, BoundedQueue<RedisCommand>& in);
  ~Watcher();  // Stop()
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Starts the threads. Once only; later calls do nothing.
  void Start();
  // Requests stop and joins. Idempotent. Returns within about
  // max(250ms, timeout) even when Redis hangs mid-call.
  void Stop();

 private:
  enum class Wake { kDeadline, kCommand, kGuard, kLivenessLost, kUpstreamLost, kStop };

  void RunPoller(std::stop_token stop);
  void RunLiveness(std::stop_token stop);
  void RunForwarder(std::stop_token stop);
  void RunUpstreamWatch(std::stop_token stop);

  // Connects if needed, reads INFO and publishes. False when Redis did not
  // answer (the failure has been published).
  bool Observe();
  void Execute(const RedisCommand& command);
  // Connected client to another Redis of the group (cached), or nullptr.
  Client* Peer(const std::string& host, int port);
  // A command to a peer; a transport failure reconnects and retries once.
  StatusOr<std::string> PeerCommand(const std::string& host, int port, const std::vector<std::string>& argv);
  // While paused: replaces each lagging replica's acknowledged offset with
  // the offset it reports itself. Returns whether any online replica is
  // still behind `state`'s offset.
  bool ReadReplicaOffsets(RedisState& state);
  // Before REPLICAOF NO ONE: pauses the master we replicate from and waits
  // (bounded) until we hold its final offset. Returns the former master's
  // INFO, or nullopt when there is none to fence (not linked, unreachable,
  // not a master).
  std::optional<RedisState> PauseFormerMaster(const std::string& host, int port);
  // Fills state.upstream (see the header comment); unreachable masters are
  // retried at most every kUnreachableProbeRetry.
  void ProbeUpstream(RedisState& state);
  // One read of a master's INFO server + replication.
  UpstreamProbe ReadUpstream(const std::string& host, int port);
  // After promotion: REPLICAOF us on the former master, drop its clients,
  // lift the pause.
  void DemoteFormerMaster(const std::string& host, int port, const RedisState& former);
  // Brings Redis in line with desired_guard_: (re)issues CLIENT PAUSE WRITE
  // before the last pause runs out, unpauses, sets min-replicas-to-write.
  void ApplyGuard();
  void Publish(RedisState state);
  void PublishUnreachable(const Status& status);
  void PublishCrashed(const std::string& what);
  // Blocks until `deadline`, a command (moved into *command), a liveness alarm
  // or stop, whichever comes first.
  Wake WaitForEvent(const std::stop_token& stop, SteadyClock::time_point deadline,
                    std::optional<RedisCommand>* command);
  void SleepFor(const std::stop_token& stop, std::chrono::milliseconds d);
  // How long the liveness probe and the forwarder block at a time.
  std::chrono::milliseconds BlockingSlice() const;

  std::unique_ptr<Client> client_;    // poller thread only
  std::unique_ptr<Client> liveness_;  // liveness thread only
  const WatcherOptions options_;
  const Clock& clock_;
  const Publisher publish_;
  BoundedQueue<RedisCommand>& in_;

  // Poller thread only.
  RedisState current_;                       // the last successful observation
  std::optional<RedisState> last_published_;
  TimePoint last_publish_time_{};
  std::optional<RedisCommand> failed_command_;  // reported in `error` until resolved
  std::string command_error_;
  std::string last_logged_command_error_;
  WriteGuard desired_guard_;
  bool force_publish_ = false;
  std::map<std::string, uint64_t> errors_;  // failed operations, for metrics
  std::optional<WriteGuard> applied_min_replicas_;  // what CONFIG SET last set
  bool paused_ = false;
  SteadyClock::time_point pause_renew_at_{};
  std::string last_logged_guard_error_;
  bool replicas_catching_up_ = false;  // paused, and a replica lacks writes
  std::map<std::string, std::unique_ptr<Client>> peers_;  // by "host:port"
  std::pair<std::string, int> upstream_target_;  // from the last replication command
  std::optional<UpstreamProbe> last_probe_;
  SteadyClock::time_point next_probe_at_{};
  // Set when the upstream watch lost its connection: the run it had been
  // watching, which must still be the one that answers.
  std::optional<std::string> doubted_run_id_;

  // The poller's mailbox.
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::optional<RedisCommand> pending_command_;  // GUARDED_BY(mu_)
  std::optional<WriteGuard> pending_guard_;      // GUARDED_BY(mu_)
  bool liveness_lost_ = false;                   // GUARDED_BY(mu_)
  bool observe_requested_ = false;               // GUARDED_BY(mu_)
  // The master our Redis is linked to ("" when none), for the upstream watch,
  // and the run_id that watch saw when it connected.
  std::pair<std::string, int> watched_;          // GUARDED_BY(mu_)
  std::string watched_run_id_;                   // GUARDED_BY(mu_)
  std::optional<std::string> lost_run_id_;       // GUARDED_BY(mu_): set when the watch lost it

  std::mutex lifecycle_mu_;  // serialises Start() and Stop()
  bool started_ = false;     // GUARDED_BY(lifecycle_mu_)
  // Last members: destroyed (joined) before anything they use.
  std::jthread poller_;
  std::jthread liveness_thread_;
  std::jthread forwarder_;
  std::jthread upstream_watch_;
};

}  // namespace resec::redis
