// Agent: one resec instance, assembled from its actors.
//
//   redis::Watcher  --RedisState-->  +------------+  --ConsulIntent-->  consul::Watcher
//                   <-RedisCommand-- | Reconciler |  <--ConsulState---
//                                    +------------+
//                                          | StateBoard
//                                          v
//                                     StateServer
//
// Owns the queues, the board and the actors; Shutdown() is the one ordered
// path out for every cause: stop deciding, release the lock and deregister,
// stop the Redis watcher and the state server, close the queues.
//
// Thread-safety: Start/Shutdown/Dump* from the owning (signal) thread.
#pragma once

#include <memory>

#include "resec/clock.h"
#include "resec/config.h"
#include "resec/consul/watcher.h"
#include "resec/queue.h"
#include "resec/reconciler.h"
#include "resec/redis/watcher.h"
#include "resec/state_server.h"

namespace resec {

class SystemdNotifier;

class Agent {
 public:
  explicit Agent(const Config& config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  Status Start();
  void Shutdown();  // idempotent, bounded in time
  void DumpStates() const;      // SIGUSR1
  void DumpReconciler() const;  // SIGUSR2
  int state_server_port() const { return state_server_ ? state_server_->port() : 0; }

 private:
  void HandOverIfMaster();

  const Config config_;
  SystemClock clock_;
  BoundedQueue<AgentEvent> inbox_{64};
  BoundedQueue<ConsulIntent> intents_{8};
  BoundedQueue<RedisCommand> redis_commands_{8};
  StateBoard board_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<consul::Watcher> consul_;
  std::unique_ptr<redis::Watcher> redis_;
  std::unique_ptr<StateServer> state_server_;
  std::unique_ptr<SystemdNotifier> systemd_;  // sd_notify READY/STOPPING/WATCHDOG
  bool shut_down_ = false;
};

}  // namespace resec
