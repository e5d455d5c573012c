// HostPort: a "host:port" address as the settings take it (REDIS_ADDR,
// ANNOUNCE_ADDR, STATE_LISTEN_ADDR, CONSUL_HTTP_ADDR's host part), and its
// parser.
//
// Thread-safety: a value type and a pure function.
#pragma once

#include <string>
#include <string_view>

#include "resec/status.h"

namespace resec {

struct HostPort {
  std::string host;  // may be empty (":6379" announces only a port)
  int port = 0;
  std::string ToString() const;  // "host:port", "[v6]:port" or ":port"
  bool operator==(const HostPort&) const = default;
};

// "host:port", "[v6]:port", ":port"; port 1..65535. require_host: host may
// not be empty. Host names are letters, digits, '-', '.', '_' (at most 253
// bytes, what DNS carries): anything else is a typo reported now rather than
// as a DNS failure later.
StatusOr<HostPort> ParseHostPort(const std::string& text, bool require_host);

// localhost, 127.0.0.0/8 or ::1: an address only this machine can reach.
bool IsLoopbackHost(std::string_view host);

}  // namespace resec
