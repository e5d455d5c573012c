// ParseConfig, ParseHostPort and the Config helpers: defaults, every
// variable and flag, precedence, and every validation message verbatim.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "resec/config.h"

namespace resec {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A reader for CONSUL_HTTP_TOKEN_FILE that knows only the files it was given.
FileReader FakeFiles(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& path) -> StatusOr<std::string> {
    if (const auto it = files.find(path); it != files.end()) return it->second;
    return NotFound("No such file or directory");
  };
}

ParseResult Parse(const Environment& env, const std::vector<std::string>& args = {},
                  const FileReader& files = FakeFiles({})) {
  return ParseConfig(env, args, files);
}

std::string Describe(const ParseResult& result) {
  if (const auto* errors = std::get_if<ConfigErrors>(&result)) {
    std::string text = "errors:\n";
    for (const std::string& line : errors->lines) text += "  " + line + "\n";
    return text;
  }
  if (std::holds_alternative<HelpRequest>(result)) return "help request";
  if (std::holds_alternative<VersionRequest>(result)) return "version request";
  return "a config";
}

// The Config, or a failure naming what came back instead.
Config MustParse(const Environment& env, const std::vector<std::string>& args = {},
                 const FileReader& files = FakeFiles({})) {
  ParseResult result = Parse(env, args, files);
  if (auto* config = std::get_if<Config>(&result)) return *config;
  ADD_FAILURE() << "expected a config, got " << Describe(result);
  return Config{};
}

// The error lines, or a failure when parsing succeeded.
std::vector<std::string> MustFail(const Environment& env, const std::vector<std::string>& args = {},
                                  const FileReader& files = FakeFiles({})) {
  ParseResult result = Parse(env, args, files);
  if (auto* errors = std::get_if<ConfigErrors>(&result)) return errors->lines;
  ADD_FAILURE() << "expected errors, got " << Describe(result);
  return {};
}

// ---------------------------------------------------------------------------
// ParseHostPort

struct HostPortRow {
  const char* name;
  std::string text;
  bool require_host;
  std::optional<HostPort> want;  // nullopt: an error containing `error`
  std::string error;
};

TEST(ParseHostPortTest, Table) {
  const std::vector<HostPortRow> rows = {
      {"ipv4", "10.0.0.5:6379", true, HostPort{"10.0.0.5", 6379}, ""},
      {"name", "redis.service.consul:6379", true, HostPort{"redis.service.consul", 6379}, ""},
      {"underscore name", "redis_1:6379", true, HostPort{"redis_1", 6379}, ""},
      {"ipv6", "[::1]:6379", true, HostPort{"::1", 6379}, ""},
      {"ipv6 full", "[2001:db8::5]:1", true, HostPort{"2001:db8::5", 1}, ""},
      {"ipv6 zone", "[fe80::1%eth0]:6379", true, HostPort{"fe80::1%eth0", 6379}, ""},
      {"port only allowed", ":6379", false, HostPort{"", 6379}, ""},
      {"highest port", "h:65535", true, HostPort{"h", 65535}, ""},
      {"leading zeros", "h:00080", true, HostPort{"h", 80}, ""},
      {"port only refused", ":6379", true, std::nullopt, "missing host"},
      {"empty", "", false, std::nullopt, "empty address"},
      {"no port", "localhost", true, std::nullopt, "missing port"},
      {"empty port", "localhost:", true, std::nullopt, "missing port"},
      {"ipv6 no port", "[::1]", true, std::nullopt, "missing port"},
      {"ipv6 empty port", "[::1]:", true, std::nullopt, "missing port"},
      {"port zero", "h:0", true, std::nullopt, "port 0 out of range 1..65535"},
      {"port too big", "h:70000", true, std::nullopt, "port 70000 out of range 1..65535"},
      {"port huge", "h:123456789012345678901234", true, std::nullopt,
       "port 12345678901234567890... out of range 1..65535"},
      {"port with sign", "h:+80", true, std::nullopt, "port \"+80\" is not a number"},
      {"port negative", "h:-1", true, std::nullopt, "port \"-1\" is not a number"},
      {"port hex", "h:0x50", true, std::nullopt, "port \"0x50\" is not a number"},
      {"port name", "h:redis", true, std::nullopt, "port \"redis\" is not a number"},
      {"port with space", "h: 80", true, std::nullopt, "port \" 80\" is not a number"},
      {"bare ipv6", "::1:6379", true, std::nullopt, "too many colons"},
      {"unclosed bracket", "[::1:6379", true, std::nullopt, "missing ']'"},
      {"text after bracket", "[::1]x:6379", true, std::nullopt, "unexpected text after ']'"},
      {"bad ipv6", "[zz::1]:6379", true, std::nullopt, "invalid IPv6 address \"zz::1\""},
      {"space in host", "my host:6379", true, std::nullopt, "invalid host \"my host\""},
      {"url", "redis://h:6379", true, std::nullopt, "too many colons"},
  };
  for (const HostPortRow& row : rows) {
    SCOPED_TRACE(row.name);
    const auto got = ParseHostPort(row.text, row.require_host);
    if (row.want) {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, *row.want);
    } else {
      ASSERT_FALSE(got.ok()) << "parsed as " << got->ToString();
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(got.status().message().find(row.error), std::string::npos) << got.status().message();
    }
  }
}

TEST(HostPortTest, ToString) {
  EXPECT_EQ((HostPort{"10.0.0.5", 6379}).ToString(), "10.0.0.5:6379");
  EXPECT_EQ((HostPort{"", 6379}).ToString(), ":6379");
  EXPECT_EQ((HostPort{"::1", 6379}).ToString(), "[::1]:6379");
  EXPECT_EQ((HostPort{"redis", 1}).ToString(), "redis:1");
  for (const std::string text : {"10.0.0.5:6379", "[2001:db8::1]:80", ":8080"}) {
    const auto parsed = ParseHostPort(text, false);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(parsed->ToString(), text);
  }
}

// ---------------------------------------------------------------------------
// Defaults, variables, flags.

