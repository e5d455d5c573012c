// DisconnectWatch: the redis::Watcher's helper thread for the one kind of
// news a poll would learn too late, a Redis process going away.
//
// It parks two idle connections (SUBSCRIBE to a channel nobody publishes on)
// and waits in poll(2) on both at once:
//   - one to our own Redis: when redis-server dies, its kernel closes the
//     socket at once and the actor observes at once, instead of at its next
//     INFO poll;
//   - one to the master our Redis is linked to (the actor names it with
//     SetUpstream): when it dies, the actor learns which run it was watching,
//     before our Redis (which retries once a second) can reconnect to a
//     restarted and possibly empty one.
// It owns those connections and nothing else; it decides nothing and only
// posts OwnLost / UpstreamLost through the callback.
//
// Thread-safety: SetUpstream() from any thread; Start()/Stop() from the owner.
#pragma once

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <variant>

#include "resec/mailbox.h"
#include "resec/redis/client.h"

namespace resec::redis {

class DisconnectWatch {
 public:
  struct OwnLost {
    bool operator==(const OwnLost&) const = default;
  };
  struct UpstreamLost {
    std::string host;
    int port = 0;
    std::string run_id;  // the run the watch had connected to ("" if it never learnt it)
    bool operator==(const UpstreamLost&) const = default;
  };
  using Alarm = std::variant<OwnLost, UpstreamLost>;

  using ConnectPeer = std::function<std::unique_ptr<Client>(const std::string& host, int port)>;

  DisconnectWatch(std::unique_ptr<Client> own, ConnectPeer connect_peer, std::function<void(Alarm)> alarm);
  ~DisconnectWatch();
  DisconnectWatch(const DisconnectWatch&) = delete;
  DisconnectWatch& operator=(const DisconnectWatch&) = delete;

  void Start();
  void Stop();  // idempotent
  // The master to watch; an empty host stops watching one.
  void SetUpstream(std::string host, int port) { inbox_.Post(Target{std::move(host), port}); }

 private:
  struct Target {
    std::string host;
    int port = 0;
    bool operator==(const Target&) const = default;
  };

  void Run(std::stop_token stop);

  std::unique_ptr<Client> own_;  // helper thread only
  const ConnectPeer connect_peer_;
  const std::function<void(Alarm)> alarm_;
  Mailbox<std::variant<Target>> inbox_;
  std::jthread thread_;
};

}  // namespace resec::redis
