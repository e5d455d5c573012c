// FaultHttpServer: a fault-injecting HTTP endpoint on 127.0.0.1 that stands
// in for Consul's HTTP API in tests ("Consul with one endpoint broken").
//
//   FaultHttpServer fault;
//   ASSERT_OK(fault.Start());
//   fault.SetUpstream("127.0.0.1", consul.http_port()) EXCLUDES(mu_);   // proxy everything ...
//   fault.SetFault(FaultHttpServer::Fault::kStatus, 500) EXCLUDES(mu_);  // ... or break everything
//   fault.AddRule({"/v1/session/", FaultHttpServer::Fault::kHang});  // or one endpoint
//   agent env: CONSUL_HTTP_ADDR = fault.addr()
//   fault.ClearFaults() EXCLUDES(mu_);                                   // heal: proxy again
//
// A raw socket server (not httplib) so it can misbehave in ways a conforming
// server cannot: a Content-Length it never honours, a 100 MB body, silence.
// Each connection gets its own thread and one request; every answer carries
// "Connection: close". Proxying relays bytes both ways to the upstream (with
// "Connection: close" forced on the request), so Consul's blocking queries,
// headers and status codes pass through untouched.
//
// Changing the faults (SetFault/AddRule/ClearFaults/SetUpstream) closes every
// connection held open by kHang, as a restarted Consul would: a client stuck on
// a silent connection then fails at once instead of waiting out its timeout.
// Stop() (and the destructor) closes everything, proxied blocking queries
// included, and joins every thread.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "resec/mutex.h"
#include "resec/status.h"

namespace resec::testing {

class FaultHttpServer {
 public:
  enum class Fault {
    kProxy,      // relay to the upstream; 502 "no upstream" without one
    kStatus,     // answer `status` with `body` (403, 404, 429, 500, ...)
    kNonJson,    // 200 with an HTML page, as a misconfigured proxy would answer
    kTruncated,  // 200, Content-Length 4096, 20 bytes of JSON, then close
    kHugeBody,   // 200 with a 100 MB JSON-looking body, streamed until the client hangs up
    kHang,       // read the request, never answer (until the faults change or Stop)
    kReset,      // close the connection right after reading the request
  };

  struct Rule {
    std::string path_prefix;  // matched against the request path (without the query); "" matches all
    Fault fault = Fault::kProxy;
    int status = 500;        // kStatus only
    std::string body = {};   // kStatus only; empty: a Consul-like text for the status
  };

  static constexpr size_t kHugeBodyBytes = size_t{100} << 20;

  FaultHttpServer();
  ~FaultHttpServer();
  FaultHttpServer(const FaultHttpServer&) = delete;
  FaultHttpServer& operator=(const FaultHttpServer&) = delete;

  // Listens on 127.0.0.1 on a kernel-chosen port and starts accepting.
  Status Start();
  void Stop() EXCLUDES(threads_mu_);

  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }

  // Where kProxy relays to. Empty host: nowhere (502).
  void SetUpstream(const std::string& host, int port);
  // Every request gets `fault` (replaces all rules).
  void SetFault(Fault fault, int status = 500, std::string body = "");
  // Rules are tried in order; the first whose prefix matches decides. No
  // match: kProxy.
  void AddRule(Rule rule) EXCLUDES(mu_);
  // No rules: everything is proxied.
  void ClearFaults();

  // Requests read (whole request line and headers) since Start().
  int64_t requests() const { return requests_.load(); }
  // Requests that got a fault (anything but a successful relay).
  int64_t faulted() const { return faulted_.load(); }
  // Requests read so far whose path starts with `prefix`.
  int64_t RequestsTo(const std::string& prefix) const EXCLUDES(mu_);
  // The last requests, "METHOD /path -> what happened", oldest first; for
  // failure messages.
  std::string RecentRequests(size_t max = 30) const EXCLUDES(mu_);

 private:
  struct Connection;
  void AcceptLoop() EXCLUDES(threads_mu_);
  void Serve(int fd) EXCLUDES(mu_);
  Rule Decide(const std::string& path) const EXCLUDES(mu_);
  void Record(const std::string& line) EXCLUDES(mu_);
  void RulesChanged() REQUIRES(mu_);
  void ReapFinished() EXCLUDES(threads_mu_);

  int listen_fd_ = -1;
  int port_ = 0;
  // A pipe whose read end every poll() watches: writing to it wakes all
  // threads for Stop(); hung connections watch their own generation instead.
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> faulted_{0};
  std::atomic<uint64_t> generation_{0};  // bumped whenever the faults change

  mutable Mutex mu_;
  std::vector<Rule> rules_ GUARDED_BY(mu_);
  std::string upstream_host_ GUARDED_BY(mu_);
  int upstream_port_ GUARDED_BY(mu_) = 0;
  std::deque<std::string> recent_ GUARDED_BY(mu_);
  std::map<std::string, int64_t> path_counts_ GUARDED_BY(mu_);  // requests per path, for RequestsTo

  Mutex threads_mu_;
  std::vector<std::shared_ptr<Connection>> connections_ GUARDED_BY(threads_mu_);
  std::thread accept_thread_;
};

}  // namespace resec::testing
