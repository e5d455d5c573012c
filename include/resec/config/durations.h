// Durations in Go's syntax, which every duration setting uses (the original
// resec reads them with Go's time.ParseDuration), and Go's formatting of them.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>

#include "resec/status.h"

namespace resec {

// Go's time.ParseDuration syntax: "300ms", "1.5h", "2h45m", "-1s", "0".
StatusOr<std::chrono::nanoseconds> ParseGoDuration(const std::string& text);
// Go's Duration.String: 15s, 1m30s, 72h0m0s, 500ms, 1.5µs.
std::string FormatGoDuration(std::chrono::nanoseconds d);

}  // namespace resec
