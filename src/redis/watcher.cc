// redis::Watcher: see include/resec/redis/watcher.h.
#include "resec/redis/watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <variant>

#include "resec/redis/info.h"

namespace resec::redis {

namespace {

// Reconnect backoff while Redis is unreachable: the first retry comes quickly
// because a restarting redis-server (systemd, Nomad) is usually back within a
// fraction of a second. The cap is low too: a restarted Redis comes back as a
// standalone, writable master (REPLICAOF is not persisted) and stays so until
// we reconnect and fence it (unless it boots with min-replicas-to-write, see
// docs/failover.md); a refused connect twice a second costs nothing. The
// unreachable state is published at once either way.
constexpr std::chrono::milliseconds kInitialBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{500};
// An unchanged snapshot is still re-published this often, so the replication
// offsets (left out of change detection because they move with every write)
// and the INFO text the check reports are never older than this.
constexpr std::chrono::seconds kRefreshPeriod{1};
// The liveness probe and the command forwarder block in calls that cannot be
// interrupted (poll(2), BoundedQueue::TryPopFor); slicing those waits bounds
// how long Stop() waits for them, whatever poll_interval is.
constexpr std::chrono::milliseconds kMaxBlockingSlice{250};

// A write pause lasts this long unless renewed; renewed well before it ends.
// If the agent dies while fencing, Redis takes writes again after this (the
// orphaned master is then covered by min-replicas-to-write).
constexpr std::chrono::milliseconds kPauseWindow{3000};
constexpr std::chrono::milliseconds kPauseRenewBefore{2000};
// While our writes are paused and a replica still lacks some, INFO is read
// this often: every millisecond of catch-up is a millisecond of write pause.
constexpr std::chrono::milliseconds kCatchUpPoll{5};
// The former master stays paused this long at most: we demote it and lift
// the pause right after our promotion, so this only matters if we die in
// between (then its min-replicas-to-write takes over).
constexpr std::chrono::milliseconds kFormerMasterPause{10000};
// How long a promotion waits for our replica to hold the former master's
// final offset. Replicas on a healthy link are milliseconds behind, but one
// that has just finished a diskless full sync receives nothing more until
// its next once-a-second REPLCONF ACK; past this we promote with what we have.
constexpr std::chrono::milliseconds kFormerMasterCatchUp{1500};
// A master that did not answer our probe is asked again no sooner than this:
// a partitioned one costs a connect timeout per try, and every try delays
// our own INFO poll.
constexpr std::chrono::milliseconds kUnreachableProbeRetry{500};


bool Satisfied(const RedisCommand& command, const RedisState& state) {
  if (std::holds_alternative<WriteGuard>(command) || std::holds_alternative<cmd::Observe>(command)) return false;
  if (std::holds_alternative<cmd::PromoteToMaster>(command)) return state.role == RedisRole::kMaster;
  if (std::holds_alternative<cmd::HoldReplication>(command)) return state.Held();
  const auto& r = std::get<cmd::ReplicateFrom>(command);
  return state.role == RedisRole::kReplica && state.master_host == r.host && state.master_port == r.port;
}

std::string Describe(const RedisCommand& command) {
  if (std::holds_alternative<cmd::Observe>(command)) return "INFO (fresh observation)";
  if (const auto* g = std::get_if<WriteGuard>(&command)) {
    return std::string(g->pause_writes ? "pause writes" : "take writes") +
           ", min-replicas-to-write " + std::to_string(g->min_replicas_to_write);
  }
  if (std::holds_alternative<cmd::PromoteToMaster>(command)) return "REPLICAOF NO ONE";
  if (const auto* h = std::get_if<cmd::HoldReplication>(&command)) {
    return "REPLICAOF " + std::string(cmd::kHoldHost) + " " + std::to_string(cmd::kHoldPort) +
           " (hold our data" + (h->host.empty() ? "" : " off " + h->host + ":" + std::to_string(h->port)) + ")";
  }
  const auto& r = std::get<cmd::ReplicateFrom>(command);
  return "REPLICAOF " + r.host + " " + std::to_string(r.port);
}

// Equal for the reconciler's purposes: everything but the INFO text and the
// offsets, which change with every write on a busy master.
bool SameForReconciler(RedisState a, RedisState b) {
  a.info.clear();
  b.info.clear();
  a.slave_repl_offset = b.slave_repl_offset = 0;
  a.master_repl_offset = b.master_repl_offset = 0;
  return a == b;
}

void LogTransition(const std::optional<RedisState>& before, const RedisState& after) {
  const bool changed = !before || before->healthy != after.healthy ||
                       (!after.healthy && before->error != after.error) || before->role != after.role ||
                       before->master_host != after.master_host || before->master_port != after.master_port;
  if (!changed) return;
  if (!after.healthy) {
    spdlog::warn("redis: unhealthy: {}", after.error);
  } else if (after.Held()) {
    spdlog::info("redis: healthy, held off every master (read-only, keeping its data)");
  } else if (after.role == RedisRole::kReplica) {
    spdlog::info("redis: healthy, replica of {}:{} (link {})", after.master_host, after.master_port,
                 after.master_link_up ? "up" : "down");
  } else {
    spdlog::info("redis: healthy, role {}", RoleName(after.role));
  }
}

}  // namespace

Watcher::Watcher(std::unique_ptr<Client> client, std::unique_ptr<Client> liveness, WatcherOptions options,
                 const Clock& clock, BoundedQueue<RedisState>& out, BoundedQueue<RedisCommand>& in)
    : Watcher(std::move(client), std::move(liveness), options, clock,
              // PushCoalesce fails only once the queue is closed: shutting down.
              [&out](const RedisState& s) { out.PushCoalesce(s); }, in) {}

Watcher::Watcher(std::unique_ptr<Client> client, std::unique_ptr<Client> liveness, WatcherOptions options,
                 const Clock& clock, Publisher publish, BoundedQueue<RedisCommand>& in)
    : client_(std::move(client)),
      liveness_(std::move(liveness)),
      options_(options),
      clock_(clock),
      publish_(std::move(publish)),
      in_(in) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_) return;
  started_ = true;
  poller_ = std::jthread([this](std::stop_token stop) { RunPoller(std::move(stop)); });
  liveness_thread_ = std::jthread([this](std::stop_token stop) { RunLiveness(std::move(stop)); });
  forwarder_ = std::jthread([this](std::stop_token stop) { RunForwarder(std::move(stop)); });
  if (options_.connect_peer) {
    upstream_watch_ = std::jthread([this](std::stop_token stop) { RunUpstreamWatch(std::move(stop)); });
  }
}

