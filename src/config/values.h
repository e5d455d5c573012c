// Text to value for the settings' kinds that have no header of their own:
// Go's booleans, decimal ints, tag lists, LOG_FORMAT's names; and the two
// string helpers they share.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resec/config/config.h"

namespace resec::config {

std::string ToLower(std::string_view s);
// Without leading and trailing ASCII white space (Go's strings.TrimSpace for ASCII).
std::string_view TrimSpace(std::string_view s);

// Go's strconv.ParseBool: 1, t, T, TRUE, true, True and their false twins.
std::optional<bool> ParseGoBool(std::string_view s);
// Decimal integer with an optional sign; nullopt when malformed or out of int's range.
std::optional<int> ParseDecimalInt(std::string_view s);
// Comma-separated; spaces trimmed, empty entries dropped.
std::vector<std::string> SplitTags(std::string_view text);
// text, json or gelf in any case (the original lower-cases LOG_FORMAT).
std::optional<LogFormat> ParseLogFormat(std::string_view text);

}  // namespace resec::config
