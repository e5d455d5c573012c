// Go's time.ParseDuration and Duration.String, byte for byte: every duration
// setting is written in Go's syntax because the original resec read them so.
#include "resec/config/durations.h"

#include <cstdint>
#include <optional>
#include <string_view>

#include "resec/config/text.h"

namespace resec {
namespace {

using std::chrono::nanoseconds;

constexpr uint64_t kTwoTo63 = uint64_t{1} << 63;

// Consumes [0-9]* from the front of `s`. False on overflow past 2^63, which
// Go reports as an invalid duration.
bool LeadingInt(std::string_view& s, uint64_t& x) {
  x = 0;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') break;
    if (x > kTwoTo63 / 10) return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
    if (x > kTwoTo63) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Consumes [0-9]* after a decimal point. Like Go, it stops accumulating
// precision instead of failing when the digits overflow.
void LeadingFraction(std::string_view& s, uint64_t& x, double& scale) {
  x = 0;
  scale = 1;
  bool overflow = false;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') break;
    if (overflow) continue;
    if (x > (kTwoTo63 - 1) / 10) {
      overflow = true;
      continue;
    }
    const uint64_t y = x * 10 + static_cast<uint64_t>(c - '0');
    if (y > kTwoTo63) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

std::optional<uint64_t> UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  // "us", U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, as Go accepts all three.
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return uint64_t{1000} * 1000 * 1000;
  if (unit == "m") return uint64_t{60} * 1000 * 1000 * 1000;
  if (unit == "h") return uint64_t{3600} * 1000 * 1000 * 1000;
  return std::nullopt;
}

// Writes the fraction v / 10^prec into the front of `out` (built backwards),
// omitting trailing zeros and the point when the fraction is zero. Returns v / 10^prec.
uint64_t FormatFraction(std::string& reversed, uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const uint64_t digit = v % 10;
    print = print || digit != 0;
    if (print) reversed.push_back(static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) reversed.push_back('.');
  return v;
}

void FormatInt(std::string& reversed, uint64_t v) {
  if (v == 0) {
    reversed.push_back('0');
    return;
  }
  while (v > 0) {
    reversed.push_back(static_cast<char>('0' + v % 10));
    v /= 10;
  }
}

}  // namespace

StatusOr<nanoseconds> ParseGoDuration(const std::string& text) {
  const auto invalid = [&text] { return InvalidArgument("time: invalid duration " + QuoteForDisplay(text)); };
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return nanoseconds(0);
  if (s.empty()) return invalid();
  uint64_t d = 0;
  while (!s.empty()) {
    if (!(s.front() == '.' || (s.front() >= '0' && s.front() <= '9'))) return invalid();
    uint64_t v = 0;
    const size_t before = s.size();
    if (!LeadingInt(s, v)) return invalid();
    const bool pre = before != s.size();

    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      const size_t at = s.size();
      LeadingFraction(s, f, scale);
      post = at != s.size();
    }
    if (!pre && !post) return invalid();  // no digits, e.g. ".s"

    size_t i = 0;
    while (i < s.size() && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9')) ++i;
    if (i == 0) return InvalidArgument("time: missing unit in duration " + QuoteForDisplay(text));
    const std::string_view unit_text = s.substr(0, i);
    s.remove_prefix(i);
    const auto unit = UnitNanos(unit_text);
    if (!unit) {
      return InvalidArgument("time: unknown unit " + QuoteForDisplay(unit_text) + " in duration " +
                             QuoteForDisplay(text));
    }
    if (v > kTwoTo63 / *unit) return invalid();  // overflow
    v *= *unit;
    if (f > 0) {
      // double keeps fractions of hours nanosecond-accurate (at most 3.6e12 ns).
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
      if (v > kTwoTo63) return invalid();
    }
    d += v;
    if (d > kTwoTo63) return invalid();
  }
  if (neg) {
    // -(2^63) is representable; negate in unsigned arithmetic to reach it.
    return nanoseconds(static_cast<int64_t>(~d + 1));
  }
  if (d > kTwoTo63 - 1) return invalid();
  return nanoseconds(static_cast<int64_t>(d));
}

std::string FormatGoDuration(nanoseconds d) {
  const int64_t count = d.count();
  const bool neg = count < 0;
  uint64_t u = static_cast<uint64_t>(count);
  if (neg) u = ~u + 1;
  std::string reversed;  // built from the last character to the first, like Go's buffer
  constexpr uint64_t kSecond = 1000000000;
  if (u < kSecond) {
    // Below a second Go switches to smaller units, like 1.2ms.
    int prec = 0;
    reversed.push_back('s');
    if (u == 0) return "0s";
    if (u < 1000) {
      prec = 0;
      reversed.push_back('n');
    } else if (u < 1000000) {
      prec = 3;
      reversed += "\xB5\xC2";  // U+00B5 MICRO SIGN, reversed byte order
    } else {
      prec = 6;
      reversed.push_back('m');
    }
    u = FormatFraction(reversed, u, prec);
    FormatInt(reversed, u);
  } else {
    reversed.push_back('s');
    u = FormatFraction(reversed, u, 9);
    FormatInt(reversed, u % 60);
    u /= 60;
    if (u > 0) {
      reversed.push_back('m');
      FormatInt(reversed, u % 60);
      u /= 60;
      // Hours are the largest unit: days differ in length.
      if (u > 0) {
        reversed.push_back('h');
        FormatInt(reversed, u);
      }
    }
  }
  if (neg) reversed.push_back('-');
  return std::string(reversed.rbegin(), reversed.rend());
}
}  // namespace resec
