// Agent: one resec instance, assembled from its actors.
//
//   redis::Watcher  --RedisState-->  +------------+  --ConsulIntent-->  consul::Watcher
//   (+ redis-watch) <--RedisIntent-- | Reconciler |  <--ConsulState---  (+ consul-kv,
//                                    +------------+                        consul-masters)
//                                          | StateBoard
//                                          v
//                                     StateServer
//
// The reconciler runs on the main thread: Run() waits on its mailbox and on
// a signalfd at once, so a signal is an event like any other (SIGTERM, SIGINT
// and SIGQUIT start the one shutdown path, SIGUSR1/SIGUSR2 dump state).
// Shutdown is Step's business (hand over if master, then leave Consul clean);
// when it is done Run() stops the actors and returns. docs/architecture.md
// lists every thread, what it owns and what it posts where.
//
// Thread-safety: every method from the main thread.
#pragma once

#include <signal.h>

#include <memory>

#include "resec/clock.h"
#include "resec/config.h"
#include "resec/metrics.h"
#include "resec/consul/watcher.h"
#include "resec/peer/transport.h"
#include "resec/reconciler.h"
#include "resec/redis/watcher.h"
#include "resec/state_server.h"
#include "resec/status.h"
#include "resec/systemd_notify.h"

namespace resec {

class Agent {
 public:
  explicit Agent(const Config& config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts the state server (when configured) and the watchers.
  Status Start();
  // The reconciler's loop, until shutdown has finished. `signals` are
  // blocked in every thread already; they are read from a signalfd here.
  void Run(const sigset_t& signals);
  // Stops every actor at once (no hand-over, no clean-up): for a failed
  // start, and the last step of Run(). Idempotent.
  void Stop();
  int state_server_port() const { return state_server_ ? state_server_->port() : 0; }

 private:
  // Reads the pending signals; returns the commands they ask for.
  void HandleSignals(int fd, Reconciler::Inbox::Batch& batch);
  void DumpStates() const;      // SIGUSR1
  void DumpReconciler() const;  // SIGUSR2

  const Config config_;
  SystemClock clock_;
  StateBoard board_;
  // Declared before everything that reports into it or serves it.
  Metrics metrics_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<consul::Watcher> consul_;
  std::unique_ptr<redis::Watcher> redis_;
  std::unique_ptr<peer::Transport> peers_;  // the peer protocol, when configured
  std::unique_ptr<StateServer> state_server_;
  SystemdNotifier systemd_;
  bool shutting_down_ = false;
};

}  // namespace resec
