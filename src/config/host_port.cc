// host:port addresses: parsing, printing, and the loopback test the announce
// address rule uses.
#include "resec/config/host_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <string_view>

#include "resec/config/text.h"
#include "values.h"

namespace resec {
namespace {

bool IsDecimal(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Hostnames and IPv4 literals: letters, digits, '-', '.', '_' (Docker and
// Nomad names use underscores). Anything else is a typo we should report now
// rather than as a DNS failure later.
bool IsValidHostName(std::string_view host) {
  // 253 bytes: the longest name DNS can carry.
  if (host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

bool IsValidIpv6(std::string_view host) {
  // A zone ("fe80::1%eth0") is allowed; inet_pton checks only the address part.
  const std::string address(host.substr(0, host.find('%')));
  in6_addr parsed{};
  return inet_pton(AF_INET6, address.c_str(), &parsed) == 1;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  if (config::ToLower(host) == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

StatusOr<HostPort> ParseHostPort(const std::string& text, bool require_host) {
  if (text.empty()) return InvalidArgument("empty address, want host:port");
  std::string host;
  std::string port_text;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return InvalidArgument("missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    const std::string rest = text.substr(close + 1);
    if (rest.empty()) return InvalidArgument("missing port");
    if (rest.front() != ':') return InvalidArgument("unexpected text after ']', want [ipv6]:port");
    port_text = rest.substr(1);
    if (host.empty()) return InvalidArgument("empty IPv6 address in brackets");
    if (!IsValidIpv6(host)) return InvalidArgument("invalid IPv6 address " + QuoteForDisplay(host));
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return InvalidArgument("missing port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return InvalidArgument("too many colons; write an IPv6 address in brackets, like [::1]:6379");
    }
    if (!IsValidHostName(host)) return InvalidArgument("invalid host " + QuoteForDisplay(host));
  }
  if (port_text.empty()) return InvalidArgument("missing port");
  if (!IsDecimal(port_text)) return InvalidArgument("port " + QuoteForDisplay(port_text) + " is not a number");
  const size_t first_digit = std::min(port_text.find_first_not_of('0'), port_text.size());
  const std::string_view digits = std::string_view(port_text).substr(first_digit);
  int port = 0;
  if (digits.size() <= 5) {
    for (const char c : digits) port = port * 10 + (c - '0');
  }
  if (digits.size() > 5 || port < 1 || port > 65535) {
    std::string shown(digits.empty() ? "0" : digits.substr(0, 20));
    if (digits.size() > 20) shown += "...";
    return InvalidArgument("port " + shown + " out of range 1..65535");
  }
  if (host.empty() && require_host) return InvalidArgument("missing host");
  return HostPort{std::move(host), port};
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}
}  // namespace resec
