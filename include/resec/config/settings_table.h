// The settings table: one row per environment variable, with its flag, its
// help text, where its value lands in Config (and so its type and parser),
// the bounds it must keep and whether it is a secret. The environment reader,
// the command line (CLI11) and --help all derive from it; the defaults are
// Config's member initialisers, which --help prints from a default Config.
//
// A row's value kind says how its text is read:
//   TextValue      taken as is
//   BoolValue      Go's strconv.ParseBool (true/false, 1/0, t/f, ...)
//   IntValue       a decimal int
//   MillisValue    a Go duration, a whole number of milliseconds
//   SecondsValue   a Go duration, a whole number of seconds
//   AddressValue   host:port (ParseHostPort)
//   TagsValue      comma-separated, spaces trimmed, empties dropped
//   LogLevelValue  NormalizeLogLevel
//   LogFormatValue text, json or gelf, any case
//   SpecialValue   read by a step of its own (the Consul client's address and
//                  TLS switch, the token file, basic auth: see
//                  src/config/consul_client.cc)
//
// Thread-safety: constant data and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "resec/config/config.h"

namespace resec::config {

// Where a value lands: a function returning the field of a Config.
template <typename T>
using FieldRef = T& (*)(Config&);

template <auto kMember>
constexpr auto& Field(Config& c) {
  return c.*kMember;
}
template <auto kOuter, auto kInner>
constexpr auto& Field(Config& c) {
  return (c.*kOuter).*kInner;
}

// One side of a setting's allowed range, in the unit of its field
// (milliseconds, seconds or a count). `problem` follows the quoted value in
// the error line: "\"9s\" is below 10s, Consul's minimum session TTL".
struct Limit {
  int64_t value = 0;
  bool inclusive = true;
  std::string_view problem;
};
struct Bounds {
  std::optional<Limit> min;
  std::optional<Limit> max;
};
inline constexpr Bounds kAnyValue{};
inline constexpr Bounds kPositive{.min = Limit{0, false, "must be greater than 0"}};
inline constexpr Bounds kNotNegative{.min = Limit{0, true, "must not be negative"}};

struct TextValue {
  FieldRef<std::string> field;
};
struct BoolValue {
  FieldRef<bool> field;
};
struct IntValue {
  FieldRef<int> field;
  Bounds bounds;
};
struct MillisValue {
  FieldRef<std::chrono::milliseconds> field;
  Bounds bounds;
};
struct SecondsValue {
  FieldRef<std::chrono::seconds> field;
  Bounds bounds;
};
struct AddressValue {
  FieldRef<HostPort> field;
  bool require_host;
};
struct TagsValue {
  FieldRef<std::vector<std::string>> field;
};
struct LogLevelValue {
  FieldRef<std::string> field;
};
struct LogFormatValue {
  FieldRef<LogFormat> field;
};
struct SpecialValue {
  // The default --help shows, from a default Config.
  std::string (*default_text)(const Config&);
  bool is_bool = false;
};

using Value = std::variant<TextValue, BoolValue, IntValue, MillisValue, SecondsValue, AddressValue, TagsValue,
                           LogLevelValue, LogFormatValue, SpecialValue>;

struct Setting {
  std::string_view env;
  std::string_view flag;        // long flag without "--"; empty: environment only
  std::string_view short_flag;  // e.g. "s"; empty: none
  std::string_view value_name;  // --help's placeholder; empty for a boolean
  std::string_view help;
  Value value;
  bool secret = false;  // never echoed in an error line
};

// Every setting: the reference's table, then ours, then the Consul client's
// variables (environment only, as the Consul CLI reads them). --help lists
// them in this order.
std::span<const Setting> Settings();

// The row of a variable. A name missing from the table is a bug in the
// caller, caught by any test: it aborts.
const Setting& FindSetting(std::string_view env);
// The row whose long or short flag is `name` (without dashes); nullptr when none.
const Setting* FindFlag(std::string_view name);

// A boolean takes no separate value on the command line (Go's flag package).
bool IsBoolean(const Setting& setting);
// The default as --help prints it, from a default Config: "15s", "72h",
// "127.0.0.1:6379"; "" when empty.
std::string DefaultText(const Setting& setting);

}  // namespace resec::config
