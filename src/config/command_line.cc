// argv to values, with CLI11 doing the matching and Go's flag syntax handled
// on the way in (see ToCli11Syntax).
#include "command_line.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <optional>

namespace resec::config {
namespace {

// "-name=value" / "--name=value" split as Go's flag package does.
struct FlagToken {
  std::string_view name;
  std::optional<std::string_view> value;  // after '='
  std::string_view typed;                 // the dashes and the name, as typed
};

bool LooksLikeFlag(std::string_view arg) { return arg.size() >= 2 && arg[0] == '-'; }

FlagToken SplitFlag(std::string_view arg) {
  std::string_view body = arg;
  body.remove_prefix(body.starts_with("--") ? 2 : 1);
  const size_t eq = body.find('=');
  FlagToken token;
  token.name = body.substr(0, eq);
  if (eq != std::string_view::npos) token.value = body.substr(eq + 1);
  token.typed = arg.substr(0, arg.size() - body.size() + token.name.size());
  return token;
}

// CLI11 parses GNU syntax; Go's flag package, which the drop-in contract
// follows, differs in four ways:
//   - one dash or two: -redis-addr is --redis-addr, -s=0 is --state-server=0;
//   - a boolean never takes the next argument (`--state-server false` leaves
//     "false" a stray argument), only `--flag=value`;
//   - `--flag=` sets an empty value, where CLI11 would take the next argument;
//   - no clustering of short flags: -sx is an unknown flag, not -s x.
// So every flag of ours becomes CLI11's two-token form "--long value" here,
// with the value Go would give it (the next argument even when it starts with
// '-', like "-1s"); everything else passes through as typed for CLI11 to sort
// into "--", unknown flags and stray arguments. A value flag that ends argv
// stays alone, and CLI11 reports its missing value.
struct Cli11Args {
  std::vector<std::string> args;
  const Setting* last_without_value = nullptr;
};

Cli11Args ToCli11Syntax(const std::vector<std::string>& argv) {
  Cli11Args out;
  bool only_positionals = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (only_positionals || !LooksLikeFlag(arg)) {
      out.args.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      out.args.push_back(arg);
      continue;
    }
    const FlagToken token = SplitFlag(arg);
    if (token.name == kHelpFlag || token.name == kHelpShortFlag) {
      out.args.push_back("--" + std::string(kHelpFlag));
      continue;
    }
    if (token.name == kVersionFlag || token.name == kVersionShortFlag) {
      out.args.push_back("--" + std::string(kVersionFlag));
      continue;
    }
    const Setting* setting = FindFlag(token.name);
    if (setting == nullptr) {
      out.args.push_back(arg);
      continue;
    }
    out.args.push_back("--" + std::string(setting->flag));
    if (token.value) {
      out.args.emplace_back(*token.value);
    } else if (IsBoolean(*setting)) {
      out.args.emplace_back("true");
    } else if (i + 1 < argv.size()) {
      out.args.push_back(argv[++i]);
    } else {
      out.last_without_value = setting;
    }
  }
  return out;
}

}  // namespace

CommandLine ParseCommandLine(const std::vector<std::string>& argv) {
  CLI::App app("resec");
  // --help is rendered from the settings table (help.h), not by CLI11.
  app.set_help_flag();
  // Unknown flags and stray arguments are collected, not thrown: every
  // problem is reported at once.
  app.allow_extras();
  std::vector<std::pair<const Setting*, CLI::Option*>> options;
  for (const Setting& s : Settings()) {
    if (s.flag.empty()) continue;
    // Short flags are not declared: ToCli11Syntax has rewritten them, and a
    // declared one would let CLI11 split "-sx" into -s x.
    CLI::Option* option = app.add_option("--" + std::string(s.flag))->description(std::string(s.help));
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    options.emplace_back(&s, option);
  }
  CLI::Option* help = app.add_flag("--" + std::string(kHelpFlag));
  CLI::Option* version = app.add_flag("--" + std::string(kVersionFlag));

  Cli11Args cli11 = ToCli11Syntax(argv);
  CommandLine out;
  std::vector<std::string> reversed(cli11.args.rbegin(), cli11.args.rend());  // CLI11 takes argv back to front
  try {
    app.parse(reversed);
  } catch (const CLI::ArgumentMismatch&) {
    // Thrown only when argv ends on a value flag (ToCli11Syntax gives every
    // other flag its value); what was parsed before it stands.
    if (cli11.last_without_value != nullptr) {
      out.problems.push_back({CommandLineProblem::Kind::kMissingValue, "", cli11.last_without_value});
    } else {
      out.problems.push_back({CommandLineProblem::Kind::kUnparsed, "cannot read the command line"});
    }
  } catch (const CLI::ParseError&) {
    // Not expected from the options declared here; CLI11's message may quote
    // an argument (a secret, even), so it is not passed on.
    out.problems.push_back({CommandLineProblem::Kind::kUnparsed, "cannot read the command line"});
  }

  for (const CLI::Option* option : app.parse_order()) {
    if (option == help || option == version) {
      out.request = option == help ? CommandLine::Request::kHelp : CommandLine::Request::kVersion;
      return out;
    }
  }
  for (const auto& [setting, option] : options) {
    if (!option->results().empty()) out.values[setting->env] = option->results().back();
  }
  // What CLI11 could not place, in argv order. Everything after the first
  // "--" (the end of flags, which CLI11 keeps in the list) is an argument.
  std::vector<CommandLineProblem> extras;
  bool after_dash_dash = false;
  for (const std::string& arg : app.remaining()) {
    if (!after_dash_dash && arg == "--") {
      after_dash_dash = true;
    } else if (!after_dash_dash && LooksLikeFlag(arg)) {
      extras.push_back({CommandLineProblem::Kind::kUnknownFlag, std::string(SplitFlag(arg).typed)});
    } else {
      extras.push_back({CommandLineProblem::Kind::kStrayArgument, arg});
    }
  }
  // The missing value is always at the end of argv, so after every extra.
  out.problems.insert(out.problems.begin(), extras.begin(), extras.end());
  return out;
}

}  // namespace resec::config
