// Each setting's text to its typed Config field, driven by the settings
// table: one reader per value kind, so a kind's syntax and its error text are
// written once. Secrets and the SpecialValue rows are read by their own steps
// (credentials.h, consul_address.h) and skipped here.
//
// Thread-safety: a pure function.
#pragma once

#include <vector>

#include "report.h"
#include "source.h"

namespace resec::config {

// Sets every given, well-formed setting's field in `config`; one Problem per
// malformed one (its field keeps the default). Ranges and cross-setting rules
// are validate.h's.
std::vector<Problem> ReadSettings(const SettingSource& source, const Redactor& redactor, Config* config);

// ANNOUNCE_ADDR when given; else REDIS_ADDR, except that a loopback host
// announces only its port, so the service is registered without an address
// and Consul shows the node's.
void DeriveAnnounceAddress(const SettingSource& source, Config* config);

}  // namespace resec::config
