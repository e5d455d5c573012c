// peer::Transport: see include/resec/peer/transport.h.
#include "resec/peer/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <random>

#include <spdlog/spdlog.h>

#include "resec/config.h"

namespace resec::peer {
namespace {

using std::chrono::milliseconds;

// A heartbeat that changes what a member says about the master or its role
// goes to the reconciler as news; anything else (offsets) as routine (see
// transport.h). Our own heartbeat, changed so, is sent at once instead of at
// the next interval.
bool Significant(const Heartbeat& before, const Heartbeat& after) {
  return before.boot != after.boot || before.holder != after.holder || before.term != after.term ||
         before.gone_term != after.gone_term || before.crashed_term != after.crashed_term ||
         before.stepped_down_term != after.stepped_down_term || before.healthy != after.healthy ||
         before.role != after.role || before.syncing != after.syncing || before.loading != after.loading ||
         before.free_index != after.free_index || before.replid != after.replid;
}

// "host:port" -> an IPv4 socket address (numeric, or resolved once).
std::optional<sockaddr_in> Resolve(const std::string& address) {
  StatusOr<HostPort> hp = ParseHostPort(address, /*require_host=*/true);
  if (!hp.ok()) return std::nullopt;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(hp->host.c_str(), std::to_string(hp->port).c_str(), &hints, &result) != 0) return std::nullopt;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(result, &freeaddrinfo);
  sockaddr_in out{};
  std::memcpy(&out, result->ai_addr, sizeof(out));
  return out;
}

}  // namespace

Transport::Transport(TransportOptions options, const Clock& clock, Publish publish)
    : options_(std::move(options)), clock_(clock), publish_(std::move(publish)) {}

Transport::~Transport() { Stop(); }

Status Transport::Start() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Unavailable(std::string("peer: socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options_.listen_port));
  const std::string host = options_.listen_host.empty() ? "0.0.0.0" : options_.listen_host;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("peer: listen address " + host + " is not an IPv4 address");
  }
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Unavailable("peer protocol cannot listen on " + host + ":" + std::to_string(options_.listen_port) + ": " +
                       std::strerror(errno));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port_ = ntohs(addr.sin_port);
  std::random_device random;
  boot_ = (static_cast<uint64_t>(random()) << 32) ^ random();
  view_.listening = true;
  thread_ = std::jthread([this](std::stop_token stop) {
    pthread_setname_np(pthread_self(), "peer");
    Run(std::move(stop));
  });
  return Status::Ok();
}

void Transport::Stop() {
  inbox_.Close();
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Transport::Run(std::stop_token stop) {
  try {
    TimePoint next_send = clock_.Now();
    while (!stop.stop_requested()) {
      const auto wait = std::chrono::ceil<milliseconds>(next_send - clock_.Now());
      std::array<pollfd, 2> fds{pollfd{inbox_.wake_fd(), POLLIN, 0}, pollfd{fd_, POLLIN, 0}};
      const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 1000)));
      if (n < 0 && errno != EINTR) {
        spdlog::error("peer: cannot poll: {}", std::strerror(errno));
        break;
      }
      // Only when woken for it: an empty look is a syscall every datagram.
      auto batch = (fds[0].revents & POLLIN) != 0 ? inbox_.TakeAll() : decltype(inbox_)::Batch{};
      if (batch.closed) break;
      bool urgent = false;
      for (auto& s : batch.states) {
        PeerIntent next = std::get<PeerIntent>(std::move(s));
        // A failover waits on news like this (a holder stepping down, a
        // vote, a final offset): a tick's wait for each was most of a
        // redis-crash failover.
        const bool significant = have_intent_ && Significant(intent_.heartbeat, next.heartbeat);
        urgent = urgent || significant;
        news_pending_ = news_pending_ || significant;
        intent_ = std::move(next);
        have_intent_ = true;
        // Addresses are resolved once per intent that names them.
        std::erase_if(resolved_, [&](const auto& r) {
          return std::none_of(intent_.peers.begin(), intent_.peers.end(),
                              [&](const auto& p) { return p.second == r.first; });
        });
      }
      const TimePoint now = clock_.Now();
      if (urgent) next_send = std::min(next_send, std::max(now, last_sent_ + kUrgentGap));
      const bool heard = (fds[1].revents & POLLIN) != 0 && Receive(now);
      // In step with the group: a heartbeat heard in the half interval
      // before ours is due takes ours out with it. The members' sends then
      // fall together within a round and each agent sleeps once an interval
      // instead of once per member; heartbeats only ever come sooner.
      if (heard && have_intent_ && next_send - now <= options_.interval / 2 && now - last_sent_ >= kUrgentGap) {
        next_send = std::min(next_send, now);
      }
      if (now >= next_send) {
        if (have_intent_) {
          Send(now);
          last_sent_ = now;
        }
        next_send = std::max(next_send + options_.interval, now + milliseconds(1));
      }
      if (changed_ && now - published_at_ >= options_.interval) {
        publish_(view_, /*news=*/false);
        published_at_ = now;
        changed_ = false;
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("peer: transport stopped by an unexpected error: {}", e.what());
    view_.listening = false;
    view_.error = e.what();
    publish_(view_, /*news=*/true);
  }
}

