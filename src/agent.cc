#include "resec/agent.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "resec/consul/client.h"
#include "resec/redis/client.h"

namespace resec {
namespace {

using std::chrono::milliseconds;

// Calls to the other Redis servers of the group (see WatcherOptions::connect_peer).
// A Redis whose agent died answers a fence in a millisecond or two; one that
// does not answer in 100 ms is on a frozen or cut-off host, where the wait
// is pure failover time (its agent pauses it once it sees its lease gone,
// and the failed fence is retried as a demotion later). 200 ms cost every
// host-freeze and host-partition failover a tenth of a second more.
constexpr milliseconds kPeerTimeout{100};

// Dumps are asked for explicitly, so they are written whatever LOG_LEVEL says.
void LogAlways(const std::string& text) {
  auto logger = spdlog::default_logger();
  const auto level = logger->level();
  logger->set_level(spdlog::level::info);
  logger->info("{}", text);
  logger->set_level(level);
}

// An fd closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Agent::Agent(const Config& config) : config_(config), metrics_(kResecVersion, config_.ServiceId()) {}

Agent::~Agent() { Stop(); }

Status Agent::Start() {
  spdlog::info("resec {} starting: redis {}, consul {}, service {}, lock {}", kResecVersion,
               config_.redis_addr.ToString(), config_.consul.Address(), config_.ServiceId(), config_.lock_key);
  reconciler_ = std::make_unique<Reconciler>(
      config_, clock_, board_, [this](ConsulIntent i) { consul_->SetIntent(std::move(i)); },
      [this](RedisIntent i) { redis_->SetIntent(std::move(i)); },
      [this](PeerIntent i) {
        if (peers_) peers_->SetIntent(std::move(i));
      },
      &metrics_);

  const ConsulClientConfig consul_config = config_.consul;
  consul_ = std::make_unique<consul::Watcher>(
      config_,
      [consul_config](milliseconds timeout) { return consul::MakeHttpClient(consul_config, timeout); }, clock_,
      [this](const ConsulState& s) { reconciler_->inbox().Post(s); });

  const redis::RedisEndpoint endpoint{config_.redis_addr, config_.redis_username, config_.redis_password,
                                      config_.healthcheck_timeout};
  redis::WatcherOptions redis_options;
  redis_options.poll_interval = config_.redis_poll_interval;
  // Peers are only asked during a hand-over, where every millisecond counts
  // and a peer that does not answer at once is treated as absent.
  redis::RedisEndpoint peer_endpoint = endpoint;
  peer_endpoint.timeout = std::min(config_.healthcheck_timeout, kPeerTimeout);
  redis_options.connect_peer = [peer_endpoint](const std::string& host, int port) {
    redis::RedisEndpoint e = peer_endpoint;
    e.addr = HostPort{host, port};
    return redis::MakeHiredisClient(e);
  };
  redis_options.announce_host = config_.announce_addr.host;
  redis_options.self_port = config_.announce_addr.port > 0 ? config_.announce_addr.port : config_.redis_addr.port;
  redis_ = std::make_unique<redis::Watcher>(redis::MakeHiredisClient(endpoint), redis::MakeHiredisClient(endpoint),
                                            redis_options, clock_,
                                            [this](const RedisState& s) { reconciler_->inbox().Post(s); });

  if (config_.peer_mode()) {
    peer::TransportOptions peer_options;
    peer_options.listen_host = config_.peer_listen_addr.host;
    peer_options.listen_port = config_.peer_listen_addr.port;
    peer_options.interval = config_.peer_interval;
    peer_options.group = config_.lock_key;
    peer_options.key = peer::DeriveKey(config_.peer_token, config_.lock_key);
    peers_ = std::make_unique<peer::Transport>(peer_options, clock_,
                                               [this](const PeerView& v, bool news) {
                                                 if (news) {
                                                   reconciler_->inbox().Post(v);
                                                 } else {
                                                   reconciler_->inbox().PostQuietly(v);
                                                 }
                                               });
    if (Status st = peers_->Start(); !st.ok()) return st;
    spdlog::info("resec: peer protocol listening on {}:{}", peer_options.listen_host.empty() ? "0.0.0.0"
                                                                                             : peer_options.listen_host,
                 peers_->port());
  }
  if (config_.state_server) {
    state_server_ = std::make_unique<StateServer>(config_.state_listen_addr, config_, board_, metrics_);
    if (Status st = state_server_->Start(); !st.ok()) return st;
    spdlog::info("resec: state server listening on {}", config_.state_listen_addr.ToString());
  }
  redis_->Start();
  consul_->Start();
  return Status::Ok();
}

void Agent::Run(const sigset_t& signals) {
  Fd signal_fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (signal_fd.get() < 0) spdlog::error("resec: signalfd failed ({}); signals are not handled", std::strerror(errno));
  TimePoint next = clock_.Now();
  while (!reconciler_->done()) {
    if (const auto ping = systemd_.NextPing()) next = std::min(next, *ping);
    Reconciler::Inbox::Batch batch = reconciler_->inbox().Wait(next - clock_.Now(), signal_fd.get());
    if (batch.extra_ready) HandleSignals(signal_fd.get(), batch);
    next = reconciler_->Handle(std::move(batch));
    systemd_.Update(AgentProgress(board_.Get()), clock_.Now());
  }
  Stop();
}

void Agent::HandleSignals(int fd, Reconciler::Inbox::Batch& batch) {
  signalfd_siginfo info{};
  while (::read(fd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGUSR1) {
      DumpStates();
    } else if (sig == SIGUSR2) {
      DumpReconciler();
    } else if (sig == SIGHUP) {
      spdlog::info("resec: SIGHUP ignored (configuration is read at start)");
    } else if (!shutting_down_) {
      spdlog::info("resec: received {}, shutting down", strsignal(sig));
      shutting_down_ = true;
      systemd_.Stopping();
      batch.commands.push_back(event::Shutdown{});
    } else {
      spdlog::info("resec: received {} while shutting down; still releasing the lock and deregistering",
                   strsignal(sig));
    }
  }
}

void Agent::Stop() {
  if (peers_) peers_->Stop();
  if (consul_) consul_->Stop();
  if (redis_) redis_->Stop();
  if (state_server_) state_server_->Stop();
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
      {"lock_free_for_ms", snap.lock_free_since
                               ? std::chrono::duration_cast<milliseconds>(clock_.Now() -
                                                                          *snap.lock_free_since)
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
