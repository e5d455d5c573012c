// DisconnectWatch: see include/resec/redis/disconnect_watch.h.
#include "resec/redis/disconnect_watch.h"

#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>

#include "resec/redis/info.h"

namespace resec::redis {
namespace {

using std::chrono::milliseconds;

// A connection that cannot be (re)armed is retried after this, doubling up
// to kMaxRetry: a Redis that is down costs a refused connect every half
// second, and one that keeps dropping our idle connection (a client timeout,
// CLIENT KILL) cannot turn into a busy loop of alarms.
constexpr milliseconds kFirstRetry{100};
constexpr milliseconds kMaxRetry{500};

struct Conn {
  std::unique_ptr<Client> client;
  bool armed = false;
  TimePoint retry_at{};
  milliseconds backoff{0};
  std::string run_id;  // upstream only: the run we connected to

  void Failed(TimePoint now) {
    if (client) client->Disconnect();
    armed = false;
    backoff = backoff.count() == 0 ? kFirstRetry : std::min(backoff * 2, kMaxRetry);
    retry_at = now + backoff;
  }
};

}  // namespace

DisconnectWatch::DisconnectWatch(std::unique_ptr<Client> own, ConnectPeer connect_peer,
                                 std::function<void(Alarm)> alarm)
    : own_(std::move(own)), connect_peer_(std::move(connect_peer)), alarm_(std::move(alarm)) {}

DisconnectWatch::~DisconnectWatch() { Stop(); }

void DisconnectWatch::Start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) {
    pthread_setname_np(pthread_self(), "redis-watch");
    Run(std::move(stop));
  });
}

void DisconnectWatch::Stop() {
  inbox_.Close();
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void DisconnectWatch::Run(std::stop_token stop) {
  try {
    Conn own{.client = std::move(own_)};
    Conn up;
    Target target;
    while (!stop.stop_requested()) {
      // What to watch: the newest target wins.
      auto batch = inbox_.TakeAll();
      if (batch.closed) break;
      for (auto& s : batch.states) {
        Target next = std::get<Target>(std::move(s));
        if (next == target) continue;
        target = std::move(next);
        up = Conn{};
        if (!target.host.empty() && connect_peer_) up.client = connect_peer_(target.host, target.port);
      }
      const TimePoint now = SteadyClock::now();
      // (Re)arm what is not armed, when its retry is due.
      if (!own.armed && now >= own.retry_at) {
        if (own.client->ArmDisconnectWatch().ok()) {
          own.armed = true;
          own.backoff = milliseconds(0);
        } else {
          // The actor reports unreachability; this thread only re-arms.
          own.Failed(now);
        }
      }
      if (up.client && !up.armed && now >= up.retry_at) {
        // Learn which run we watch first: the alarm names it, and the actor
        // compares it with whatever answers after the drop.
        StatusOr<std::string> info = up.client->Connect().ok() ? up.client->Command({"INFO", "server"})
                                                                 : StatusOr<std::string>(Unavailable("connect"));
        if (info.ok()) {
          up.run_id = ParseInfo(*info).run_id;
          // Named, so an operator reading CLIENT LIST on the master knows
          // what the idle connection is.
          (void)up.client->Command({"CLIENT", "SETNAME", "resec-upstream-watch"});
        }
        if (info.ok() && up.client->ArmDisconnectWatch().ok()) {
          up.armed = true;
          up.backoff = milliseconds(0);
        } else {
          up.Failed(now);
        }
      }
      std::array<pollfd, 3> fds{pollfd{inbox_.wake_fd(), POLLIN, 0},
                                pollfd{own.armed ? own.client->fd() : -1, POLLIN, 0},
                                pollfd{up.armed ? up.client->fd() : -1, POLLIN, 0}};
      TimePoint wake = now + std::chrono::hours(1);
      if (!own.armed) wake = std::min(wake, own.retry_at);
      if (up.client && !up.armed) wake = std::min(wake, up.retry_at);
      const auto timeout = std::chrono::ceil<milliseconds>(wake - SteadyClock::now());
      const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, 1 << 30)));
      if (n < 0) {
        if (errno == EINTR) continue;
        spdlog::error("redis: disconnect watch cannot poll: {}", std::strerror(errno));
        break;
      }
      const TimePoint after = SteadyClock::now();
      if (own.armed && fds[1].revents != 0 && !own.client->DrainReadable().ok()) {
        spdlog::debug("redis: our Redis closed the watch connection");
        own.Failed(after);
        alarm_(OwnLost{});
      }
      if (up.armed && fds[2].revents != 0 && !up.client->DrainReadable().ok()) {
        spdlog::debug("redis: the master {}:{} closed the watch connection", target.host, target.port);
        up.Failed(after);
        alarm_(UpstreamLost{target.host, target.port, up.run_id});
        up.run_id.clear();
      }
    }
  } catch (const std::exception& e) {
    // Losing the fast path only delays noticing a death to the next poll.
    spdlog::error("redis: disconnect watch stopped by an unexpected error: {}", e.what());
  } catch (...) {
    spdlog::error("redis: disconnect watch stopped by an unexpected error");
  }
}

}  // namespace resec::redis