TEST(ParseConfigTest, DefaultsMatchTheOriginal) {
  const Config c = MustParse({});
  EXPECT_EQ(c.redis_addr, (HostPort{"127.0.0.1", 6379}));
  EXPECT_EQ(c.redis_username, "");
  EXPECT_EQ(c.redis_password, "");
  EXPECT_EQ(c.announce_addr, (HostPort{"", 6379}));  // loopback rule
  EXPECT_EQ(c.consul.scheme, "http");
  EXPECT_EQ(c.consul.host, "127.0.0.1");
  EXPECT_EQ(c.consul.port, 8500);
  EXPECT_EQ(c.consul.token, "");
  EXPECT_EQ(c.consul.basic_auth_user, "");
  EXPECT_EQ(c.consul.basic_auth_password, "");
  EXPECT_TRUE(c.consul.tls_verify);
  EXPECT_EQ(c.consul.ca_file, "");
  EXPECT_EQ(c.consul.ca_path, "");
  EXPECT_EQ(c.consul.client_cert, "");
  EXPECT_EQ(c.consul.client_key, "");
  EXPECT_EQ(c.consul.tls_server_name, "");
  EXPECT_EQ(c.service_name, "");
  EXPECT_EQ(c.service_prefix, "redis");
  EXPECT_TRUE(c.master_tags.empty());
  EXPECT_TRUE(c.slave_tags.empty());
  EXPECT_EQ(c.lock_key, "resec/.lock");
  EXPECT_EQ(c.lock_session_name, "resec");
  EXPECT_EQ(c.lock_ttl, seconds(15));
  EXPECT_EQ(c.lock_monitor_retries, 3);
  EXPECT_EQ(c.lock_monitor_retry_interval, seconds(1));
  EXPECT_EQ(c.deregister_service_after, hours(72));
  EXPECT_EQ(c.healthcheck_interval, seconds(5));
  EXPECT_EQ(c.healthcheck_timeout, seconds(2));
  EXPECT_FALSE(c.state_server);
  EXPECT_EQ(c.state_listen_addr, (HostPort{"0.0.0.0", 8080}));
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_format, LogFormat::kText);
  // Beyond the original.
  EXPECT_EQ(c.redis_poll_interval, milliseconds(250));
  EXPECT_EQ(c.lock_delay, seconds(1));
  EXPECT_EQ(c.check_ttl, milliseconds(0));
  EXPECT_EQ(c.EffectiveCheckTtl(), seconds(6));
  EXPECT_TRUE(c.session_checks);
  EXPECT_EQ(c.redis_priority, 100);
  EXPECT_TRUE(c.fencing);
  EXPECT_EQ(c.min_replicas_to_write, 1);
  EXPECT_EQ(c.min_replicas_max_lag, seconds(10));
  EXPECT_EQ(c.switchover_timeout, seconds(5));
  // Derived names.
  EXPECT_EQ(c.ServiceId(), "redis@:6379");
  EXPECT_EQ(c.MasterServiceName(), "redis-master");
  EXPECT_EQ(c.SlaveServiceName(), "redis-slave");
  EXPECT_EQ(c.CheckId(), "redis@:6379:replication-status-check");
}

// One row per flag-bearing setting: the value as a variable and as a flag
// must both land in the field.
struct SettingRow {
  const char* env;
  const char* flag;
  std::string value;
  std::function<void(const Config&)> check;
};

std::vector<SettingRow> SettingRows() {
  return {
      {"ANNOUNCE_ADDR", "--announce-addr", "10.1.1.1:7000",
       [](const Config& c) { EXPECT_EQ(c.announce_addr, (HostPort{"10.1.1.1", 7000})); }},
      {"CONSUL_SERVICE_NAME", "--consul-service-name", "cache",
       [](const Config& c) { EXPECT_EQ(c.service_name, "cache"); }},
      {"CONSUL_SERVICE_PREFIX", "--consul-service-prefix", "sessions",
       [](const Config& c) { EXPECT_EQ(c.service_prefix, "sessions"); }},
      {"MASTER_TAGS", "--consul-master-tags", "primary,v7",
       [](const Config& c) { EXPECT_EQ(c.master_tags, (std::vector<std::string>{"primary", "v7"})); }},
      {"SLAVE_TAGS", "--consul-slave-tags", "replica",
       [](const Config& c) { EXPECT_EQ(c.slave_tags, (std::vector<std::string>{"replica"})); }},
      {"CONSUL_LOCK_KEY", "--consul-lock-key", "resec/cache/.lock",
       [](const Config& c) { EXPECT_EQ(c.lock_key, "resec/cache/.lock"); }},
      {"CONSUL_LOCK_SESSION_NAME", "--consul-lock-session-name", "cache-lock",
       [](const Config& c) { EXPECT_EQ(c.lock_session_name, "cache-lock"); }},
      {"CONSUL_LOCK_TTL", "--consul-lock-ttl", "30s", [](const Config& c) { EXPECT_EQ(c.lock_ttl, seconds(30)); }},
      {"CONSUL_LOCK_MONITOR_RETRIES", "--consul-lock-monitor-retries", "7",
       [](const Config& c) { EXPECT_EQ(c.lock_monitor_retries, 7); }},
      {"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "--consul-lock-monitor-retry-interval", "1.5s",
       [](const Config& c) { EXPECT_EQ(c.lock_monitor_retry_interval, milliseconds(1500)); }},
      {"CONSUL_DEREGISTER_SERVICE_AFTER", "--consul-deregister-service-after", "1h30m",
       [](const Config& c) { EXPECT_EQ(c.deregister_service_after, std::chrono::minutes(90)); }},
      {"HEALTHCHECK_INTERVAL", "--healthcheck-interval", "500ms",
       [](const Config& c) { EXPECT_EQ(c.healthcheck_interval, milliseconds(500)); }},
      {"HEALTHCHECK_TIMEOUT", "--healthcheck-timeout", "3s",
       [](const Config& c) {
         EXPECT_EQ(c.healthcheck_timeout, seconds(3));
         EXPECT_EQ(c.EffectiveCheckTtl(), seconds(9));
       }},
      {"REDIS_ADDR", "--redis-addr", "10.0.0.9:6380",
       [](const Config& c) { EXPECT_EQ(c.redis_addr, (HostPort{"10.0.0.9", 6380})); }},
      {"REDIS_USERNAME", "--redis-username", "resec", [](const Config& c) { EXPECT_EQ(c.redis_username, "resec"); }},
      {"REDIS_PASSWORD", "--redis-password", "hunter2",
       [](const Config& c) { EXPECT_EQ(c.redis_password, "hunter2"); }},
      {"STATE_SERVER", "--state-server", "true", [](const Config& c) { EXPECT_TRUE(c.state_server); }},
      {"STATE_LISTEN_ADDR", "--state-listen-addr", "127.0.0.1:9090",
       [](const Config& c) { EXPECT_EQ(c.state_listen_addr, (HostPort{"127.0.0.1", 9090})); }},
      {"LOG_LEVEL", "--log-level", "debug", [](const Config& c) { EXPECT_EQ(c.log_level, "debug"); }},
      {"LOG_FORMAT", "--log-format", "json", [](const Config& c) { EXPECT_EQ(c.log_format, LogFormat::kJson); }},
      {"REDIS_POLL_INTERVAL", "--redis-poll-interval", "100ms",
       [](const Config& c) { EXPECT_EQ(c.redis_poll_interval, milliseconds(100)); }},
      {"CONSUL_LOCK_DELAY", "--consul-lock-delay", "0s",
       [](const Config& c) { EXPECT_EQ(c.lock_delay, milliseconds(0)); }},
      {"CONSUL_CHECK_TTL", "--consul-check-ttl", "20s",
       [](const Config& c) {
         EXPECT_EQ(c.check_ttl, seconds(20));
         EXPECT_EQ(c.EffectiveCheckTtl(), seconds(20));
       }},
      {"CONSUL_SESSION_CHECKS", "--consul-session-checks", "false",
       [](const Config& c) { EXPECT_FALSE(c.session_checks); }},
      {"REDIS_PRIORITY", "--redis-priority", "0", [](const Config& c) { EXPECT_EQ(c.redis_priority, 0); }},
      {"FENCING", "--fencing", "false", [](const Config& c) { EXPECT_FALSE(c.fencing); }},
      {"MIN_REPLICAS_TO_WRITE", "--min-replicas-to-write", "2",
       [](const Config& c) { EXPECT_EQ(c.min_replicas_to_write, 2); }},
      {"MIN_REPLICAS_MAX_LAG", "--min-replicas-max-lag", "1m",
       [](const Config& c) { EXPECT_EQ(c.min_replicas_max_lag, seconds(60)); }},
      {"SWITCHOVER_TIMEOUT", "--switchover-timeout", "2.5s",
       [](const Config& c) { EXPECT_EQ(c.switchover_timeout, milliseconds(2500)); }},
  };
}

