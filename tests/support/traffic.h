// The clients of the namespaced harnesses (the chaos runner, the
// production-topology rig), each on threads of its own:
//
// Writer: the one writer of the benchmarks, the chaos runner and the rig
// tests, for a group on real addresses. One thread follows a MasterSource
// (by default the master service, with blocking health queries
// (`/v1/health/service/redis-master?passing`) against one Consul agent,
// moving to the next when it fails, as a client configured with the three
// servers would; the benchmark's Sentinel client asks sentinels); another sends `RPUSH <key> <n>` every 2 ms to the
// address it last heard of and, when acknowledged, `WAIT 1 100`
// ("WAIT-acknowledged" when a replica has it). It uses the group's network
// only: a node that is cut off is out of its reach, as for a real client.
// Every write is recorded under the tag (fault episode) current when it was
// sent.
//
// Prober: the dual-master detector. Every `interval` (a "round", aligned to a
// common origin) one thread per node sends `SET probe:n<k> <round>` to that
// node's Redis over the harness's management path (reachable during a cut:
// a management veth, or a thread inside the node's namespace talking to its
// 127.0.0.1), with a short timeout. A node "accepts writes" in a round when that
// SET is answered OK; a paused server (CLIENT PAUSE WRITE, SIGSTOP) times
// out and one refusing (READONLY, NOREPLICAS) answers an error, and neither
// accepts. A round whose probe was skipped (the previous one was still
// waiting) counts as not accepted.
//
// Thread-safety: Start()/Stop() from the owner; every query is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "resec/mutex.h"

namespace resec::testing {

using Clock = std::chrono::steady_clock;

// The writer sends one write every 2 ms: fine enough to resolve a failover
// to a few milliseconds, light enough not to load a 2-core machine.
inline constexpr std::chrono::milliseconds kWriteInterval{2};
// Connect timeout: a live server accepts within a millisecond; 100 ms only
// bounds the cost of a SIGSTOPped one (the kernel still accepts).
inline constexpr std::chrono::milliseconds kClientConnectTimeout{100};
// Reply timeout: above WAIT's own 100 ms budget, so a WAIT that times out
// inside Redis still answers, while a frozen master costs at most 250 ms.
inline constexpr std::chrono::milliseconds kClientReplyTimeout{250};
// WAIT numreplicas timeout: one replica, 100 ms (`WAIT 1 100`).
inline constexpr int kWaitReplicas = 1;
inline constexpr int kWaitTimeoutMs = 100;
inline constexpr char kSeqKey[] = "writer:seq";

// A server to talk to: host:port, dialled from a thread inside network
// namespace `netns` ("" = the caller's own). A list of endpoints is either
// all in the caller's namespace or all in namespaces of their own.
struct Endpoint {
  std::string host;
  int port = 0;
  std::string netns = {};
};

// Where a client learns the master's address; Next() is called in a loop
// from the writer's discovery thread and may block (a long poll), but must
// return within a few seconds of `stop` being requested.
class MasterSource {
 public:
  struct Address {
    std::string host;
    int port = 0;
  };
  virtual ~MasterSource() = default;
  // The master the system names now, or nullopt when it names none or cannot
  // be asked (the writer then keeps the one it has).
  virtual std::optional<Address> Next(const std::stop_token& stop) = 0;
};

// The Consul way: blocking queries on the passing master service; a
// registered host name is mapped with `hosts`.
std::unique_ptr<MasterSource> MakeConsulMasterSource(std::vector<Endpoint> consul,
                                                     std::map<std::string, std::string> hosts = {});

struct WriteCounts {
  int64_t writes = 0;
  int64_t acked = 0;
  int64_t wait_acked = 0;
};

class Writer {
 public:
  // node_addrs: each node's Redis "ip:port", to name where a write went.
  // hosts: names a registration may carry (REDIS_ADDR redis1:6379) and the
  // address they stand for, as a client's resolver would map them.
  Writer(std::vector<Endpoint> consul, std::vector<std::string> node_addrs, Clock::time_point origin,
         std::map<std::string, std::string> hosts = {});
  Writer(std::unique_ptr<MasterSource> source, std::vector<std::string> node_addrs, Clock::time_point origin);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void Start();
  void Stop();  // idempotent; joins both threads

