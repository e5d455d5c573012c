// spdlog setup: a sink of our own that renders text, JSON or GELF lines and
// redacts secrets, session IDs and URL passwords on the way out (redact.h).
#include "resec/logging.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <utility>

namespace resec {
namespace {

// UTC wall-clock time of a record, split for the formats below.
struct RecordTime {
  std::time_t seconds;
  int millis;
};

RecordTime SplitTime(spdlog::log_clock::time_point time) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  return RecordTime{static_cast<std::time_t>(seconds.count()), static_cast<int>((since_epoch - seconds).count())};
}

// RFC 3339 with milliseconds, UTC: 2026-11-27T20:00:00.123Z.
std::string Rfc3339(const RecordTime& t) {
  std::tm tm{};
  gmtime_r(&t.seconds, &tm);
  char buffer[96];  // sized for any int the compiler can imagine, not just real dates
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.millis);
  return buffer;
}

// Our four levels; spdlog's trace folds into debug and critical into error.
enum class Severity { kDebug, kInfo, kWarning, kError };

Severity SeverityOf(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return Severity::kDebug;
    case spdlog::level::info:
      return Severity::kInfo;
    case spdlog::level::warn:
      return Severity::kWarning;
    default:
      return Severity::kError;
  }
}

const char* TextLevel(Severity s) {
  switch (s) {
    case Severity::kDebug:
      return "DEBUG";
    case Severity::kInfo:
      return "INFO";
    case Severity::kWarning:
      return "WARN";
    case Severity::kError:
      return "ERROR";
  }
  return "ERROR";
}

// logrus' level names, which the original's JSON logs carry.
const char* JsonLevel(Severity s) {
  switch (s) {
    case Severity::kDebug:
      return "debug";
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "error";
}

// Syslog severities, as GELF 1.1 wants them.
int GelfLevel(Severity s) {
  switch (s) {
    case Severity::kDebug:
      return 7;
    case Severity::kInfo:
      return 6;
    case Severity::kWarning:
      return 4;
    case Severity::kError:
      return 3;
  }
  return 3;
}

// Text lines stay one line each: a newline inside a message (say, an INFO
// dump) must not forge a second record, so control bytes are escaped.
std::string EscapeText(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += '\t';
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

// Length of the valid UTF-8 sequence at the front of `s`, or 0 when invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto in = [](unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; };
  const unsigned char c = byte(0);
  if (c < 0x80) return 1;
  size_t length = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (in(c, 0xC2, 0xDF)) {
    length = 2;
  } else if (in(c, 0xE0, 0xEF)) {
    length = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (in(c, 0xF0, 0xF4)) {
    length = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < length || !in(byte(1), lo, hi)) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!in(byte(i), 0x80, 0xBF)) return 0;
  }
  return length;
}

std::string HostName() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "localhost";
  return buffer;
}

class FormattingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  FormattingSink(LogFormat format, std::vector<std::string> secrets, std::shared_ptr<std::ostream> out)
      : format_(format), redact_(std::move(secrets)), out_(std::move(out)), host_(HostName()) {}

 protected:
  // REQUIRES: base_sink's mutex held (base_sink::log takes it).
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string line = Render(msg);
    out_->write(line.data(), static_cast<std::streamsize>(line.size()));
    out_->flush();
  }
  void flush_() override { out_->flush(); }
  // The line format is part of the operator's contract; patterns do not apply.
  void set_pattern_(const std::string&) override {}
  void set_formatter_(std::unique_ptr<spdlog::formatter>) override {}

 private:
  std::string Render(const spdlog::details::log_msg& msg) const {
    const std::string message = redact_(std::string_view(msg.payload.data(), msg.payload.size()));
    const std::string_view name(msg.logger_name.data(), msg.logger_name.size());
    const Severity severity = SeverityOf(msg.level);
    const RecordTime time = SplitTime(msg.time);
    std::string line;
    switch (format_) {
      case LogFormat::kText:
        line = Rfc3339(time) + " " + TextLevel(severity) + " ";
        if (!name.empty()) line += "[" + EscapeText(name) + "] ";
        line += EscapeText(message);
        break;
      case LogFormat::kJson:
        line = "{\"@timestamp\":" + JsonQuote(Rfc3339(time)) + ",\"@level\":" + JsonQuote(JsonLevel(severity)) +
               ",\"@message\":" + JsonQuote(message);
        if (!name.empty()) line += ",\"system\":" + JsonQuote(name);
        line += "}";
        break;
      case LogFormat::kGelf: {
        char timestamp[32];
        std::snprintf(timestamp, sizeof timestamp, "%lld.%03d", static_cast<long long>(time.seconds), time.millis);
        line = "{\"version\":\"1.1\",\"host\":" + JsonQuote(host_) + ",\"short_message\":" + JsonQuote(message) +
               ",\"timestamp\":" + timestamp + ",\"level\":" + std::to_string(GelfLevel(severity));
        if (!name.empty()) line += ",\"_system\":" + JsonQuote(name);
        line += "}";
        break;
      }
    }
    line += '\n';
    return line;
  }

  const LogFormat format_;
  const Redactor redact_;
  const std::shared_ptr<std::ostream> out_;
  const std::string host_;  // GELF's "host"; read once, the name does not change under us
};

}  // namespace

std::string JsonQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  out.reserve(text.size() + 2);
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else if (c >= 0x80) {
          const size_t length = Utf8SequenceLength(text.substr(i));
          if (length == 0) {
            out += "\\ufffd";
          } else {
            out.append(text.substr(i, length));
            i += length;
            continue;
          }
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

std::shared_ptr<spdlog::sinks::sink> MakeLogSink(LogFormat format, std::vector<std::string> secrets,
                                                 std::shared_ptr<std::ostream> out) {
  return std::make_shared<FormattingSink>(format, std::move(secrets), std::move(out));
}

StatusOr<std::shared_ptr<spdlog::logger>> MakeLogger(const std::string& level, LogFormat format,
                                                     std::vector<std::string> secrets,
                                                     std::shared_ptr<std::ostream> out, const std::string& name) {
  const auto normal = NormalizeLogLevel(level);
  if (!normal) return InvalidArgument("unknown log level " + QuoteForDisplay(level));
  if (!out) return InvalidArgument("no output stream for the logger");
  auto logger = std::make_shared<spdlog::logger>(name, MakeLogSink(format, std::move(secrets), std::move(out)));
  logger->set_level(spdlog::level::from_str(*normal));
  logger->flush_on(spdlog::level::trace);
  return logger;
}

Status SetupLogging(const std::string& level, LogFormat format, std::vector<std::string> secrets,
                    std::shared_ptr<std::ostream> out) {
  auto logger = MakeLogger(level, format, std::move(secrets), std::move(out));
  if (!logger.ok()) return logger.status();
  spdlog::set_default_logger(*std::move(logger));
  return Status::Ok();
}

Status SetupLogging(const std::string& level, LogFormat format, std::vector<std::string> secrets) {
  // std::cerr is a static object that outlives every logger; the no-op
  // deleter only satisfies the shared ownership the sink expects.
  std::shared_ptr<std::ostream> err(&std::cerr, [](std::ostream*) {});
  return SetupLogging(level, format, std::move(secrets), std::move(err));
}

}  // namespace resec
