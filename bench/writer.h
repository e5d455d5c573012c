// Writer: the benchmark's client. One thread follows the system's master
// discovery (MasterDiscovery::Next() in a loop); another sends a numbered
// write every kWriteInterval to the master it last heard of:
//   RPUSH bench:seq <n>     acknowledged if it returns an integer
//   WAIT 1 100              "WAIT-acknowledged" if at least one replica has it
// It keeps one connection, with short timeouts, and drops it on any error
// (refused, timeout, READONLY, ...) or when discovery names another master,
// so the next write reconnects to whatever discovery says then. Each write is
// recorded with its send and acknowledgement times (microseconds since the
// run's origin) and the port that acknowledged it.
//
// Thread-safety: Start()/Stop() from the owner; the queries are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "resec/mutex.h"
#include "resec/status.h"
#include "systems.h"

namespace resec::bench {

using Clock = std::chrono::steady_clock;

struct WriteRecord {
  int64_t seq = 0;
  int64_t sent_us = 0;
  int64_t ack_us = -1;  // -1: not acknowledged
  int port = 0;         // the server it was sent to
  bool wait_acked = false;
};

class Writer {
 public:
  Writer(std::unique_ptr<MasterDiscovery> discovery, Clock::time_point origin);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void Start();
  void Stop();  // idempotent; joins both threads

  int64_t acked() const { return acked_.load(); }
  // The acknowledgement time of the first write sent at or after `after_us`
  // that `port` acknowledged. A write sent before (in flight at the fault,
  // answered a moment later by a master that was then frozen and later
  // resumed) says nothing about whether that master serves after the fault.
  std::optional<int64_t> FirstAckOn(int port, int64_t after_us) const EXCLUDES(mu_);
  std::vector<WriteRecord> Records() const EXCLUDES(mu_);

 private:
  void DiscoverLoop(std::stop_token stop);
  void WriteLoop(std::stop_token stop) EXCLUDES(mu_);
  int64_t Now() const;

  std::unique_ptr<MasterDiscovery> discovery_;
  Clock::time_point origin_;
  std::atomic<int> target_port_{0};  // 0: no master heard of yet
  std::atomic<int64_t> acked_{0};
  mutable Mutex mu_;
  std::vector<WriteRecord> records_ GUARDED_BY(mu_);
  std::jthread discover_thread_;
  std::jthread write_thread_;
};

// The sequence numbers stored in bench:seq on the server at `port`.
StatusOr<std::vector<int64_t>> ReadSequence(int port);

}  // namespace resec::bench
