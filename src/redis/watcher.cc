// redis::Watcher: see include/resec/redis/watcher.h.
#include "resec/redis/watcher.h"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "resec/redis/info.h"

namespace resec::redis {

namespace {

using std::chrono::milliseconds;

// Reconnect backoff while Redis is unreachable. A restarted Redis not started
// fenced (docs/failover.md) comes back as a writable master (REPLICAOF is not
// persisted) and takes writes until we reach it and fence it, so we look
// often: a restarting redis-server (systemd's RestartSec is 100 ms) is back
// within a fraction of a second, and a refused connect ten times a second
// costs nothing. The chaos runs measured 40-420 ms of such writes with a
// 100-500 ms backoff.
constexpr milliseconds kInitialBackoff{10};
constexpr milliseconds kMaxBackoff{100};
// An unchanged snapshot is still re-published this often, so the offsets
// (left out of change detection: they move with every write) and the INFO
// text the check reports are never older than this.
constexpr std::chrono::seconds kRefreshPeriod{1};
// Our write pause lasts this long unless renewed, and is renewed once less
// than kPauseRenewBefore is left. If the agent dies while fencing, Redis takes
// writes again after at most this (then min-replicas-to-write covers an
// orphaned master).
constexpr milliseconds kPauseWindow{3000};
constexpr milliseconds kPauseRenewBefore{2000};
// While our writes are paused and a replica still lacks some, INFO is read
// this often: every millisecond of catch-up is a millisecond of write pause.
constexpr milliseconds kCatchUpPoll{5};
// The pause we put on a former master: it is demoted right after our
// promotion and the pause lifted then, so this only bounds how long it stays
// fenced if we die in between (then its min-replicas-to-write takes over).
// Renewed on every demotion attempt while it refuses to be demoted.
constexpr milliseconds kFormerMasterPause{10000};
// A master that did not answer our probe is asked again no sooner than this:
// a partitioned one costs a connect timeout per try, and every try delays
// our own INFO poll.
constexpr milliseconds kUnreachableProbeRetry{500};
// min-replicas-to-write is read back this often (and for every new process):
// a guard is verified, not remembered.
constexpr milliseconds kConfigRecheck{1000};
// A failed command is repeated after this, doubling up to kRetryMax, while the
// intent still asks for it.
constexpr milliseconds kRetryFirst{100};
constexpr milliseconds kRetryMax{2000};
// A former master that is still a master is asked again this often.
constexpr milliseconds kDemoteRetry{500};

milliseconds Next(milliseconds current, milliseconds first, milliseconds max) {
  return current.count() == 0 ? first : std::min(current * 2, max);
}

std::string Where(const std::string& host, int port) { return host + ":" + std::to_string(port); }

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

// "min-replicas-to-write\n1" (CONFIG GET's pair, as Command() renders it) -> 1.
std::optional<int> ConfigValue(const StatusOr<std::string>& reply) {
  if (!reply.ok()) return std::nullopt;
  const auto nl = reply->find('\n');
  if (nl == std::string::npos) return std::nullopt;
  try {
    return std::stoi(reply->substr(nl + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Watcher::Watcher(std::unique_ptr<Client> client, std::unique_ptr<Client> liveness, WatcherOptions options,
                 const Clock& clock, Publisher publish)
    : client_(std::move(client)),
      options_(std::move(options)),
      clock_(clock),
      publish_(std::move(publish)),
      watch_(std::move(liveness), options_.connect_peer,
             [this](DisconnectWatch::Alarm alarm) {
               std::visit([this](auto&& a) { inbox_.Post(std::move(a)); }, std::move(alarm));
             }) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Start() {
  if (thread_.joinable()) return;
  watch_.Start();
  thread_ = std::jthread([this](std::stop_token stop) {
    pthread_setname_np(pthread_self(), "redis");
    Run(std::move(stop));
  });
}

void Watcher::Stop() {
  inbox_.Close();
  watch_.Stop();
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

// ---------------------------------------------------------------- the actor loop

void Watcher::Run(std::stop_token stop) {
  try {
    TimePoint next = clock_.Now();
    while (!stop.stop_requested()) {
      auto batch = inbox_.Wait(next - clock_.Now());
      bool news = false;
      for (auto& s : batch.states) {
        if (auto* intent = std::get_if<RedisIntent>(&s)) {
          if (*intent == intent_) continue;  // the reconciler re-sends its wish on every decision
          if (intent->observe != intent_.observe) force_publish_ = true;
          intent_ = std::move(*intent);
        } else if (std::holds_alternative<DisconnectWatch::OwnLost>(s)) {
          reconnect_at_ = TimePoint{};  // look now, whatever the backoff said
        } else if (auto* lost = std::get_if<DisconnectWatch::UpstreamLost>(&s)) {
          if (std::pair(lost->host, lost->port) == watched_) doubted_run_id_ = lost->run_id;
        }
        news = true;
      }
      if (batch.closed) break;
      if (!news && clock_.Now() < next) continue;
      next = Cycle();
    }
  } catch (const std::exception& e) {
    spdlog::error("redis: watcher stopped by an unexpected error: {}", e.what());
    RedisState state{.ready = true, .healthy = false, .error = std::string("redis watcher failed: ") + e.what()};
    publish_(state);
    return;
  }
  // Leaving: a pause of ours on a replica only delays READONLY answers, so it
  // goes; one on a master stays until it lapses (someone else may be taking
  // over, and the pause is then all that stands between them).
  if (paused_until_ && *paused_until_ > SteadyClock::now() && last_published_ &&
      last_published_->role == RedisRole::kReplica) {
    (void)client_->Command({"CLIENT", "UNPAUSE"});
  }
}

TimePoint Watcher::Cycle() {
  const TimePoint now = clock_.Now();
  if (!client_->connected() && now < reconnect_at_) return reconnect_at_;
  std::optional<RedisState> state = Observe();
  if (!state) {
    reconnect_backoff_ = Next(reconnect_backoff_, kInitialBackoff, kMaxBackoff);
    reconnect_at_ = now + reconnect_backoff_;
    return reconnect_at_;
  }
  reconnect_backoff_ = milliseconds(0);
  Converge(*state);
  Publish(std::move(*state), false);
  const bool catching_up = paused_until_ && replicas_catching_up_;
  TimePoint next = now + (catching_up ? kCatchUpPoll : options_.poll_interval);
  if (!command_error_.empty()) next = std::min(next, retry_at_);
  if (paused_until_) next = std::min(next, *paused_until_ - kPauseRenewBefore);
  return std::max(next, now + milliseconds(1));
}

std::optional<RedisState> Watcher::Observe() {
  if (!client_->connected()) {
    if (Status s = client_->Connect(); !s.ok()) {
      PublishUnreachable(s);
      return std::nullopt;
    }
  }
  StatusOr<std::string> info = client_->Info();
  if (!info.ok()) {
    // Start over on a fresh connection (and AUTH) after the backoff, whatever
    // went wrong: a transport error already dropped it, and a server that
    // refuses INFO (NOAUTH after a restart with a password) needs a new AUTH.
    client_->Disconnect();
    PublishUnreachable(info.status());
    return std::nullopt;
  }
  RedisState state = ParseInfo(*info);
  state.ready = true;
  if (state.run_id != run_id_) {
    // Another redis-server process: nothing we did to the last one holds for
    // this one (REPLICAOF, pauses and CONFIG SET are not persisted).
    if (!run_id_.empty()) spdlog::warn("redis: a new redis-server process answers (run_id {})", state.run_id);
    run_id_ = state.run_id;
    paused_until_.reset();
    min_replicas_read_.reset();
    force_publish_ = true;
  }
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
    state.error = command_error_;
  }
  state.observe_seq = intent_.observe;
  return state;
}

void Watcher::Converge(RedisState& state) {
  if (!state.healthy) return;
  // An intent is for the process it was decided on; any other is fenced
  // until the reconciler has seen it.
  const bool authorized = !intent_.run_id.empty() && intent_.run_id == state.run_id;
  if (authorized && ApplyReplication(state)) {
    // Observe again, so what we publish shows the command's effect.
    std::optional<RedisState> again = Observe();
    if (!again || !again->healthy) {
      if (again) state = std::move(*again);
      return;
    }
    state = std::move(*again);
  }
  if (!authorized && state.role == RedisRole::kMaster && fence_logged_for_ != state.run_id) {
    spdlog::info("redis: fencing redis-server run {} until the reconciler has decided what it is", state.run_id);
    fence_logged_for_ = state.run_id;
  }
  const WriteGuard want = authorized ? intent_.guard : WriteGuard{.pause_writes = state.role == RedisRole::kMaster};
  ApplyGuard(state, want);
  if (authorized && intent_.demote && state.role == RedisRole::kMaster) {
    Demote(state, intent_.demote->first, intent_.demote->second);
  } else {
    last_former_.reset();
  }
  const TimePoint now = SteadyClock::now();
  state.writes_paused = paused_until_ && *paused_until_ > now;
  replicas_catching_up_ = state.writes_paused && state.role == RedisRole::kMaster && InspectReplicas(state);
  state.min_replicas_to_write = min_replicas_read_ ? std::optional(min_replicas_read_->first) : std::nullopt;
  ProbeUpstream(state);
  // The DisconnectWatch follows the master our Redis is linked to.
  const bool linked = state.role == RedisRole::kReplica && !state.Held() && state.master_link_up &&
                      !state.master_sync_in_progress;
  const std::pair<std::string, int> watch = linked ? std::pair(state.master_host, state.master_port)
                                                   : std::pair(std::string(), 0);
  if (watch != watched_) {
    watched_ = watch;
    watch_.SetUpstream(watch.first, watch.second);
  }
}

Status Watcher::Send(const std::string& what, const std::vector<std::string>& argv) {
  StatusOr<std::string> r = client_->Command(argv);
  if (r.ok()) return Status::Ok();
  errors_[what]++;
  const std::string text = what + " failed: " + r.status().message();
  if (text != last_error_text_) spdlog::warn("redis: {}", text);
  last_error_text_ = text;
  return r.status();
}

bool Watcher::ApplyReplication(const RedisState& state) {
  const TimePoint now = clock_.Now();
  using R = RedisIntent::Replication;
  std::string what;
  Status status;
  // The attempt is announced once per change of target, not once per retry
  // of a command that keeps failing (its error is logged once below).
  auto announce = [&](const std::string& text) {
    const bool retry = command_error_.rfind(what + " failed", 0) == 0;
    spdlog::log(retry ? spdlog::level::debug : spdlog::level::info, "redis: {}", text);
  };
  switch (intent_.replication) {
    case R::kLeave:
      return false;
    case R::kMaster: {
      if (state.role == RedisRole::kMaster) return false;
      what = "REPLICAOF NO ONE";
      if (!command_error_.empty() && now < retry_at_) return false;
      const auto& former = intent_.former;
      if (former && state.role == RedisRole::kReplica && state.master_link_up &&
          state.master_host == former->first && state.master_port == former->second) {
        PauseFormerMaster(state, former->first, former->second);
      }
      announce("promoting to master (" + what + ")");
      status = client_->ReplicaOfNoOne();
      if (!status.ok()) errors_["replicaof_no_one"]++;
      break;
    }
    case R::kFollow: {
      if (state.role == RedisRole::kReplica && state.master_host == intent_.host &&
          state.master_port == intent_.port) {
        return false;
      }
      what = "REPLICAOF " + intent_.host + " " + std::to_string(intent_.port);
      if (!command_error_.empty() && now < retry_at_) return false;
      announce("replicating from " + Where(intent_.host, intent_.port) + " (" + what + ")");
      status = client_->ReplicaOf(intent_.host, intent_.port);
      if (status.ok()) {
        // Clients still connected to a former master must reconnect and
        // rediscover the master through Consul (the original resec does this).
        if (Status kill = client_->KillNormalClients(); !kill.ok()) {
          spdlog::warn("redis: replicating, but disconnecting clients failed: {}", kill.message());
        }
      } else {
        errors_["replicaof"]++;
      }
      break;
    }
    case R::kHold: {
      if (state.Held()) return false;
      what = "REPLICAOF " + std::string(cmd::kHoldHost) + " " + std::to_string(cmd::kHoldPort) +
             " (hold our data" + (intent_.host.empty() ? "" : " off " + Where(intent_.host, intent_.port)) + ")";
      if (!command_error_.empty() && now < retry_at_) return false;
      announce(what);
      status = client_->ReplicaOf(std::string(cmd::kHoldHost), cmd::kHoldPort);
      // A deposed master's clients get READONLY from now on; they must
      // rediscover the master, as after any demotion.
      if (status.ok() && state.role == RedisRole::kMaster) {
        if (Status kill = client_->KillNormalClients(); !kill.ok()) {
          spdlog::warn("redis: held, but disconnecting clients failed: {}", kill.message());
        }
      }
      if (!status.ok()) errors_["replicaof"]++;
      break;
    }
  }
  if (status.ok()) {
    command_error_.clear();
    retry_backoff_ = milliseconds(0);
    return true;
  }
  const std::string text = what + " failed: " + status.message();
  if (text != command_error_) spdlog::warn("redis: {}", text);
  command_error_ = text;
  retry_backoff_ = Next(retry_backoff_, kRetryFirst, kRetryMax);
  retry_at_ = now + retry_backoff_;
  return true;
}

void Watcher::ApplyGuard(const RedisState& state, const WriteGuard& want) {
  const TimePoint now = SteadyClock::now();
  const bool paused = paused_until_ && *paused_until_ > now;
  if (want.pause_writes && state.role == RedisRole::kMaster) {
    if (!paused || *paused_until_ - now <= kPauseRenewBefore) {
      if (Send("client_pause", {"CLIENT", "PAUSE", std::to_string(kPauseWindow.count()), "WRITE"}).ok()) {
        if (!paused) {
          spdlog::warn("redis: writes paused (fenced, or handing over)");
          // The next observation is the first with a final offset (and
          // reads the replicas' own offsets): publish it whatever it holds.
          force_publish_ = true;
          replicas_catching_up_ = state.connected_slaves > 0;
        }
        paused_until_ = now + kPauseWindow;
      }
    }
  } else if (paused && !want.pause_writes) {
    // Only ever a pause of ours (paused_until_ is set by us alone).
    if (Send("client_unpause", {"CLIENT", "UNPAUSE"}).ok()) {
      spdlog::info("redis: writes unpaused");
      paused_until_.reset();
    }
  } else if (!paused) {
    paused_until_.reset();
  }

  if (state.role != RedisRole::kMaster || want.min_replicas_to_write < 0) return;
  if (!min_replicas_read_ || now >= config_read_at_ + kConfigRecheck) {
    const std::optional<int> to_write = ConfigValue(client_->Command({"CONFIG", "GET", "min-replicas-to-write"}));
    const std::optional<int> max_lag = ConfigValue(client_->Command({"CONFIG", "GET", "min-replicas-max-lag"}));
    config_read_at_ = now;
    if (to_write && max_lag) {
      min_replicas_read_ = std::pair(*to_write, *max_lag);
    } else {
      min_replicas_read_.reset();
      errors_["config_get"]++;
    }
  }
  const std::pair wanted(want.min_replicas_to_write, want.min_replicas_max_lag);
  if (min_replicas_read_ == wanted) return;
  if (Send("config_set", {"CONFIG", "SET", "min-replicas-to-write", std::to_string(wanted.first),
                         "min-replicas-max-lag", std::to_string(wanted.second)})
          .ok()) {
    spdlog::info("redis: min-replicas-to-write {} (max lag {}s)", wanted.first, wanted.second);
    min_replicas_read_ = wanted;
  }
}

// ---------------------------------------------------------------- peers

Client* Watcher::Peer(const std::string& host, int port, Status* why) {
  if (!options_.connect_peer || host.empty() || port <= 0) return nullptr;
  const std::string key = Where(host, port);
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
      if (why != nullptr) *why = std::move(s);
      return nullptr;
    }
  }
  return peer;
}

StatusOr<std::string> Watcher::PeerCommand(const std::string& host, int port,
                                           const std::vector<std::string>& argv) {
  for (int attempt = 0;; ++attempt) {
    Status why;
    Client* peer = Peer(host, port, &why);
    if (peer == nullptr) return why.ok() ? Unavailable("cannot reach " + Where(host, port)) : why;
    StatusOr<std::string> r = peer->Command(argv);
    // A Redis error is an answer; a dropped connection may be one that died
    // since the last hand-over (the peer restarted): one fresh try. Not after
    // a timeout: a peer that did not answer on a live connection (frozen, or
    // cut off) will not answer a new one either, and a hand-over would wait
    // for the connect timeout a second time.
    const StatusCode code = r.status().code();
    if (r.ok() || code == StatusCode::kFailedPrecondition || code == StatusCode::kDeadlineExceeded ||
        attempt == 1) {
      return r;
    }
    peer->Disconnect();
  }
}

UpstreamProbe Watcher::ReadPeer(const std::string& host, int port) {
  UpstreamProbe probe{.host = host, .port = port};
  StatusOr<std::string> info = PeerCommand(host, port, {"INFO", "server", "replication"});
  if (!info.ok()) {
    probe.error = info.status().message();
    // Nothing listens there: the process is gone (a timeout says nothing).
    probe.refused = probe.error.find("Connection refused") != std::string::npos;
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

bool Watcher::InspectReplicas(RedisState& state) {
  bool behind = false;
  for (auto& r : state.replicas) {
    if (r.state != "online") continue;
    if (StatusOr<std::string> info = PeerCommand(r.ip, r.port, {"INFO", "server", "replication"}); info.ok()) {
      const RedisState own = ParseInfo(*info);
      r.inspected = true;
      r.run_id = own.run_id;
      r.replid = own.master_replid;
      r.link_up = own.role == RedisRole::kReplica && own.master_link_up && !own.master_sync_in_progress;
      // Only a replica's own offset counts, and only while it replicates our
      // history (the address may have been reused by another server).
      if (own.role == RedisRole::kReplica && own.master_replid == state.master_replid) {
        r.offset = std::max(r.offset, own.slave_repl_offset);
      }
    }
    behind = behind || r.offset < state.master_repl_offset;
  }
  return behind;
}

void Watcher::ProbeUpstream(RedisState& state) {
  using R = RedisIntent::Replication;
  std::string host;
  int port = 0;
  if (intent_.replication == R::kFollow || intent_.replication == R::kHold) {
    host = intent_.host;
    port = intent_.port;
  } else if (intent_.replication == R::kLeave && state.role == RedisRole::kReplica && !state.Held()) {
    // No opinion yet (we just started): the master our Redis names.
    host = state.master_host;
    port = state.master_port;
  }
  const bool linked = state.role == RedisRole::kReplica && !state.Held() && state.master_link_up &&
                      !state.master_sync_in_progress;
  const std::optional<std::string> doubted = std::move(doubted_run_id_);
  doubted_run_id_.reset();
  if (linked && doubted) {
    // The watch saw the master's connection drop: unless the same
    // redis-server answers, the reconciler must know before our Redis
    // reconnects to whatever is there now.
    UpstreamProbe probe = ReadPeer(state.master_host, state.master_port);
    if (!probe.reachable || doubted->empty() || probe.run_id != *doubted) {
      spdlog::info("redis: lost our connection to the master {}; it {}", Where(state.master_host, state.master_port),
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
  const TimePoint now = SteadyClock::now();
  if (last_probe_ && last_probe_->host == host && last_probe_->port == port && !last_probe_->reachable &&
      now < next_probe_at_) {
    state.upstream = last_probe_;
    return;
  }
  UpstreamProbe probe = ReadPeer(host, port);
  if (!probe.reachable) next_probe_at_ = now + kUnreachableProbeRetry;
  last_probe_ = probe;
  state.upstream = std::move(probe);
}

void Watcher::PauseFormerMaster(const RedisState& state, const std::string& host, int port) {
  if (!options_.connect_peer) return;
  const std::string where = Where(host, port);
  auto fail = [&](const std::string& step, const Status& st) {
    spdlog::warn("redis: could not fence the former master {} ({} failed: {}); promoting without it", where, step,
                 st.message());
    // The demotion that follows our promotion would wait for the same
    // silence again before the promotion is published: it waits its turn.
    last_former_ = UpstreamProbe{.host = host, .port = port, .error = st.message()};
    next_demote_at_ = SteadyClock::now() + kDemoteRetry;
  };
  StatusOr<std::string> info = PeerCommand(host, port, {"INFO", "replication"});
  if (!info.ok()) return fail("INFO", info.status());
  if (ParseInfo(*info).role != RedisRole::kMaster) return;
  if (auto r = PeerCommand(host, port, {"CLIENT", "PAUSE", std::to_string(kFormerMasterPause.count()), "WRITE"});
      !r.ok()) {
    return fail("CLIENT PAUSE WRITE", r.status());
  }
  // Read after the pause took effect: this offset is final.
  info = PeerCommand(host, port, {"INFO", "replication"});
  if (!info.ok()) return fail("INFO", info.status());
  const int64_t final_offset = ParseInfo(*info).master_repl_offset;
  const TimePoint deadline = SteadyClock::now() + intent_.catch_up;
  int64_t ours = state.slave_repl_offset;
  while (ours < final_offset && SteadyClock::now() < deadline) {
    StatusOr<std::string> own = client_->Command({"INFO", "replication"});
    if (!own.ok()) break;
    const RedisState mine = ParseInfo(*own);
    ours = mine.slave_repl_offset;
    if (!mine.master_link_up) break;
    if (ours < final_offset) std::this_thread::sleep_for(milliseconds(1));
  }
  spdlog::info("redis: paused writes on the former master {} (offset {}); ours {}{}", where, final_offset, ours,
               ours >= final_offset ? "" : " (not caught up)");
}

void Watcher::Demote(RedisState& state, const std::string& host, int port) {
  const TimePoint now = SteadyClock::now();
  if (last_former_ && (last_former_->host != host || last_former_->port != port)) last_former_.reset();
  if (now < next_demote_at_) {
    state.former = last_former_;
    return;
  }
  next_demote_at_ = now + kDemoteRetry;
  const std::string where = Where(host, port);
  UpstreamProbe probe = ReadPeer(host, port);
  if (probe.reachable && probe.role == RedisRole::kMaster) {
    // Keep it fenced while it is a master that is not ours, whether or not
    // it lets itself be demoted now.
    (void)PeerCommand(host, port, {"CLIENT", "PAUSE", std::to_string(kFormerMasterPause.count()), "WRITE"});
    // How it must reach us: our announced host, or our end of the connection
    // it answered on (the address its network routes back to us).
    std::string self = options_.announce_host;
    if (self.empty()) {
      if (Client* peer = Peer(host, port)) self = peer->LocalAddress();
    }
    if (self.empty() || options_.self_port <= 0) {
      spdlog::warn("redis: former master {} left paused: cannot tell our address as it sees us", where);
    } else if (auto st = PeerCommand(host, port, {"REPLICAOF", self, std::to_string(options_.self_port)});
               !st.ok()) {
      spdlog::warn("redis: could not demote the former master {}: {}", where, st.status().message());
    } else {
      spdlog::info("redis: former master {} now replicates us ({})", where, Where(self, options_.self_port));
      // Its clients must rediscover the master, as after our own REPLICAOF,
      // and writes held by the pause now fail with READONLY instead of
      // waiting it out.
      (void)PeerCommand(host, port, {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      (void)PeerCommand(host, port, {"CLIENT", "UNPAUSE"});
      probe = ReadPeer(host, port);
    }
  }
  last_former_ = probe;
  state.former = std::move(probe);
}

// ---------------------------------------------------------------- publishing

void Watcher::Publish(RedisState state, bool force) {
  state.errors = errors_;
  const TimePoint now = clock_.Now();
  force = force || force_publish_;
  if (!force && last_published_ && SameForReconciler(*last_published_, state) &&
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
  RedisState state;
  state.ready = true;
  state.healthy = false;
  state.error = status.message();
  state.observe_seq = intent_.observe;
  Publish(std::move(state), false);
}

}  // namespace resec::redis
