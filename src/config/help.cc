// --help from the settings table (see help.h).
#include "help.h"

#include "command_line.h"
#include "resec/config/parse.h"
#include "resec/config/settings_table.h"

namespace resec::config {
namespace {

// Columns: flag (the longest, --consul-lock-monitor-retry-interval DURATION,
// is 47 wide with its indent), variable, default, meaning. Fixed rather than
// computed, so the man page does not reflow when a setting is added; a unit
// test checks that every row fits.
constexpr size_t kFlagWidth = 48;
constexpr size_t kEnvWidth = 35;
constexpr size_t kDefaultWidth = 24;

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s + ' ';
}

std::string DefaultColumn(const Setting& s) {
  const std::string value = DefaultText(s);
  return Pad("default " + (value.empty() ? std::string("(empty)") : value), kDefaultWidth);
}

}  // namespace

std::string HelpText() {
  std::string text;
  text += "resec ";
  text += kResecVersion;
  text += ": Redis high availability agent on Consul\n\n";
  text += "Usage: resec [flags]\n\n";
  text += "Every setting is an environment variable and a flag; the flag wins.\n";
  text += "Durations use Go syntax (500ms, 15s, 1m30s, 72h). Booleans: true/false, 1/0, t/f.\n\n";
  text += "Flags:\n";
  for (const Setting& s : Settings()) {
    if (s.flag.empty()) continue;
    std::string flag = "  ";
    if (!s.short_flag.empty()) flag += "-" + std::string(s.short_flag) + ", ";
    flag += "--" + std::string(s.flag);
    if (!s.value_name.empty()) flag += " " + std::string(s.value_name);
    text += Pad(flag, kFlagWidth) + Pad(std::string(s.env), kEnvWidth) + DefaultColumn(s) + std::string(s.help) + "\n";
  }
  text += Pad("  -" + std::string(kHelpShortFlag) + ", --" + std::string(kHelpFlag), kFlagWidth) + "show this help\n";
  text += Pad("  -" + std::string(kVersionShortFlag) + ", --" + std::string(kVersionFlag), kFlagWidth) +
          "print the version\n";
  text += "\nConsul client (environment only, as the Consul CLI reads them):\n";
  for (const Setting& s : Settings()) {
    if (!s.flag.empty()) continue;
    text += Pad("  " + std::string(s.env), kFlagWidth) + DefaultColumn(s) + std::string(s.help) + "\n";
  }
  return text;
}

}  // namespace resec::config
