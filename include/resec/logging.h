// Logging: the spdlog default logger, writing one line per record in the
// original's formats (text, JSON with @timestamp/@level/@message keys, GELF
// 1.1), with every configured secret, every Consul session ID and every
// password inside a URL redacted (resec/redact.h) before a line leaves the
// process, whatever the level: debug field diffs and signal dumps included.
//
// Code logs through spdlog's free functions (spdlog::info, ...) or a clone of
// the default logger named after its subsystem ("consul", "redis"): the name
// appears as "[consul]" in text, "system" in JSON (the original's logrus
// field) and "_system" in GELF.
//
// Thread-safety: the sink serialises writes with its own mutex, so any thread
// may log. SetupLogging replaces spdlog's process-wide default logger (state
// owned by spdlog); call it once at start-up, before other threads log, or
// from tests that own the process.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "resec/config.h"
#include "resec/redact.h"  // RedactSecrets, which the sink applies
#include "resec/status.h"

namespace resec {

// A sink that renders records in `format`, redacts `secrets` (empty strings
// ignored), session IDs and URL passwords, and writes each line to `out`,
// flushing it at once so a crash loses nothing already logged. Patterns and
// formatters set on it are ignored: the format is part of the operator's
// contract.
std::shared_ptr<spdlog::sinks::sink> MakeLogSink(LogFormat format, std::vector<std::string> secrets,
                                                 std::shared_ptr<std::ostream> out);

// A logger over MakeLogSink at `level` (any LOG_LEVEL spelling; see
// NormalizeLogLevel). Not installed anywhere.
StatusOr<std::shared_ptr<spdlog::logger>> MakeLogger(const std::string& level, LogFormat format,
                                                     std::vector<std::string> secrets,
                                                     std::shared_ptr<std::ostream> out,
                                                     const std::string& name = "");

// Installs MakeLogger(...) as spdlog's default logger, writing to stderr.
Status SetupLogging(const std::string& level, LogFormat format, std::vector<std::string> secrets);
// The same, writing to `out` (tests capture output this way).
Status SetupLogging(const std::string& level, LogFormat format, std::vector<std::string> secrets,
                    std::shared_ptr<std::ostream> out);

// `text` as a JSON string literal (with the quotes): quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD so every line
// stays parseable JSON whatever Redis or Consul sent us.
std::string JsonQuote(std::string_view text);

}  // namespace resec
