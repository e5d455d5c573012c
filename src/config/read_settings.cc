// Table-driven reading of settings into Config (see read_settings.h).
#include "read_settings.h"

#include "resec/config/durations.h"
#include "resec/config/text.h"
#include "values.h"

namespace resec::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Reads one setting's text into its field; returns the problem text (after the
// quoted value, separator included), or "" when the text was good.
class ReadValue {
 public:
  ReadValue(const std::string& raw, const Redactor& redactor, Config& config)
      : raw_(raw), redactor_(redactor), config_(config) {}

  std::string operator()(const TextValue& v) const {
    v.field(config_) = raw_;
    return "";
  }
  std::string operator()(const BoolValue& v) const {
    const auto b = ParseGoBool(raw_);
    if (!b) return " is not a boolean (true, false, 1, 0, t, f)";
    v.field(config_) = *b;
    return "";
  }
  std::string operator()(const IntValue& v) const {
    const auto n = ParseDecimalInt(raw_);
    if (!n) return " is not an integer";
    v.field(config_) = *n;
    return "";
  }
  std::string operator()(const MillisValue& v) const { return Duration(v.field(config_), "milliseconds"); }
  std::string operator()(const SecondsValue& v) const { return Duration(v.field(config_), "seconds"); }
  std::string operator()(const AddressValue& v) const {
    auto parsed = ParseHostPort(raw_, v.require_host);
    if (!parsed.ok()) {
      // The parser's message may quote part of the value, so it goes when the value does.
      return ": " + (redactor_.ContainsSecret(raw_) ? std::string("not host:port") : parsed.status().message());
    }
    v.field(config_) = *std::move(parsed);
    return "";
  }
  std::string operator()(const TagsValue& v) const {
    v.field(config_) = SplitTags(raw_);
    return "";
  }
  std::string operator()(const LogLevelValue& v) const {
    auto level = NormalizeLogLevel(raw_);
    if (!level) return " is not a log level (debug, info, warn, error)";
    v.field(config_) = *std::move(level);
    return "";
  }
  std::string operator()(const LogFormatValue& v) const {
    const auto format = ParseLogFormat(raw_);
    if (!format) return " is not a log format (text, json, gelf)";
    v.field(config_) = *format;
    return "";
  }
  std::string operator()(const SpecialValue&) const { return ""; }

 private:
  // A Go duration in whole units of `Unit`: a sub-unit remainder would be
  // silently rounded away, and nobody means "1500us" for these settings.
  template <typename Unit>
  std::string Duration(Unit& field, std::string_view unit_name) const {
    const auto parsed = ParseGoDuration(raw_);
    if (!parsed.ok()) return " is not a duration";
    if (*parsed % Unit(1) != nanoseconds(0)) return " is not a whole number of " + std::string(unit_name);
    field = std::chrono::duration_cast<Unit>(*parsed);
    return "";
  }

  const std::string& raw_;
  const Redactor& redactor_;
  Config& config_;
};

}  // namespace

std::vector<Problem> ReadSettings(const SettingSource& source, const Redactor& redactor, Config* config) {
  std::vector<Problem> problems;
  for (const Setting& s : Settings()) {
    if (s.secret || std::holds_alternative<SpecialValue>(s.value)) continue;
    const auto raw = source.Raw(s);
    if (!raw) continue;
    std::string problem = std::visit(ReadValue(*raw, redactor, *config), s.value);
    if (!problem.empty()) problems.push_back({&s, std::move(problem), /*after_value=*/true});
  }
  return problems;
}

void DeriveAnnounceAddress(const SettingSource& source, Config* config) {
  if (source.Given(FindSetting("ANNOUNCE_ADDR"))) return;
  if (IsLoopbackHost(config->redis_addr.host)) {
    config->announce_addr = HostPort{"", config->redis_addr.port};
  } else {
    config->announce_addr = config->redis_addr;
  }
}

}  // namespace resec::config