void Watcher::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  // Ask all three first so they wind down in parallel; the slowest (a call to
  // a hung Redis) bounds the whole stop by the client timeout.
  poller_.request_stop();
  liveness_thread_.request_stop();
  forwarder_.request_stop();
  upstream_watch_.request_stop();
  if (poller_.joinable()) poller_.join();
  if (liveness_thread_.joinable()) liveness_thread_.join();
  if (forwarder_.joinable()) forwarder_.join();
  if (upstream_watch_.joinable()) upstream_watch_.join();
}

// ---------------------------------------------------------------- poller

void Watcher::RunPoller(std::stop_token stop) {
  try {
    std::chrono::milliseconds backoff = kInitialBackoff;
    while (!stop.stop_requested()) {
      if (!Observe()) {
        const auto deadline = SteadyClock::now() + backoff;
        backoff = std::min(backoff * 2, kMaxBackoff);
        for (;;) {
          std::optional<RedisCommand> command;
          const Wake wake = WaitForEvent(stop, deadline, &command);
          if (wake == Wake::kStop) return;
          if (wake == Wake::kDeadline) break;
          if (wake == Wake::kCommand) {
            spdlog::warn("redis: unreachable, dropping command {}; the reconciler will decide again",
                         Describe(*command));
          }
        }
        continue;
      }
      backoff = kInitialBackoff;

      ApplyGuard();
      std::optional<RedisCommand> command;
      const auto interval = paused_ && replicas_catching_up_ ? kCatchUpPoll : options_.poll_interval;
      const Wake wake = WaitForEvent(stop, SteadyClock::now() + interval, &command);
      if (wake == Wake::kStop) {
        // Leaving: never leave clients blocked behind a pause nobody renews.
        if (paused_) (void)client_->Command({"CLIENT", "UNPAUSE"});
        return;
      }
      if (wake == Wake::kCommand) Execute(*command);
      if (wake == Wake::kGuard) ApplyGuard();
      // After a command, a liveness alarm or the poll interval: observe again
      // at once, so the command's effect or the crash is published now.
    }
  } catch (const std::exception& e) {
    PublishCrashed(e.what());
  } catch (...) {
    PublishCrashed("unknown exception");
  }
}

