#include "resec/agent.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "resec/consul/client.h"
#include "resec/redis/client.h"
#include "resec/systemd_notify.h"

namespace resec {
namespace {

using std::chrono::milliseconds;

// The whole shutdown (release, deregister, destroy) must fit in this, so a
// SIGTERM from an orchestrator with a 10 s kill timeout always ends cleanly.
constexpr milliseconds kShutdownDeadline{5000};
// Calls to the other Redis servers of the group (see WatcherOptions::connect_peer).
constexpr milliseconds kPeerTimeout{200};

// Dumps are asked for explicitly, so they are written whatever LOG_LEVEL says.
void LogAlways(const std::string& text) {
  auto logger = spdlog::default_logger();
  const auto level = logger->level();
  logger->set_level(spdlog::level::info);
  logger->info("{}", text);
  logger->set_level(level);
}

}  // namespace

Agent::Agent(const Config& config) : config_(config) {}

Agent::~Agent() { Shutdown(); }

Status Agent::Start() {
  spdlog::info("resec {} starting: redis {}, consul {}, service {}, lock {}", kResecVersion,
               config_.redis_addr.ToString(), config_.consul.Address(), config_.ServiceId(), config_.lock_key);
  reconciler_ = std::make_unique<Reconciler>(config_, clock_, inbox_, intents_, redis_commands_, board_);

  const ConsulClientConfig consul_config = config_.consul;
  consul_ = std::make_unique<consul::Watcher>(
      config_,
      [consul_config](milliseconds timeout) { return consul::MakeHttpClient(consul_config, timeout); }, clock_,
      intents_, [this](const ConsulState& s) { inbox_.PushCoalesce(s); });

  redis::RedisEndpoint endpoint{config_.redis_addr, config_.redis_username, config_.redis_password,
                                config_.healthcheck_timeout};
  redis::WatcherOptions redis_options;
  redis_options.poll_interval = config_.redis_poll_interval;
  redis_options.timeout = config_.healthcheck_timeout;
  // Peers are only asked during a hand-over, where every millisecond counts
  // and a peer that does not answer at once is treated as absent.
  const redis::RedisEndpoint peer_endpoint{{}, config_.redis_username, config_.redis_password,
                                           std::min(config_.healthcheck_timeout, kPeerTimeout)};
  redis_options.connect_peer = [peer_endpoint](const std::string& host, int port) {
    redis::RedisEndpoint e = peer_endpoint;
    e.addr = HostPort{host, port};
    return redis::MakeHiredisClient(e);
  };
  redis_options.self_port = config_.redis_addr.port;
  redis_ = std::make_unique<redis::Watcher>(redis::MakeHiredisClient(endpoint), redis::MakeHiredisClient(endpoint),
                                            redis_options, clock_,
                                            [this](const RedisState& s) { inbox_.PushCoalesce(s); },
                                            redis_commands_);

  if (config_.state_server) {
    state_server_ = std::make_unique<StateServer>(config_.state_listen_addr, config_, board_);
    if (Status st = state_server_->Start(); !st.ok()) return st;
    spdlog::info("resec: state server listening on {}", config_.state_listen_addr.ToString());
  }
  reconciler_->Start();
  redis_->Start();
  consul_->Start();
  systemd_ = std::make_unique<SystemdNotifier>([this] { return AgentProgress(board_.Get()); });
  return Status::Ok();
}

void Agent::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (systemd_) systemd_->Stopping();
  HandOverIfMaster();
  // Stop deciding first, so nothing re-acquires what we are about to release.
  if (reconciler_) reconciler_->Stop();
  if (consul_) consul_->Shutdown(kShutdownDeadline);
  if (redis_) redis_->Stop();
  if (state_server_) state_server_->Stop();
  inbox_.Close();
  intents_.Close();
  redis_commands_.Close();
  systemd_.reset();
}

void Agent::HandOverIfMaster() {
  if (!reconciler_) return;
  const BoardSnapshot snap = board_.Get();
  const bool has_replica = std::any_of(snap.consul.peers.begin(), snap.consul.peers.end(),
                                       [](const PeerReport& p) { return p.healthy && p.priority > 0; });
  if (!snap.consul.lock_held || snap.redis.role != RedisRole::kMaster || !has_replica) return;
  // A master going away hands over like a planned switchover: writes paused,
  // the best replica caught up, the lock released to it, our Redis re-pointed
  // at it. Nothing acknowledged is lost, and no TTL is waited for.
  spdlog::info("resec: handing over before shutting down");
  const auto start = SteadyClock::now();
  reconciler_->RequestSwitchover("");
  const auto deadline = start + config_.switchover_timeout + std::chrono::seconds(1);
  while (SteadyClock::now() < deadline) {
    const BoardSnapshot now = board_.Get();
    if (!now.consul.lock_held && now.redis.role == RedisRole::kReplica) {
      spdlog::info("resec: handed over in {} ms; our Redis now replicates {}:{}",
                   std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start).count(),
                   now.redis.master_host, now.redis.master_port);
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  spdlog::warn("resec: hand-over did not complete in time; releasing the lock as it stands");
}

void Agent::DumpStates() const {
  const BoardSnapshot snap = board_.Get();
  LogAlways("consul state: " + ToJson(snap.consul).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  LogAlways("redis state: " + ToJson(snap.redis).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Agent::DumpReconciler() const {
  const BoardSnapshot snap = board_.Get();
  nlohmann::json j = {
      {"consul", ToJson(snap.consul)},
      {"redis", ToJson(snap.redis)},
      {"decision", {{"rule", RuleName(snap.decision.rule)}, {"reason", snap.decision.reason}}},
      {"intent",
       {{"hold_lock", snap.intent.hold_lock},
        {"register_as", snap.intent.register_as ? std::string(RoleName(*snap.intent.register_as)) : "none"},
        {"check_status", snap.intent.check_status}}},
      {"lock_free_for_ms", snap.memory.lock_free_since
                               ? std::chrono::duration_cast<milliseconds>(SteadyClock::now() -
                                                                          *snap.memory.lock_free_since)
                                     .count()
                               : -1},
      {"counters",
       {{"reconciles", snap.counters.reconciles},
        {"promotions", snap.counters.promotions},
        {"demotions", snap.counters.demotions},
        {"lock_acquisitions", snap.counters.lock_acquisitions},
        {"lock_losses", snap.counters.lock_losses},
        {"stalls", snap.counters.stalls}}},
  };
  LogAlways("reconciler state: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace resec
