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
// fraction of a second; the cap keeps a long outage from costing more than one
// connect attempt every 2s. The unreachable state is published at once either way.
constexpr std::chrono::milliseconds kInitialBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
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

bool Satisfied(const RedisCommand& command, const RedisState& state) {
  if (std::holds_alternative<WriteGuard>(command) || std::holds_alternative<cmd::Observe>(command)) return false;
  if (std::holds_alternative<cmd::PromoteToMaster>(command)) return state.role == RedisRole::kMaster;
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
}

void Watcher::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  // Ask all three first so they wind down in parallel; the slowest (a call to
  // a hung Redis) bounds the whole stop by the client timeout.
  poller_.request_stop();
  liveness_thread_.request_stop();
  forwarder_.request_stop();
  if (poller_.joinable()) poller_.join();
  if (liveness_thread_.joinable()) liveness_thread_.join();
  if (forwarder_.joinable()) forwarder_.join();
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
      const Wake wake = WaitForEvent(stop, SteadyClock::now() + options_.poll_interval, &command);
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
  current_ = state;
  Publish(std::move(state));
  return true;
}

void Watcher::Execute(const RedisCommand& command) {
  if (std::holds_alternative<cmd::Observe>(command)) {
    force_publish_ = true;  // the poller observes right after any command
    return;
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

  Status status;
  if (std::holds_alternative<cmd::PromoteToMaster>(command)) {
    spdlog::info("redis: promoting to master ({})", what);
    status = client_->ReplicaOfNoOne();
  } else {
    const auto& r = std::get<cmd::ReplicateFrom>(command);
    spdlog::info("redis: replicating from {}:{} ({})", r.host, r.port, what);
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
          // Replicas report their offsets only once a second; WAIT makes the
          // master ask them now (REPLCONF GETACK), so a hand-over sees the
          // moment they have every write instead of up to a second later.
          if (current_.connected_slaves > 0) {
            (void)client_->Command({"WAIT", std::to_string(current_.connected_slaves), "100"});
            force_publish_ = true;
          }
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

Watcher::Wake Watcher::WaitForEvent(const std::stop_token& stop, SteadyClock::time_point deadline,
                                    std::optional<RedisCommand>* command) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, stop, deadline,
                 [&] {
                   return pending_command_.has_value() || pending_guard_.has_value() || liveness_lost_ ||
                          observe_requested_;
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