bool Watcher::Observe() {
  if (!client_->connected()) {
    if (Status s = client_->Connect(); !s.ok()) {
      PublishUnreachable(s);
      return false;
    }
  }
  StatusOr<std::string> info = client_->Info();
  if (!info.ok()) {
    // Start over on a fresh connection (and AUTH) after the backoff, whatever
    // went wrong: a transport error already dropped it, and a server that
    // refuses INFO (NOAUTH after a restart with a password) needs a new AUTH.
    client_->Disconnect();
    PublishUnreachable(info.status());
    return false;
  }

  RedisState state = ParseInfo(*info);
  state.ready = true;
  state.writes_paused = paused_;
  if (state.loading) {
    // A loading Redis answers INFO but refuses data commands until its
    // dataset is in memory: it cannot serve yet.
    state.healthy = false;
    state.error = "loading";
  } else if (state.role == RedisRole::kUnknown) {
    state.healthy = false;
    state.error = "INFO reported no role";
  } else {
    state.healthy = true;
    if (failed_command_ && Satisfied(*failed_command_, state)) {
      failed_command_.reset();
      command_error_.clear();
    }
    state.error = command_error_;
  }
  replicas_catching_up_ = false;
  if (paused_ && state.healthy && state.role == RedisRole::kMaster) {
    replicas_catching_up_ = ReadReplicaOffsets(state);
  }
  if (state.healthy) ProbeUpstream(state);
  current_ = state;
  Publish(std::move(state));
  return true;
}

