// Text helpers the configuration shares with the code that reports on it:
// quoting an untrusted value for an error or log line, and LOG_LEVEL's names.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace resec {

// The value quoted for an error or log line: '"' and '\\' escaped, other
// non-printable bytes as \xNN, cut after max_bytes with "..." after the quote.
std::string QuoteForDisplay(std::string_view text, size_t max_bytes = 64);

// LOG_LEVEL's accepted names (case-insensitive) to debug, info, warn or error;
// nullopt when unknown.
std::optional<std::string> NormalizeLogLevel(std::string_view level);

}  // namespace resec