// CONSUL_SERVICE_NAME alone would fail validation (MASTER_TAGS required).
Environment CompleteFor(const std::string& env) {
  if (env == "CONSUL_SERVICE_NAME") return {{"MASTER_TAGS", "primary"}};
  return {};
}

TEST(ParseConfigTest, EverySettingFromItsVariable) {
  for (const SettingRow& row : SettingRows()) {
    SCOPED_TRACE(row.env);
    Environment env = CompleteFor(row.env);
    env[row.env] = row.value;
    row.check(MustParse(env));
  }
}

TEST(ParseConfigTest, EverySettingFromItsFlagWithSpaceOrEquals) {
  for (const SettingRow& row : SettingRows()) {
    SCOPED_TRACE(row.flag);
    const Environment env = CompleteFor(row.env);
    // A boolean flag takes no separate value (Go's flag package): only "--flag=value".
    const bool is_bool = row.value == "true" || row.value == "false";
    if (!is_bool) row.check(MustParse(env, {row.flag, row.value}));
    row.check(MustParse(env, {std::string(row.flag) + "=" + row.value}));
    // Go's flag package (under urfave/cli) takes one dash as well.
    row.check(MustParse(env, {std::string(row.flag).substr(1) + "=" + row.value}));
  }
}

TEST(ParseConfigTest, FlagWinsOverVariable) {
  const Config c = MustParse({{"REDIS_ADDR", "10.0.0.1:6379"}, {"LOG_LEVEL", "error"}, {"STATE_SERVER", "true"}},
                             {"--redis-addr", "10.0.0.2:6379", "--log-level=debug", "--state-server=false"});
  EXPECT_EQ(c.redis_addr, (HostPort{"10.0.0.2", 6379}));
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_FALSE(c.state_server);
}

TEST(ParseConfigTest, LastFlagWins) {
  EXPECT_EQ(MustParse({}, {"--log-level", "debug", "--log-level", "error"}).log_level, "error");
}

TEST(ParseConfigTest, EmptyVariableMeansUnset) {
  const Config c = MustParse({{"CONSUL_SERVICE_PREFIX", ""}, {"LOG_LEVEL", ""}, {"CONSUL_LOCK_TTL", ""}});
  EXPECT_EQ(c.service_prefix, "redis");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.lock_ttl, seconds(15));
}

TEST(ParseConfigTest, BooleanFlagForms) {
  EXPECT_TRUE(MustParse({}, {"--state-server"}).state_server);
  EXPECT_TRUE(MustParse({}, {"-s"}).state_server);
  EXPECT_TRUE(MustParse({}, {"-state-server"}).state_server);
  EXPECT_FALSE(MustParse({{"STATE_SERVER", "1"}}, {"--state-server=false"}).state_server);
  EXPECT_FALSE(MustParse({{"STATE_SERVER", "1"}}, {"-s=0"}).state_server);
  EXPECT_FALSE(MustParse({}, {"--fencing=false"}).fencing);
  // A bare boolean takes no separate value: "false" is a stray argument.
  EXPECT_EQ(MustFail({}, {"--state-server", "false"}),
            (std::vector<std::string>{"resec: \"false\": unexpected argument (settings are flags)"}));
}

TEST(ParseConfigTest, BooleanValuesLikeGoParseBool) {
  for (const std::string yes : {"1", "t", "T", "TRUE", "true", "True"}) {
    SCOPED_TRACE(yes);
    EXPECT_TRUE(MustParse({{"STATE_SERVER", yes}}).state_server);
    EXPECT_TRUE(MustParse({{"STATE_SERVER", "false"}}, {"--state-server=" + yes}).state_server);
  }
  for (const std::string no : {"0", "f", "F", "FALSE", "false", "False"}) {
    SCOPED_TRACE(no);
    EXPECT_FALSE(MustParse({{"FENCING", no}}).fencing);
  }
  for (const std::string bad : {"yes", "no", "on", "tRuE", " true"}) {
    SCOPED_TRACE(bad);
    const auto lines = MustFail({{"STATE_SERVER", bad}});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "resec: STATE_SERVER (--state-server): " + QuoteForDisplay(bad) +
                            " is not a boolean (true, false, 1, 0, t, f)");
  }
}

TEST(ParseConfigTest, TagsAreTrimmedAndEmptiesDropped) {
  const Config c = MustParse({{"CONSUL_SERVICE_NAME", "redis"},
                              {"MASTER_TAGS", " primary , v7,,"},
                              {"SLAVE_TAGS", ",, replica ,  "}});
  EXPECT_EQ(c.master_tags, (std::vector<std::string>{"primary", "v7"}));
  EXPECT_EQ(c.slave_tags, (std::vector<std::string>{"replica"}));
}

TEST(ParseConfigTest, LogLevelsNormalised) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"debug", "debug"}, {"info", "info"},   {"warn", "warn"},   {"warning", "warn"}, {"error", "error"},
      {"fatal", "error"}, {"panic", "error"}, {"DEBUG", "debug"}, {"Warning", "warn"}, {"INFO", "info"},
  };
  for (const auto& [given, want] : rows) {
    SCOPED_TRACE(given);
    EXPECT_EQ(MustParse({{"LOG_LEVEL", given}}).log_level, want);
    EXPECT_EQ(NormalizeLogLevel(given), want);
  }
  EXPECT_EQ(NormalizeLogLevel("trace"), std::nullopt);
}

TEST(ParseConfigTest, LogFormats) {
  EXPECT_EQ(MustParse({{"LOG_FORMAT", "text"}}).log_format, LogFormat::kText);
  EXPECT_EQ(MustParse({{"LOG_FORMAT", "json"}}).log_format, LogFormat::kJson);
  EXPECT_EQ(MustParse({{"LOG_FORMAT", "gelf"}}).log_format, LogFormat::kGelf);
  EXPECT_EQ(MustParse({{"LOG_FORMAT", "JSON"}}).log_format, LogFormat::kJson);  // the original lower-cases
}

// ---------------------------------------------------------------------------
// Announce address and service names.

struct AnnounceRow {
  const char* name;
  Environment env;
  // Written HostPort{...} in the rows: a bare {"", 6379} makes GCC 12 at -O3
  // warn, falsely, that the row's host may be used uninitialised.
  HostPort want;
  std::string service_id;
};

