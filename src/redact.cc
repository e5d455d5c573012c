#include "resec/redact.h"

#include <algorithm>

namespace resec {
namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// 8-4-4-4-12 hex digits at the front of `s`.
bool StartsWithUuid(std::string_view s) {
  static constexpr std::string_view kShape = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
  if (s.size() < kShape.size()) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    if (kShape[i] == 'h' ? !IsHex(s[i]) : s[i] != '-') return false;
  }
  return true;
}

// RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.'.
bool IsSchemeChar(char c) { return IsAlnum(c) || c == '+' || c == '-' || c == '.'; }

// Where the user-info of an authority could end: the authority's own end,
// or the end of the token the URL sits in (a space, a quote in JSON).
bool EndsUserInfo(char c) {
  return c == '@' || c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         c == '"' || c == '\'' || c == '\\' || c == '<' || c == '>';
}

}  // namespace

std::string RedactSecrets(std::string_view text, const std::vector<std::string>& secrets) {
  std::vector<std::string_view> sorted;
  for (const std::string& s : secrets) {
    if (!s.empty()) sorted.emplace_back(s);
  }
  if (sorted.empty()) return std::string(text);
  std::sort(sorted.begin(), sorted.end(), [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  // One left-to-right pass, so "[redacted]" itself is never searched again.
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const std::string_view rest = text.substr(i);
    const auto hit = std::find_if(sorted.begin(), sorted.end(), [rest](std::string_view s) { return rest.starts_with(s); });
    if (hit != sorted.end()) {
      out += kRedacted;
      i += hit->size();
    } else {
      out += text[i];
      ++i;
    }
  }
  return out;
}

std::string MaskUuids(std::string_view text) {
  constexpr size_t kUuidLength = 36;
  constexpr size_t kKept = 8;
  // Keeps the shape (a reader still sees a session ID was there) without a
  // hex digit, so a second pass leaves it alone; and not "[redacted]", which
  // would claim a configured secret reached a log line.
  constexpr std::string_view kMaskedUuidTail = "-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const bool starts_token = i == 0 || !IsAlnum(text[i - 1]);
    const bool ends_token = i + kUuidLength >= text.size() || !IsAlnum(text[i + kUuidLength]);
    if (starts_token && StartsWithUuid(text.substr(i)) && ends_token) {
      out.append(text.substr(i, kKept));
      out += kMaskedUuidTail;
      i += kUuidLength;
    } else {
      out += text[i];
      ++i;
    }
  }
  return out;
}

std::string RedactUrlPasswords(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;  // text[0, copied) is in `out`
  size_t search = 0;
  while (true) {
    const size_t sep = text.find("://", search);
    if (sep == std::string_view::npos) break;
    search = sep + 3;
    // A scheme before "://": at least one character, starting with a letter.
    size_t scheme = sep;
    while (scheme > 0 && IsSchemeChar(text[scheme - 1])) --scheme;
    while (scheme < sep && !((text[scheme] >= 'a' && text[scheme] <= 'z') || (text[scheme] >= 'A' && text[scheme] <= 'Z'))) {
      ++scheme;
    }
    if (scheme == sep) continue;
    const size_t info = sep + 3;
    size_t end = info;
    while (end < text.size() && !EndsUserInfo(text[end])) ++end;
    if (end >= text.size() || text[end] != '@' || end == info) continue;
    const std::string_view user_info = text.substr(info, end - info);
    const size_t colon = user_info.find(':');
    // Keep the user name (not a secret, and it tells which account); a
    // user-info without a colon is usually a bare token, so it all goes.
    const size_t keep = colon == std::string_view::npos ? info : info + colon + 1;
    out.append(text.substr(copied, keep - copied));
    out += kRedacted;
    copied = end;
    search = end;
  }
  out.append(text.substr(copied));
  return out;
}

Redactor::Redactor(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

std::string Redactor::operator()(std::string_view text) const {
  return MaskUuids(RedactUrlPasswords(RedactSecrets(text, secrets_)));
}

}  // namespace resec