void Watcher::Execute(const RedisCommand& command) {
  if (std::holds_alternative<cmd::Observe>(command)) {
    force_publish_ = true;  // the poller observes right after any command
    return;
  }
  // The master to watch while we are not linked to it (see ProbeUpstream).
  if (const auto* h = std::get_if<cmd::HoldReplication>(&command)) {
    upstream_target_ = {h->host, h->port};
  } else if (const auto* r = std::get_if<cmd::ReplicateFrom>(&command)) {
    upstream_target_ = {r->host, r->port};
  } else if (std::holds_alternative<cmd::PromoteToMaster>(command)) {
    upstream_target_ = {"", 0};
  }
  const std::string what = Describe(command);
  if (Satisfied(command, current_)) {
    // Already there: repeating REPLICAOF would be harmless for a master but
    // the CLIENT KILL after it would disconnect every client again.
    spdlog::debug("redis: {} skipped, already done", what);
    if (failed_command_ && *failed_command_ == command) {
      failed_command_.reset();
      command_error_.clear();
    }
    return;
  }

  // The reconciler repeats a command until Redis shows its effect; the
  // attempt is announced once per change of target, not once per retry of a
  // command that keeps failing (its error is logged once below).
  const bool retry = failed_command_ && *failed_command_ == command;
  const auto announce = retry ? spdlog::level::debug : spdlog::level::info;
  Status status;
  if (std::holds_alternative<cmd::PromoteToMaster>(command)) {
    const std::string former_host = current_.master_host;
    const int former_port = current_.master_port;
    const std::optional<RedisState> former = PauseFormerMaster(former_host, former_port);
    spdlog::log(announce, "redis: promoting to master ({})", what);
    status = client_->ReplicaOfNoOne();
    if (status.ok() && former) DemoteFormerMaster(former_host, former_port, *former);
  } else if (std::holds_alternative<cmd::HoldReplication>(command)) {
    spdlog::log(announce, "redis: {}", what);
    const bool was_master = current_.role == RedisRole::kMaster;
    status = client_->ReplicaOf(std::string(cmd::kHoldHost), cmd::kHoldPort);
    // A deposed master's clients get READONLY from now on; they must
    // rediscover the master, as after any demotion.
    if (status.ok() && was_master) {
      if (Status kill = client_->KillNormalClients(); !kill.ok()) {
        spdlog::warn("redis: held, but disconnecting clients failed: {}", kill.message());
      }
    }
  } else {
    const auto& r = std::get<cmd::ReplicateFrom>(command);
    spdlog::log(announce, "redis: replicating from {}:{} ({})", r.host, r.port, what);
    status = client_->ReplicaOf(r.host, r.port);
    if (status.ok()) {
      // Clients still connected to a former master must reconnect and
      // rediscover the master through Consul (the original resec does this).
      if (Status kill = client_->KillNormalClients(); !kill.ok()) {
        spdlog::warn("redis: replicating from {}:{}, but disconnecting clients failed: {}", r.host, r.port,
                     kill.message());
      }
    }
  }

  if (status.ok()) {
    failed_command_.reset();
    command_error_.clear();
    last_logged_command_error_.clear();
    return;
  }
  failed_command_ = command;
  errors_[std::holds_alternative<cmd::PromoteToMaster>(command) ? "replicaof_no_one" : "replicaof"]++;
  command_error_ = what + " failed: " + status.message();
  if (command_error_ != last_logged_command_error_) {
    spdlog::warn("redis: {}", command_error_);
    last_logged_command_error_ = command_error_;
  }
}

void Watcher::Publish(RedisState state) {
  state.errors = errors_;
  const TimePoint now = clock_.Now();
  if (!force_publish_ && last_published_ && SameForReconciler(*last_published_, state) &&
      now - last_publish_time_ < kRefreshPeriod) {
    return;
  }
  force_publish_ = false;
  LogTransition(last_published_, state);
  last_published_ = state;
  last_publish_time_ = now;
  publish_(state);
}

void Watcher::PublishUnreachable(const Status& status) {
  errors_[client_->connected() ? "info" : "connect"]++;
  current_ = RedisState{};
  RedisState state;
  state.ready = true;
  state.healthy = false;
  state.error = status.message();
  Publish(std::move(state));
}

void Watcher::PublishCrashed(const std::string& what) {
  spdlog::error("redis: watcher stopped by an unexpected error: {}", what);
  RedisState state;
  state.ready = true;
  state.healthy = false;
  state.error = "redis watcher failed: " + what;
  try {
    publish_(state);
  } catch (...) {
    // Nothing may escape the thread; the log line above is all we can do.
  }
}