TEST(ParseConfigTest, AnnounceAddress) {
  const std::vector<AnnounceRow> rows = {
      {"default redis is loopback", {}, HostPort{"", 6379}, "redis@:6379"},
      {"localhost", {{"REDIS_ADDR", "localhost:6380"}}, HostPort{"", 6380}, "redis@:6380"},
      {"LOCALHOST", {{"REDIS_ADDR", "LOCALHOST:6380"}}, HostPort{"", 6380}, "redis@:6380"},
      {"other 127.x", {{"REDIS_ADDR", "127.0.1.1:6379"}}, HostPort{"", 6379}, "redis@:6379"},
      {"ipv6 loopback", {{"REDIS_ADDR", "[::1]:6379"}}, HostPort{"", 6379}, "redis@:6379"},
      {"routable", {{"REDIS_ADDR", "10.0.0.5:6379"}}, HostPort{"10.0.0.5", 6379}, "redis@10.0.0.5:6379"},
      {"name", {{"REDIS_ADDR", "redis-a:6379"}}, HostPort{"redis-a", 6379}, "redis@redis-a:6379"},
      {"ipv6 routable", {{"REDIS_ADDR", "[2001:db8::7]:6379"}}, HostPort{"2001:db8::7", 6379}, "redis@[2001:db8::7]:6379"},
      {"explicit wins", {{"REDIS_ADDR", "127.0.0.1:6379"}, {"ANNOUNCE_ADDR", "192.168.1.4:7000"}},
       HostPort{"192.168.1.4", 7000}, "redis@192.168.1.4:7000"},
      {"explicit port only", {{"ANNOUNCE_ADDR", ":7000"}}, HostPort{"", 7000}, "redis@:7000"},
      {"explicit loopback kept", {{"ANNOUNCE_ADDR", "127.0.0.1:7000"}}, HostPort{"127.0.0.1", 7000}, "redis@127.0.0.1:7000"},
      {"tag mode id", {{"CONSUL_SERVICE_NAME", "cache"}, {"MASTER_TAGS", "m"}, {"REDIS_ADDR", "10.0.0.5:6379"}},
       HostPort{"10.0.0.5", 6379}, "cache@10.0.0.5:6379"},
      {"prefix id", {{"CONSUL_SERVICE_PREFIX", "sessions"}}, HostPort{"", 6379}, "sessions@:6379"},
  };
  for (const AnnounceRow& row : rows) {
    SCOPED_TRACE(row.name);
    const Config c = MustParse(row.env);
    EXPECT_EQ(c.announce_addr, row.want);
    EXPECT_EQ(c.ServiceId(), row.service_id);
  }
}

TEST(ParseConfigTest, ServiceNamesByMode) {
  const Config prefix = MustParse({{"CONSUL_SERVICE_PREFIX", "cache"}, {"MASTER_TAGS", "m"}});
  EXPECT_FALSE(prefix.tag_mode());
  EXPECT_EQ(prefix.MasterServiceName(), "cache-master");
  EXPECT_EQ(prefix.SlaveServiceName(), "cache-slave");
  const Config tags = MustParse({{"CONSUL_SERVICE_NAME", "cache"}, {"CONSUL_SERVICE_PREFIX", "ignored"},
                                 {"MASTER_TAGS", "master"}, {"SLAVE_TAGS", "slave"}});
  EXPECT_TRUE(tags.tag_mode());
  EXPECT_EQ(tags.MasterServiceName(), "cache");
  EXPECT_EQ(tags.SlaveServiceName(), "cache");
  EXPECT_EQ(tags.ServiceId(), "cache@:6379");
}

// ---------------------------------------------------------------------------
// Consul client variables.

TEST(ParseConfigTest, ConsulClientVariables) {
  const Config c = MustParse({{"CONSUL_HTTP_ADDR", "https://consul.example:8501"},
                              {"CONSUL_HTTP_TOKEN", "tok"},
                              {"CONSUL_HTTP_AUTH", "ops:pa:ss"},
                              {"CONSUL_HTTP_SSL_VERIFY", "false"},
                              {"CONSUL_CACERT", "/ca.pem"},
                              {"CONSUL_CAPATH", "/cas"},
                              {"CONSUL_CLIENT_CERT", "/c.pem"},
                              {"CONSUL_CLIENT_KEY", "/k.pem"},
                              {"CONSUL_TLS_SERVER_NAME", "consul.internal"}});
  EXPECT_EQ(c.consul.scheme, "https");
  EXPECT_EQ(c.consul.host, "consul.example");
  EXPECT_EQ(c.consul.port, 8501);
  EXPECT_EQ(c.consul.Address(), "https://consul.example:8501");
  EXPECT_EQ(c.consul.token, "tok");
  EXPECT_EQ(c.consul.basic_auth_user, "ops");
  EXPECT_EQ(c.consul.basic_auth_password, "pa:ss");
  EXPECT_FALSE(c.consul.tls_verify);
  EXPECT_EQ(c.consul.ca_file, "/ca.pem");
  EXPECT_EQ(c.consul.ca_path, "/cas");
  EXPECT_EQ(c.consul.client_cert, "/c.pem");
  EXPECT_EQ(c.consul.client_key, "/k.pem");
  EXPECT_EQ(c.consul.tls_server_name, "consul.internal");
}

struct ConsulAddrRow {
  const char* name;
  Environment env;
  std::string address;
};

TEST(ParseConfigTest, ConsulAddressForms) {
  const std::vector<ConsulAddrRow> rows = {
      {"default", {}, "http://127.0.0.1:8500"},
      {"plain", {{"CONSUL_HTTP_ADDR", "10.0.0.2:8500"}}, "http://10.0.0.2:8500"},
      {"http scheme", {{"CONSUL_HTTP_ADDR", "http://consul:8500"}}, "http://consul:8500"},
      {"trailing slash", {{"CONSUL_HTTP_ADDR", "http://consul:8500/"}}, "http://consul:8500"},
      {"https scheme", {{"CONSUL_HTTP_ADDR", "https://consul:8501"}}, "https://consul:8501"},
      {"ssl switch", {{"CONSUL_HTTP_ADDR", "consul:8501"}, {"CONSUL_HTTP_SSL", "true"}}, "https://consul:8501"},
      {"ssl never reverts", {{"CONSUL_HTTP_ADDR", "http://consul:8501"}, {"CONSUL_HTTP_SSL", "1"}},
       "https://consul:8501"},
      {"ssl false", {{"CONSUL_HTTP_SSL", "false"}}, "http://127.0.0.1:8500"},
      {"no port: http's", {{"CONSUL_HTTP_ADDR", "consul"}}, "http://consul:80"},
      {"no port: https'", {{"CONSUL_HTTP_ADDR", "https://consul"}}, "https://consul:443"},
      {"ipv6", {{"CONSUL_HTTP_ADDR", "[::1]:8500"}}, "http://[::1]:8500"},
  };
  for (const ConsulAddrRow& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(MustParse(row.env).consul.Address(), row.address);
  }
}

