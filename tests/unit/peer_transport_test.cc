// The peer transport over loopback UDP: it sends each member the encoding
// that member said it reads, so agents of two versions keep talking through
// a rolling upgrade and a downgrade.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "resec/clock.h"
#include "resec/mutex.h"
#include "resec/peer/message.h"
#include "resec/peer/transport.h"
#include "support/wait_for.h"

namespace resec::peer {
namespace {

using namespace std::chrono_literals;
using testing::WaitFor;

constexpr char kGroup[] = "resec/.lock";

// A bare UDP socket on loopback standing in for another agent.
class RawPeer {
 public:
  RawPeer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RawPeer() { ::close(fd_); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  int port() const { return port_; }
  // The next datagram, "" after a second of silence.
  std::string Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return "";
    std::array<char, 2048> buffer;
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    return n > 0 ? std::string(buffer.data(), static_cast<size_t>(n)) : "";
  }
  void SendTo(int port, const std::string& datagram) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<uint16_t>(port));
    ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Waits until the transport sends `magic` (it may still send one or two of
// the other kind, sealed before it heard the news).
bool SendsWithin(RawPeer& peer, std::string_view magic) {
  for (int i = 0; i < 50; ++i) {
    const std::string d = peer.Receive();
    if (d.empty()) return false;
    if (d.substr(0, 4) == magic) return true;
  }
  return false;
}

// A transport on loopback for the group, sending every `interval`.
TransportOptions LoopbackOptions(const Key& key, std::chrono::milliseconds interval) {
  TransportOptions options;
  options.listen_host = "127.0.0.1";
  options.interval = interval;
  options.key = key;
  options.group = kGroup;
  return options;
}

// A heartbeat of member b of the group, first boot.
Heartbeat FromB() {
  Heartbeat h;
  h.group = kGroup;
  h.from = "b/redis@:6379";
  h.boot = 1;
  return h;
}

TEST(PeerTransport, SpeaksToEachMemberInTheEncodingItReads) {
  const Key key = DeriveKey("token", kGroup);
  SystemClock clock;
  Transport transport(LoopbackOptions(key, 20ms), clock, [](const PeerView&, bool) {});
  ASSERT_TRUE(transport.Start().ok());
  RawPeer old_peer;
  PeerIntent intent;
  intent.heartbeat.from = "new/redis@:6379";
  intent.peers["old/redis@:6379"] = "127.0.0.1:" + std::to_string(old_peer.port());
  transport.SetIntent(intent);

  // Not heard from yet: JSON, which every version reads, saying it reads
  // the binary encoding.
  std::string first = old_peer.Receive();
  ASSERT_EQ(first.substr(0, 4), "RSC1");
  StatusOr<Heartbeat> opened = Open(first, key, kGroup);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->reads, Wire::kBinary);

  // A version-1 agent (no "v"): JSON it stays.
  uint64_t seq = 0;
  auto from_old = [&](uint64_t boot, const std::string& extra) {
    const std::string body = R"({"g":"resec/.lock","f":"old/redis@:6379","b":)" + std::to_string(boot) +
                             R"(,"s":)" + std::to_string(++seq) + extra + "}";
    old_peer.SendTo(transport.port(), "RSC1" + key.Mac(body) + body);
  };
  from_old(1, "");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(old_peer.Receive().substr(0, 4), "RSC1");
  // Upgraded (a new boot that says it reads version 2): binary from then on.
  from_old(2, R"(,"v":2)");
  EXPECT_TRUE(SendsWithin(old_peer, "RSC2"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(old_peer.Receive().substr(0, 4), "RSC2");
  // Rolled back to version 1: JSON again.
  from_old(3, "");
  EXPECT_TRUE(SendsWithin(old_peer, "RSC1"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(old_peer.Receive().substr(0, 4), "RSC1");
  transport.Stop();
}

// What a failover waits on (a holder stepping down, a vote, a final offset)
// goes out as soon as the reconciler says it, not at the next interval; an
// offset that moved waits for the interval.
TEST(PeerTransport, SendsNewsAboutTheMasterAtOnceAndOffsetsOnItsInterval) {
  const Key key = DeriveKey("token", kGroup);
  SystemClock clock;
  Transport transport(LoopbackOptions(key, 5s), clock, [](const PeerView&, bool) {});
  ASSERT_TRUE(transport.Start().ok());
  RawPeer peer;
  PeerIntent intent;
  intent.heartbeat.from = "a/redis@:6379";
  intent.heartbeat.healthy = true;
  intent.heartbeat.role = "slave";
  intent.peers["b/redis@:6379"] = "127.0.0.1:" + std::to_string(peer.port());
  transport.SetIntent(intent);
  ASSERT_FALSE(peer.Receive().empty());  // the first one, at start

  intent.heartbeat.offset = 1234;
  transport.SetIntent(intent);
  EXPECT_EQ(peer.Receive(), "") << "an offset alone must wait for the interval";

  intent.heartbeat.free_index = 42;
  const auto asked = SteadyClock::now();
  transport.SetIntent(intent);
  const std::string news = peer.Receive();
  ASSERT_FALSE(news.empty());
  EXPECT_LT(SteadyClock::now() - asked, 500ms);
  StatusOr<Heartbeat> opened = Open(news, key, kGroup);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->free_index, 42u);
  EXPECT_EQ(opened->offset, 1234);

  intent.heartbeat.stepped_down_term = 7;
  transport.SetIntent(intent);
  StatusOr<Heartbeat> again = Open(peer.Receive(), key, kGroup);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->stepped_down_term, 7u);
  EXPECT_GT(again->seq, opened->seq);
  transport.Stop();
}

// The reconciler is woken for what a decision may turn on: a member new,
// changed in what it says of the master, or back after a silence. A member
// repeating itself is routine, handed over quietly once an interval.
TEST(PeerTransport, PublishesNewsAtOnceAndRoutineQuietly) {
  const Key key = DeriveKey("token", kGroup);
  SystemClock clock;
  struct Published {
    Mutex mu;
    std::vector<bool> news GUARDED_BY(mu);
  } published;
  auto count = [&](bool news) {
    MutexLock lock(published.mu);
    return std::count(published.news.begin(), published.news.end(), news);
  };
  Transport transport(LoopbackOptions(key, 50ms), clock, [&](const PeerView&, bool news) {
    MutexLock lock(published.mu);
    published.news.push_back(news);
  });
  ASSERT_TRUE(transport.Start().ok());
  PeerIntent intent;
  intent.heartbeat.from = "a/redis@:6379";
  transport.SetIntent(intent);
  RawPeer peer;
  Heartbeat h = FromB();
  h.role = "slave";
  auto send = [&] {
    ++h.seq;
    peer.SendTo(transport.port(), Seal(h, key, Wire::kBinary));
  };
  send();
  ASSERT_TRUE(WaitFor([&] { return count(true) == 1; }, 2s)) << "a new member is news";
  for (int i = 0; i < 10; ++i) {
    send();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(WaitFor([&] { return count(false) >= 1; }, 2s)) << "repeats are routine";
  EXPECT_EQ(count(true), 1) << "nothing new was said";
  h.role = "master";
  send();
  EXPECT_TRUE(WaitFor([&] { return count(true) == 2; }, 2s)) << "a changed role is news";
  std::this_thread::sleep_for(200ms);
  send();
  EXPECT_TRUE(WaitFor([&] { return count(true) == 3; }, 2s)) << "back after four intervals' silence is news";
  transport.Stop();
}

// A member's heartbeat heard in the half interval before ours is due takes
// ours out with it: the group's sends fall together and each agent sleeps
// once an interval, not once per member.
TEST(PeerTransport, FallsInStepWithTheGroupsHeartbeats) {
  const Key key = DeriveKey("token", kGroup);
  SystemClock clock;
  Transport transport(LoopbackOptions(key, 100ms), clock, [](const PeerView&, bool) {});
  ASSERT_TRUE(transport.Start().ok());
  RawPeer peer;
  PeerIntent intent;
  intent.heartbeat.from = "a/redis@:6379";
  intent.peers["b/redis@:6379"] = "127.0.0.1:" + std::to_string(peer.port());
  transport.SetIntent(intent);
  ASSERT_FALSE(peer.Receive().empty());  // the first one, at start
  // Ours at a phase of about 70 ms into the transport's interval.
  std::this_thread::sleep_for(70ms);
  Heartbeat h = FromB();
  Duration last_lag{};
  for (int round = 0; round < 4; ++round) {
    ++h.seq;
    const auto sent = SteadyClock::now();
    peer.SendTo(transport.port(), Seal(h, key, Wire::kBinary));
    ASSERT_FALSE(peer.Receive().empty());
    last_lag = SteadyClock::now() - sent;
    std::this_thread::sleep_until(sent + 100ms);
  }
  EXPECT_LT(last_lag, 20ms) << "its heartbeat follows ours within a round";
  transport.Stop();
}

}  // namespace
}  // namespace resec::peer
