// The peer protocol: the wire format refuses what it must, and leases and
// votes mean what docs/failure-detection.md says (table rows, explicit time).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "resec/peer/message.h"
#include "resec/peer/votes.h"

namespace resec::peer {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = TimePoint(std::chrono::hours(1));

Heartbeat Sample() {
  Heartbeat h;
  h.group = "resec/.lock";
  h.from = "h2/redis@:6379";
  h.boot = 42;
  h.seq = 7;
  h.holder = true;
  h.term = 3;
  h.seen_term = 3;
  h.healthy = true;
  h.role = "master";
  h.run_id = std::string(40, 'r');
  h.replid = std::string(40, 'a');
  h.replid2 = std::string(40, 'b');
  h.offset = 123456789;
  h.priority = 100;
  h.address = "10.0.0.2:6379";
  h.acks = {{"h1/redis@:6379", 1, 99}, {"h3/redis@:6379", 2, 98}};
  h.gone_term = 2;
  h.stepped_down_term = 1;
  return h;
}

// RFC 4231, test cases 1 and 2: the prepared key computes HMAC-SHA256, and
// gives the same answer every time: its working context is reset to the
// keyed state per message, and a copy of the key hashes on one of its own.
TEST(PeerMessage, KeyComputesHmacSha256) {
  auto hex = [](const std::string& s) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    return out;
  };
  const Key jefe("Jefe");
  const Key hi(std::string(20, '\x0b'));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(hex(jefe.Mac("what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hex(hi.Mac("Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(jefe.Mac(std::string(2000, 'x')), Key("Jefe").Mac(std::string(2000, 'x')));
  }
  Key copy = jefe;  // used, then copied: the copy starts from the keyed state
  EXPECT_EQ(hex(copy.Mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  copy = hi;
  EXPECT_EQ(hex(copy.Mac("Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  Key moved = std::move(copy);
  EXPECT_EQ(hex(moved.Mac("Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(Key(std::string(20, '\x0b')).Mac("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Key().Mac("anything"), "");
}

TEST(PeerMessage, RoundTripsInBothEncodingsAndStaysUnderTheDatagramLimit) {
  const Key key = DeriveKey("token", "resec/.lock");
  Heartbeat sample = Sample();
  sample.reads = Wire::kBinary;
  sample.offset = -5;  // signed fields keep their sign
  sample.priority = -1;
  for (Wire wire : {Wire::kJson, Wire::kBinary}) {
    const std::string datagram = Seal(sample, key, wire);
    EXPECT_EQ(datagram.substr(0, 4), wire == Wire::kJson ? "RSC1" : "RSC2");
    EXPECT_LT(datagram.size(), kMaxDatagram);
    StatusOr<Heartbeat> back = Open(datagram, key, "resec/.lock");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, sample);
  }
  // The binary one is the smaller (JSON's names and quotes).
  EXPECT_LT(Seal(sample, key, Wire::kBinary).size(), Seal(sample, key, Wire::kJson).size() * 3 / 4);
}

// Version 1 sent JSON without "v": such a sender reads JSON only, which is
// what a newer agent must send it back.
TEST(PeerMessage, AVersionOneHeartbeatSaysItReadsJsonOnly) {
  const Key key = DeriveKey("token", "resec/.lock");
  const std::string body = R"({"g":"resec/.lock","f":"h9/redis@:6379","b":1,"s":2,"r":"slave","o":10})";
  const std::string datagram = "RSC1" + key.Mac(body) + body;
  StatusOr<Heartbeat> back = Open(datagram, key, "resec/.lock");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->reads, Wire::kJson);
  EXPECT_EQ(back->offset, 10);
  // And one from a newer version that reads an encoding we do not know yet:
  // the newest we know.
  const std::string newer = R"({"g":"resec/.lock","f":"h9/redis@:6379","v":7})";
  EXPECT_EQ(Open("RSC1" + key.Mac(newer) + newer, key, "resec/.lock")->reads, Wire::kBinary);
  // A "v" of the wrong type is refused like any other field's.
  const std::string wrong = R"({"g":"resec/.lock","f":"h9/redis@:6379","v":"two"})";
  EXPECT_FALSE(Open("RSC1" + key.Mac(wrong) + wrong, key, "resec/.lock").ok());
}

// A later version may append fields to the binary body; a cut one is
// refused at every length, and a count that promises more acks than the
// bytes could hold is refused before it sizes anything.
TEST(PeerMessage, BinaryBodiesCutShortAreRefusedAndAppendedFieldsIgnored) {
  const Key key = DeriveKey("token", "resec/.lock");
  const std::string datagram = Seal(Sample(), key, Wire::kBinary);
  const std::string body = datagram.substr(36);
  auto seal = [&](const std::string& b) { return "RSC2" + key.Mac(b) + b; };
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(Open(seal(body.substr(0, n)), key, "resec/.lock").ok()) << "cut at " << n;
  }
  StatusOr<Heartbeat> longer = Open(seal(body + std::string("\x05later", 6)), key, "resec/.lock");
  ASSERT_TRUE(longer.ok()) << longer.status().ToString();
  EXPECT_EQ(*longer, Sample());
  // Sample() has two acks, the second's seq (98) the last byte: replace both
  // with a count of 2^40 and nothing after it.
  Heartbeat no_acks = Sample();
  no_acks.acks.clear();
  std::string lying = Seal(no_acks, key, Wire::kBinary).substr(36);
  lying.pop_back();  // the ack count, 0
  lying += std::string("\x80\x80\x80\x80\x80\x80\x01", 7);
  EXPECT_FALSE(Open(seal(lying), key, "resec/.lock").ok());
  // A varint longer than ten bytes.
  EXPECT_FALSE(Open(seal(std::string(12, '\xff')), key, "resec/.lock").ok());
}

TEST(PeerMessage, RefusesAnotherKeyAGroupATamperedBodyAndGarbage) {
  const Key key = DeriveKey("token", "resec/.lock");
  const std::string wire = Seal(Sample(), key);
  // Another token, or the same token for another group (the key differs).
  EXPECT_EQ(Open(wire, DeriveKey("other", "resec/.lock"), "resec/.lock").status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(Open(wire, DeriveKey("token", "resec/.lock2"), "resec/.lock2").status().code(),
            StatusCode::kPermissionDenied);
  // A body altered in flight.
  std::string tampered = wire;
  tampered[tampered.size() - 3] ^= 1;
  EXPECT_FALSE(Open(tampered, key, "resec/.lock").ok());
  // Sealed for another group with the right key: refused by name.
  Heartbeat other = Sample();
  other.group = "resec/other";
  EXPECT_FALSE(Open(Seal(other, key), key, "resec/.lock").ok());
  for (const std::string& bad : {std::string(), std::string("RSC1"), std::string("RSC2"), std::string(2000, 'x'), std::string("hello")}) {
    EXPECT_FALSE(Open(bad, key, "resec/.lock").ok()) << bad.size();
  }
  // A valid MAC over a body with wrong types: an error, never an exception.
  const std::string body = R"({"g":"resec/.lock","f":"x","s":"seven"})";
  std::string forged = "RSC1";
  forged += Seal(Heartbeat{.group = "resec/.lock", .from = "x"}, key).substr(4, 32);  // wrong MAC for this body
  EXPECT_FALSE(Open(forged + body, key, "resec/.lock").ok());
}

// ------------------------------------------------------------------ votes

constexpr char kSelf[] = "h1/redis@:6379";
constexpr char kH2[] = "h2/redis@:6379";
constexpr char kH3[] = "h3/redis@:6379";

PeerReport Member(const std::string& node) {
  PeerReport p;
  p.id = "redis@:6379";
  p.node = node;
  p.peer = node + ":8379";
  return p;
}

// A three-member group whose lock term 5 is held by h2.
ConsulState HeldByH2() {
  ConsulState c;
  c.lock_index = 5;
  c.lock_holder_session = "s-h2";
  c.lock_record = LockRecord{.holder_id = "redis@:6379", .address = "10.0.0.2", .port = 6379, .node = "h2"};
  c.peers = {Member("h2"), Member("h3")};
  return c;
}

PeerMember Heard(TimePoint at, bool holder = false, uint64_t gone = 0, uint64_t crashed = 0) {
  PeerMember m;
  m.received_at = at;
  m.last.holder = holder;
  m.last.gone_term = gone;
  m.last.crashed_term = crashed;
  return m;
}

// We hold lock term 5 in a group of three; h2 and h3 acked heartbeats we
// sent h2_sent and h3_sent ago.
struct Holding {
  ConsulState consul;
  PeerView view;
};
Holding HoldingTerm5(Duration h2_sent, Duration h3_sent) {
  Holding h;
  h.consul.lock_held = true;
  h.consul.lock_index = 5;
  h.consul.peers = {Member("h2"), Member("h3")};
  h.view.members[kH2] = Heard(kT0);
  h.view.members[kH2].acked_sent_at = kT0 - h2_sent;
  h.view.members[kH3] = Heard(kT0);
  h.view.members[kH3].acked_sent_at = kT0 - h3_sent;
  return h;
}

Options Opts() {
  Options o;
  o.enabled = true;
  return o;
}

TEST(PeerVotes, AHolderHeardWithinTheLeaseIsNotGone) {
  PeerView view;
  view.members[kH2] = Heard(kT0 - 500ms, true);
  view.members[kH3] = Heard(kT0, false, /*gone=*/5);
  Votes v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_EQ(v.members, 3);
  EXPECT_EQ(v.quorum, 2);
  EXPECT_EQ(v.holder, kH2);
  EXPECT_TRUE(v.holder_speaks);
  EXPECT_FALSE(v.gone);
  EXPECT_EQ(v.gone_votes, 1) << "h3's vote alone";
  EXPECT_FALSE(v.holder_replaceable);
}

TEST(PeerVotes, SilentForALeaseAndAQuorumAgreesTheHolderIsReplaceable) {
  PeerView view;
  view.members[kH2] = Heard(kT0 - 1000ms, true);
  view.members[kH3] = Heard(kT0 - 50ms, false, /*gone=*/5);
  Votes v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_TRUE(v.gone);
  EXPECT_EQ(v.gone_votes, 2);
  EXPECT_TRUE(v.holder_replaceable);
  // h3's vote is stale (not heard for 3 heartbeats): it does not count.
  view.members[kH3].received_at = kT0 - 301ms;
  v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_EQ(v.gone_votes, 1);
  EXPECT_FALSE(v.holder_replaceable);
}

TEST(PeerVotes, AnAgentUpForLessThanALeaseDoesNotVoteGone) {
  // It may have granted the holder a lease before it restarted.
  PeerView view;
  Votes v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 900ms, kT0, Opts());
  EXPECT_FALSE(v.gone);
  v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1000ms, kT0, Opts());
  EXPECT_TRUE(v.gone);
}

TEST(PeerVotes, AHolderThatSteppedDownIsGoneAtOnce) {
  PeerView view;
  view.members[kH2] = Heard(kT0 - 10ms, false);
  view.members[kH2].last.stepped_down_term = 5;
  Votes v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_TRUE(v.gone);
  EXPECT_TRUE(v.holder_replaceable);
  // Stepping down from an older term says nothing about this one.
  view.members[kH2].last.stepped_down_term = 4;
  v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_FALSE(v.gone);
}

RedisState UpstreamRefused() {
  RedisState r;
  r.upstream = UpstreamProbe{.host = "10.0.0.2", .port = 6379, .reachable = false, .refused = true};
  return r;
}

TEST(PeerVotes, ACrashedHolderIsVotedOutWithoutWaitingForTheLease) {
  const auto master = std::pair(std::string("10.0.0.2"), 6379);
  PeerView view;
  view.members[kH2] = Heard(kT0 - 260ms, true);
  view.members[kH3] = Heard(kT0 - 20ms, false, 0, /*crashed=*/5);
  Votes v = Count(HeldByH2(), UpstreamRefused(), view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_TRUE(v.crashed);
  EXPECT_FALSE(v.gone) << "the lease has not run out";
  EXPECT_EQ(v.crashed_votes, 2);
  EXPECT_TRUE(v.holder_replaceable);
  // Its agent still speaks: it will release the lock itself; no crash vote.
  view.members[kH2].received_at = kT0 - 100ms;
  v = Count(HeldByH2(), UpstreamRefused(), view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_FALSE(v.crashed);
  // A timeout is not a crash (a partition looks like that).
  RedisState timed_out = UpstreamRefused();
  timed_out.upstream->refused = false;
  view.members[kH2].received_at = kT0 - 300ms;
  v = Count(HeldByH2(), timed_out, view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_FALSE(v.crashed);
  // Refused, but not the holder's Redis.
  v = Count(HeldByH2(), UpstreamRefused(), view, kSelf, std::pair(std::string("10.0.0.9"), 6379), kT0 - 1h, kT0,
            Opts());
  EXPECT_FALSE(v.crashed);
}

TEST(PeerVotes, InAGroupOfTwoOnlyACrashReplacesTheHolder) {
  ConsulState c = HeldByH2();
  c.peers = {Member("h2")};
  const auto master = std::pair(std::string("10.0.0.2"), 6379);
  PeerView view;
  view.members[kH2] = Heard(kT0 - 5s, true);
  Votes v = Count(c, RedisState{}, view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_EQ(v.members, 2);
  EXPECT_TRUE(v.gone);
  EXPECT_FALSE(v.holder_replaceable) << "one of two is no majority: Consul decides";
  v = Count(c, UpstreamRefused(), view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_TRUE(v.holder_replaceable) << "a dead Redis takes no writes, whatever the lease";
}

TEST(PeerVotes, AHolderThatNeverSpokeTheProtocolIsNeverVotedOut) {
  ConsulState c = HeldByH2();
  c.peers[0].peer.clear();  // h2 runs an agent without the protocol (a rolling upgrade)
  PeerView view;
  view.members[kH3] = Heard(kT0, false, 5, 5);
  const auto master = std::pair(std::string("10.0.0.2"), 6379);
  Votes v = Count(c, UpstreamRefused(), view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_FALSE(v.holder_speaks);
  EXPECT_FALSE(v.holder_replaceable);
}

// When our answers would change with no news: the holder's silence turns
// into a crash vote's half, then into a gone vote.
TEST(PeerVotes, VotesSayWhenSilenceAloneWouldChangeThem) {
  PeerView view;
  view.members[kH2] = Heard(kT0 - 100ms, true);
  Votes v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_EQ(v.changes_at, kT0 + 900ms) << "silent for the lease: our gone vote";
  // Its Redis refuses us: 250 ms of its agent's silence makes a crash vote.
  const auto master = std::pair(std::string("10.0.0.2"), 6379);
  v = Count(HeldByH2(), UpstreamRefused(), view, kSelf, master, kT0 - 1h, kT0, Opts());
  EXPECT_EQ(v.changes_at, kT0 + 150ms) << "silent for 250 ms: the crash evidence's other half";
  view.members[kH2].received_at = kT0 - 500ms;
  v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_EQ(v.changes_at, kT0 + 500ms) << "silent for the lease: our gone vote";
  // Up for less than a lease: the vote waits for that too.
  v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 200ms, kT0, Opts());
  EXPECT_EQ(v.changes_at, kT0 + 800ms);
  view.members[kH2].received_at = kT0 - 1000ms;
  v = Count(HeldByH2(), RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_TRUE(v.gone);
  EXPECT_FALSE(v.changes_at) << "nothing left to change by time";
}

TEST(PeerVotes, TheHoldersLeaseIsTheQuorumsGrant) {
  auto [c, view] = HoldingTerm5(100ms, 400ms);
  Votes v = Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_TRUE(v.holder_is_us);
  ASSERT_TRUE(v.lease_until);
  // Quorum 2: ourselves and the best grant, 80% of the 1 s lease from its send.
  EXPECT_EQ(*v.lease_until, kT0 - 100ms + 800ms);
  EXPECT_EQ(v.changes_at, v.lease_until) << "the reconciler must look again when it runs out";
  // Five members: quorum 3, the second-best grant.
  c.peers = {Member("h2"), Member("h3"), Member("h4"), Member("h5")};
  v = Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  ASSERT_TRUE(v.lease_until);
  EXPECT_EQ(*v.lease_until, kT0 - 400ms + 800ms);
  // Only one grant among five: no lease.
  view.members.erase(kH3);
  v = Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  EXPECT_FALSE(v.lease_until);
}

// A holder that was cut off (or frozen) while its group replaced it still
// believes it holds its term; the acks it gets after the heal must not renew
// its lease (chaos, host-partition of the master: it lifted its pause 80 ms
// after the heal, beside the new master).
TEST(PeerVotes, NoLeaseFromMembersThatSawUsReplaced) {
  auto [c, view] = HoldingTerm5(100ms, 100ms);
  view.members[kH2].last.seen_term = 5;
  view.members[kH3].last.seen_term = 5;
  ASSERT_TRUE(Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts()).lease_until);

  // h2 voted us gone in our term: its ack is no grant; h3's still is.
  view.members[kH2].last.gone_term = 5;
  Votes v = Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts());
  ASSERT_TRUE(v.lease_until);
  view.members[kH3].last.crashed_term = 5;
  EXPECT_FALSE(Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts()).lease_until);

  // One member has seen a newer term: nobody's ack renews ours.
  view.members[kH2].last.gone_term = 0;
  view.members[kH3].last.crashed_term = 0;
  view.members[kH3].last.seen_term = 6;
  EXPECT_FALSE(Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts()).lease_until);
  // Nor when the new holder itself says so.
  view.members[kH3].last.seen_term = 0;
  view.members[kH3].last.holder = true;
  view.members[kH3].last.term = 6;
  EXPECT_FALSE(Count(c, RedisState{}, view, kSelf, std::nullopt, kT0 - 1h, kT0, Opts()).lease_until);
}

}  // namespace
}  // namespace resec::peer
