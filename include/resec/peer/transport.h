// peer::Transport: the actor that speaks the peer protocol (message.h).
//
// One thread owns one UDP socket. Every `interval`, and at once when what
// we say about the master or our role changed, it sends the newest
// heartbeat the reconciler asked for (PeerIntent) to every member the intent
// lists, numbering it (boot, seq) and attaching an ack of the last heartbeat
// received from each member. It receives, verifies and de-duplicates the
// others' heartbeats, and publishes what it heard (PeerView): each member's
// last heartbeat and when it arrived, and, for every member, when we sent the
// heartbeat of ours it last acknowledged (the start of the lease grant it
// stands for). It decides nothing: what the grants and votes mean is Step's.
//
// A view is published as news (the reconciler wakes for it) when a decision
// may turn on it: a member new, back after a silence, or saying something
// new about the master or its role, or the first grant of our newest news.
// Anything else (receipt times, acks renewing grants, offsets) is routine:
// published at most once an interval for the reconciler's next look, which
// it schedules for when time alone changes a lease or a vote.
//
// Thread-safety: SetIntent() from any thread; Start()/Stop() from the owner.
// The publish callback runs on the transport's thread and must not block.
#pragma once

#include <netinet/in.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "resec/clock.h"
#include "resec/mailbox.h"
#include "resec/peer/message.h"
#include "resec/state.h"
#include "resec/status.h"

namespace resec::peer {

struct TransportOptions {
  std::string listen_host = "0.0.0.0";
  int listen_port = 0;  // 0: any (tests)
  std::chrono::milliseconds interval{100};
  Key key;
  std::string group;
};

class Transport {
 public:
  using Publish = std::function<void(const PeerView& view, bool news)>;

  Transport(TransportOptions options, const Clock& clock, Publish publish);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds the socket; a port in use is a startup error.
  Status Start();
  void Stop();  // idempotent
  int port() const { return bound_port_; }
  void SetIntent(PeerIntent intent) { inbox_.Post(std::move(intent)); }

 private:
  void Run(std::stop_token stop);
  void Send(TimePoint now);
  bool Receive(TimePoint now);  // whether a member's heartbeat was taken in

  const TransportOptions options_;
  const Clock& clock_;
  const Publish publish_;
  Mailbox<std::variant<PeerIntent>> inbox_;
  int fd_ = -1;
  int bound_port_ = 0;

  // Transport thread only.
  PeerIntent intent_;
  bool have_intent_ = false;
  uint64_t boot_ = 0;
  uint64_t seq_ = 0;
  // Send times of our last heartbeats, by seq modulo the ring size: an ack
  // of an older one than that is too old to extend anything.
  static constexpr size_t kSentRing = 64;
  std::array<std::pair<uint64_t, TimePoint>, kSentRing> sent_{};
  PeerView view_;
  std::map<std::string, std::optional<sockaddr_in>> resolved_;  // "host:port" -> address
  bool changed_ = false;
  TimePoint published_at_{};
  // When we sent the first heartbeat carrying our newest significant change
  // (becoming holder, a vote): the first ack of it from a member is news,
  // the grant a new holder waits for before it takes writes.
  bool news_pending_ = true;
  TimePoint news_sent_at_{};
  // Urgent heartbeats (a significant change of ours) go out at once, but no
  // closer together than this: a flapping field is no datagram storm.
  static constexpr std::chrono::milliseconds kUrgentGap{5};
  TimePoint last_sent_{};

  std::jthread thread_;
};

}  // namespace resec::peer