TEST(ParseConfigTest, TokenFileWinsAndIsTrimmed) {
  const FileReader files = FakeFiles({{"/run/token", "  file-token\n"}, {"/run/empty", " \n"}});
  EXPECT_EQ(MustParse({{"CONSUL_HTTP_TOKEN", "env-token"}, {"CONSUL_HTTP_TOKEN_FILE", "/run/token"}}, {}, files)
                .consul.token,
            "file-token");
  // An empty file leaves the variable's token, as the Consul API client does.
  EXPECT_EQ(MustParse({{"CONSUL_HTTP_TOKEN", "env-token"}, {"CONSUL_HTTP_TOKEN_FILE", "/run/empty"}}, {}, files)
                .consul.token,
            "env-token");
}

TEST(ParseConfigTest, BasicAuthWithoutPassword) {
  const Config c = MustParse({{"CONSUL_HTTP_AUTH", "ops"}});
  EXPECT_EQ(c.consul.basic_auth_user, "ops");
  EXPECT_EQ(c.consul.basic_auth_password, "");
}

// ---------------------------------------------------------------------------
// Validation: every message, verbatim.

struct ErrorRow {
  const char* name;
  Environment env;
  std::vector<std::string> args;
  std::vector<std::string> want;
};

TEST(ParseConfigTest, ValidationMessages) {
  const std::vector<ErrorRow> rows = {
      {"bad duration", {{"HEALTHCHECK_INTERVAL", "5x"}}, {},
       {"resec: HEALTHCHECK_INTERVAL (--healthcheck-interval): \"5x\" is not a duration"}},
      {"bad duration as flag", {}, {"--healthcheck-interval=5x"},
       {"resec: HEALTHCHECK_INTERVAL (--healthcheck-interval): \"5x\" is not a duration"}},
      {"duration without unit", {{"CONSUL_LOCK_TTL", "15"}}, {},
       {"resec: CONSUL_LOCK_TTL (--consul-lock-ttl): \"15\" is not a duration"}},
      {"invalid log level", {{"LOG_LEVEL", "verbose"}}, {},
       {"resec: LOG_LEVEL (--log-level): \"verbose\" is not a log level (debug, info, warn, error)"}},
      {"invalid log format", {{"LOG_FORMAT", "xml"}}, {},
       {"resec: LOG_FORMAT (--log-format): \"xml\" is not a log format (text, json, gelf)"}},
      {"port 0", {{"REDIS_ADDR", "10.0.0.1:0"}}, {},
       {"resec: REDIS_ADDR (--redis-addr): \"10.0.0.1:0\": port 0 out of range 1..65535"}},
      {"port 70000", {{"STATE_LISTEN_ADDR", "0.0.0.0:70000"}}, {},
       {"resec: STATE_LISTEN_ADDR (--state-listen-addr): \"0.0.0.0:70000\": port 70000 out of range 1..65535"}},
      {"redis without port", {{"REDIS_ADDR", "redis"}}, {},
       {"resec: REDIS_ADDR (--redis-addr): \"redis\": missing port"}},
      {"redis without host", {{"REDIS_ADDR", ":6379"}}, {},
       {"resec: REDIS_ADDR (--redis-addr): \":6379\": missing host"}},
      {"zero interval", {{"HEALTHCHECK_INTERVAL", "0s"}}, {},
       {"resec: HEALTHCHECK_INTERVAL (--healthcheck-interval): \"0s\" must be greater than 0"}},
      {"bare zero interval", {{"HEALTHCHECK_TIMEOUT", "0"}}, {},
       {"resec: HEALTHCHECK_TIMEOUT (--healthcheck-timeout): \"0\" must be greater than 0"}},
      {"negative interval", {{"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "-1s"}}, {},
       {"resec: CONSUL_LOCK_MONITOR_RETRY_INTERVAL (--consul-lock-monitor-retry-interval): \"-1s\" must be "
        "greater than 0"}},
      {"negative flag value", {}, {"--redis-poll-interval", "-250ms"},
       {"resec: REDIS_POLL_INTERVAL (--redis-poll-interval): \"-250ms\" must be greater than 0"}},
      {"zero deregister", {{"CONSUL_DEREGISTER_SERVICE_AFTER", "0s"}}, {},
       {"resec: CONSUL_DEREGISTER_SERVICE_AFTER (--consul-deregister-service-after): \"0s\" must be greater than 0"}},
      {"zero switchover", {{"SWITCHOVER_TIMEOUT", "0s"}}, {},
       {"resec: SWITCHOVER_TIMEOUT (--switchover-timeout): \"0s\" must be greater than 0"}},
      {"sub-millisecond", {{"REDIS_POLL_INTERVAL", "1500us"}}, {},
       {"resec: REDIS_POLL_INTERVAL (--redis-poll-interval): \"1500us\" is not a whole number of milliseconds"}},
      {"missing master tags", {{"CONSUL_SERVICE_NAME", "redis"}}, {},
       {"resec: MASTER_TAGS (--consul-master-tags): required when CONSUL_SERVICE_NAME is set"}},
      {"master tags only blanks", {{"CONSUL_SERVICE_NAME", "redis"}, {"MASTER_TAGS", " , "}}, {},
       {"resec: MASTER_TAGS (--consul-master-tags): required when CONSUL_SERVICE_NAME is set"}},
      {"same first tag",
       {{"CONSUL_SERVICE_NAME", "redis"}, {"MASTER_TAGS", "primary,a"}, {"SLAVE_TAGS", "primary,b"}},
       {},
       {"resec: SLAVE_TAGS (--consul-slave-tags): first tag \"primary\" must differ from the first tag of "
        "MASTER_TAGS"}},
      {"announce without port", {{"ANNOUNCE_ADDR", "10.0.0.5"}}, {},
       {"resec: ANNOUNCE_ADDR (--announce-addr): \"10.0.0.5\": missing port"}},
      {"lock ttl 9s", {{"CONSUL_LOCK_TTL", "9s"}}, {},
       {"resec: CONSUL_LOCK_TTL (--consul-lock-ttl): \"9s\" is below 10s, Consul's minimum session TTL"}},
      {"lock ttl 25h", {{"CONSUL_LOCK_TTL", "25h"}}, {},
       {"resec: CONSUL_LOCK_TTL (--consul-lock-ttl): \"25h\" is above 24h, Consul's maximum session TTL"}},
      {"lock delay 61s", {{"CONSUL_LOCK_DELAY", "61s"}}, {},
       {"resec: CONSUL_LOCK_DELAY (--consul-lock-delay): \"61s\" is above 60s, Consul's maximum lock-delay"}},
      {"negative lock delay", {{"CONSUL_LOCK_DELAY", "-1s"}}, {},
       {"resec: CONSUL_LOCK_DELAY (--consul-lock-delay): \"-1s\" must not be negative"}},
      {"negative check ttl", {{"CONSUL_CHECK_TTL", "-1s"}}, {},
       {"resec: CONSUL_CHECK_TTL (--consul-check-ttl): \"-1s\" must not be negative"}},
      {"negative retries", {{"CONSUL_LOCK_MONITOR_RETRIES", "-1"}}, {},
       {"resec: CONSUL_LOCK_MONITOR_RETRIES (--consul-lock-monitor-retries): \"-1\" must not be negative"}},
      {"non-integer retries", {{"CONSUL_LOCK_MONITOR_RETRIES", "three"}}, {},
       {"resec: CONSUL_LOCK_MONITOR_RETRIES (--consul-lock-monitor-retries): \"three\" is not an integer"}},
      {"fractional integer", {{"REDIS_PRIORITY", "1.5"}}, {},
       {"resec: REDIS_PRIORITY (--redis-priority): \"1.5\" is not an integer"}},
      {"integer overflow", {{"REDIS_PRIORITY", "99999999999"}}, {},
       {"resec: REDIS_PRIORITY (--redis-priority): \"99999999999\" is not an integer"}},
      {"negative priority", {{"REDIS_PRIORITY", "-5"}}, {},
       {"resec: REDIS_PRIORITY (--redis-priority): \"-5\" must not be negative"}},
      {"negative min replicas", {{"MIN_REPLICAS_TO_WRITE", "-1"}}, {},
       {"resec: MIN_REPLICAS_TO_WRITE (--min-replicas-to-write): \"-1\" must not be negative"}},
      {"max lag fraction", {{"MIN_REPLICAS_MAX_LAG", "1500ms"}}, {},
       {"resec: MIN_REPLICAS_MAX_LAG (--min-replicas-max-lag): \"1500ms\" is not a whole number of seconds"}},
      {"max lag zero", {{"MIN_REPLICAS_MAX_LAG", "0s"}}, {},
       {"resec: MIN_REPLICAS_MAX_LAG (--min-replicas-max-lag): \"0s\" must be at least 1s"}},
      {"bad boolean", {{"CONSUL_SESSION_CHECKS", "yes"}}, {},
       {"resec: CONSUL_SESSION_CHECKS (--consul-session-checks): \"yes\" is not a boolean (true, false, 1, 0, t, "
        "f)"}},
      {"empty prefix", {}, {"--consul-service-prefix="},
       {"resec: CONSUL_SERVICE_PREFIX (--consul-service-prefix): must not be empty without CONSUL_SERVICE_NAME"}},
      {"empty lock key", {}, {"--consul-lock-key="},
       {"resec: CONSUL_LOCK_KEY (--consul-lock-key): must not be empty"}},
      {"unknown flag", {}, {"--bogus"}, {"resec: --bogus: unknown flag"}},
      {"unknown flag value not echoed", {}, {"--redis-pasword=hunter2"}, {"resec: --redis-pasword: unknown flag"}},
      {"unknown single-dash flag", {}, {"-x"}, {"resec: -x: unknown flag"}},
      {"flag missing value", {}, {"--redis-addr"}, {"resec: REDIS_ADDR (--redis-addr): flag needs a value"}},
      {"stray argument", {}, {"run"}, {"resec: \"run\": unexpected argument (settings are flags)"}},
      {"after double dash", {}, {"--", "--state-server"},
       {"resec: \"--state-server\": unexpected argument (settings are flags)"}},
      {"token file missing", {{"CONSUL_HTTP_TOKEN_FILE", "/nope"}}, {},
       {"resec: CONSUL_HTTP_TOKEN_FILE: cannot read \"/nope\": No such file or directory"}},
      {"unix socket", {{"CONSUL_HTTP_ADDR", "unix:///var/run/consul.sock"}}, {},
       {"resec: CONSUL_HTTP_ADDR: \"unix:///var/run/consul.sock\": unix sockets are not supported"}},
      {"unknown scheme", {{"CONSUL_HTTP_ADDR", "ftp://consul:21"}}, {},
       {"resec: CONSUL_HTTP_ADDR: \"ftp://consul:21\": unknown scheme \"ftp\" (http or https)"}},
      {"consul port range", {{"CONSUL_HTTP_ADDR", "consul:0"}}, {},
       {"resec: CONSUL_HTTP_ADDR: \"consul:0\": port 0 out of range 1..65535"}},
      {"consul no host", {{"CONSUL_HTTP_ADDR", "http://"}}, {},
       {"resec: CONSUL_HTTP_ADDR: \"http://\": missing host"}},
      {"bad ssl flag", {{"CONSUL_HTTP_SSL", "maybe"}}, {},
       {"resec: CONSUL_HTTP_SSL: \"maybe\" is not a boolean (true, false, 1, 0, t, f)"}},
      {"bad ssl verify", {{"CONSUL_HTTP_SSL_VERIFY", "nope"}}, {},
       {"resec: CONSUL_HTTP_SSL_VERIFY: \"nope\" is not a boolean (true, false, 1, 0, t, f)"}},
      {"cert without key", {{"CONSUL_CLIENT_CERT", "/c.pem"}}, {},
       {"resec: CONSUL_CLIENT_KEY: required with CONSUL_CLIENT_CERT"}},
      {"key without cert", {{"CONSUL_CLIENT_KEY", "/k.pem"}}, {},
       {"resec: CONSUL_CLIENT_CERT: required with CONSUL_CLIENT_KEY"}},
  };
  for (const ErrorRow& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(MustFail(row.env, row.args), row.want);
  }
}

TEST(ParseConfigTest, LockTtlBoundaries) {
  // Consul's own minimum is accepted; the original refused below 15s.
  EXPECT_EQ(MustParse({{"CONSUL_LOCK_TTL", "10s"}}).lock_ttl, seconds(10));
  EXPECT_EQ(MustParse({{"CONSUL_LOCK_TTL", "24h"}}).lock_ttl, hours(24));
  EXPECT_EQ(MustFail({{"CONSUL_LOCK_TTL", "9s"}}).size(), 1u);
  EXPECT_EQ(MustFail({{"CONSUL_LOCK_TTL", "9.999s"}}).size(), 1u);
  EXPECT_EQ(MustParse({{"CONSUL_LOCK_DELAY", "60s"}}).lock_delay, seconds(60));
}

TEST(ParseConfigTest, AllProblemsReportedAtOnce) {
  const auto lines = MustFail({{"HEALTHCHECK_INTERVAL", "5x"},
                               {"LOG_LEVEL", "loud"},
                               {"REDIS_ADDR", "r:70000"},
                               {"CONSUL_SERVICE_NAME", "redis"},
                               {"CONSUL_LOCK_TTL", "1s"}},
                              {"--bogus", "--log-format=xml"});
  const std::vector<std::string> starts = {"resec: --bogus:",
                                           "resec: REDIS_ADDR (--redis-addr):",
                                           "resec: MASTER_TAGS (--consul-master-tags):",
                                           "resec: CONSUL_LOCK_TTL (--consul-lock-ttl):",
                                           "resec: HEALTHCHECK_INTERVAL (--healthcheck-interval):",
                                           "resec: LOG_LEVEL (--log-level):",
                                           "resec: LOG_FORMAT (--log-format):"};
  ASSERT_EQ(lines.size(), starts.size());
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i].rfind(starts[i], 0), 0u) << lines[i];
}

