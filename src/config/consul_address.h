// CONSUL_HTTP_ADDR and CONSUL_HTTP_SSL to the Consul client's scheme, host
// and port, following the Consul Go API client (api.DefaultConfig +
// NewClient): an http:// or https:// scheme is allowed, CONSUL_HTTP_SSL
// switches to https and is never undone by an http:// address, and an
// address without a port gets the scheme's (80 or 443). Unset, the address
// is Config's default. The other Consul client variables are plain rows of
// the settings table.
//
// Thread-safety: a pure function.
#pragma once

#include <vector>

#include "report.h"
#include "source.h"

namespace resec::config {

std::vector<Problem> ReadConsulAddress(const SettingSource& source, const Redactor& redactor, Config* config);

}  // namespace resec::config