void Watcher::ApplyGuard() {
  const auto now = SteadyClock::now();
  auto fail = [&](const std::string& what, const Status& st) {
    errors_[what == "CLIENT PAUSE WRITE" ? "client_pause" : what == "CLIENT UNPAUSE" ? "client_unpause" : "config_set"]++;
    const std::string text = what + " failed: " + st.message();
    if (text != last_logged_guard_error_) spdlog::warn("redis: {}", text);
    last_logged_guard_error_ = text;
  };
  if (desired_guard_.pause_writes && current_.role == RedisRole::kMaster) {
    if (!paused_ || now >= pause_renew_at_) {
      auto r = client_->Command({"CLIENT", "PAUSE", std::to_string(kPauseWindow.count()), "WRITE"});
      if (!r.ok()) {
        fail("CLIENT PAUSE WRITE", r.status());
      } else {
        if (!paused_) {
          spdlog::warn("redis: writes paused (fenced, or handing over)");
          // The next observation is the first with a final offset (and
          // reads the replicas' own offsets): publish it whatever it holds.
          force_publish_ = true;
          replicas_catching_up_ = current_.connected_slaves > 0;
        }
        paused_ = true;
        pause_renew_at_ = now + kPauseWindow - kPauseRenewBefore;
      }
    }
  } else if (paused_) {
    auto r = client_->Command({"CLIENT", "UNPAUSE"});
    if (!r.ok()) {
      fail("CLIENT UNPAUSE", r.status());
    } else {
      spdlog::info("redis: writes unpaused");
      paused_ = false;
    }
  }
  if (current_.role == RedisRole::kMaster && desired_guard_.min_replicas_to_write >= 0 &&
      (!applied_min_replicas_ ||
       applied_min_replicas_->min_replicas_to_write != desired_guard_.min_replicas_to_write ||
       applied_min_replicas_->min_replicas_max_lag != desired_guard_.min_replicas_max_lag)) {
    auto r = client_->Command({"CONFIG", "SET", "min-replicas-to-write",
                               std::to_string(desired_guard_.min_replicas_to_write), "min-replicas-max-lag",
                               std::to_string(desired_guard_.min_replicas_max_lag)});
    if (!r.ok()) {
      fail("CONFIG SET min-replicas-to-write", r.status());
    } else {
      spdlog::info("redis: min-replicas-to-write {} (max lag {}s)", desired_guard_.min_replicas_to_write,
                   desired_guard_.min_replicas_max_lag);
      applied_min_replicas_ = desired_guard_;
    }
  }
}

// ---------------------------------------------------------------- peers

Client* Watcher::Peer(const std::string& host, int port) {
  if (!options_.connect_peer || host.empty() || port <= 0) return nullptr;
  const std::string key = host + ":" + std::to_string(port);
  auto it = peers_.find(key);
  if (it == peers_.end()) {
    // A group has a handful of members; an address seen once is likely seen again.
    it = peers_.emplace(key, options_.connect_peer(host, port)).first;
  }
  Client* peer = it->second.get();
  if (peer == nullptr) return nullptr;
  if (!peer->connected()) {
    if (Status s = peer->Connect(); !s.ok()) {
      spdlog::debug("redis: cannot reach {}: {}", key, s.message());
      return nullptr;
    }
  }
  return peer;
}

StatusOr<std::string> Watcher::PeerCommand(const std::string& host, int port,
                                           const std::vector<std::string>& argv) {
  for (int attempt = 0;; ++attempt) {
    Client* peer = Peer(host, port);
    if (peer == nullptr) return Unavailable("cannot reach " + host + ":" + std::to_string(port));
    StatusOr<std::string> r = peer->Command(argv);
    // A Redis error is an answer; anything else may be a connection that died
    // since the last hand-over (the peer restarted): one fresh try.
    if (r.ok() || r.status().code() == StatusCode::kFailedPrecondition || attempt == 1) return r;
    peer->Disconnect();
  }
}

bool Watcher::ReadReplicaOffsets(RedisState& state) {
  bool behind = false;
  for (auto& r : state.replicas) {
    if (r.state != "online" || r.offset >= state.master_repl_offset) continue;
    if (StatusOr<std::string> info = PeerCommand(r.ip, r.port, {"INFO", "replication"}); info.ok()) {
      const RedisState own = ParseInfo(*info);
      // Only a replica's own offset counts, and only while it replicates us
      // (the address may have been reused by another server).
      if (own.role == RedisRole::kReplica && own.master_replid == state.master_replid) {
        r.offset = std::max(r.offset, own.slave_repl_offset);
      }
    }
    behind = behind || r.offset < state.master_repl_offset;
  }
  return behind;
}

