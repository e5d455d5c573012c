// ParseConfig: the environment and argv to a Config, the way the original
// resec reads them (a variable per setting, a long flag that wins over it,
// Go-style durations), validated, or one error line per problem. It never
// exits and never logs: main() does that.
//
// Steps, one unit each under src/config/: the command line (CLI11, in Go's
// flag syntax), each setting's text to its typed field (the settings table),
// the Consul client's variables, validation, and the error report.
//
// Thread-safety: ParseConfig is pure (its only I/O is reading
// CONSUL_HTTP_TOKEN_FILE, through the injected file reader).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "resec/config/config.h"
#include "resec/status.h"

namespace resec {

// What the command line asked for besides running the agent.
struct HelpRequest {
  std::string text;
};
struct VersionRequest {
  std::string text;
};
struct ConfigErrors {
  std::vector<std::string> lines;  // "resec: VAR (--flag): problem", one per problem
};

using ParseResult = std::variant<Config, HelpRequest, VersionRequest, ConfigErrors>;

using Environment = std::map<std::string, std::string>;
// Reads a whole file (CONSUL_HTTP_TOKEN_FILE); injected so tests need no files.
using FileReader = std::function<StatusOr<std::string>(const std::string& path)>;

ParseResult ParseConfig(const Environment& env, const std::vector<std::string>& args,
                        const FileReader& read_file);
Environment CurrentEnvironment();
StatusOr<std::string> ReadWholeFile(const std::string& path);

extern const char kResecVersion[];

}  // namespace resec