void Transport::Send(TimePoint now) {
  Heartbeat h = intent_.heartbeat;
  h.group = options_.group;
  h.boot = boot_;
  h.seq = ++seq_;
  for (const auto& [member, m] : view_.members) h.acks.push_back({member, m.last.boot, m.last.seq});
  h.reads = kNewestWire;
  sent_[h.seq % kSentRing] = {h.seq, now};
  if (news_pending_) {
    news_sent_at_ = now;
    news_pending_ = false;
  }
  // Each member gets the newest encoding it said it reads; one not heard
  // from yet gets JSON, which every version reads. Sealed once per encoding.
  std::array<std::string, 2> sealed;
  for (const auto& [member, address] : intent_.peers) {
    auto cached = resolved_.find(address);
    if (cached == resolved_.end()) cached = resolved_.emplace(address, Resolve(address)).first;
    const std::optional<sockaddr_in>& to = cached->second;
    if (!to) continue;
    const auto heard = view_.members.find(member);
    const Wire wire = heard != view_.members.end() ? heard->second.last.reads : Wire::kJson;
    std::string& datagram = sealed[wire == Wire::kJson ? 0 : 1];
    if (datagram.empty()) datagram = Seal(h, options_.key, wire);
    // Best effort: a lost heartbeat is what the lease is for.
    (void)::sendto(fd_, datagram.data(), datagram.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&*to),
                   sizeof(*to));
  }
}

bool Transport::Receive(TimePoint now) {
  std::array<char, kMaxDatagram + 1> buffer;
  bool significant = false;
  bool heard = false;
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) break;  // EAGAIN: drained (anything else: next round)
    StatusOr<Heartbeat> h = Open(std::string_view(buffer.data(), static_cast<size_t>(n)), options_.key,
                                 options_.group);
    if (!h.ok()) {
      spdlog::debug("peer: dropped a datagram: {}", h.status().message());
      continue;
    }
    if (h->from == intent_.heartbeat.from) continue;  // our own, looped back
    auto it = view_.members.find(h->from);
    if (it != view_.members.end() && it->second.last.boot == h->boot && h->seq <= it->second.last.seq) {
      continue;  // a duplicate or a late one
    }
    const bool fresh = it == view_.members.end();
    PeerMember& m = view_.members[h->from];
    // Back after missing two heartbeats: the reconciler may be about to
    // count that silence as a vote.
    const bool was_silent = !fresh && now - m.received_at > 2 * options_.interval;
    significant = significant || fresh || was_silent || Significant(m.last, *h) || m.last.seen_term != h->seen_term;
    if (!fresh && m.last.boot != h->boot) m.acked_sent_at.reset();  // a restarted member grants anew
    // An ack of one of our recent heartbeats starts a grant from when we sent it.
    const std::optional<TimePoint> granted = m.acked_sent_at;
    for (const Ack& a : h->acks) {
      if (a.member != intent_.heartbeat.from || a.boot != boot_) continue;
      const auto& [seq, sent_at] = sent_[a.seq % kSentRing];
      if (seq == a.seq && (!m.acked_sent_at || sent_at > *m.acked_sent_at)) m.acked_sent_at = sent_at;
    }
    // A grant that starts (or starts again after lapsing for three
    // heartbeats), or the first that covers our newest news: a holder may be
    // waiting for it to take writes.
    if (m.acked_sent_at != granted) {
      significant = significant || !granted || *granted < now - 3 * options_.interval ||
                    (*granted < news_sent_at_ && *m.acked_sent_at >= news_sent_at_);
    }
    m.last = std::move(*h);
    m.received_at = now;
    changed_ = true;
    heard = true;
  }
  if (significant) {
    publish_(view_, /*news=*/true);
    published_at_ = now;
    changed_ = false;
  }
  return heard;
}

}  // namespace resec::peer
