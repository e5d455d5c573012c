// The settings table: names unique and complete, --help's columns hold every
// row, and the defaults --help prints (from a default Config) are the
// reference's.
#include "resec/config/settings_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <variant>

#include "resec/config/parse.h"

namespace resec::config {
namespace {

TEST(SettingsTableTest, NamesAreUnique) {
  std::set<std::string_view> envs;
  std::set<std::string_view> flags = {"help", "h", "version", "v"};  // the agent's own
  for (const Setting& s : Settings()) {
    SCOPED_TRACE(s.env);
    EXPECT_TRUE(envs.insert(s.env).second);
    if (!s.flag.empty()) {
      EXPECT_TRUE(flags.insert(s.flag).second);
    }
    if (!s.short_flag.empty()) {
      EXPECT_TRUE(flags.insert(s.short_flag).second);
    }
    EXPECT_FALSE(s.help.empty());
    // Booleans take no value on the command line, so --help shows none.
    EXPECT_EQ(s.value_name.empty(), s.flag.empty() || IsBoolean(s));
  }
}

TEST(SettingsTableTest, Lookups) {
  EXPECT_EQ(FindSetting("REDIS_ADDR").flag, "redis-addr");
  EXPECT_EQ(FindFlag("redis-addr"), &FindSetting("REDIS_ADDR"));
  EXPECT_EQ(FindFlag("s"), &FindSetting("STATE_SERVER"));
  EXPECT_EQ(FindFlag(""), nullptr);
  EXPECT_EQ(FindFlag("consul-http-addr"), nullptr);  // environment only
  EXPECT_EQ(FindFlag("bogus"), nullptr);
  EXPECT_TRUE(IsBoolean(FindSetting("FENCING")));
  EXPECT_TRUE(IsBoolean(FindSetting("CONSUL_HTTP_SSL")));
  EXPECT_FALSE(IsBoolean(FindSetting("REDIS_ADDR")));
}

TEST(SettingsTableTest, DefaultsAsTheReferenceWritesThem) {
  const std::vector<std::pair<std::string_view, std::string>> rows = {
      {"ANNOUNCE_ADDR", ""},
      {"CONSUL_HTTP_ADDR", "127.0.0.1:8500"},
      {"CONSUL_HTTP_TOKEN", ""},
      {"CONSUL_SERVICE_NAME", ""},
      {"CONSUL_SERVICE_PREFIX", "redis"},
      {"MASTER_TAGS", ""},
      {"SLAVE_TAGS", ""},
      {"CONSUL_LOCK_KEY", "resec/.lock"},
      {"CONSUL_LOCK_SESSION_NAME", "resec"},
      {"CONSUL_LOCK_TTL", "15s"},
      {"CONSUL_LOCK_MONITOR_RETRIES", "3"},
      {"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "1s"},
      {"CONSUL_DEREGISTER_SERVICE_AFTER", "72h"},
      {"HEALTHCHECK_INTERVAL", "5s"},
      {"HEALTHCHECK_TIMEOUT", "2s"},
      {"REDIS_ADDR", "127.0.0.1:6379"},
      {"REDIS_PASSWORD", ""},
      {"STATE_SERVER", "false"},
      {"STATE_LISTEN_ADDR", "0.0.0.0:8080"},
      {"LOG_LEVEL", "info"},
      {"LOG_FORMAT", "text"},
      // Ours (README).
      {"REDIS_POLL_INTERVAL", "250ms"},
      {"CONSUL_LOCK_DELAY", "1s"},
      {"CONSUL_CHECK_TTL", "0s"},
      {"CONSUL_SESSION_CHECKS", "true"},
      {"REDIS_PRIORITY", "100"},
      {"FENCING", "true"},
      {"MIN_REPLICAS_TO_WRITE", "1"},
      {"MIN_REPLICAS_MAX_LAG", "10s"},
      {"SWITCHOVER_TIMEOUT", "5s"},
      // The Consul CLI's.
      {"CONSUL_HTTP_SSL", "false"},
      {"CONSUL_HTTP_SSL_VERIFY", "true"},
      {"CONSUL_HTTP_AUTH", ""},
      {"CONSUL_HTTP_TOKEN_FILE", ""},
  };
  for (const auto& [env, want] : rows) {
    SCOPED_TRACE(env);
    EXPECT_EQ(DefaultText(FindSetting(env)), want);
  }
}

// Every row's variable and default start in the same column, so help2man's
// man page and a terminal both show a table.
TEST(SettingsTableTest, HelpColumnsHoldEveryRow) {
  const ParseResult result = ParseConfig({}, {"--help"}, nullptr);
  const auto* help = std::get_if<HelpRequest>(&result);
  ASSERT_NE(help, nullptr);
  size_t env_column = 0;
  size_t default_column = 0;
  for (const Setting& s : Settings()) {
    SCOPED_TRACE(s.env);
    const std::string flag = "--" + std::string(s.flag) + (s.value_name.empty() ? "" : " ");
    const size_t at = s.flag.empty() ? help->text.find("  " + std::string(s.env) + " ") : help->text.find(flag);
    ASSERT_NE(at, std::string::npos);
    const size_t line_start = help->text.rfind('\n', at) + 1;
    const std::string line = help->text.substr(line_start, help->text.find('\n', at) - line_start);
    const size_t defaults = line.find(" default ") + 1;
    ASSERT_GT(defaults, 0u) << line;
    if (s.flag.empty()) {
      EXPECT_EQ(defaults, 49u) << line;
      continue;
    }
    const size_t env = line.find(" " + std::string(s.env) + " ") + 1;
    if (env_column == 0) {
      env_column = env;
      default_column = defaults;
    }
    EXPECT_EQ(env, env_column) << line;
    EXPECT_EQ(defaults, default_column) << line;
    // Two spaces at least before the meaning: the default fits its column.
    EXPECT_EQ(line.substr(defaults + 8 + std::max<size_t>(DefaultText(s).size(), 7), 2), "  ") << line;
  }
  EXPECT_EQ(env_column, 49u);
}

}  // namespace
}  // namespace resec::config
