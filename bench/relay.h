// TcpRelay: a transparent loopback TCP relay that remembers the source ports
// of the connections it opens upstream. The footprint benchmark puts one in
// front of Consul per agent: Consul's debug log names each request's source
// port, and the relay says which agent that port belongs to. Bytes are copied
// unchanged, so any HTTP client (keep-alive or not, Go's or ours) works.
//
// Thread-safety: Start() and the destructor from the owner thread;
// UpstreamSourcePorts() from any thread. One acceptor thread plus one thread
// per open connection; the destructor stops and joins them all.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <set>
#include <thread>

#include "resec/mutex.h"
#include "resec/status.h"

namespace resec::bench {

class TcpRelay {
 public:
  // Listens on 127.0.0.1 (an ephemeral port) and forwards every accepted
  // connection to 127.0.0.1:upstream_port.
  static StatusOr<std::unique_ptr<TcpRelay>> Start(int upstream_port);

  // Only Start() can make the key: a relay always owns a listening socket.
  class Key {
    friend class TcpRelay;
    Key() = default;
  };
  TcpRelay(Key, int listen_fd, int port, int upstream_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  std::set<int> UpstreamSourcePorts() const EXCLUDES(mu_);

 private:
  struct Connection {
    std::jthread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop(std::stop_token stop);
  void Relay(std::stop_token stop, int client_fd, Connection* self) EXCLUDES(mu_);

  int listen_fd_;
  int port_;
  int upstream_port_;
  mutable Mutex mu_;
  std::set<int> source_ports_ GUARDED_BY(mu_);
  std::list<Connection> connections_;   // acceptor thread only
  std::jthread acceptor_;               // last: stopped and joined first
};

}  // namespace resec::bench