  void SetTag(int tag) { tag_.store(tag); }
  int64_t last_seq() const { return seq_.load(); }

  struct Write {
    int64_t seq = 0;
    int64_t sent_ms = 0;  // since the origin
    int64_t ack_ms = -1;  // when it was acknowledged, since the origin; -1: not acknowledged
    int node = -1;        // where it was sent
    int tag = 0;
    bool acked = false;
    bool wait_acked = false;
  };
  Write Get(int64_t seq) const EXCLUDES(mu_);
  // WAIT-acknowledged writes with after < seq <= upto.
  std::vector<int64_t> WaitAckedIn(int64_t after, int64_t upto) const EXCLUDES(mu_);
  // Whether a write after seq, sent to node before sent_before_ms, was
  // WAIT-acknowledged: then a replica held seq too (one ordered stream).
  bool LaterWaitAckedTo(int64_t seq, int node, int64_t sent_before_ms) const EXCLUDES(mu_);
  std::map<int, WriteCounts> CountsByTag() const EXCLUDES(mu_);
  WriteCounts Totals() const;
  // "10.213.7.12:6379" or "(none)": where writes go now.
  std::string Target() const EXCLUDES(mu_);

 private:
  struct Record {
    int32_t sent_ms;
    int32_t ack_ms;  // -1 until acknowledged
    int32_t tag;
    int8_t node;
    uint8_t flags;  // 1 acked, 2 WAIT-acked
  };
  void DiscoverLoop(std::stop_token stop) EXCLUDES(mu_);
  void WriteLoop(std::stop_token stop) EXCLUDES(mu_);

  const std::unique_ptr<MasterSource> source_;
  const std::vector<std::string> node_addrs_;
  const Clock::time_point origin_;
  std::atomic<int> tag_{0};
  std::atomic<int64_t> seq_{0};
  mutable Mutex mu_;
  std::string target_host_ GUARDED_BY(mu_);
  int target_port_ GUARDED_BY(mu_) = 0;
  std::vector<Record> records_ GUARDED_BY(mu_);  // index seq - 1
  std::jthread discover_thread_;
  std::jthread write_thread_;
};

class Prober {
 public:
  Prober(std::vector<Endpoint> targets, Clock::time_point origin, std::chrono::milliseconds interval,
         std::chrono::milliseconds timeout);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  void Start() EXCLUDES(mu_);
  void Stop();

  // When an accepted probe was sent and when its OK came back: the node
  // took the write at some moment in between.
  struct Accept {
    Clock::time_point sent;
    Clock::time_point answered;
  };
  struct Round {
    int64_t index = 0;
    unsigned accepted = 0;  // bit k: node k accepted
    std::map<int, Accept> when = {};  // by node, for each node that accepted
  };
  // The rounds every node thread has finished since the last call, in order.
  std::vector<Round> TakeRounds() EXCLUDES(mu_);
  Clock::time_point RoundTime(int64_t index) const { return origin_ + index * interval_; }
  int64_t RoundAt(Clock::time_point t) const { return (t - origin_) / interval_; }
  std::chrono::milliseconds interval() const { return interval_; }
  // When node k last accepted a probe write.
  std::optional<Clock::time_point> LastAccepted(int node) const EXCLUDES(mu_);

 private:
  void ProbeLoop(std::stop_token stop, int node) EXCLUDES(mu_);

