// Problems found while reading the settings, and the error lines they become:
// "resec: VAR (--flag): problem", one line per problem, every problem at once,
// never quoting a secret.
//
// Lines are rendered last, once every secret (REDIS_PASSWORD, the Consul
// token from the variable or its file, the basic-auth password) is known: a
// value that holds one, wherever it was typed, is shown as "(value hidden)".
//
// Thread-safety: value types and pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "command_line.h"
#include "resec/config/settings_table.h"
#include "source.h"

namespace resec::config {

struct Problem {
  const Setting* setting = nullptr;
  // What follows "resec: VAR (--flag): ". With after_value, it follows the
  // setting's quoted value instead, separator included: " is not a duration",
  // ": missing port".
  std::string text;
  bool after_value = false;
};

// Knows the secrets; hides any text that contains one.
class Redactor {
 public:
  explicit Redactor(std::vector<std::string> secrets);
  bool ContainsSecret(std::string_view text) const;
  // `text` quoted for an error line, or "(value hidden)" when it holds a secret.
  std::string Hide(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;  // non-empty ones only
};

// The error lines, in the order an operator fixes them in (see report.cc).
std::vector<std::string> RenderProblems(const std::vector<Problem>& problems,
                                        const std::vector<CommandLineProblem>& command_line,
                                        const SettingSource& source, const Redactor& redactor);

}  // namespace resec::config