void Watcher::ProbeUpstream(RedisState& state) {
  auto [host, port] = upstream_target_;
  if (host.empty() && state.role == RedisRole::kReplica && !state.Held()) {
    // No command yet (we just started): the master our Redis names.
    host = state.master_host;
    port = state.master_port;
  }
  const bool linked = state.role == RedisRole::kReplica && !state.Held() && state.master_link_up &&
                     !state.master_sync_in_progress;
  {
    std::lock_guard lock(mu_);
    watched_ = linked ? std::pair(state.master_host, state.master_port) : std::pair(std::string(), 0);
  }
  const std::optional<std::string> doubted = std::move(doubted_run_id_);
  doubted_run_id_.reset();
  if (linked && doubted) {
    // The upstream watch saw the master's connection drop: unless the same
    // redis-server answers, the reconciler must know before our Redis
    // reconnects to whatever is there now.
    UpstreamProbe probe = ReadUpstream(state.master_host, state.master_port);
    if (!probe.reachable || doubted->empty() || probe.run_id != *doubted) {
      spdlog::info("redis: lost our connection to the master {}:{}; it {}", state.master_host, state.master_port,
                   probe.reachable ? "answers as another run" : "does not answer");
      state.upstream = std::move(probe);
    }
    return;
  }
  if (host.empty() || port <= 0 || (linked && state.master_host == host && state.master_port == port) ||
      !options_.connect_peer) {
    last_probe_.reset();
    return;
  }
  const auto now = SteadyClock::now();
  if (last_probe_ && last_probe_->host == host && last_probe_->port == port && !last_probe_->reachable &&
      now < next_probe_at_) {
    state.upstream = last_probe_;
    return;
  }
  UpstreamProbe probe = ReadUpstream(host, port);
  if (!probe.reachable) next_probe_at_ = now + kUnreachableProbeRetry;
  last_probe_ = probe;
  state.upstream = std::move(probe);
}

UpstreamProbe Watcher::ReadUpstream(const std::string& host, int port) {
  UpstreamProbe probe{.host = host, .port = port};
  StatusOr<std::string> info = PeerCommand(host, port, {"INFO", "server", "replication"});
  if (!info.ok()) {
    probe.error = info.status().message();
    return probe;
  }
  const RedisState theirs = ParseInfo(*info);
  probe.reachable = true;
  probe.run_id = theirs.run_id;
  probe.role = theirs.role;
  probe.replid = theirs.master_replid;
  probe.replid2 = theirs.master_replid2;
  probe.offset = theirs.master_repl_offset;
  probe.second_offset = theirs.second_repl_offset;
  return probe;
}

std::optional<RedisState> Watcher::PauseFormerMaster(const std::string& host, int port) {
  if (current_.role != RedisRole::kReplica || !current_.master_link_up || !options_.connect_peer) {
    return std::nullopt;
  }
  const std::string where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& step, const Status& st) -> std::optional<RedisState> {
    spdlog::warn("redis: could not fence the former master {} ({} failed: {}); promoting without it", where,
                 step, st.message());
    return std::nullopt;
  };
  StatusOr<std::string> info = PeerCommand(host, port, {"INFO", "replication"});
  if (!info.ok()) return fail("INFO", info.status());
  if (ParseInfo(*info).role != RedisRole::kMaster) return std::nullopt;
  if (auto r = PeerCommand(host, port, {"CLIENT", "PAUSE", std::to_string(kFormerMasterPause.count()), "WRITE"});
      !r.ok()) {
    return fail("CLIENT PAUSE WRITE", r.status());
  }
  // Read after the pause took effect: this offset is final.
  info = PeerCommand(host, port, {"INFO", "replication"});
  if (!info.ok()) return fail("INFO", info.status());
  RedisState state = ParseInfo(*info);
  const auto deadline = SteadyClock::now() + kFormerMasterCatchUp;
  int64_t ours = current_.slave_repl_offset;
  while (ours < state.master_repl_offset && SteadyClock::now() < deadline) {
    StatusOr<std::string> own = client_->Command({"INFO", "replication"});
    if (!own.ok()) break;
    const RedisState mine = ParseInfo(*own);
    ours = mine.slave_repl_offset;
    if (!mine.master_link_up) break;
    if (ours < state.master_repl_offset) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("redis: paused writes on the former master {} (offset {}); ours {}{}", where,
               state.master_repl_offset, ours, ours >= state.master_repl_offset ? "" : " (not caught up)");
  return state;
}

