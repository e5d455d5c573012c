// StateServer: the optional HTTP endpoints over the reconciler's StateBoard.
//
//   /        overview page
//   /state   JSON of the Consul and Redis states and the last decision
//   /info    the raw Redis INFO text
//   /health  200 "ok" when Redis can serve (master, or replica linked and not
//            syncing), else 503 "fail"; for deployment gating
//   /metrics Prometheus text exposition (resec/metrics.h), from a view of
//            the board made by MakeMetricsView (resec/metrics_view.h)
//
// Nothing served here ever contains the Consul token, the Redis password or a
// Consul session ID (which would let a caller release our lock): the board
// holds no passwords to begin with, and /, /state and /info go through a
// Redactor (resec/redact.h) on the way out as the last line of defence.
// /metrics holds only numbers and fixed or address labels, and /health a
// word; neither is rewritten (a short password would mangle numbers).
//
// The server listens on 0.0.0.0:8080 by default, as the original did: bind it
// to loopback (STATE_LISTEN_ADDR=127.0.0.1:8080) or a private address unless
// the Redis INFO, the group's addresses and the agent's state may be seen by
// anyone who can reach the port.
//
// Thread-safety: Start/Stop from the owner; handlers run on httplib's pool
// and only read the board (which is locked) and render the metrics (which
// serialise themselves).
#pragma once

#include <memory>
#include <thread>

#include "resec/config.h"
#include "resec/metrics.h"
#include "resec/reconciler.h"
#include "resec/redact.h"
#include "resec/status.h"

namespace httplib {
class Server;
}

namespace resec {

class StateServer {
 public:
  // Serves `metrics`, which the owner shares with whoever reports events
  // into it; it must outlive the server.
  StateServer(HostPort listen, const Config& config, const StateBoard& board, Metrics& metrics);
  ~StateServer();
  StateServer(const StateServer&) = delete;
  StateServer& operator=(const StateServer&) = delete;

  // Binds and starts serving; an error names the address that failed.
  Status Start();
  void Stop();
  int port() const { return bound_port_; }

 private:
  const HostPort listen_;
  const Config config_;
  const StateBoard& board_;
  const Redactor redact_;
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int bound_port_ = 0;
};

// Exposed for tests: the bodies the endpoints serve.
std::string RenderStateJson(const BoardSnapshot& snap, const Config& config);
std::string RenderOverviewHtml(const BoardSnapshot& snap, const Config& config);

}  // namespace resec
