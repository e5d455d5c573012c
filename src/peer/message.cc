// The peer heartbeat's wire format: see include/resec/peer/message.h.
#include "resec/peer/message.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

namespace resec::peer {
namespace {

using nlohmann::json;

constexpr std::string_view kJsonMagic = "RSC1";
constexpr std::string_view kBinaryMagic = "RSC2";
constexpr size_t kMagicSize = 4;
constexpr size_t kMacSize = 32;

template <typename T>
bool Get(const json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return true;  // absent: the default
  try {
    out = it->get<T>();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

}  // namespace

Key::Key(std::string_view bytes) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return;
  std::shared_ptr<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac), EVP_MAC_CTX_free);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx == nullptr) return;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), params) != 1) {
    return;
  }
  prepared_ = std::move(ctx);
}

Key::~Key() = default;

Key& Key::operator=(const Key& other) {
  if (this != &other) {
    prepared_ = other.prepared_;
    work_.reset();
  }
  return *this;
}

void Key::FreeCtx::operator()(evp_mac_ctx_st* ctx) const { EVP_MAC_CTX_free(ctx); }

std::string Key::Mac(std::string_view data) const {
  if (prepared_ == nullptr) return "";
  // The first message copies the keyed state; every later one resets the
  // copy to it (an init without a key keeps the key), which allocates
  // nothing where a copy per message allocated a handful of times.
  bool ready = false;
  if (work_ == nullptr) {
    work_.reset(EVP_MAC_CTX_dup(prepared_.get()));
    ready = work_ != nullptr;
  } else {
    ready = EVP_MAC_init(work_.get(), nullptr, 0, nullptr) == 1;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!ready || EVP_MAC_update(work_.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(work_.get(), out, &len, sizeof out) != 1) {
    work_.reset();  // whatever state it was left in, the next message starts from a fresh copy
    return "";
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Key DeriveKey(std::string_view token, std::string_view group) {
  return Key(Key(token).Mac(std::string("resec peer v1\n") + std::string(group)));
}

namespace {

// ------------------------------------------------------------ RSC2, binary
//
// Fields in a fixed order; integers as LEB128 varints (signed ones
// zig-zagged), strings as a varint length and the bytes:
//   reads, group, from, boot, seq, flags (bit 0 holder, 1 healthy, 2 syncing,
//   3 loading, 4 cooling), term, seen_term, free_index, gone_term,
//   crashed_term, stepped_down_term, offset, priority, role, run_id, replid,
//   replid2, following, address, the number of acks, then each ack's member,
//   boot and seq.
// A reader ignores bytes after the last field it knows: a later version may
// append fields without a new magic.

class Writer {
 public:
  void Unsigned(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Signed(int64_t v) { Unsigned((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void Bytes(std::string_view s) {
    Unsigned(s.size());
    out_.append(s);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

// Reads fields off a body; the first short or malformed field fails every
// later read, so a caller checks ok() once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint64_t Unsigned() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return Fail();
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return Fail();  // longer than ten bytes
  }
  int64_t Signed() {
    const uint64_t v = Unsigned();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  std::string Bytes() {
    const uint64_t n = Unsigned();
    if (!ok_ || n > left()) {
      Fail();
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  size_t left() const { return in_.size() - pos_; }
  bool ok() const { return ok_; }

 private:
  uint64_t Fail() {
    ok_ = false;
    pos_ = in_.size();
    return 0;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The newest encoding we know of that a sender reading up to `version` reads.
Wire NewestWeShare(uint64_t version) { return version >= 2 ? Wire::kBinary : Wire::kJson; }

enum Flag : uint8_t { kHolder = 1, kHealthy = 2, kSyncing = 4, kLoading = 8, kCooling = 16 };

std::string SealBinary(const Heartbeat& h, const Key& key) {
  Writer w;
  w.out().reserve(512);
  w.out().append(kBinaryMagic);
  w.out().append(kMacSize, '\0');  // the MAC, once the body is written
  w.Unsigned(static_cast<uint64_t>(h.reads));
  w.Bytes(h.group);
  w.Bytes(h.from);
  w.Unsigned(h.boot);
  w.Unsigned(h.seq);
  w.Unsigned((h.holder ? kHolder : 0) | (h.healthy ? kHealthy : 0) | (h.syncing ? kSyncing : 0) |
             (h.loading ? kLoading : 0) | (h.cooling ? kCooling : 0));
  for (uint64_t v : {h.term, h.seen_term, h.free_index, h.gone_term, h.crashed_term, h.stepped_down_term}) {
    w.Unsigned(v);
  }
  w.Signed(h.offset);
  w.Signed(h.priority);
  for (const std::string* s : {&h.role, &h.run_id, &h.replid, &h.replid2, &h.following, &h.address}) w.Bytes(*s);
  w.Unsigned(h.acks.size());
  for (const Ack& a : h.acks) {
    w.Bytes(a.member);
    w.Unsigned(a.boot);
    w.Unsigned(a.seq);
  }
  std::string& out = w.out();
  const std::string mac = key.Mac(std::string_view(out).substr(kMagicSize + kMacSize));
  out.replace(kMagicSize, kMacSize, mac.size() == kMacSize ? mac : std::string(kMacSize, '\0'));
  return std::move(out);
}

StatusOr<Heartbeat> OpenBinary(std::string_view body) {
  Reader r(body);
  Heartbeat h;
  h.reads = NewestWeShare(r.Unsigned());
  h.group = r.Bytes();
  h.from = r.Bytes();
  h.boot = r.Unsigned();
  h.seq = r.Unsigned();
  const uint64_t flags = r.Unsigned();
  h.holder = (flags & kHolder) != 0;
  h.healthy = (flags & kHealthy) != 0;
  h.syncing = (flags & kSyncing) != 0;
  h.loading = (flags & kLoading) != 0;
  h.cooling = (flags & kCooling) != 0;
  for (uint64_t* v : {&h.term, &h.seen_term, &h.free_index, &h.gone_term, &h.crashed_term, &h.stepped_down_term}) {
    *v = r.Unsigned();
  }
  h.offset = r.Signed();
  const int64_t priority = r.Signed();
  for (std::string* s : {&h.role, &h.run_id, &h.replid, &h.replid2, &h.following, &h.address}) *s = r.Bytes();
  const uint64_t acks = r.Unsigned();
  // Each ack takes at least three bytes: a count beyond that is a lie, and
  // must not size an allocation.
  if (!r.ok() || acks > r.left() / 3) return InvalidArgument("peer message: cut short or malformed");
  if (priority < std::numeric_limits<int>::min() || priority > std::numeric_limits<int>::max()) {
    return InvalidArgument("peer message: priority out of range");
  }
  h.priority = static_cast<int>(priority);
  h.acks.reserve(acks);
  for (uint64_t i = 0; i < acks; ++i) {
    Ack a;
    a.member = r.Bytes();
    a.boot = r.Unsigned();
    a.seq = r.Unsigned();
    h.acks.push_back(std::move(a));
  }
  if (!r.ok()) return InvalidArgument("peer message: cut short or malformed");
  return h;
}

// ------------------------------------------------------------ RSC1, JSON

std::string SealJson(const Heartbeat& h, const Key& key) {
  json acks = json::array();
  for (const Ack& a : h.acks) acks.push_back({{"m", a.member}, {"b", a.boot}, {"s", a.seq}});
  const json j = {{"g", h.group},         {"f", h.from},           {"b", h.boot},         {"s", h.seq},
                  {"h", h.holder},        {"t", h.term},           {"ok", h.healthy},     {"sy", h.syncing},
                  {"ld", h.loading},      {"co", h.cooling},       {"r", h.role},         {"run", h.run_id},
                  {"id", h.replid},       {"id2", h.replid2},      {"o", h.offset},       {"p", h.priority},
                  {"fw", h.following},    {"fi", h.free_index},    {"a", h.address},      {"k", acks},
                  {"gone", h.gone_term},  {"crash", h.crashed_term}, {"down", h.stepped_down_term},
                  {"st", h.seen_term},    {"v", static_cast<int>(h.reads)}};
  const std::string body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return std::string(kJsonMagic) + key.Mac(body) + body;
}

StatusOr<Heartbeat> OpenJson(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("peer message: body is not a JSON object");
  Heartbeat h;
  bool ok = Get(j, "g", h.group) && Get(j, "f", h.from) && Get(j, "b", h.boot) && Get(j, "s", h.seq) &&
            Get(j, "h", h.holder) && Get(j, "t", h.term) && Get(j, "ok", h.healthy) && Get(j, "sy", h.syncing) &&
            Get(j, "ld", h.loading) && Get(j, "co", h.cooling) && Get(j, "r", h.role) && Get(j, "run", h.run_id) &&
            Get(j, "id", h.replid) && Get(j, "id2", h.replid2) && Get(j, "o", h.offset) && Get(j, "p", h.priority) &&
            Get(j, "fw", h.following) && Get(j, "fi", h.free_index) && Get(j, "a", h.address) &&
            Get(j, "gone", h.gone_term) && Get(j, "crash", h.crashed_term) && Get(j, "down", h.stepped_down_term) &&
            Get(j, "st", h.seen_term);
  if (auto it = j.find("k"); ok && it != j.end() && it->is_array()) {
    for (const json& a : *it) {
      Ack ack;
      if (!a.is_object() || !Get(a, "m", ack.member) || !Get(a, "b", ack.boot) || !Get(a, "s", ack.seq)) {
        ok = false;
        break;
      }
      h.acks.push_back(std::move(ack));
    }
  }
  int64_t reads = 1;  // absent: a version-1 sender
  ok = ok && Get(j, "v", reads);
  h.reads = NewestWeShare(static_cast<uint64_t>(std::max<int64_t>(reads, 1)));
  if (!ok) return InvalidArgument("peer message: a field has the wrong type");
  return h;
}

}  // namespace

std::string Seal(const Heartbeat& h, const Key& key, Wire wire) {
  return wire == Wire::kJson ? SealJson(h, key) : SealBinary(h, key);
}

StatusOr<Heartbeat> Open(std::string_view datagram, const Key& key, std::string_view group) {
  if (datagram.size() > kMaxDatagram) return InvalidArgument("peer message larger than " + std::to_string(kMaxDatagram));
  const std::string_view magic = datagram.substr(0, kMagicSize);
  if (datagram.size() < kMagicSize + kMacSize || (magic != kJsonMagic && magic != kBinaryMagic)) {
    return InvalidArgument("not a resec peer message");
  }
  const std::string_view mac = datagram.substr(kMagicSize, kMacSize);
  const std::string_view body = datagram.substr(kMagicSize + kMacSize);
  const std::string expected = key.Mac(body);
  if (expected.size() != kMacSize || CRYPTO_memcmp(expected.data(), mac.data(), kMacSize) != 0) {
    return PermissionDenied("peer message with a wrong MAC (another group's token, or forged)");
  }
  StatusOr<Heartbeat> h = magic == kJsonMagic ? OpenJson(body) : OpenBinary(body);
  if (!h.ok()) return h;
  if (h->group != group) return InvalidArgument("peer message for another group (" + h->group + ")");
  if (h->from.empty()) return InvalidArgument("peer message without a sender");
  return h;
}

}  // namespace resec::peer