  const std::vector<Endpoint> targets_;
  const Clock::time_point origin_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds timeout_;
  std::vector<std::atomic<int64_t>> done_;  // per node: every round <= this is finished
  mutable Mutex mu_;
  std::map<int64_t, unsigned> accepted_ GUARDED_BY(mu_);
  std::map<int64_t, std::map<int, Accept>> accept_times_ GUARDED_BY(mu_);
  std::vector<std::optional<Clock::time_point>> last_accepted_ GUARDED_BY(mu_);
  int64_t taken_ GUARDED_BY(mu_) = -1;
  std::vector<std::jthread> threads_;
};

// What a writer lost: its acknowledged (and WAIT-acknowledged) writes that
// the final master does not hold. `present` is the sequence read back from
// that master (LRANGE of kSeqKey).
struct WriteLoss {
  int64_t acked = 0;
  int64_t acked_lost = 0;
  int64_t wait_acked = 0;
  int64_t wait_acked_lost = 0;
  int64_t first_lost = 0;  // the first acknowledged write missing, 0 if none
  std::string ToString() const;  // "lost 12/3400 acknowledged, 0/3390 WAIT-acknowledged writes"
};
WriteLoss CountLoss(const Writer& writer, const std::vector<int64_t>& present);

// A run of consecutive prober rounds in which two or more nodes accepted a
// write: two writable masters.
struct MultiWriterWindow {
  int64_t first_round = 0;
  int64_t rounds = 0;
  unsigned nodes = 0;  // bit k: node k accepted in some round of the run
};
std::vector<MultiWriterWindow> MultiWriterWindows(const std::vector<Prober::Round>& rounds);

// PassingProbe: what a client discovering the master sees. Every `interval`
// it asks one Consul agent for `/v1/health/service/<service>?passing` and
// records how many instances answered and on which nodes, so a window with
// two passing masters is measured, not guessed. The endpoint may be inside a
// namespace (management path).
//
// Thread-safety: Start()/Stop() from the owner; the queries are thread-safe.
class PassingProbe {
 public:
  PassingProbe(std::vector<Endpoint> consul, std::string service, std::chrono::milliseconds interval);
  ~PassingProbe();
  PassingProbe(const PassingProbe&) = delete;
  PassingProbe& operator=(const PassingProbe&) = delete;

  void Start();
  void Stop();

  struct Sample {
    Clock::time_point at;
    std::vector<std::string> nodes;  // one per passing instance
  };
  std::vector<Sample> Samples() const;
  // The longest run of samples with at least `n` passing instances: from
  // its first sample to the first sample after it (or its last, if none);
  // zero when there was none. *nodes gets the nodes seen in that run.
  std::chrono::milliseconds LongestAtLeast(size_t n, std::string* nodes = nullptr) const;

 private:
  void Loop(std::stop_token stop);

  const std::vector<Endpoint> consul_;
  const std::string service_;
  const std::chrono::milliseconds interval_;
  mutable Mutex mu_;
  std::vector<Sample> samples_ GUARDED_BY(mu_);
  std::jthread thread_;
};

// LockWatcher: who holds the agents' lock over time, so a dual-master window
// can tell the legitimate master (the holder) from the one that should have
// been fenced. Blocking queries on the lock key, against each Consul server
// in turn over the harness's management path; the holder is the Consul node
// of the session that holds the key (/v1/session/info), so it is known by
// identity even where every Redis is 127.0.0.1:6379 and the lock value
// names no address.
//
// Thread-safety: Start()/Stop() from the owner; HolderAt() is thread-safe.
class LockWatcher {
 public:
  // node_names: each node's Consul node name, by node index.
  LockWatcher(std::vector<Endpoint> consul, std::string key, std::vector<std::string> node_names);
  ~LockWatcher();
  LockWatcher(const LockWatcher&) = delete;
  LockWatcher& operator=(const LockWatcher&) = delete;

  void Start();
  void Stop();
  // The holder's node index at `t` (-1: free), nullopt before the first answer.
  std::optional<int> HolderAt(Clock::time_point t) const EXCLUDES(mu_);
  // When the session that held the lock at `t` was first seen holding it
  // (nullopt: free at `t`, or before the first answer).
  std::optional<Clock::time_point> HeldSince(Clock::time_point t) const EXCLUDES(mu_);

 private:
  void Loop(std::stop_token stop) EXCLUDES(mu_);

  const std::vector<Endpoint> consul_;
  const std::string key_;
  const std::vector<std::string> node_names_;
  mutable Mutex mu_;
  struct Change {
    Clock::time_point at;
    int holder;
    std::string session;
  };
  std::vector<Change> changes_ GUARDED_BY(mu_);
  std::jthread thread_;
};

}  // namespace resec::testing