void Watcher::DemoteFormerMaster(const std::string& host, int port, const RedisState& former) {
  const std::string where = host + ":" + std::to_string(port);
  // Our address as the former master sees it: the replica entry on our port.
  const RedisState::Replica* self = nullptr;
  int matches = 0;
  for (const auto& r : former.replicas) {
    if (r.port == options_.self_port) {
      self = &r;
      ++matches;
    }
  }
  if (matches != 1 || options_.self_port <= 0) {
    spdlog::warn("redis: former master {} left paused: cannot tell our address among its replicas", where);
    return;
  }
  if (auto st = PeerCommand(host, port, {"REPLICAOF", self->ip, std::to_string(self->port)}); !st.ok()) {
    // Still paused: its own agent, or the pause running out into
    // min-replicas-to-write, settles it.
    spdlog::warn("redis: could not demote the former master {}: {}", where, st.status().message());
    return;
  }
  spdlog::info("redis: former master {} now replicates us ({}:{})", where, self->ip, self->port);
  // Its clients must rediscover the master, as after our own REPLICAOF, and
  // writes held by the pause now fail with READONLY instead of waiting it out.
  (void)PeerCommand(host, port, {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  (void)PeerCommand(host, port, {"CLIENT", "UNPAUSE"});
}

Watcher::Wake Watcher::WaitForEvent(const std::stop_token& stop, SteadyClock::time_point deadline,
                                    std::optional<RedisCommand>* command) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, stop, deadline,
                 [&] {
                   return pending_command_.has_value() || pending_guard_.has_value() || liveness_lost_ ||
                          observe_requested_ || lost_run_id_.has_value();
                 });
  if (stop.stop_requested()) return Wake::kStop;
  if (observe_requested_) {
    observe_requested_ = false;
    force_publish_ = true;
    return Wake::kLivenessLost;  // same effect: observe again at once
  }
  if (pending_guard_) {
    desired_guard_ = *pending_guard_;
    pending_guard_.reset();
    return Wake::kGuard;
  }
  if (pending_command_) {
    *command = std::move(pending_command_);
    pending_command_.reset();
    return Wake::kCommand;
  }
  if (liveness_lost_) {
    liveness_lost_ = false;
    return Wake::kLivenessLost;
  }
  if (lost_run_id_) {
    doubted_run_id_ = std::move(lost_run_id_);
    lost_run_id_.reset();
    return Wake::kUpstreamLost;
  }
  return Wake::kDeadline;
}

std::chrono::milliseconds Watcher::BlockingSlice() const {
  return std::clamp(options_.poll_interval, std::chrono::milliseconds(1), kMaxBlockingSlice);
}

void Watcher::SleepFor(const std::stop_token& stop, std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, stop, d, [] { return false; });
}

// ---------------------------------------------------------------- liveness

void Watcher::RunLiveness(std::stop_token stop) {
  try {
    std::chrono::milliseconds backoff = kInitialBackoff;
    while (!stop.stop_requested()) {
      if (!liveness_->connected()) {
        if (Status s = liveness_->Connect(); !s.ok()) {
          // The poller reports unreachability; this thread only re-arms.
          SleepFor(stop, backoff);
          backoff = std::min(backoff * 2, kMaxBackoff);
          continue;
        }
        backoff = kInitialBackoff;
      }
      Status s = liveness_->WaitForDisconnect(BlockingSlice());
      if (s.ok()) continue;
      spdlog::debug("redis: liveness connection lost: {}", s.message());
      liveness_->Disconnect();
      {
        std::lock_guard lock(mu_);
        liveness_lost_ = true;
      }
      cv_.notify_all();
      // A pause before re-arming, so a connection that keeps dropping (killed
      // by someone else, not a crash) cannot turn into a busy loop of alarms.
      SleepFor(stop, kInitialBackoff);
    }
  } catch (const std::exception& e) {
    // Losing the fast path only delays crash detection to the next INFO poll.
    spdlog::error("redis: liveness probe stopped by an unexpected error: {}", e.what());
  } catch (...) {
    spdlog::error("redis: liveness probe stopped by an unexpected error");
  }
}

