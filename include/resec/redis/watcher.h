// redis::Watcher: the actor that owns the agent's conversation with its Redis.
//
// One thread, the actor, owns the command connection, the connections to the
// group's other Redis servers (peers) and everything it remembers. It wakes on
// its mailbox (a new RedisIntent, an alarm from its DisconnectWatch) or its
// poll timer, and then, every time:
//   1. observes: INFO over its connection (reconnecting with backoff while
//      Redis is unreachable);
//   2. converges Redis on the newest RedisIntent, skipping what is already
//      true (so repeating an intent never restarts a sync or drops clients):
//      the replication role, the write guard (CLIENT PAUSE WRITE, renewed
//      before it lapses; min-replicas-to-write, compared with what CONFIG GET
//      reads back, re-read for every new redis-server process and every
//      kConfigRecheck), the demotion of a former master;
//   3. publishes the observation (RedisState) when anything the reconciler
//      compares changed, and at least every kRefreshPeriod.
//
// A redis-server process is known by its run_id. An intent applies only to
// the run it names (RedisIntent::run_id): a process the reconciler has not
// decided for yet (just restarted, or the first contact after the agent
// started) is fenced on first contact while it is a master (CLIENT PAUSE
// WRITE) and nothing is assumed done for it: every guard is applied again.
// So a restarted Redis never takes writes on an intent meant for its
// predecessor, and a guard is never "remembered" past the process it was set
// on. The watcher lifts only a pause it set itself (it never sends CLIENT
// UNPAUSE for a pause someone else, e.g. a new master fencing us, set), and
// never one of a master when it stops.
//
// The DisconnectWatch helper thread holds two idle connections and only
// posts to the actor's mailbox: one to our Redis (a crashed redis-server's
// kernel closes it at once, so the actor observes at once instead of at its
// next poll), one to the master our Redis is linked to (so a dead master is
// noticed before our Redis, which retries once a second, can reconnect to a
// restarted, possibly empty, one and resync from it).
//
// Peer connections (WatcherOptions::connect_peer) serve the moments that need
// the other side's exact state: reading the master we follow or hold off
// (RedisState::upstream), pausing and catching up with a former master before
// promoting, demoting it afterwards (it must address us as it can reach us:
// ANNOUNCE_ADDR, else our end of the connection to it), and, while our own
// writes are paused for a hand-over, reading each replica's own offset and
// run_id (RedisState::Replica::inspected).
//
// Thread-safety: SetIntent() from any thread; Start()/Stop() from the owner.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "resec/clock.h"
#include "resec/mailbox.h"
#include "resec/redis/client.h"
#include "resec/redis/disconnect_watch.h"
#include "resec/state.h"

namespace resec::redis {

struct WatcherOptions {
  // How often INFO is read (the original resec polls every second; a
  // command or an alarm triggers an extra read at once).
  std::chrono::milliseconds poll_interval{250};
  // Opens a connection (same credentials, short timeout) to another Redis of
  // the group. Empty: the watcher only ever talks to its own Redis.
  std::function<std::unique_ptr<Client>(const std::string& host, int port)> connect_peer;
  // How a former master must address us: ANNOUNCE_ADDR's host when set (else
  // our end of the connection to it) and port.
  std::string announce_host;
  int self_port = 0;
};

class Watcher {
 public:
  // Receives every published snapshot, on the actor's thread. It must not
  // block (post into a mailbox).
  using Publisher = std::function<void(const RedisState&)>;

  // `client` is the actor's command connection, `liveness` the idle
  // connection its DisconnectWatch parks on our Redis. `clock` must outlive
  // the watcher.
  Watcher(std::unique_ptr<Client> client, std::unique_ptr<Client> liveness, WatcherOptions options,
          const Clock& clock, Publisher publish);
  ~Watcher();  // Stop()
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  void Start();
  // Ends both threads. Idempotent. Returns within about the Redis timeout
  // even when Redis hangs mid-call.
  void Stop();
  // The newest intent replaces any not yet seen.
  void SetIntent(RedisIntent intent) { inbox_.Post(std::move(intent)); }

