// The secrets: REDIS_PASSWORD, CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE (whose
// token wins, as in the Consul API client) and CONSUL_HTTP_AUTH's password.
// Read before every other setting, because every error line is checked
// against them (report.h's Redactor).
//
// Thread-safety: a pure function but for `read_file`.
#pragma once

#include <string>
#include <vector>

#include "report.h"
#include "resec/config/parse.h"
#include "source.h"

namespace resec::config {

struct Credentials {
  std::vector<std::string> secrets;  // every secret value found, for the Redactor
  std::vector<Problem> problems;
};

Credentials ReadCredentials(const SettingSource& source, const FileReader& read_file, Config* config);

}  // namespace resec::config
