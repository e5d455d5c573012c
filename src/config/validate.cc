// Bounds and cross-setting rules (see validate.h).
#include "validate.h"

#include <arpa/inet.h>

#include "resec/config/durations.h"
#include "resec/config/text.h"

namespace resec::config {
namespace {

// The field's value in the unit its Bounds are written in; nullopt for kinds
// without bounds.
struct BoundedValue {
  Config& c;
  std::optional<std::pair<int64_t, Bounds>> operator()(const IntValue& v) const {
    return std::pair{int64_t{v.field(c)}, v.bounds};
  }
  std::optional<std::pair<int64_t, Bounds>> operator()(const MillisValue& v) const {
    return std::pair{int64_t{v.field(c).count()}, v.bounds};
  }
  std::optional<std::pair<int64_t, Bounds>> operator()(const SecondsValue& v) const {
    return std::pair{int64_t{v.field(c).count()}, v.bounds};
  }
  template <typename Other>
  std::optional<std::pair<int64_t, Bounds>> operator()(const Other&) const {
    return std::nullopt;
  }
};

void CheckBounds(const Config& config, std::vector<Problem>* problems) {
  Config copy = config;  // FieldRef reads through a mutable Config
  for (const Setting& s : Settings()) {
    const auto bounded = std::visit(BoundedValue{copy}, s.value);
    if (!bounded) continue;
    const auto& [value, bounds] = *bounded;
    if (bounds.min && (bounds.min->inclusive ? value < bounds.min->value : value <= bounds.min->value)) {
      problems->push_back({&s, " " + std::string(bounds.min->problem), /*after_value=*/true});
    } else if (bounds.max && (bounds.max->inclusive ? value > bounds.max->value : value >= bounds.max->value)) {
      problems->push_back({&s, " " + std::string(bounds.max->problem), /*after_value=*/true});
    }
  }
}

void CheckTogether(const Config& config, std::vector<Problem>* problems) {
  const auto problem = [problems](std::string_view env, std::string text) {
    problems->push_back({&FindSetting(env), std::move(text)});
  };
  if (config.tag_mode()) {
    // The first master tag is what the master watch filters on; a replica
    // carrying it would be taken for the master.
    if (config.master_tags.empty()) {
      problem("MASTER_TAGS", "required when CONSUL_SERVICE_NAME is set");
    } else if (!config.slave_tags.empty() && config.slave_tags.front() == config.master_tags.front()) {
      problem("SLAVE_TAGS", "first tag " + QuoteForDisplay(config.slave_tags.front()) +
                                " must differ from the first tag of MASTER_TAGS");
    }
  } else if (config.service_prefix.empty()) {
    problem("CONSUL_SERVICE_PREFIX", "must not be empty without CONSUL_SERVICE_NAME");
  }
  if (config.lock_key.empty()) problem("CONSUL_LOCK_KEY", "must not be empty");
  if (config.lock_session_name.empty()) problem("CONSUL_LOCK_SESSION_NAME", "must not be empty");
  // A TLS client identity is a pair.
  if (!config.consul.client_cert.empty() && config.consul.client_key.empty()) {
    problem("CONSUL_CLIENT_KEY", "required with CONSUL_CLIENT_CERT");
  }
  if (config.consul.client_cert.empty() && !config.consul.client_key.empty()) {
    problem("CONSUL_CLIENT_CERT", "required with CONSUL_CLIENT_KEY");
  }
  if (config.peer_mode()) {
    // A grant must outlive a few lost heartbeats, or one dropped datagram
    // fences the master.
    if (config.peer_lease < 3 * config.peer_interval) {
      problem("PEER_LEASE", "must be at least 3 x PEER_INTERVAL (" + FormatGoDuration(3 * config.peer_interval) + ")");
    }
    // The socket is IPv4 (every address the rig and the examples use).
    in_addr ignored{};
    if (!config.peer_listen_addr.host.empty() && inet_pton(AF_INET, config.peer_listen_addr.host.c_str(), &ignored) != 1) {
      problem("PEER_LISTEN_ADDR", "host " + QuoteForDisplay(config.peer_listen_addr.host) +
                                      " is not an IPv4 address (empty: all interfaces)");
    }
  }
}

}  // namespace

std::vector<Problem> ValidateConfig(const Config& config) {
  std::vector<Problem> problems;
  CheckBounds(config, &problems);
  CheckTogether(config, &problems);
  return problems;
}

}  // namespace resec::config
