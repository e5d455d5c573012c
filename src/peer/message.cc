// The peer heartbeat's wire format: see include/resec/peer/message.h.
#include "resec/peer/message.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <nlohmann/json.hpp>

namespace resec::peer {
namespace {

using nlohmann::json;

constexpr std::string_view kMagic = "RSC1";
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
  ctx_ = std::move(ctx);
}

std::string Key::Mac(std::string_view data) const {
  if (ctx_ == nullptr) return "";
  // A copy of the keyed state: the prepared one stays untouched, so copies
  // of the key on other threads may use it at the same time.
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_dup(ctx_.get()), EVP_MAC_CTX_free);
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (ctx == nullptr || EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out, &len, sizeof out) != 1) {
    return "";
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Key DeriveKey(std::string_view token, std::string_view group) {
  return Key(Key(token).Mac(std::string("resec peer v1\n") + std::string(group)));
}

std::string Seal(const Heartbeat& h, const Key& key) {
  json acks = json::array();
  for (const Ack& a : h.acks) acks.push_back({{"m", a.member}, {"b", a.boot}, {"s", a.seq}});
  const json j = {{"g", h.group},         {"f", h.from},           {"b", h.boot},         {"s", h.seq},
                  {"h", h.holder},        {"t", h.term},           {"ok", h.healthy},     {"sy", h.syncing},
                  {"ld", h.loading},      {"co", h.cooling},       {"r", h.role},         {"run", h.run_id},
                  {"id", h.replid},       {"id2", h.replid2},      {"o", h.offset},       {"p", h.priority},
                  {"fw", h.following},    {"fi", h.free_index},    {"a", h.address},      {"k", acks},
                  {"gone", h.gone_term},  {"crash", h.crashed_term}, {"down", h.stepped_down_term},
                  {"st", h.seen_term}};
  const std::string body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return std::string(kMagic) + key.Mac(body) + body;
}

StatusOr<Heartbeat> Open(std::string_view datagram, const Key& key, std::string_view group) {
  if (datagram.size() > kMaxDatagram) return InvalidArgument("peer message larger than " + std::to_string(kMaxDatagram));
  if (datagram.size() < kMagic.size() + kMacSize || datagram.substr(0, kMagic.size()) != kMagic) {
    return InvalidArgument("not a resec peer message");
  }
  const std::string_view mac = datagram.substr(kMagic.size(), kMacSize);
  const std::string_view body = datagram.substr(kMagic.size() + kMacSize);
  const std::string expected = key.Mac(body);
  if (expected.size() != kMacSize || CRYPTO_memcmp(expected.data(), mac.data(), kMacSize) != 0) {
    return PermissionDenied("peer message with a wrong MAC (another group's token, or forged)");
  }
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
  if (!ok) return InvalidArgument("peer message: a field has the wrong type");
  if (h.group != group) return InvalidArgument("peer message for another group (" + h.group + ")");
  if (h.from.empty()) return InvalidArgument("peer message without a sender");
  return h;
}

}  // namespace resec::peer
