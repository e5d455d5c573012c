// TcpProxy: a loopback TCP forwarder whose path can be cut and healed, to
// isolate one agent from Consul (or a client from Redis) without touching
// the server everybody else uses.
//
// Cut() closes every forwarded connection and refuses new ones until Heal().
//
// Thread-safety: Cut/Heal/port from any thread; one thread per connection
// direction forwards bytes.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "resec/mutex.h"

namespace resec::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void Cut();
  void Heal();

 private:
  void AcceptLoop() EXCLUDES(mu_);
  void CloseAll() EXCLUDES(mu_);

  const int target_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  Mutex mu_;
  std::vector<int> fds_ GUARDED_BY(mu_);  // live forwarded sockets
  std::vector<std::thread> pumps_ GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace resec::testing
