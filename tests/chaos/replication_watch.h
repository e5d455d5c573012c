// ReplicationWatch: what every host's Redis says about its replication, over
// time, so the runner can tell how a member became master (invariant I5: no
// member in a full sync or loading is promoted, and a new master holds every
// WAIT-acknowledged write).
//
// One thread per host joins the host's network namespace (the management
// path: a partition does not cut it) and sends `INFO server replication
// persistence` to its 127.0.0.1:6379 every `interval`. Each Redis process is
// known by its run_id (new at every start). A promotion is a run seen as a
// replica and then, in the next answer, as a master: REPLICAOF NO ONE. A run
// that was a master from its first answer (a restarted redis-server boots as
// one) is not a promotion; the runner judges it when its host's agent makes
// it the group's master.
//
// Thread-safety: Start()/Stop() from the owner; the queries are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/traffic.h"

namespace resec::chaos {

struct RedisSample {
  testing::Clock::time_point at;  // when the INFO was sent
  std::string run_id;
  std::string role;  // "master", "slave"
  std::string link;  // master_link_status
  bool syncing = false;  // master_sync_in_progress:1 (a full sync's transfer)
  bool loading = false;  // loading:1 (an RDB being loaded)
  int64_t offset = -1;
};

struct Promotion {
  int host = -1;
  RedisSample before;  // its last answer as a replica
  RedisSample after;   // its first answer as a master
};

class ReplicationWatch {
 public:
  ReplicationWatch(std::vector<std::string> netns, std::chrono::milliseconds interval);
  ~ReplicationWatch();
  ReplicationWatch(const ReplicationWatch&) = delete;
  ReplicationWatch& operator=(const ReplicationWatch&) = delete;

  void Start();
  void Stop();

  // The promotions seen since the last call, in the order seen.
  std::vector<Promotion> TakePromotions();

  // Host k's current Redis run: its run_id, when it was first seen, and its
  // last answer as a replica (none: it has been a master since it started).
  struct Run {
    std::string run_id;
    testing::Clock::time_point first_seen;
    std::optional<RedisSample> last_replica;
    RedisSample latest;
  };
  std::optional<Run> CurrentRun(int k) const;

 private:
  void Loop(std::stop_token stop, int k);

  const std::vector<std::string> netns_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::vector<std::optional<Run>> runs_;  // GUARDED_BY(mu_)
  std::vector<Promotion> promotions_;     // GUARDED_BY(mu_)
  std::vector<std::jthread> threads_;
};

}  // namespace resec::chaos
