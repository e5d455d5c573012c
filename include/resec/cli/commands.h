// The operator commands that share the agent's binary:
//
//   resec status [--json] [--watch]                the group as Consul sees it
//   resec switchover [--to MEMBER] [--timeout 30s] a planned switchover, waited for
//   resec health [--addr HOST:PORT]                the local state server's /health
//                                                  (for container health checks)
//
// Each command reads the agent's own settings (the same environment variables
// and flags, through ParseConfig), so an operator runs it with the agent's
// environment file and nothing else to learn. Flags a command does not know
// itself are handed to ParseConfig (`resec status --consul-lock-key k`).
//
// Exit codes: 0 success, 1 the command ran and failed (Consul unreachable,
// switchover timed out, not healthy), 2 usage or configuration error.
//
// Thread-safety: call from main() before any other thread starts (switchover
// changes the calling thread's signal mask while it waits).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "resec/config.h"

namespace resec::cli {

// Runs the command named by args[0]. nullopt when args[0] is not a command
// (an agent flag, or no arguments): the caller runs the agent.
std::optional<int> RunCommand(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
                              std::ostream& err);

// The "Commands:" section appended to the agent's --help.
std::string CommandsHelp();

// A command's own flags split from the agent settings it passes on.
struct CommandArgs {
  bool help = false;
  std::vector<std::pair<std::string, std::string>> own;  // flag name (no dashes) -> value ("" for booleans)
  std::vector<std::string> rest;                         // for ParseConfig
  std::vector<std::string> errors;
};
// `value_flags` take a value ("--to ID" or "--to=ID"), `bool_flags` none.
// Exposed for tests.
CommandArgs SplitCommandArgs(const std::vector<std::string>& args, const std::vector<std::string>& value_flags,
                             const std::vector<std::string>& bool_flags);

}  // namespace resec::cli
