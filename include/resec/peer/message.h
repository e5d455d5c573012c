// The peer protocol's one message: a heartbeat every agent of a group sends
// every agent of the group, a few times a second, over UDP.
//
// It carries what an election and a lease need, straight from the agent that
// knows it (docs/failure-detection.md):
//   - who sends it (member key, a boot ID that changes with every start, a
//     sequence number), and whether it holds the lock as master (`holder`,
//     with the lock index it holds it at);
//   - its Redis: health, role, replication ID and offset, sync and load
//     state, priority, run_id, and the lock index at which it saw the lock
//     free (an offset sent with the current one is final), and the lock term
//     it last saw (`seen_term`);
//   - acks: the last heartbeat it received from each member. An ack of a
//     master's heartbeat is a lease grant: "I received your seq s, and I will
//     not vote you gone until a lease after I received it";
//   - its votes about the lock holder of a term: `gone_term` (its grant to
//     that holder has run out, or the holder stepped down) and `crashed_term`
//     (the holder's Redis closed our connection and refuses new ones while
//     the holder's agent is silent: that Redis takes no writes);
//   - `stepped_down_term`: the last term it held and gave up (a holder that
//     steps down stops writing first, so its grants are void from then on).
//
// On the wire: a four-byte magic naming the encoding, an HMAC-SHA256 over the
// rest with a key derived from the group token and the lock key (so one token
// can serve many groups), then the body:
//   - "RSC1": a JSON object (every version reads it; version 1 sent only it);
//   - "RSC2": the same fields in a compact binary layout (message.cc): an idle
//     agent at ten heartbeats a second spends about 40 % less CPU than with
//     JSON, whose tree of small allocations dominated its profile.
// Every heartbeat says the newest encoding its sender reads (`reads`; absent
// in version 1's JSON, which is 1), and a sender uses the binary one only
// towards a member that said it reads it: old and new agents keep talking
// through a rolling upgrade or a downgrade. Open() takes either and refuses
// anything whose MAC does not verify, whose group is not ours, that is cut
// short, or that is larger than kMaxDatagram; it never throws.
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resec/status.h"

struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX

namespace resec::peer {

// UDP payloads stay well under a typical MTU (no IP fragmentation).
inline constexpr size_t kMaxDatagram = 1400;

struct Ack {
  std::string member;  // whose heartbeat
  uint64_t boot = 0;
  uint64_t seq = 0;
  bool operator==(const Ack&) const = default;
};

// The encodings a heartbeat travels in (the magic's digit).
enum class Wire : uint8_t { kJson = 1, kBinary = 2 };
inline constexpr Wire kNewestWire = Wire::kBinary;

struct Heartbeat {
  // The newest encoding the sender reads: the one to send it in.
  Wire reads = Wire::kJson;
  std::string group;  // the lock key
  std::string from;   // MemberKey(node, service ID)
  uint64_t boot = 0;  // random per agent start
  uint64_t seq = 0;   // per boot, increasing
  // The sender holds the lock (term = its lock index) and serves as master.
  bool holder = false;
  uint64_t term = 0;
  // Its Redis, for elections.
  bool healthy = false;
  bool syncing = false;
  bool loading = false;
  bool cooling = false;
  std::string role;
  std::string run_id;
  std::string replid;
  std::string replid2;
  int64_t offset = 0;
  int priority = 0;
  std::string following;  // "host:port" of its master, "" when none
  uint64_t free_index = 0;  // the lock's ModifyIndex at which it saw the lock free
  // The lock's LockIndex as the sender last read it, held by anyone (0:
  // unknown). A holder counts no grant from a member that has seen a newer
  // term: that member's group has replaced it.
  uint64_t seen_term = 0;
  std::string address;      // its Redis as peers reach it ("host:port")
  std::vector<Ack> acks;
  // Its votes about the holder of a term (0: none), and the last term it
  // held itself and stepped down from.
  uint64_t gone_term = 0;
  uint64_t crashed_term = 0;
  uint64_t stepped_down_term = 0;
  bool operator==(const Heartbeat&) const = default;
};

// A group's MAC key, its HMAC-SHA256 state set up once: each heartbeat then
// costs one hash pass over its bytes. (OpenSSL 3's one-shot HMAC() fetches
// the algorithms and sets up the key on every call: a sixth of an idle
// agent's CPU at ten heartbeats a second; duplicating the prepared state for
// every message still cost an eighth of a busy agent's.) Each Key object
// hashes on a working context of its own, reset to the keyed state per
// message; copies share only the prepared state, which nothing changes.
//
// Thread-safety: a Key object is used by one thread at a time (Mac() is
// const but reuses its working context); copies are independent.
class Key {
 public:
  Key() = default;
  explicit Key(std::string_view bytes);
  Key(const Key& other) : prepared_(other.prepared_) {}
  Key& operator=(const Key& other);
  Key(Key&&) noexcept = default;
  Key& operator=(Key&&) noexcept = default;
  ~Key();
  // HMAC-SHA256(key, data); empty when OpenSSL failed (no MAC then matches).
  std::string Mac(std::string_view data) const;
  bool empty() const { return prepared_ == nullptr; }

 private:
  struct FreeCtx {
    void operator()(evp_mac_ctx_st* ctx) const;
  };
  std::shared_ptr<evp_mac_ctx_st> prepared_;  // keyed, never hashed on
  mutable std::unique_ptr<evp_mac_ctx_st, FreeCtx> work_;  // a copy of it, made on first use
};

// A key from HMAC-SHA256(token, "resec peer v1\n" + group).
Key DeriveKey(std::string_view token, std::string_view group);

std::string Seal(const Heartbeat& heartbeat, const Key& key, Wire wire = kNewestWire);
// Verifies, then decodes either encoding; `group` must match the heartbeat's.
StatusOr<Heartbeat> Open(std::string_view datagram, const Key& key, std::string_view group);

}  // namespace resec::peer
