// BlockingWatch: a helper thread that keeps one Consul blocking query going
// and hands every answer to its actor.
//
// Blocking queries park a connection for up to kBlockingWait, so each needs
// a thread of its own; the thread owns its client and decides nothing. The
// `read` function issues the query with the given options, posts what it got
// (answer or failure) to the actor's mailbox and returns the answer's index.
// The loop follows Consul's rules: the next query blocks on the last index;
// an index that goes backwards (a new leader's store, a restarted Consul)
// resets it to 0; never block on an index below 1. Failures back off
// (kBackoffStart doubling to kBackoffMax); answers that come back at once
// without a new index (a proxy or cache in front of Consul) are told nothing
// new and back off the same way, so a misbehaving endpoint is never hammered.
//
// Thread-safety: Start()/Stop() from the owner; `read` runs on the helper.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "resec/consul/client.h"
#include "resec/status.h"

namespace resec::consul {

class BlockingWatch {
 public:
  using Read = std::function<StatusOr<uint64_t>(Client&, const QueryOptions&)>;

  // `name` names the thread (at most 15 characters: Linux's limit).
  BlockingWatch(std::string name, std::unique_ptr<Client> client, Read read);
  ~BlockingWatch();
  BlockingWatch(const BlockingWatch&) = delete;
  BlockingWatch& operator=(const BlockingWatch&) = delete;

  void Start();
  // Aborts a query in flight (Client::Cancel) and joins. Idempotent.
  void Stop();

 private:
  void Run(std::stop_token stop);

  const std::string name_;
  std::unique_ptr<Client> client_;  // helper thread only, but for Cancel()
  const Read read_;
  std::jthread thread_;
};

// Consul holds a blocking query this long (plus up to wait/16 jitter) when
// nothing changes: under its 5 minute default so idle connections through
// NATs and proxies stay alive.
inline constexpr std::chrono::milliseconds kBlockingWait{55'000};

}  // namespace resec::consul
