// Where a setting's text comes from: its flag when one was given, else its
// environment variable when set and non-empty (urfave/cli treats an empty
// variable as unset for most flag types, and so do we).
//
// Thread-safety: immutable after construction; holds references to the
// environment and flag values it was built from, which must outlive it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "resec/config/parse.h"
#include "resec/config/settings_table.h"

namespace resec::config {

class SettingSource {
 public:
  SettingSource(const Environment& env, const std::map<std::string_view, std::string>& flags)
      : env_(env), flags_(flags) {}

  // The text given for `setting`, or nullopt when neither flag nor variable set it.
  std::optional<std::string> Raw(const Setting& setting) const {
    if (const auto it = flags_.find(setting.env); it != flags_.end()) return it->second;
    if (const auto it = env_.find(std::string(setting.env)); it != env_.end() && !it->second.empty()) {
      return it->second;
    }
    return std::nullopt;
  }
  bool Given(const Setting& setting) const { return Raw(setting).has_value(); }

 private:
  const Environment& env_;
  const std::map<std::string_view, std::string>& flags_;
};

}  // namespace resec::config
