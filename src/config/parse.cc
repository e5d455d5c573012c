// ParseConfig: the steps of reading the configuration, in order (see
// resec/config/parse.h).
#include "resec/config/parse.h"

#include "command_line.h"
#include "consul_address.h"
#include "credentials.h"
#include "help.h"
#include "read_settings.h"
#include "report.h"
#include "source.h"
#include "validate.h"

namespace resec {

ParseResult ParseConfig(const Environment& env, const std::vector<std::string>& args, const FileReader& read_file) {
  const config::CommandLine command_line = config::ParseCommandLine(args);
  switch (command_line.request) {
    case config::CommandLine::Request::kHelp:
      return HelpRequest{config::HelpText()};
    case config::CommandLine::Request::kVersion:
      return VersionRequest{std::string("resec ") + kResecVersion};
    case config::CommandLine::Request::kRun:
      break;
  }

  const config::SettingSource source(env, command_line.values);
  Config config;
  config::Credentials credentials = config::ReadCredentials(source, read_file, &config);
  const config::Redactor redactor(std::move(credentials.secrets));
  std::vector<config::Problem> problems = std::move(credentials.problems);
  const auto add = [&problems](std::vector<config::Problem> more) {
    problems.insert(problems.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  };
  add(config::ReadSettings(source, redactor, &config));
  config::DeriveAnnounceAddress(source, &config);
  add(config::ReadConsulAddress(source, redactor, &config));
  add(config::ValidateConfig(config));

  if (problems.empty() && command_line.problems.empty()) return config;
  return ConfigErrors{config::RenderProblems(problems, command_line.problems, source, redactor)};
}

}  // namespace resec