 private:
  using Inbox = Mailbox<std::variant<RedisIntent, DisconnectWatch::OwnLost, DisconnectWatch::UpstreamLost>>;

  void Run(std::stop_token stop);
  // One round: observe, converge, publish. Returns when to run again.
  TimePoint Cycle();
  // Connects if needed and reads INFO; nullopt when Redis did not answer
  // (the failure is published).
  std::optional<RedisState> Observe();
  void Converge(RedisState& state);
  // Brings the replication role in line with the intent; true when it sent a
  // command (the caller observes again).
  bool ApplyReplication(const RedisState& state);
  void ApplyGuard(const RedisState& state, const WriteGuard& want);
  void Demote(RedisState& state, const std::string& host, int port);
  // Before REPLICAOF NO ONE: pauses the master we replicate from and waits
  // (at most intent.catch_up) until we hold its final offset.
  void PauseFormerMaster(const RedisState& state, const std::string& host, int port);
  // While paused: each online replica's own offset, run_id and link, read
  // directly. Returns whether any online replica still lacks writes.
  bool InspectReplicas(RedisState& state);
  void ProbeUpstream(RedisState& state);
  UpstreamProbe ReadPeer(const std::string& host, int port);
  // A connected client to another Redis of the group (cached), or nullptr
  // (with the connect failure in *why when given).
  Client* Peer(const std::string& host, int port, Status* why = nullptr);
  StatusOr<std::string> PeerCommand(const std::string& host, int port, const std::vector<std::string>& argv);
  // Sends a command to our Redis; a failure is counted under `what`, logged
  // once per change of text, and returned.
  Status Send(const std::string& what, const std::vector<std::string>& argv);
  void Publish(RedisState state, bool force);
  void PublishUnreachable(const Status& status);

  std::unique_ptr<Client> client_;  // actor thread only
  const WatcherOptions options_;
  const Clock& clock_;
  const Publisher publish_;
  Inbox inbox_;
  DisconnectWatch watch_;

  // Actor thread only.
  RedisIntent intent_;                  // the newest intent (a default one fences)
  std::string run_id_;                  // the process we last observed
  std::optional<RedisState> last_published_;
  TimePoint last_publish_time_{};
  bool force_publish_ = false;
  std::map<std::string, uint64_t> errors_;  // failed operations, for metrics
  std::string last_error_text_;             // logged once per change
  std::string command_error_;               // the last failed command, until it succeeds
  TimePoint retry_at_{};                    // a failed command is not repeated before this
  std::chrono::milliseconds retry_backoff_{0};
  std::chrono::milliseconds reconnect_backoff_{0};
  TimePoint reconnect_at_{};
  // Our own pause on run_id_: in force until this (SteadyClock), renewed
  // before it lapses while wanted.
  std::optional<TimePoint> paused_until_;
  // min-replicas-to-write / -max-lag as last read back from run_id_.
  std::optional<std::pair<int, int>> min_replicas_read_;
  TimePoint config_read_at_{};
  bool replicas_catching_up_ = false;
  std::map<std::string, std::unique_ptr<Client>> peers_;  // by "host:port"
  std::optional<UpstreamProbe> last_probe_;
  TimePoint next_probe_at_{};
  std::optional<std::string> doubted_run_id_;  // set by an UpstreamLost alarm
  TimePoint next_demote_at_{};
  std::optional<UpstreamProbe> last_former_;  // the last demotion attempt's reading
  std::string fence_logged_for_;              // the run whose first-contact fence was logged
  std::pair<std::string, int> watched_;  // what the DisconnectWatch was last told to watch

  std::jthread thread_;  // last: joined before the members it uses go
};

}  // namespace resec::redis
