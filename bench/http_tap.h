// HttpTap: counts the HTTP requests each client sends, by endpoint, while
// relaying its bytes unchanged to a server on loopback. The scale benchmark
// gives every agent a tap port of its own in front of the Consul server it
// talks to: what the tap counts for that port is what that agent asked of
// Consul, whatever its HTTP client does (kept-alive connections, a connection
// per request, pipelining), and the endpoint names say which part of the
// agent asked.
//
// Why not what the other benchmarks use: the footprint mode's TcpRelay
// (relay.h) spends a thread per connection and attributes Consul's debug log
// by source port, and Consul's own telemetry (consul_api_http) counts per
// server and route, not per client. At 300 agents the first is ~1,000
// threads plus a debug log that costs the servers CPU, and the second cannot
// tell a holder from a replica. Here one thread relays every connection of
// every client (epoll, non-blocking sockets).
//
// Counting: the client-to-server stream is read as HTTP/1.1 requests (the
// request line and headers, then a Content-Length or chunked body); a request
// counts once, when its headers are complete. The server-to-client stream is
// copied without being looked at. A stream that stops parsing as HTTP is
// still relayed and is counted in `unparsed_connections`.
//
// Thread-safety: Start() and the destructor from the owner thread; Counts()
// and port() from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "resec/mutex.h"
#include "resec/status.h"

namespace resec::bench {

class HttpTap {
 public:
  struct ClientCounts {
    int64_t requests = 0;
    int64_t connections = 0;           // opened by the client
    int64_t unparsed_connections = 0;  // whose requests could no longer be told apart
    std::map<std::string, int64_t> endpoints;  // EndpointOf(...) -> requests
  };

  // One listener per entry of `upstream_ports`, on 127.0.0.1 (a port the
  // kernel picks); client i's connections are relayed to
  // 127.0.0.1:upstream_ports[i].
  static StatusOr<std::unique_ptr<HttpTap>> Start(const std::vector<int>& upstream_ports);

  class Key {
    friend class HttpTap;
    Key() = default;
  };
  HttpTap(Key, int epoll_fd, std::vector<int> listen_fds, std::vector<int> ports, std::vector<int> upstream_ports);
  ~HttpTap();
  HttpTap(const HttpTap&) = delete;
  HttpTap& operator=(const HttpTap&) = delete;

  int clients() const { return static_cast<int>(ports_.size()); }
  // The port client i connects to.
  int port(int client) const { return ports_.at(static_cast<size_t>(client)); }
  // Cumulative since Start(), one entry per client.
  std::vector<ClientCounts> Counts() const EXCLUDES(mu_);

 private:
  void Run(std::stop_token stop) EXCLUDES(mu_);
  void Count(int client, const std::string& endpoint) EXCLUDES(mu_);

  const int epoll_fd_;
  const std::vector<int> listen_fds_;
  const std::vector<int> ports_;
  const std::vector<int> upstream_ports_;
  mutable Mutex mu_;
  std::vector<ClientCounts> counts_ GUARDED_BY(mu_);
  std::jthread thread_;  // last: stopped and joined first
};

// The name a request is counted under: the method, the path with what
// differs between groups and members folded (UUIDs become ":id", every run of
// digits "N"), and the names of its query parameters, sorted, without the
// ones that only tune a read (wait, stale, consistent, dc, token):
//   "GET /v1/kv/resec/gN/.lock?index,recurse", "PUT /v1/session/renew/:id".
std::string EndpointOf(std::string_view method, std::string_view target);

}  // namespace resec::bench
