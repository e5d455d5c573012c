// Error lines from problems (see report.h).
#include "report.h"

#include <algorithm>
#include <array>

#include "resec/config/text.h"

namespace resec::config {
namespace {

constexpr std::string_view kHidden = "(value hidden)";

// Problems are reported in the order an operator fixes them: the token file
// (read before anything else, so no later line can echo its token), the
// command line itself, where Redis is and what we announce for it, how to
// reach Consul (the TLS switch first: the address's default port depends on
// it), then every other setting in the table's order.
constexpr std::array<std::string_view, 7> kReportedFirst = {
    "REDIS_ADDR",           "ANNOUNCE_ADDR",     "CONSUL_HTTP_SSL", "CONSUL_HTTP_ADDR", "CONSUL_HTTP_SSL_VERIFY",
    "CONSUL_CLIENT_KEY",    "CONSUL_CLIENT_CERT",
};
constexpr std::string_view kTokenFile = "CONSUL_HTTP_TOKEN_FILE";

size_t Rank(const Setting& setting) {
  if (setting.env == kTokenFile) return 0;
  const auto first = std::find(kReportedFirst.begin(), kReportedFirst.end(), setting.env);
  if (first != kReportedFirst.end()) return 1 + static_cast<size_t>(first - kReportedFirst.begin());
  const std::span<const Setting> all = Settings();
  return 1 + kReportedFirst.size() + static_cast<size_t>(&setting - all.data());
}

std::string Subject(const Setting& s) {
  std::string subject(s.env);
  if (!s.flag.empty()) subject += " (--" + std::string(s.flag) + ")";
  return subject;
}

// A flag as typed, bare when it is a plain name ("--bogus"), quoted otherwise.
std::string DisplayFlag(const Redactor& redactor, std::string_view typed) {
  const bool plain = std::all_of(typed.begin(), typed.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  return plain && typed.size() <= 64 && !redactor.ContainsSecret(typed) ? std::string(typed) : redactor.Hide(typed);
}

std::string RenderCommandLine(const CommandLineProblem& p, const Redactor& redactor) {
  switch (p.kind) {
    case CommandLineProblem::Kind::kUnknownFlag:
      return "resec: " + DisplayFlag(redactor, p.text) + ": unknown flag";
    case CommandLineProblem::Kind::kStrayArgument:
      return "resec: " + redactor.Hide(p.text) + ": unexpected argument (settings are flags)";
    case CommandLineProblem::Kind::kMissingValue:
      return "resec: " + Subject(*p.setting) + ": flag needs a value";
    case CommandLineProblem::Kind::kUnparsed:
      return "resec: " + p.text;
  }
  return "resec: " + p.text;
}

}  // namespace

Redactor::Redactor(std::vector<std::string> secrets) {
  for (std::string& s : secrets) {
    if (!s.empty()) secrets_.push_back(std::move(s));
  }
}

bool Redactor::ContainsSecret(std::string_view text) const {
  return std::any_of(secrets_.begin(), secrets_.end(),
                     [text](const std::string& s) { return text.find(s) != std::string_view::npos; });
}

std::string Redactor::Hide(std::string_view text) const {
  return ContainsSecret(text) ? std::string(kHidden) : QuoteForDisplay(text);
}

std::vector<std::string> RenderProblems(const std::vector<Problem>& problems,
                                        const std::vector<CommandLineProblem>& command_line,
                                        const SettingSource& source, const Redactor& redactor) {
  std::vector<const Problem*> sorted;
  for (const Problem& p : problems) sorted.push_back(&p);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Problem* a, const Problem* b) { return Rank(*a->setting) < Rank(*b->setting); });

  std::vector<std::string> lines;
  const auto render = [&](const Problem& p) {
    std::string line = "resec: " + Subject(*p.setting) + ": ";
    if (p.after_value) {
      // A secret setting's value is never shown, whatever it holds.
      line += p.setting->secret ? std::string(kHidden) : redactor.Hide(source.Raw(*p.setting).value_or(""));
    }
    lines.push_back(line + p.text);
  };
  auto it = sorted.begin();
  for (; it != sorted.end() && Rank(*(*it)->setting) == 0; ++it) render(**it);
  for (const CommandLineProblem& p : command_line) lines.push_back(RenderCommandLine(p, redactor));
  for (; it != sorted.end(); ++it) render(**it);
  return lines;
}

}  // namespace resec::config
