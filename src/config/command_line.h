// The command line: argv in Go's flag syntax (what the original resec, on
// urfave/cli and Go's flag package, accepts), read with CLI11 into one value
// per setting, a help or version request, and the arguments it could not
// take. Nothing is rendered here: an error line may only be written once the
// secrets are known (see report.h).
//
// Thread-safety: a pure function.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "resec/config/settings_table.h"

namespace resec::config {

// The agent's own flags besides the settings.
inline constexpr std::string_view kHelpFlag = "help";
inline constexpr std::string_view kHelpShortFlag = "h";
inline constexpr std::string_view kVersionFlag = "version";
inline constexpr std::string_view kVersionShortFlag = "v";

struct CommandLineProblem {
  enum class Kind {
    kUnknownFlag,     // `text` is the flag as typed, without any "=value"
    kStrayArgument,   // `text` is the argument
    kMissingValue,    // `setting`'s flag ended argv without its value
    kUnparsed,        // anything else CLI11 refused; `text` says so, never quoting argv
  };
  Kind kind;
  std::string text;
  const Setting* setting = nullptr;
};

struct CommandLine {
  enum class Request { kRun, kHelp, kVersion };
  // The first of --help and --version wins over everything else on the line.
  Request request = Request::kRun;
  // Env name -> the value its flag gave; the last of repeated flags wins.
  std::map<std::string_view, std::string> values;
  std::vector<CommandLineProblem> problems;  // in argv order
};

CommandLine ParseCommandLine(const std::vector<std::string>& args);

}  // namespace resec::config