// ---------------------------------------------------------------- upstream watch

void Watcher::RunUpstreamWatch(std::stop_token stop) {
  try {
    std::unique_ptr<Client> conn;
    std::pair<std::string, int> target;
    while (!stop.stop_requested()) {
      std::pair<std::string, int> wanted;
      {
        std::lock_guard lock(mu_);
        wanted = watched_;
      }
      if (wanted != target) {
        conn.reset();
        target = wanted;
        std::lock_guard lock(mu_);
        watched_run_id_.clear();
      }
      if (!conn && !target.first.empty()) conn = options_.connect_peer(target.first, target.second);
      if (!conn) {
        SleepFor(stop, BlockingSlice());
        continue;
      }
      if (!conn->connected()) {
        // The poller's probe reports a master that cannot be reached; this
        // thread only re-arms, and learns which run it is watching.
        StatusOr<std::string> info = Unavailable("not connected");
        if (conn->Connect().ok()) info = conn->Command({"INFO", "server"});
        if (!info.ok()) {
          conn->Disconnect();
          SleepFor(stop, kInitialBackoff);
          continue;
        }
        // Named, so an operator reading CLIENT LIST on the master knows
        // what the idle connection is.
        (void)conn->Command({"CLIENT", "SETNAME", "resec-upstream-watch"});
        std::lock_guard lock(mu_);
        watched_run_id_ = ParseInfo(*info).run_id;
      }
      if (conn->WaitForDisconnect(BlockingSlice()).ok()) continue;
      conn->Disconnect();
      {
        std::lock_guard lock(mu_);
        // Only news while the poller still wants this master watched.
        if (watched_ == target) lost_run_id_ = watched_run_id_;
        watched_run_id_.clear();
      }
      cv_.notify_all();
      // As for our own Redis: a connection that keeps being dropped (a
      // client timeout, CLIENT KILL) must not become a busy loop of alarms.
      SleepFor(stop, kInitialBackoff);
    }
  } catch (const std::exception& e) {
    // Losing the watch only delays noticing a dead master to the next poll.
    spdlog::error("redis: upstream watch stopped by an unexpected error: {}", e.what());
  } catch (...) {
    spdlog::error("redis: upstream watch stopped by an unexpected error");
  }
}

// ---------------------------------------------------------------- forwarder

void Watcher::RunForwarder(std::stop_token stop) {
  try {
    while (!stop.stop_requested()) {
      std::optional<RedisCommand> command = in_.TryPopFor(BlockingSlice());
      if (command && std::holds_alternative<cmd::Observe>(*command)) {
        // Not a replication command: it must not supersede one waiting to run.
        {
          std::lock_guard lock(mu_);
          observe_requested_ = true;
        }
        cv_.notify_all();
        continue;
      }
      if (command && std::holds_alternative<WriteGuard>(*command)) {
        {
          std::lock_guard lock(mu_);
          pending_guard_ = std::get<WriteGuard>(*command);
        }
        cv_.notify_all();
        continue;
      }
      if (command) {
        {
          std::lock_guard lock(mu_);
          if (pending_command_) {
            spdlog::debug("redis: {} superseded by {} before it ran", Describe(*pending_command_),
                          Describe(*command));
          }
          pending_command_ = std::move(command);
        }
        cv_.notify_all();
        continue;
      }
      if (in_.closed()) {
        // Closed and drained: nothing more will come. Wait for stop without
        // spinning on a queue that now returns at once.
        std::unique_lock lock(mu_);
        cv_.wait(lock, stop, [] { return false; });
        return;
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("redis: command forwarder stopped by an unexpected error: {}", e.what());
  } catch (...) {
    spdlog::error("redis: command forwarder stopped by an unexpected error");
  }
}

}  // namespace resec::redis
