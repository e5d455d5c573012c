// WriteLoad: a steady write rate on the master of every group, as that
// group's application would make it: for each group one thread follows the
// group's master service with blocking health queries
// (/v1/health/service/<prefix>-master?passing, long waits, as a Consul-aware
// client or consul-template does), and another sends `SET scale:load <n>`
// to the master it last heard of, `rate` times a second, over one kept
// connection. What it is for is the replication offset: every write moves
// it on the master and its replicas, and whatever an agent does when an
// offset moves shows up in what it asks of Consul.
//
// It is not the benchmark's writer (tests/support/traffic.h, which follows
// `redis-master` and writes every 2 ms to time a failover): it writes to N
// groups at a fixed, modest rate and records nothing but counts.
//
// Thread-safety: Start()/Stop() from the owner; counters from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "resec/mutex.h"
#include "support/traffic.h"

namespace resec::bench {

class WriteLoad {
 public:
  struct Group {
    std::string master_service;            // "<prefix>-master"
    std::vector<testing::Endpoint> consul;  // asked in turn when one fails
  };

  WriteLoad(std::vector<Group> groups, int writes_per_s);
  ~WriteLoad();
  WriteLoad(const WriteLoad&) = delete;
  WriteLoad& operator=(const WriteLoad&) = delete;

  void Start();
  // Idempotent; returns within about one discovery wait (kDiscoveryWait).
  void Stop();

  int64_t sent() const { return sent_.load(); }
  int64_t acked() const { return acked_.load(); }
  // Health queries made so far (they reach Consul besides the agents' own).
  int64_t discovery_requests() const { return discovery_requests_.load(); }

 private:
  struct Target {
    Mutex mu;
    std::string host GUARDED_BY(mu);
    int port GUARDED_BY(mu) = 0;
  };
  void DiscoverLoop(std::stop_token stop, size_t group);
  void WriteLoop(std::stop_token stop, size_t group);

  const std::vector<Group> groups_;
  const std::chrono::microseconds interval_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> acked_{0};
  std::atomic<int64_t> discovery_requests_{0};
  std::vector<std::jthread> threads_;
};

}  // namespace resec::bench
