// The Consul agent's address (see consul_address.h).
#include "consul_address.h"

#include "resec/config/text.h"
#include "values.h"

namespace resec::config {

std::vector<Problem> ReadConsulAddress(const SettingSource& source, const Redactor& redactor, Config* config) {
  std::vector<Problem> problems;
  ConsulClientConfig& consul = config->consul;

  bool https = false;
  const Setting& ssl = FindSetting("CONSUL_HTTP_SSL");
  if (const auto raw = source.Raw(ssl)) {
    if (const auto b = ParseGoBool(*raw)) {
      https = *b;
    } else {
      problems.push_back({&ssl, " is not a boolean (true, false, 1, 0, t, f)", /*after_value=*/true});
    }
  }

  const Setting& addr = FindSetting("CONSUL_HTTP_ADDR");
  const auto raw = source.Raw(addr);
  std::string_view rest = raw ? std::string_view(*raw) : std::string_view();
  bool address_ok = raw.has_value();
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, sep);
    rest.remove_prefix(sep + 3);
    if (scheme == "https") {
      https = true;
    } else if (scheme == "http") {
      // Consul never reverts to http when CONSUL_HTTP_SSL asked for TLS.
    } else if (scheme == "unix" || scheme == "local") {
      problems.push_back({&addr, ": unix sockets are not supported", true});
      address_ok = false;
    } else {
      problems.push_back({&addr, ": unknown scheme " + QuoteForDisplay(scheme) + " (http or https)", true});
      address_ok = false;
    }
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  consul.scheme = https ? "https" : "http";
  if (!address_ok) return problems;

  // No port means the scheme's port, as Go's HTTP client would use.
  const bool bracketed = !rest.empty() && rest.front() == '[';
  const bool has_port =
      bracketed ? rest.find("]:") != std::string_view::npos : rest.find(':') != std::string_view::npos;
  const std::string with_port = has_port ? std::string(rest) : std::string(rest) + ":" + (https ? "443" : "80");
  auto parsed = ParseHostPort(with_port, /*require_host=*/true);
  if (parsed.ok()) {
    consul.host = parsed->host;
    consul.port = parsed->port;
  } else {
    // The parser's message quotes the value's parts: never when a secret is in it.
    const bool secret = redactor.ContainsSecret(rest);
    problems.push_back({&addr, ": " + (secret ? std::string("not host:port") : parsed.status().message()), true});
  }
  return problems;
}

}  // namespace resec::config
