// The agent's --help, rendered from the settings table: one line per flag
// with its variable, default and meaning, then the environment-only Consul
// client variables. help2man turns it into the man page
// (packaging/resec.h2m), so its layout is part of the package.
//
// Thread-safety: a pure function.
#pragma once

#include <string>

namespace resec::config {

std::string HelpText();

}  // namespace resec::config
