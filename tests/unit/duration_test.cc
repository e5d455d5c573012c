// ParseGoDuration / FormatGoDuration against Go's time package, row by row
// (most rows come from the cases Go's own time_test.go checks).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "resec/config.h"

namespace resec {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

struct ParseRow {
  const char* name;
  std::string text;
  nanoseconds want;
};

TEST(ParseGoDurationTest, AcceptsWhatGoAccepts) {
  const std::vector<ParseRow> rows = {
      {"zero alone", "0", nanoseconds(0)},
      {"signed zero", "-0", nanoseconds(0)},
      {"plus zero", "+0", nanoseconds(0)},
      {"zero with unit", "0s", nanoseconds(0)},
      {"seconds", "5s", seconds(5)},
      {"many seconds", "1478s", seconds(1478)},
      {"negative", "-5s", seconds(-5)},
      {"explicit plus", "+5s", seconds(5)},
      {"negative zero with unit", "-0s", nanoseconds(0)},
      {"decimal", "5.6s", milliseconds(5600)},
      {"trailing point", "5.s", seconds(5)},
      {"leading point", ".5s", milliseconds(500)},
      {"trailing zeros", "1.00s", seconds(1)},
      {"fraction digits", "1.004s", milliseconds(1004)},
      {"fraction trailing zero", "1.0040s", milliseconds(1004)},
      {"long fraction", "100.00100s", milliseconds(100001)},
      {"nanoseconds", "10ns", nanoseconds(10)},
      {"micro us", "11us", microseconds(11)},
      {"micro sign U+00B5", "12\xC2\xB5s", microseconds(12)},
      {"greek mu U+03BC", "12\xCE\xBCs", microseconds(12)},
      {"milliseconds", "13ms", milliseconds(13)},
      {"minutes", "15m", minutes(15)},
      {"hours", "16h", hours(16)},
      {"decimal hours", "1.5h", minutes(90)},
      {"sequence", "1m30s", seconds(90)},
      {"hours and minutes", "3h30m", minutes(210)},
      {"unordered units", "10.5s4m", minutes(4) + milliseconds(10500)},
      {"negative sequence", "-2m3.4s", -(minutes(2) + milliseconds(3400))},
      {"every unit", "1h2m3s4ms5us6ns",
       hours(1) + minutes(2) + seconds(3) + milliseconds(4) + microseconds(5) + nanoseconds(6)},
      {"big", "39h9m14.425s", hours(39) + minutes(9) + milliseconds(14425)},
      {"large ns", "52763797000ns", nanoseconds(52763797000)},
      {"repeating fraction of an hour", "0.3333333333333333333h", minutes(20)},
      {"2^53+1 ns, exact", "9007199254740993ns", nanoseconds(9007199254740993)},
      {"largest", "9223372036854775807ns", nanoseconds(std::numeric_limits<int64_t>::max())},
      {"largest in us", "9223372036854775.807us", nanoseconds(std::numeric_limits<int64_t>::max())},
      {"largest by parts", "9223372036s854ms775us807ns", nanoseconds(std::numeric_limits<int64_t>::max())},
      {"smallest", "-9223372036854775808ns", nanoseconds(std::numeric_limits<int64_t>::min())},
      {"smallest in us", "-9223372036854775.808us", nanoseconds(std::numeric_limits<int64_t>::min())},
      {"long zero fraction", "0.100000000000000000000h", minutes(6)},
      {"precise fraction of an hour", "0.830103483285477580700h",
       minutes(49) + seconds(48) + nanoseconds(372539827)},
      {"days as hours", "72h", hours(72)},
  };
  for (const ParseRow& row : rows) {
    SCOPED_TRACE(row.name);
    const auto got = ParseGoDuration(row.text);
    ASSERT_TRUE(got.ok()) << row.text << ": " << got.status().ToString();
    EXPECT_EQ(got->count(), row.want.count()) << row.text;
  }
}

struct RejectRow {
  const char* name;
  std::string text;
  std::string message;  // Go's error text, with our quoting
};

TEST(ParseGoDurationTest, RejectsWhatGoRejects) {
  const std::vector<RejectRow> rows = {
      {"empty", "", "time: invalid duration \"\""},
      {"no unit", "5", "time: missing unit in duration \"5\""},
      {"no unit, decimal", "3.5", "time: missing unit in duration \"3.5\""},
      {"sign only", "-", "time: invalid duration \"-\""},
      {"unit only", "s", "time: invalid duration \"s\""},
      {"point only", ".", "time: invalid duration \".\""},
      {"signed point", "-.", "time: invalid duration \"-.\""},
      {"point unit", ".s", "time: invalid duration \".s\""},
      {"signed point unit", "+.s", "time: invalid duration \"+.s\""},
      {"unknown unit", "5x", "time: unknown unit \"x\" in duration \"5x\""},
      {"days are not a unit", "1d", "time: unknown unit \"d\" in duration \"1d\""},
      {"two points", "1.2.3s", "time: missing unit in duration \"1.2.3s\""},
      {"space", "5 s", "time: unknown unit \" s\" in duration \"5 s\""},
      {"leading space", " 5s", "time: invalid duration \" 5s\""},
      {"double sign", "--5s", "time: invalid duration \"--5s\""},
      {"invalid bytes", "\x85\x85", "time: invalid duration \"\\x85\\x85\""},
      {"overflow by 2", "9223372036854775810ns", "time: invalid duration \"9223372036854775810ns\""},
      {"overflow by 1", "9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""},
      {"negative overflow", "-9223372036854775809ns", "time: invalid duration \"-9223372036854775809ns\""},
      {"overflow in us", "9223372036854775.808us", "time: invalid duration \"9223372036854775.808us\""},
      {"hours overflow", "3000000h", "time: invalid duration \"3000000h\""},
      {"sum overflow", "2562047h47m17s", "time: invalid duration \"2562047h47m17s\""},
  };
  for (const RejectRow& row : rows) {
    SCOPED_TRACE(row.name);
    const auto got = ParseGoDuration(row.text);
    ASSERT_FALSE(got.ok()) << row.text << " parsed as " << got->count();
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(), row.message);
  }
}

struct FormatRow {
  const char* name;
  nanoseconds value;
  std::string want;
};

TEST(FormatGoDurationTest, MatchesGoString) {
  const std::vector<FormatRow> rows = {
      {"zero", nanoseconds(0), "0s"},
      {"one ns", nanoseconds(1), "1ns"},
      {"micro", nanoseconds(1100), "1.1\xC2\xB5s"},
      {"milli", microseconds(2200), "2.2ms"},
      {"half second", milliseconds(500), "500ms"},
      {"seconds", seconds(15), "15s"},
      {"fractional seconds", milliseconds(1500), "1.5s"},
      {"more fractional seconds", milliseconds(3300), "3.3s"},
      {"minutes and seconds", seconds(90), "1m30s"},
      {"whole minute", minutes(1), "1m0s"},
      {"minutes", minutes(4) + seconds(5), "4m5s"},
      {"minutes fraction", minutes(4) + milliseconds(5001), "4m5.001s"},
      {"hours", hours(5) + minutes(6) + milliseconds(7001), "5h6m7.001s"},
      {"one ns past minutes", minutes(8) + nanoseconds(1), "8m0.000000001s"},
      {"days as hours", hours(72), "72h0m0s"},
      {"negative", seconds(-1), "-1s"},
      {"negative small", milliseconds(-250), "-250ms"},
      {"largest", nanoseconds(std::numeric_limits<int64_t>::max()), "2562047h47m16.854775807s"},
      {"smallest", nanoseconds(std::numeric_limits<int64_t>::min()), "-2562047h47m16.854775808s"},
  };
  for (const FormatRow& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(FormatGoDuration(row.value), row.want);
  }
}

TEST(FormatGoDurationTest, RoundTripsThroughParse) {
  const std::vector<nanoseconds> values = {nanoseconds(0),   nanoseconds(7),  microseconds(1100), milliseconds(250),
                                           seconds(15),       minutes(90),     hours(72),          -seconds(42),
                                           nanoseconds(std::numeric_limits<int64_t>::max()),
                                           nanoseconds(std::numeric_limits<int64_t>::min())};
  for (const nanoseconds value : values) {
    const std::string text = FormatGoDuration(value);
    SCOPED_TRACE(text);
    const auto parsed = ParseGoDuration(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->count(), value.count());
  }
}

}  // namespace
}  // namespace resec