TEST(ParseConfigTest, EchoedValuesAreSanitised) {
  const auto lines = MustFail({{"LOG_LEVEL", "\x1b[31mred\n\"q\"\\"}, {"LOG_FORMAT", std::string(200, 'j')}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "resec: LOG_LEVEL (--log-level): \"\\x1B[31mred\\x0A\\\"q\\\"\\\\\" is not a log level (debug, info, "
            "warn, error)");
  EXPECT_EQ(lines[1], "resec: LOG_FORMAT (--log-format): \"" + std::string(64, 'j') +
                          "\"... is not a log format (text, json, gelf)");
  for (const std::string& line : lines) {
    for (const char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
  }
}

TEST(ParseConfigTest, QuoteForDisplay) {
  EXPECT_EQ(QuoteForDisplay("plain"), "\"plain\"");
  EXPECT_EQ(QuoteForDisplay(""), "\"\"");
  EXPECT_EQ(QuoteForDisplay("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(QuoteForDisplay(std::string("\0\x7f\xff", 3)), "\"\\x00\\x7F\\xFF\"");
  EXPECT_EQ(QuoteForDisplay("abcdef", 3), "\"abc\"...");
  EXPECT_EQ(QuoteForDisplay("abc", 3), "\"abc\"");
}

TEST(ParseConfigTest, SecretsNeverEchoed) {
  const std::string password = "hunter2-\x01-pw";
  const std::string token = "c0ffee-token";
  const std::string file_token = "f11e-token";
  const std::string auth_password = "basic-secret";
  const FileReader files = FakeFiles({{"/run/token", file_token}});
  // Every kind of problem at once, with the secrets set by variable and flag.
  const std::vector<std::vector<std::string>> arg_sets = {
      {"--redis-password", password, "--bogus=" + password, password, "--redis-addr"},
      {"--redis-password=" + password, "--state-server=" + token},
      {"--healthcheck-interval", password},
  };
  for (const auto& args : arg_sets) {
    const auto lines = MustFail({{"REDIS_PASSWORD", password},
                                 {"CONSUL_HTTP_TOKEN", token},
                                 {"CONSUL_HTTP_TOKEN_FILE", "/run/token"},
                                 {"CONSUL_HTTP_AUTH", "ops:" + auth_password},
                                 {"LOG_LEVEL", "nope"},
                                 {"CONSUL_CLIENT_CERT", "/c.pem"}},
                                args, files);
    ASSERT_FALSE(lines.empty());
    for (const std::string& line : lines) {
      SCOPED_TRACE(line);
      for (const std::string& secret : {password, token, file_token, auth_password}) {
        EXPECT_EQ(line.find(secret), std::string::npos);
      }
      EXPECT_EQ(line.find("hunter2"), std::string::npos);
    }
  }
}

// ---------------------------------------------------------------------------
// The command line is read with CLI11, which parses GNU syntax; these rows pin
// where Go's flag package (the original's) differs and ours must follow Go.

struct CommandLineRow {
  const char* name;
  Environment env;
  std::vector<std::string> args;
  std::function<void(const Config&)> check;  // set: must parse, and pass this
  std::vector<std::string> want_errors;      // else: exactly these lines
};

TEST(ParseConfigTest, CommandLineFollowsGoFlagSyntax) {
  const std::vector<CommandLineRow> rows = {
      // --flag=value and --flag value are the same; so are one and two dashes.
      {"equals", {}, {"--log-level=debug"}, [](const Config& c) { EXPECT_EQ(c.log_level, "debug"); }},
      {"separate value", {}, {"--log-level", "debug"}, [](const Config& c) { EXPECT_EQ(c.log_level, "debug"); }},
      {"one dash, separate value", {}, {"-log-level", "debug"},
       [](const Config& c) { EXPECT_EQ(c.log_level, "debug"); }},
      {"value with '='", {}, {"--consul-lock-key=a=b"}, [](const Config& c) { EXPECT_EQ(c.lock_key, "a=b"); }},
      // The next argument is the value even when it looks like a flag.
      {"value starting with a dash", {}, {"--consul-lock-key", "-fencing"},
       [](const Config& c) {
         EXPECT_EQ(c.lock_key, "-fencing");
         EXPECT_TRUE(c.fencing);
       }},
      {"value '--'", {}, {"--consul-lock-key", "--", "--fencing=false"},
       [](const Config& c) {
         EXPECT_EQ(c.lock_key, "--");
         EXPECT_FALSE(c.fencing);
       }},
      {"value '--help'", {}, {"--consul-lock-key", "--help"},
       [](const Config& c) { EXPECT_EQ(c.lock_key, "--help"); }},
      // CLI11 reads "{}" and "[a,b]" specially in some places; to us they are text.
      {"braces are text", {}, {"--consul-lock-key={}"}, [](const Config& c) { EXPECT_EQ(c.lock_key, "{}"); }},
      {"brackets are text", {}, {"--consul-master-tags=[a,b]", "--consul-service-name=s"},
       [](const Config& c) { EXPECT_EQ(c.master_tags, (std::vector<std::string>{"[a", "b]"})); }},
      // Repeated flags: the last wins, whatever the earlier ones held.
      {"repeated, last wins", {}, {"--log-level", "loud", "--log-level=error"},
       [](const Config& c) { EXPECT_EQ(c.log_level, "error"); }},
      {"repeated boolean", {}, {"-s", "--state-server=false", "-s=1"},
       [](const Config& c) { EXPECT_TRUE(c.state_server); }},
      {"repeated, last is bad", {}, {"--log-level=error", "--log-level", "loud"}, nullptr,
       {"resec: LOG_LEVEL (--log-level): \"loud\" is not a log level (debug, info, warn, error)"}},
      // Booleans take a value only after '='.
      {"boolean =false", {{"FENCING", "true"}}, {"--fencing=false"}, [](const Config& c) { EXPECT_FALSE(c.fencing); }},
      {"boolean braces", {}, {"--state-server={}"}, nullptr,
       {"resec: STATE_SERVER (--state-server): \"{}\" is not a boolean (true, false, 1, 0, t, f)"}},
      {"boolean empty", {}, {"--state-server="}, nullptr,
       {"resec: STATE_SERVER (--state-server): \"\" is not a boolean (true, false, 1, 0, t, f)"}},
      {"boolean CLI11 word", {}, {"--fencing=off"}, nullptr,
       {"resec: FENCING (--fencing): \"off\" is not a boolean (true, false, 1, 0, t, f)"}},
      // `--flag=` is an empty value, not "take the next argument".
      {"empty value", {}, {"--consul-lock-key=", "next"}, nullptr,
       {"resec: \"next\": unexpected argument (settings are flags)",
        "resec: CONSUL_LOCK_KEY (--consul-lock-key): must not be empty"}},
      // No clustering of short flags, and -s takes '=' like a long flag.
      {"short with equals", {{"STATE_SERVER", "true"}}, {"-s=f"}, [](const Config& c) { EXPECT_FALSE(c.state_server); }},
      {"short cluster", {}, {"-sx"}, nullptr, {"resec: -sx: unknown flag"}},
      {"help cluster", {}, {"-hx"}, nullptr, {"resec: -hx: unknown flag"}},
      {"short flag as long", {}, {"--s"}, [](const Config& c) { EXPECT_TRUE(c.state_server); }},
      // Unknown flags: as typed, without their value, in argv order, among stray arguments.
      {"unknown flags in order", {}, {"--bogus=1", "stray", "-x", "---y", "-1"}, nullptr,
       {"resec: --bogus: unknown flag", "resec: \"stray\": unexpected argument (settings are flags)",
        "resec: -x: unknown flag", "resec: ---y: unknown flag", "resec: -1: unknown flag"}},
      {"unknown flag with odd characters", {}, {"-!"}, nullptr, {"resec: \"-!\": unknown flag"}},
      {"Consul client variables have no flags", {}, {"--consul-http-addr=x"}, nullptr,
       {"resec: --consul-http-addr: unknown flag"}},
      {"lone dash", {}, {"-"}, nullptr, {"resec: \"-\": unexpected argument (settings are flags)"}},
      // "--" ends the flags; a second "--" is an argument.
      {"double dash", {}, {"--log-level=debug", "--", "--bogus", "--"}, nullptr,
       {"resec: \"--bogus\": unexpected argument (settings are flags)",
        "resec: \"--\": unexpected argument (settings are flags)"}},
      {"double dash alone", {}, {"--"}, [](const Config& c) { EXPECT_EQ(c.log_level, "info"); }},
      // A missing value is reported after the problems before it.
      {"missing value last", {}, {"--bogus", "--log-level"}, nullptr,
       {"resec: --bogus: unknown flag", "resec: LOG_LEVEL (--log-level): flag needs a value"}},
  };
  for (const CommandLineRow& row : rows) {
    SCOPED_TRACE(row.name);
    if (row.check) {
      row.check(MustParse(row.env, row.args));
    } else {
      EXPECT_EQ(MustFail(row.env, row.args), row.want_errors);
    }
  }
}

TEST(ParseConfigTest, FirstOfHelpAndVersionWins) {
  EXPECT_TRUE(std::holds_alternative<VersionRequest>(Parse({}, {"--version", "--help"})));
  EXPECT_TRUE(std::holds_alternative<HelpRequest>(Parse({}, {"-h", "-v"})));
  EXPECT_TRUE(std::holds_alternative<HelpRequest>(Parse({}, {"--help=no"})));
  // Before a value flag that ends argv, and whatever came before.
  EXPECT_TRUE(std::holds_alternative<HelpRequest>(Parse({}, {"stray", "--bogus", "--help", "--redis-addr"})));
  // After "--", or as a flag's value, it is not a request.
  EXPECT_FALSE(std::holds_alternative<HelpRequest>(Parse({}, {"--", "--help"})));
  EXPECT_FALSE(std::holds_alternative<VersionRequest>(Parse({}, {"--log-level", "-v"})));
}

// ---------------------------------------------------------------------------
// --help and --version.

TEST(ParseConfigTest, HelpListsEverySetting) {
  for (const std::string flag : {"--help", "-h", "-help"}) {
    SCOPED_TRACE(flag);
    const ParseResult result = Parse({{"LOG_LEVEL", "bogus"}}, {"--redis-addr=x", flag, "--bogus"});
    const auto* help = std::get_if<HelpRequest>(&result);
    ASSERT_NE(help, nullptr) << Describe(result);
    // The reference's 21 settings (the Consul client ones are environment only).
    for (const std::string var :
         {"ANNOUNCE_ADDR", "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_SERVICE_NAME", "CONSUL_SERVICE_PREFIX",
          "MASTER_TAGS", "SLAVE_TAGS", "CONSUL_LOCK_KEY", "CONSUL_LOCK_SESSION_NAME", "CONSUL_LOCK_TTL",
          "CONSUL_LOCK_MONITOR_RETRIES", "CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "CONSUL_DEREGISTER_SERVICE_AFTER",
          "HEALTHCHECK_INTERVAL", "HEALTHCHECK_TIMEOUT", "REDIS_ADDR", "REDIS_PASSWORD", "STATE_SERVER",
          "STATE_LISTEN_ADDR", "LOG_LEVEL", "LOG_FORMAT",
          // Consul client variables.
          "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_AUTH", "CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY", "CONSUL_CACERT",
          "CONSUL_CAPATH", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY", "CONSUL_TLS_SERVER_NAME"}) {
      EXPECT_NE(help->text.find(var), std::string::npos) << var;
    }
    // Every flag on one line with its variable and default.
    for (const SettingRow& row : SettingRows()) {
      const size_t at = help->text.find(std::string(row.flag) + " ");
      ASSERT_NE(at, std::string::npos) << row.flag;
      const size_t line_start = help->text.rfind('\n', at) + 1;
      const std::string line = help->text.substr(line_start, help->text.find('\n', at) - line_start);
      EXPECT_NE(line.find(std::string(" ") + row.env + " "), std::string::npos) << line;
      EXPECT_NE(line.find("default "), std::string::npos) << line;
    }
    EXPECT_NE(help->text.find("-s, --state-server"), std::string::npos);
    EXPECT_NE(help->text.find("default 15s"), std::string::npos);
    EXPECT_NE(help->text.find("default 127.0.0.1:6379"), std::string::npos);
    EXPECT_NE(help->text.find("default resec/.lock"), std::string::npos);
  }
}

TEST(ParseConfigTest, Version) {
  for (const std::string flag : {"--version", "-v"}) {
    const ParseResult result = Parse({}, {flag});
    const auto* version = std::get_if<VersionRequest>(&result);
    ASSERT_NE(version, nullptr) << Describe(result);
    EXPECT_EQ(version->text, std::string("resec ") + RESEC_VERSION);
    EXPECT_STREQ(kResecVersion, RESEC_VERSION);
  }
}

// ---------------------------------------------------------------------------
// Process helpers.

TEST(ProcessHelpersTest, CurrentEnvironmentSeesVariables) {
  ASSERT_EQ(::setenv("RESEC_CONFIG_TEST_VAR", "a=b", 1), 0);
  const Environment env = CurrentEnvironment();
  ::unsetenv("RESEC_CONFIG_TEST_VAR");
  const auto it = env.find("RESEC_CONFIG_TEST_VAR");
  ASSERT_NE(it, env.end());
  EXPECT_EQ(it->second, "a=b");  // split at the first '=' only
}

TEST(ProcessHelpersTest, ReadWholeFile) {
  char path[] = "/tmp/resec_config_test_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string contents = std::string("token\0with nul\n", 15) + std::string(10000, 'x');
  {
    std::ofstream out(path, std::ios::binary);
    out << contents;
  }
  const auto read = ReadWholeFile(path);
  ::unlink(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, contents);

  const auto missing = ReadWholeFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "No such file or directory");

  // Through ParseConfig with the real reader.
  const ParseResult result = ParseConfig({{"CONSUL_HTTP_TOKEN_FILE", path}}, {}, ReadWholeFile);
  const auto* errors = std::get_if<ConfigErrors>(&result);
  ASSERT_NE(errors, nullptr);
  EXPECT_EQ(errors->lines, (std::vector<std::string>{"resec: CONSUL_HTTP_TOKEN_FILE: cannot read \"" +
                                                     std::string(path) + "\": No such file or directory"}));
}

}  // namespace
}  // namespace resec
