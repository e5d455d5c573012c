// Quoting untrusted values for error and log lines, and LOG_LEVEL's names.
#include "resec/config/text.h"

#include "values.h"

namespace resec {

std::string QuoteForDisplay(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  size_t shown = 0;
  for (const char ch : text) {
    if (shown == max_bytes) break;
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
    ++shown;
  }
  out += '"';
  if (shown < text.size()) out += "...";
  return out;
}

std::optional<std::string> NormalizeLogLevel(std::string_view level) {
  const std::string lower = config::ToLower(level);
  if (lower == "debug" || lower == "info" || lower == "error") return lower;
  if (lower == "warn" || lower == "warning") return std::string("warn");
  // logrus' fatal and panic levels log only errors; we log errors at those levels.
  if (lower == "fatal" || lower == "panic") return std::string("error");
  return std::nullopt;
}

}  // namespace resec
