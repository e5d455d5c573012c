// The names Config derives from its settings (service ID, service names) and
// the Consul address as logs show it.
#include "resec/config/config.h"

#include "resec/config/parse.h"

namespace resec {

const char kResecVersion[] = RESEC_VERSION;

std::string ConsulClientConfig::Address() const {
  if (scheme == "unix") return "unix://" + unix_socket;
  return scheme + "://" + HostPort{host, port}.ToString();
}

std::string Config::ServiceId() const {
  return (tag_mode() ? service_name : service_prefix) + "@" + announce_addr.ToString();
}

std::string Config::MasterServiceName() const { return tag_mode() ? service_name : service_prefix + "-master"; }

std::string Config::SlaveServiceName() const { return tag_mode() ? service_name : service_prefix + "-slave"; }

}  // namespace resec
