// Bad input everywhere (issue 6, item 3), against the real `resec` binary.
//
// 1. ConfigMatrix: one row per malformed, out-of-range or hostile setting
//    (empty, 100 KB, non-UTF-8, shell metacharacters, negative, zero,
//    overflow, bad ports, booleans, levels, formats, unknown flags, stray
//    arguments). Each must exit 2 within seconds, with no signal and no
//    sanitizer report, printing exactly one "resec: " line per problem on
//    stderr, each naming the variable or flag at fault, printable ASCII only
//    and never echoing a secret.
// 2. ConsulFault: Consul (a FaultHttpServer in front of a real dev agent)
//    answering 403, 404, 429, 500, a non-JSON body, a truncated body, 100 MB,
//    or nothing at all; also single endpoints broken while the rest works.
//    The agent must keep running, log each problem once per change (not per
//    retry), back off (bounded request rate), keep its state server
//    answering, and register its service once the fault is removed.
// 3. Redis faults: a wrong password, a port speaking HTTP, a port that
//    accepts and never answers, a Redis loading its dataset, a Redis whose
//    REPLICAOF and SLAVEOF are renamed away.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "resec/config.h"
#include "resec/consul/json_codec.h"
#include "support/agent_group.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/consul_agent.h"
#include "support/fault_http_server.h"
#include "support/free_port.h"
#include "support/redis_server.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Fault = FaultHttpServer::Fault;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int CountLines(const std::string& log, const std::vector<std::string>& all_of) {
  int n = 0;
  for (const std::string& line : Lines(log)) {
    if (std::all_of(all_of.begin(), all_of.end(),
                    [&](const std::string& s) { return line.find(s) != std::string::npos; })) {
      ++n;
    }
  }
  return n;
}

bool Printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// Marks of a crash or a sanitizer report in a process's output.
const std::vector<std::string> kCrashMarks = {
    "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "ThreadSanitizer",
    "terminate called", "Segmentation fault", "Aborted", "core dumped", "stack smashing"};

std::string CrashMark(const std::string& output) {
  for (const std::string& m : kCrashMarks) {
    if (output.find(m) != std::string::npos) return m;
  }
  return "";
}

// ===================================================================== 1. config

const std::string kHuge(100 * 1024, 'x');  // 100 KB: below Linux's 128 KB per-string exec limit
const std::string kHugeDigits(100 * 1024, '9');
const std::string kNonUtf8 = "\xff\xfe\xc0\xaf\xed\xa0\x80";
// Shell metacharacters that, if any code path ever handed a value to a shell,
// would create the sentinel file; the test checks it never appears.
const std::string kSentinel = "/tmp/resec-bad-input-pwned-" + std::to_string(::getpid());
const std::string kShell = "$(touch " + kSentinel + ")`touch " + kSentinel + "`;touch " + kSentinel + "|touch " +
                           kSentinel + "&&touch " + kSentinel;
const std::string kSecret = "s3cr3t-Pa55word";

struct ConfigRow {
  std::string name;
  std::map<std::string, std::string> env;
  std::vector<std::string> args;
  // One entry per expected stderr line: a text that line must hold (the
  // variable or flag at fault). The line count must match exactly.
  std::vector<std::string> lines;
  // Texts no line may hold (secrets, the raw hostile value).
  std::vector<std::string> never = {};
};

std::ostream& operator<<(std::ostream& o, const ConfigRow& r) { return o << r.name; }

std::vector<ConfigRow> ConfigRows() {
  std::vector<ConfigRow> rows = {
      // --- REDIS_ADDR
      {"RedisAddrEmptyFlag", {}, {"--redis-addr="}, {"REDIS_ADDR (--redis-addr)"}},
      {"RedisAddrNoPort", {{"REDIS_ADDR", "127.0.0.1"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrPortZero", {{"REDIS_ADDR", "127.0.0.1:0"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrPort65536", {{"REDIS_ADDR", "127.0.0.1:65536"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrPortNegative", {{"REDIS_ADDR", "127.0.0.1:-1"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrPortOverflow", {{"REDIS_ADDR", "127.0.0.1:99999999999999999999"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrHuge", {{"REDIS_ADDR", kHuge}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrHugePort", {{"REDIS_ADDR", "127.0.0.1:" + kHugeDigits}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrNonUtf8", {{"REDIS_ADDR", kNonUtf8 + ":6379"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrShell", {{"REDIS_ADDR", kShell + ":6379"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrNoHost", {{"REDIS_ADDR", ":6379"}}, {}, {"REDIS_ADDR"}},
      {"RedisAddrUnbracketedV6", {{"REDIS_ADDR", "::1:6379"}}, {}, {"REDIS_ADDR"}},
      // --- ANNOUNCE_ADDR
      {"AnnounceAddrNoPort", {{"ANNOUNCE_ADDR", "10.0.0.1"}}, {}, {"ANNOUNCE_ADDR"}},
      {"AnnounceAddrPortOutOfRange", {{"ANNOUNCE_ADDR", "10.0.0.1:99999"}}, {}, {"ANNOUNCE_ADDR"}},
      {"AnnounceAddrShell", {{"ANNOUNCE_ADDR", "`reboot`:6379"}}, {}, {"ANNOUNCE_ADDR"}},
      // --- CONSUL_HTTP_ADDR and the Consul client
      {"ConsulAddrUnknownScheme", {{"CONSUL_HTTP_ADDR", "ftp://127.0.0.1:8500"}}, {}, {"CONSUL_HTTP_ADDR"}},
      {"ConsulAddrUnixSocket", {{"CONSUL_HTTP_ADDR", "unix:///var/run/consul.sock"}}, {}, {"CONSUL_HTTP_ADDR"}},
      {"ConsulAddrPort65536", {{"CONSUL_HTTP_ADDR", "127.0.0.1:65536"}}, {}, {"CONSUL_HTTP_ADDR"}},
      {"ConsulAddrNonUtf8", {{"CONSUL_HTTP_ADDR", "http://" + kNonUtf8 + ":8500"}}, {}, {"CONSUL_HTTP_ADDR"}},
      // A host name longer than DNS allows (253 bytes) is a typo or an attack,
      // not an address: without a length limit the agent starts and logs it in full.
      {"ConsulAddrHuge", {{"CONSUL_HTTP_ADDR", kHuge}}, {}, {"CONSUL_HTTP_ADDR"}},
      {"RedisAddrHugeHost", {{"REDIS_ADDR", kHuge + ":6379"}}, {}, {"REDIS_ADDR"}},
      {"ConsulAddrShell", {{"CONSUL_HTTP_ADDR", "http://" + kShell}}, {}, {"CONSUL_HTTP_ADDR"}},
      {"ConsulSslNotBool", {{"CONSUL_HTTP_SSL", "sure"}}, {}, {"CONSUL_HTTP_SSL"}},
      {"ConsulSslVerifyNotBool", {{"CONSUL_HTTP_SSL_VERIFY", "nope"}}, {}, {"CONSUL_HTTP_SSL_VERIFY"}},
      {"ConsulClientCertWithoutKey", {{"CONSUL_CLIENT_CERT", "/etc/client.pem"}}, {}, {"CONSUL_CLIENT_KEY"}},
      {"ConsulClientKeyWithoutCert", {{"CONSUL_CLIENT_KEY", "/etc/client.key"}}, {}, {"CONSUL_CLIENT_CERT"}},
      {"TokenFileMissing", {{"CONSUL_HTTP_TOKEN_FILE", "/nonexistent/resec/token"}}, {}, {"CONSUL_HTTP_TOKEN_FILE"}},
      {"TokenFileIsADirectory", {{"CONSUL_HTTP_TOKEN_FILE", "/"}}, {}, {"CONSUL_HTTP_TOKEN_FILE"}},
      // --- service and lock names
      {"ServiceNameWithoutMasterTags", {{"CONSUL_SERVICE_NAME", "redis"}}, {}, {"MASTER_TAGS"}},
      {"SameFirstTags",
       {{"CONSUL_SERVICE_NAME", "redis"}, {"MASTER_TAGS", "primary,a"}, {"SLAVE_TAGS", "primary,b"}},
       {},
       {"SLAVE_TAGS"}},
      {"ServicePrefixEmptyFlag", {}, {"--consul-service-prefix="}, {"CONSUL_SERVICE_PREFIX"}},
      {"LockKeyEmptyFlag", {}, {"--consul-lock-key="}, {"CONSUL_LOCK_KEY"}},
      {"LockSessionNameEmptyFlag", {}, {"--consul-lock-session-name="}, {"CONSUL_LOCK_SESSION_NAME"}},
      // --- durations
      {"LockTtlNotADuration", {{"CONSUL_LOCK_TTL", "fifteen"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlBelowMinimum", {{"CONSUL_LOCK_TTL", "5s"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlAboveMaximum", {{"CONSUL_LOCK_TTL", "25h"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlOverflow", {{"CONSUL_LOCK_TTL", "99999999999999h"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlNegative", {{"CONSUL_LOCK_TTL", "-15s"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlZero", {{"CONSUL_LOCK_TTL", "0"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlHuge", {{"CONSUL_LOCK_TTL", kHugeDigits + "s"}}, {}, {"CONSUL_LOCK_TTL"}},
      {"LockTtlNonUtf8", {{"CONSUL_LOCK_TTL", "15" + kNonUtf8}}, {}, {"CONSUL_LOCK_TTL"}},
      {"MonitorRetryIntervalZero", {{"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "0s"}}, {}, {"CONSUL_LOCK_MONITOR_RETRY_INTERVAL"}},
      {"DeregisterAfterNegative", {{"CONSUL_DEREGISTER_SERVICE_AFTER", "-1h"}}, {}, {"CONSUL_DEREGISTER_SERVICE_AFTER"}},
      {"HealthcheckIntervalZero", {{"HEALTHCHECK_INTERVAL", "0"}}, {}, {"HEALTHCHECK_INTERVAL"}},
      {"HealthcheckIntervalNoUnit", {{"HEALTHCHECK_INTERVAL", "5"}}, {}, {"HEALTHCHECK_INTERVAL"}},
      {"HealthcheckTimeoutSubMillisecond", {{"HEALTHCHECK_TIMEOUT", "1500us"}}, {}, {"HEALTHCHECK_TIMEOUT"}},
      {"HealthcheckTimeoutShell", {{"HEALTHCHECK_TIMEOUT", kShell}}, {}, {"HEALTHCHECK_TIMEOUT"}},
      {"PollIntervalNegative", {{"REDIS_POLL_INTERVAL", "-1s"}}, {}, {"REDIS_POLL_INTERVAL"}},
      {"LockDelayAboveMaximum", {{"CONSUL_LOCK_DELAY", "61s"}}, {}, {"CONSUL_LOCK_DELAY"}},
      {"CheckTtlNegative", {{"CONSUL_CHECK_TTL", "-5s"}}, {}, {"CONSUL_CHECK_TTL"}},
      {"MinReplicasMaxLagSubSecond", {{"MIN_REPLICAS_MAX_LAG", "500ms"}}, {}, {"MIN_REPLICAS_MAX_LAG"}},
      {"SwitchoverTimeoutZero", {{"SWITCHOVER_TIMEOUT", "0s"}}, {}, {"SWITCHOVER_TIMEOUT"}},
      // --- integers
      {"MonitorRetriesNegative", {{"CONSUL_LOCK_MONITOR_RETRIES", "-1"}}, {}, {"CONSUL_LOCK_MONITOR_RETRIES"}},
      {"MonitorRetriesNotANumber", {{"CONSUL_LOCK_MONITOR_RETRIES", "three"}}, {}, {"CONSUL_LOCK_MONITOR_RETRIES"}},
      {"MonitorRetriesOverflow", {{"CONSUL_LOCK_MONITOR_RETRIES", "99999999999"}}, {}, {"CONSUL_LOCK_MONITOR_RETRIES"}},
      {"PriorityNegative", {{"REDIS_PRIORITY", "-1"}}, {}, {"REDIS_PRIORITY"}},
      {"PriorityHuge", {{"REDIS_PRIORITY", kHugeDigits}}, {}, {"REDIS_PRIORITY"}},
      {"MinReplicasNegative", {{"MIN_REPLICAS_TO_WRITE", "-3"}}, {}, {"MIN_REPLICAS_TO_WRITE"}},
      // --- booleans
      {"StateServerNotBool", {{"STATE_SERVER", "yes"}}, {}, {"STATE_SERVER"}},
      {"StateServerNonUtf8", {{"STATE_SERVER", kNonUtf8}}, {}, {"STATE_SERVER"}},
      {"SessionChecksNotBool", {{"CONSUL_SESSION_CHECKS", "maybe"}}, {}, {"CONSUL_SESSION_CHECKS"}},
      {"FencingNotBool", {{"FENCING", "2"}}, {}, {"FENCING"}},
      {"MinReplicasStrictNotBool", {{"MIN_REPLICAS_STRICT", "strict"}}, {}, {"MIN_REPLICAS_STRICT"}},
      // --- the peer protocol
      {"PeerTokenFileMissing", {{"PEER_TOKEN_FILE", "/nonexistent/resec/peer"}}, {}, {"PEER_TOKEN_FILE"}},
      {"PeerListenAddrHostname",
       {{"PEER_TOKEN", kSecret}, {"PEER_LISTEN_ADDR", "localhost:8379"}},
       {},
       {"PEER_LISTEN_ADDR"},
       {kSecret}},
      {"PeerListenAddrNoPort", {{"PEER_LISTEN_ADDR", "0.0.0.0"}}, {}, {"PEER_LISTEN_ADDR"}},
      {"PeerAdvertiseAddrPortZero", {{"PEER_ADVERTISE_ADDR", "10.0.0.1:0"}}, {}, {"PEER_ADVERTISE_ADDR"}},
      {"PeerIntervalTooShort", {{"PEER_INTERVAL", "1ms"}}, {}, {"PEER_INTERVAL"}},
      {"PeerLeaseShorterThanThreeHeartbeats",
       {{"PEER_TOKEN", kSecret}, {"PEER_INTERVAL", "500ms"}, {"PEER_LEASE", "1s"}},
       {},
       {"PEER_LEASE"},
       {kSecret}},
      {"StateServerFlagWithBadValue", {}, {"--state-server=on"}, {"STATE_SERVER (--state-server)"}},
      // --- state server address
      {"StateListenPortOutOfRange", {{"STATE_LISTEN_ADDR", "0.0.0.0:70000"}}, {}, {"STATE_LISTEN_ADDR"}},
      {"StateListenNoPort", {{"STATE_LISTEN_ADDR", "localhost"}}, {}, {"STATE_LISTEN_ADDR"}},
      // --- logs
      {"LogLevelUnknown", {{"LOG_LEVEL", "trace"}}, {}, {"LOG_LEVEL"}},
      {"LogLevelHuge", {{"LOG_LEVEL", kHuge}}, {}, {"LOG_LEVEL"}},
      {"LogLevelShell", {}, {"--log-level", kShell}, {"LOG_LEVEL (--log-level)"}},
      {"LogFormatUnknown", {{"LOG_FORMAT", "xml"}}, {}, {"LOG_FORMAT"}},
      {"LogFormatNonUtf8", {{"LOG_FORMAT", kNonUtf8}}, {}, {"LOG_FORMAT"}},
      // --- the command line itself
      {"UnknownFlag", {}, {"--bogus"}, {"--bogus"}},
      {"UnknownFlagShell", {}, {"--" + kShell}, {"unknown flag"}},
      {"UnknownFlagHuge", {}, {"--" + kHuge}, {"resec: "}},
      {"StrayArgument", {}, {"hello"}, {"\"hello\""}},
      // `resec ""` (an empty variable expanded unquoted-but-present in a unit file).
      {"EmptyArgument", {}, {""}, {"resec: \"\""}},
      {"FlagWithoutValue", {}, {"--redis-addr"}, {"REDIS_ADDR (--redis-addr)"}},
      {"FlagWinsOverValidVariable", {{"CONSUL_LOCK_TTL", "20s"}}, {"--consul-lock-ttl=1s"}, {"CONSUL_LOCK_TTL"}},
      // --- the command line: CLI11 reads GNU syntax, ours must read Go's flag syntax
      {"BoolFlagBraces", {}, {"--state-server={}"}, {"STATE_SERVER (--state-server)"}},
      {"BoolFlagEmptyValue", {}, {"--fencing="}, {"FENCING (--fencing)"}},
      {"BoolFlagTakesNoSeparateValue", {}, {"--state-server", "false"}, {"\"false\": unexpected argument"}},
      {"ShortFlagCluster", {}, {"-sx"}, {"-sx: unknown flag"}},
      {"RepeatedFlagLastIsBad", {}, {"--log-level=debug", "--log-level", "loud"}, {"LOG_LEVEL (--log-level)"}},
      {"FlagAfterDoubleDash", {}, {"--", "--state-server"}, {"\"--state-server\": unexpected argument"}},
      {"EmptyEqualsTakesNoNextArgument", {}, {"--consul-lock-key=", "next"}, {"\"next\"", "CONSUL_LOCK_KEY"}},
      {"SingleDashLongFlag", {}, {"-healthcheck-interval=5x"}, {"HEALTHCHECK_INTERVAL (--healthcheck-interval)"}},
      {"UnknownFlagAmongGoodOnes", {}, {"--log-level", "debug", "--bogus", "-s"}, {"--bogus: unknown flag"}},
      // --- several problems at once: one line each
      {"ThreeProblems",
       {{"REDIS_ADDR", "nohost"}, {"LOG_LEVEL", "loud"}, {"HEALTHCHECK_INTERVAL", "-5s"}},
       {},
       {"REDIS_ADDR", "LOG_LEVEL", "HEALTHCHECK_INTERVAL"}},
      {"EveryDurationBroken",
       {{"CONSUL_LOCK_TTL", "x"},
        {"CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "x"},
        {"CONSUL_DEREGISTER_SERVICE_AFTER", "x"},
        {"HEALTHCHECK_INTERVAL", "x"},
        {"HEALTHCHECK_TIMEOUT", "x"},
        {"REDIS_POLL_INTERVAL", "x"},
        {"CONSUL_LOCK_DELAY", "x"},
        {"CONSUL_CHECK_TTL", "x"},
        {"MIN_REPLICAS_MAX_LAG", "x"},
        {"SWITCHOVER_TIMEOUT", "x"}},
       {},
       {"CONSUL_LOCK_TTL", "CONSUL_LOCK_MONITOR_RETRY_INTERVAL", "CONSUL_DEREGISTER_SERVICE_AFTER",
        "HEALTHCHECK_INTERVAL", "HEALTHCHECK_TIMEOUT", "REDIS_POLL_INTERVAL", "CONSUL_LOCK_DELAY",
        "CONSUL_CHECK_TTL", "MIN_REPLICAS_MAX_LAG", "SWITCHOVER_TIMEOUT"}},
      // --- secrets are never echoed, even in the wrong place
      {"PasswordPastedIntoRedisAddr",
       {{"REDIS_PASSWORD", kSecret}, {"REDIS_ADDR", kSecret}},
       {},
       {"REDIS_ADDR"},
       {kSecret}},
      // The address parser's detail quotes the port: found by the config fuzzer.
      {"TokenPastedIntoConsulAddrPort",
       {{"CONSUL_HTTP_TOKEN", kSecret}, {"CONSUL_HTTP_ADDR", "consul.example:" + kSecret}},
       {},
       {"CONSUL_HTTP_ADDR"},
       {kSecret}},
      {"TokenPastedAsStrayArgument", {{"CONSUL_HTTP_TOKEN", kSecret}}, {kSecret}, {"resec: "}, {kSecret}},
      {"PasswordFlagWithoutValueHidesNothing", {{"REDIS_PASSWORD", kSecret}}, {"--redis-password"}, {"REDIS_PASSWORD"}, {kSecret}},
      {"BasicAuthPasswordInUnknownFlag", {{"CONSUL_HTTP_AUTH", "user:" + kSecret}}, {"--" + kSecret}, {"resec: "}, {kSecret}},
  };
  return rows;
}

struct RunResult {
  std::optional<ExitStatus> exit;
  std::string output;  // stdout+stderr, without the fixture's "=== start" marker
};

RunResult RunResec(const std::map<std::string, std::string>& env, const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout) {
  TempDir dir("run");
  ChildProcess::Options o;
  o.argv = {ResecBinary()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env;
  o.log_dir = dir.path();
  o.log_name = "resec.log";
  RunResult r;
  auto child = ChildProcess::Start(o);
  if (!child.ok()) {
    r.output = child.status().ToString();
    return r;
  }
  r.exit = child->Wait(timeout);
  if (!r.exit) child->Kill();
  for (const std::string& line : Lines(child->ReadLog())) {
    if (!line.starts_with("=== ")) r.output += line + "\n";
  }
  return r;
}

class ConfigMatrix : public ::testing::TestWithParam<ConfigRow> {};

TEST_P(ConfigMatrix, ExitsTwoWithOneLinePerProblem) {
  const ConfigRow& row = GetParam();
  // Config errors are found before any thread or socket exists: well under a second.
  std::filesystem::remove(kSentinel);
  const RunResult r = RunResec(row.env, row.args, 5s);
  EXPECT_FALSE(std::filesystem::exists(kSentinel)) << "a value reached a shell";
  ASSERT_TRUE(r.exit.has_value()) << "still running after 5s; output:\n" << r.output.substr(0, 2000);
  EXPECT_FALSE(r.exit->Signaled()) << r.exit->ToString();
  EXPECT_EQ(r.exit->code, 2) << r.output.substr(0, 2000);
  EXPECT_EQ(CrashMark(r.output), "") << r.output.substr(0, 4000);

  const std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), row.lines.size()) << r.output.substr(0, 4000);
  std::vector<bool> used(lines.size(), false);
  for (const std::string& want : row.lines) {
    bool found = false;
    for (size_t i = 0; i < lines.size() && !found; ++i) {
      if (!used[i] && lines[i].find(want) != std::string::npos) used[i] = found = true;
    }
    EXPECT_TRUE(found) << "no line names " << want << "; output:\n" << r.output.substr(0, 4000);
  }
  for (const std::string& line : lines) {
    EXPECT_TRUE(line.starts_with("resec: ")) << line.substr(0, 300);
    // Hostile bytes are escaped, so a terminal or log shipper sees plain text.
    EXPECT_TRUE(Printable(line)) << QuoteForDisplay(line, 300);
    // A 100 KB value is quoted cut, never in full.
    EXPECT_LE(line.size(), 600u) << line.substr(0, 300);
  }
  for (const std::string& bad : row.never) {
    EXPECT_EQ(r.output.find(bad), std::string::npos) << "output shows " << QuoteForDisplay(bad) << ":\n" << r.output;
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, ConfigMatrix, ::testing::ValuesIn(ConfigRows()),
                         [](const ::testing::TestParamInfo<ConfigRow>& info) { return info.param.name; });

TEST(ConfigMatrixSize, CoversEverySettingWithAtLeastFortyRows) {
  const std::vector<ConfigRow> rows = ConfigRows();
  EXPECT_GE(rows.size(), 40u);
  // Every setting of --help is exercised by at least one row.
  const RunResult help = RunResec({}, {"--help"}, 5s);
  ASSERT_TRUE(help.exit && help.exit->code == 0) << help.output;
  std::string all;
  for (const ConfigRow& r : rows) {
    for (const auto& [k, v] : r.env) all += k + "\n";
    for (const std::string& l : r.lines) all += l + "\n";
  }
  // Free-text settings (names, tags, usernames, passwords, CA paths, the
  // token) accept any value; every other setting must have a row.
  const std::vector<std::string> free_text = {"CONSUL_HTTP_TOKEN", "CONSUL_HTTP_AUTH", "CONSUL_CACERT",
                                              "CONSUL_CAPATH", "CONSUL_TLS_SERVER_NAME", "REDIS_USERNAME",
                                              "REDIS_PASSWORD", "CONSUL_SERVICE_NAME"};
  std::istringstream in(help.output);
  for (std::string word; in >> word;) {
    const bool is_var = word.size() > 4 && std::all_of(word.begin(), word.end(), [](char c) {
                          return (c >= 'A' && c <= 'Z') || c == '_';
                        });
    if (!is_var || word.find('_') == std::string::npos) continue;
    if (std::find(free_text.begin(), free_text.end(), word) != free_text.end()) continue;
    EXPECT_NE(all.find(word), std::string::npos) << "no bad-input row for " << word;
  }
}

// ===================================================================== 2. Consul faults

// How long the agent must keep running under a fault before we judge its log.
constexpr auto kObserve = 6s;
// Generous: registration through a healthy Consul takes about a second; the
// agent may be in a 2 s backoff (its cap) when the fault is removed.
constexpr auto kRecover = 30s;

std::map<std::string, std::string> AgentEnv(const std::string& redis_addr, const std::string& consul_addr,
                                            const std::string& prefix) {
  return {
      {"REDIS_ADDR", redis_addr},
      {"CONSUL_HTTP_ADDR", consul_addr},
      {"CONSUL_SERVICE_PREFIX", prefix},
      {"CONSUL_LOCK_KEY", "resec/" + prefix + "/.lock"},
      // One message per state change is the contract at the default level.
      {"LOG_LEVEL", "info"},
      {"HEALTHCHECK_INTERVAL", "1s"},
      {"HEALTHCHECK_TIMEOUT", "1s"},
  };
}

// True once Consul lists a passing <prefix>-master on `port`.
bool PassingMaster(const ConsulAgent& consul, const std::string& prefix, int port) {
  auto r = consul.Get("/v1/health/service/" + prefix + "-master?passing");
  if (!r.ok() || r->status != 200) return false;
  const json j = json::parse(r->body, nullptr, false);
  if (!j.is_array()) return false;
  return std::any_of(j.begin(), j.end(), [&](const json& e) {
    return e.contains("Service") && e["Service"].value("Port", 0) == port;
  });
}

// True once Consul lists a passing <prefix>-slave on `port`.
bool PassingSlave(const ConsulAgent& consul, const std::string& prefix, int port) {
  auto r = consul.Get("/v1/health/service/" + prefix + "-slave?passing");
  if (!r.ok() || r->status != 200) return false;
  const json j = json::parse(r->body, nullptr, false);
  if (!j.is_array()) return false;
  return std::any_of(j.begin(), j.end(), [&](const json& e) {
    return e.contains("Service") && e["Service"].value("Port", 0) == port;
  });
}

// Peak resident memory (VmHWM, kB) of the agent whose environment holds
// `marker` ("CONSUL_HTTP_ADDR=127.0.0.1:P"); -1 when not found.
long PeakRssKbOfAgentWith(const std::string& marker) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    std::ifstream env_file(entry.path() / "environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(env_file)), std::istreambuf_iterator<char>());
    if (env.find(marker + '\0') == std::string::npos) continue;
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "resec") continue;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
    }
  }
  return -1;
}

struct ConsulFaultRow {
  std::string name;
  std::string path_prefix;  // "" breaks every endpoint
  Fault fault;
  int status = 500;
  // What the agent's log line must say about it.
  std::vector<std::string> expect_any;
  std::string body = {};  // kStatus: the error body ("" = what Consul says)
  // Requests to the faulty endpoint allowed over kObserve (0: not checked):
  // a retry without growing backoff makes several a second.
  int64_t max_fault_path_requests = 0;
  // A fault of one endpoint that answers (an HTTP status) says nothing about
  // whether the Consul agent can be reached: no "reachable again" line, no
  // "consul-unreachable" decision. -1: not checked (connection-level faults).
  int max_reachability_lines = -1;
};

std::ostream& operator<<(std::ostream& o, const ConsulFaultRow& r) { return o << r.name; }

class ConsulFault : public ::testing::TestWithParam<ConsulFaultRow> {};

TEST_P(ConsulFault, AgentKeepsRunningLogsOncePerChangeAndRecovers) {
  const ConsulFaultRow& row = GetParam();
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis;
  ASSERT_OK(redis.Start());
  FaultHttpServer fault;
  ASSERT_OK(fault.Start());
  fault.SetUpstream("127.0.0.1", consul.http_port());
  fault.AddRule({row.path_prefix, row.fault, row.status, row.body});

  const std::string prefix = "fault";
  ResecAgent agent("resec", AgentEnv(redis.addr(), fault.addr(), prefix));
  ASSERT_OK(agent.Start());

  // Under the fault for kObserve: the agent must not exit (WaitFor returns
  // true only if it did).
  const bool exited = WaitFor([&] { return !agent.Running(); }, kObserve, 100ms);
  ASSERT_FALSE(exited) << "agent exited under " << row.name << ":\n" << agent.ReadLog();
  const int64_t requests = fault.requests();
  const int64_t faulted = fault.faulted();
  const std::string log = agent.ReadLog();
  EXPECT_EQ(CrashMark(log), "") << log;
  ASSERT_GE(faulted, 1) << "the fault was never hit; requests:\n" << fault.RecentRequests();
  // Whatever the endpoint sends, the log stays one line per message with no
  // control bytes (a terminal escape in an error body must not reach an
  // operator's terminal or forge a log line).
  for (const std::string& line : Lines(log)) {
    EXPECT_TRUE(std::none_of(line.begin(), line.end(), [](char c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f; }))
        << QuoteForDisplay(line, 400);
  }

  // One clear line per problem: the failing operation and Consul's answer.
  const int failure_lines = CountLines(log, {"consul: ", " failed: "});
  EXPECT_GE(failure_lines, 1) << log;
  bool clear = false;
  for (const std::string& want : row.expect_any) clear = clear || log.find(want) != std::string::npos;
  EXPECT_TRUE(clear) << "no line says any of the expected texts; log:\n" << log;
  // Once per change, not per retry: a handful of operations (session, lock
  // watch, master watch, peers, registration) each fail in their own way at
  // most a few times (e.g. a connection error, then a timeout). Retries are
  // many more than that over kObserve, except when every request hangs.
  EXPECT_LE(failure_lines, 16) << "requests " << requests << "\n" << log;
  if (row.fault != Fault::kHang) {
    EXPECT_LT(failure_lines, requests) << log;
  }
  // Backing off: the watch loops back off to 2 s, so a few requests a second;
  // a retry loop without backoff would make thousands over kObserve.
  EXPECT_LE(requests, 300) << fault.RecentRequests();
  if (row.max_fault_path_requests > 0) {
    EXPECT_LE(fault.RequestsTo(row.path_prefix), row.max_fault_path_requests)
        << "no growing backoff on " << row.path_prefix << ":\n" << fault.RecentRequests(60);
  }
  if (row.max_reachability_lines >= 0) {
    EXPECT_LE(CountLines(log, {"consul: reachable again"}), row.max_reachability_lines) << log;
    EXPECT_LE(CountLines(log, {"reconcile: consul-unreachable"}), row.max_reachability_lines) << log;
  }
  // The state server still answers and shows the problem.
  auto state = agent.Get("/state");
  ASSERT_OK(state);
  EXPECT_EQ(state->status, 200);
  // RESEC_TEST_SHOW_LOG=1 prints what a passing row saw too (for tuning the bounds).
  if (std::getenv("RESEC_TEST_SHOW_LOG")) std::printf("%s\n%s\n", log.c_str(), fault.RecentRequests(60).c_str());
  std::printf("consul fault %s: requests=%lld faulted=%lld failure_lines=%d\n", row.name.c_str(),
              static_cast<long long>(requests), static_cast<long long>(faulted), failure_lines);

  if (row.fault == Fault::kHugeBody) {
    // The response cap (consul::kMaxResponseBytes), not the 100 MB body,
    // bounds memory: a handful of concurrent calls (the watches and the main
    // loop) each hold at most the cap, in a string that grows by doubling.
    // Without the cap each call would hold the whole body and its parse.
    const long peak_kb = PeakRssKbOfAgentWith("CONSUL_HTTP_ADDR=" + fault.addr());
    EXPECT_GT(peak_kb, 0);
    std::printf("consul fault %s: agent peak RSS %ld kB\n", row.name.c_str(), peak_kb);
#if !defined(__SANITIZE_ADDRESS__)
    // (ASan's quarantine keeps freed blocks resident, so only the plain build measures.)
    EXPECT_LT(peak_kb, static_cast<long>(16 * consul::kMaxResponseBytes / 1024)) << "agent's peak RSS " << peak_kb << " kB";
#endif
  }

  // Remove the fault: the agent must register itself as master.
  fault.ClearFaults();
  const bool recovered = WaitFor([&] { return PassingMaster(consul, prefix, redis.port()); }, kRecover, 100ms);
  EXPECT_TRUE(recovered) << "not registered after the fault was removed; log:\n"
                         << agent.ReadLog() << "\nrequests:\n"
                         << fault.RecentRequests();
  EXPECT_TRUE(agent.Running());
  const ExitStatus stop = agent.Stop();
  EXPECT_EQ(stop.code, 0) << stop.ToString();
  EXPECT_EQ(CrashMark(agent.ReadLog()), "");
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ConsulFault,
    ::testing::Values(
        ConsulFaultRow{"Everything403", "", Fault::kStatus, 403, {"PERMISSION_DENIED", "403"}},
        ConsulFaultRow{"Everything404", "", Fault::kStatus, 404, {"NOT_FOUND", "404"}},
        ConsulFaultRow{"Everything429", "", Fault::kStatus, 429, {"429"}},
        ConsulFaultRow{"Everything500", "", Fault::kStatus, 500, {"500"}},
        ConsulFaultRow{"Everything500WithTerminalEscapes", "", Fault::kStatus, 500, {"500"},
                       "\x1b]0;pwned\x07\x1b[2J\x1b[31mno leader\x1b[0m\r\x08\x08 forged"},
        ConsulFaultRow{"EverythingNonJson", "", Fault::kNonJson, 200, {"not JSON", "JSON"}},
        ConsulFaultRow{"EverythingTruncated", "", Fault::kTruncated, 200, {"failed: "}},
        ConsulFaultRow{"Everything100MB", "", Fault::kHugeBody, 200, {"larger than"}},
        ConsulFaultRow{"EverythingHangs", "", Fault::kHang, 200, {"failed: "}},
        ConsulFaultRow{"EverythingReset", "", Fault::kReset, 200, {"failed: "}},
        ConsulFaultRow{"SessionEndpoint500", "/v1/session/", Fault::kStatus, 500, {"create session failed"}},
        ConsulFaultRow{"KvEndpoint403", "/v1/kv/", Fault::kStatus, 403, {"PERMISSION_DENIED"}},
        ConsulFaultRow{"HealthEndpointNonJson", "/v1/health/", Fault::kNonJson, 200, {"watch masters failed"}},
        // Each register call times out while the rest of Consul answers: a
        // broken endpoint, not an unreachable agent (it flipped per retry).
        ConsulFaultRow{"RegisterEndpointHangs", "/v1/agent/service/register", Fault::kHang, 200, {"failed: "}, "", 0,
                       0},
        // Registration backs off like the session (0.2, 0.4, ... 2 s): about 7
        // calls in kObserve, where a fixed 100 ms retry made 60 and more.
        ConsulFaultRow{"RegisterEndpoint500", "/v1/agent/service/register", Fault::kStatus, 500,
                       {"register service failed"}, "", 10, 0},
        // The check refresh retries every 500 ms (it went out on every loop
        // wake-up: 30 calls in kObserve); each 500 is an answer, so Consul
        // stays reachable (it used to flip once per retry).
        ConsulFaultRow{"CheckUpdateEndpoint500", "/v1/agent/check/update/", Fault::kStatus, 500,
                       {"update check failed"}, "", 18, 0}),
    [](const ::testing::TestParamInfo<ConsulFaultRow>& info) { return info.param.name; });

// Answers that never block: a proxy or cache in front of Consul, or an
// endpoint that drops X-Consul-Index, answers every blocking query at once
// with the same index. Each watch used to ask again after 50 ms (20 requests
// a second, per watch, for as long as it lasts); it now backs off to 2 s.
TEST(ConsulFastAnswers, WatchesBackOffOnAnswersThatNeverBlock) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis;
  ASSERT_OK(redis.Start());
  FaultHttpServer fault;
  ASSERT_OK(fault.Start());
  // A fresh dev agent's KV index is 1, the very index the fake answers below
  // imply: after them the agent's lock watch would park on it for the whole
  // wait. A real cluster has written KV long before; so has this one.
  ASSERT_OK(consul.Put("/v1/kv/resec/unrelated", "x"));
  fault.SetUpstream("127.0.0.1", consul.http_port());
  const std::string prefix = "fast";
  const std::string lock_path = "/v1/kv/resec/" + prefix + "/.lock";
  // The master watch: nobody passing, at once, without an index.
  fault.AddRule({"/v1/health/", Fault::kStatus, 200, "[]"});
  // The lock watch (and the peers watch under it): held by another session,
  // at once, without an index; held, so the agent never tries to acquire.
  fault.AddRule({lock_path, Fault::kStatus, 200,
                 R"([{"Key":"resec/fast/.lock","Session":"6d2e8c3a-0000-4000-8000-000000000001",)"
                 R"("LockIndex":1,"CreateIndex":5,"ModifyIndex":5,"Flags":0}])"});
  ResecAgent agent("resec", AgentEnv(redis.addr(), fault.addr(), prefix));
  ASSERT_OK(agent.Start());
  ASSERT_FALSE(WaitFor([&] { return !agent.Running(); }, kObserve, 100ms)) << agent.ReadLog();

  const int64_t masters = fault.RequestsTo("/v1/health/");
  // The lock key itself, without the keys under it (peers, reports).
  const int64_t lock = fault.RequestsTo(lock_path) - fault.RequestsTo(lock_path + "/");
  std::printf("consul fast answers: masters watch %lld, lock watch %lld requests in %lld s\n",
              static_cast<long long>(masters), static_cast<long long>(lock),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(kObserve).count()));
  // 100, 200, 400, 800, 1600, 2000 ms: about 7 each over kObserve; 50 ms
  // pacing would make over 100.
  EXPECT_GE(masters, 2) << fault.RecentRequests(60);
  EXPECT_LE(masters, 15) << fault.RecentRequests(60);
  EXPECT_GE(lock, 2) << fault.RecentRequests(60);
  EXPECT_LE(lock, 15) << fault.RecentRequests(60);
  EXPECT_EQ(CrashMark(agent.ReadLog()), "");

  // Real blocking answers again: the agent takes the now free lock.
  fault.ClearFaults();
  EXPECT_TRUE(WaitFor([&] { return PassingMaster(consul, prefix, redis.port()); }, kRecover, 100ms))
      << agent.ReadLog() << "\nrequests:\n" << fault.RecentRequests();
  EXPECT_EQ(agent.Stop().code, 0);
}

// ===================================================================== 3. Redis faults

// Lines the Redis side logs when it turns unhealthy.
int UnhealthyLines(const std::string& log) { return CountLines(log, {"redis: unhealthy"}); }

// Under a persistent Redis fault the agent turns unhealthy, keeps running
// through kObserve without crashing, and says so once or twice, not once per
// retry. *log receives its log for the test's own checks.
void ObserveUnhealthyButRunning(ResecAgent& agent, std::string* log) {
  ASSERT_TRUE(WaitFor([&] { return UnhealthyLines(agent.ReadLog()) >= 1; }, 10s)) << agent.ReadLog();
  ASSERT_FALSE(WaitFor([&] { return !agent.Running(); }, kObserve, 100ms)) << agent.ReadLog();
  *log = agent.ReadLog();
  EXPECT_EQ(CrashMark(*log), "") << *log;
  EXPECT_LE(UnhealthyLines(*log), 2) << *log;
}

TEST(RedisFault, WrongPasswordIsAClearAuthErrorAndRecovers) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis({.password = "right-password"});
  ASSERT_OK(redis.Start());
  auto env = AgentEnv(redis.addr(), consul.http_addr(), "wrongpw");
  env["REDIS_PASSWORD"] = "wrong-password";
  ResecAgent agent("resec", env);
  ASSERT_OK(agent.Start());
  // INFO is polled every 250 ms: ~24 failures in kObserve, logged once.
  std::string log;
  ASSERT_NO_FATAL_FAILURE(ObserveUnhealthyButRunning(agent, &log));
  // Redis 7 answers "WRONGPASS invalid username-password pair or user is disabled."
  EXPECT_NE(log.find("WRONGPASS"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong-password"), std::string::npos) << "the password reached the log";
  EXPECT_FALSE(PassingMaster(consul, "wrongpw", redis.port()));

  // Heal: the server now expects what the agent sends.
  ASSERT_OK(redis.Call({"CONFIG", "SET", "requirepass", "wrong-password"}));
  EXPECT_TRUE(WaitFor([&] { return PassingMaster(consul, "wrongpw", redis.port()); }, kRecover, 100ms))
      << agent.ReadLog();
  EXPECT_EQ(agent.Stop().code, 0);
}

TEST(RedisFault, APortSpeakingHttpIsUnhealthyNotFatal) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  // REDIS_ADDR points at Consul's HTTP port: it answers RESP with "HTTP/1.1 400".
  ResecAgent agent("resec", AgentEnv("127.0.0.1:" + std::to_string(consul.http_port()), consul.http_addr(), "http"));
  ASSERT_OK(agent.Start());
  std::string log;
  ASSERT_NO_FATAL_FAILURE(ObserveUnhealthyButRunning(agent, &log));
  auto health = agent.Get("/health");
  ASSERT_OK(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(agent.Stop().code, 0);
}

TEST(RedisFault, APortThatNeverAnswersIsUnhealthyNotFatal) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  // Accepts the connection, reads, says nothing: a hung Redis.
  FaultHttpServer silent;
  ASSERT_OK(silent.Start());
  silent.SetFault(Fault::kHang);
  ResecAgent agent("resec", AgentEnv(silent.addr(), consul.http_addr(), "silent"));
  ASSERT_OK(agent.Start());
  std::string log;
  ASSERT_NO_FATAL_FAILURE(ObserveUnhealthyButRunning(agent, &log));
  // The state server is not stuck behind the hung Redis.
  auto state = agent.Get("/state");
  ASSERT_OK(state);
  EXPECT_EQ(state->status, 200);
  const ExitStatus stop = agent.Stop();
  EXPECT_EQ(stop.code, 0) << stop.ToString();
}

TEST(RedisFault, ALoadingRedisIsUnhealthyUntilLoadedThenRegisters) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  TempDir dir("loading");
  const int port = FreePort();
  const std::vector<std::string> base = {"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                                         "--dir", dir.path().string(), "--appendonly", "no", "--save", "",
                                         "--protected-mode", "no"};
  {
    // A dataset big enough that loading it, slowed by key-load-delay, takes seconds.
    ChildProcess::Options o{.argv = base, .env = {}, .log_dir = dir.path(), .log_name = "redis.log"};
    auto writer = ChildProcess::Start(o);
    ASSERT_OK(writer);
    ASSERT_TRUE(WaitFor([&] { return RedisCall(port, {"PING"}).ok(); }, 10s));
    ASSERT_OK(RedisCall(port, {"EVAL", "for i=1,50000 do redis.call('SET','k'..i,'v') end return 1", "0"}, "", "",
                        30s));
    ASSERT_OK(RedisCall(port, {"SAVE"}, "", "", 30s));
    writer->Kill();
  }
  auto env = AgentEnv("127.0.0.1:" + std::to_string(port), consul.http_addr(), "loading");
  ResecAgent agent("resec", env);
  ASSERT_OK(agent.Start());

  // key-load-delay: microseconds slept per key while loading (a debug setting
  // of Redis 7). Redis answers clients during loading only every
  // loading-process-events-interval-bytes (2 MB by default, more than this
  // whole file): 1 KB keeps it answering INFO with loading:1.
  std::vector<std::string> argv = base;
  argv.insert(argv.end(), {"--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"});
  ChildProcess::Options o{.argv = argv, .env = {}, .log_dir = dir.path(), .log_name = "redis.log"};
  auto loading = ChildProcess::Start(o);
  ASSERT_OK(loading);
  bool saw_loading = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = RedisCall(port, {"INFO", "persistence"}, "", "", 500ms);
        saw_loading = saw_loading || (r.ok() && r->find("loading:1") != std::string::npos);
        return saw_loading;
      },
      10s))
      << "redis never reported loading:1";
  EXPECT_TRUE(WaitFor([&] { return agent.ReadLog().find("redis: unhealthy: loading") != std::string::npos; }, 10s))
      << agent.ReadLog();
  EXPECT_FALSE(PassingMaster(consul, "loading", port));
  // Loading ends; the agent registers the now healthy master.
  EXPECT_TRUE(WaitFor([&] { return PassingMaster(consul, "loading", port); }, 90s)) << agent.ReadLog();
  const std::string log = agent.ReadLog();
  EXPECT_EQ(CountLines(log, {"redis: unhealthy: loading"}), 1) << log;
  // Unreachable (before start), loading: two changes, two lines (a third
  // only if the connection attempt failed in two different ways).
  EXPECT_LE(UnhealthyLines(log), 3) << log;
  EXPECT_EQ(agent.Stop().code, 0);
}

TEST(RedisFault, ReplicaofRenamedAwayIsAClearErrorNamingTheCommand) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer master;
  ASSERT_OK(master.Start());
  ResecAgent master_agent("resec-master", AgentEnv(master.addr(), consul.http_addr(), "renamed"));
  ASSERT_OK(master_agent.Start());
  ASSERT_TRUE(WaitFor([&] { return PassingMaster(consul, "renamed", master.port()); }, kRecover))
      << master_agent.ReadLog();

  // The replica's Redis has no REPLICAOF and no SLAVEOF: its agent cannot enslave it.
  RedisServer replica({.extra_args = {"--rename-command", "REPLICAOF", "", "--rename-command", "SLAVEOF", ""}});
  ASSERT_OK(replica.Start());
  ResecAgent agent("resec-replica", AgentEnv(replica.addr(), consul.http_addr(), "renamed"));
  ASSERT_OK(agent.Start());
  ASSERT_TRUE(WaitFor([&] { return CountLines(agent.ReadLog(), {"REPLICAOF", "SLAVEOF", "available"}) >= 1; }, 20s))
      << agent.ReadLog();
  ASSERT_FALSE(WaitFor([&] { return !agent.Running(); }, kObserve, 100ms)) << agent.ReadLog();
  const std::string log = agent.ReadLog();
  EXPECT_EQ(CrashMark(log), "") << log;
  // The error once per change, not once per reconcile.
  EXPECT_LE(CountLines(log, {"REPLICAOF", "SLAVEOF", "available"}), 2) << log;
  // Nor is the attempt announced once per reconcile.
  EXPECT_LE(CountLines(log, {"redis: replicating from"}), 2) << log;
  // Its Redis is still a master of its own, and only the real master is registered as one.
  EXPECT_EQ(replica.Role(), "master");
  EXPECT_FALSE(PassingMaster(consul, "renamed", replica.port()));
  EXPECT_TRUE(PassingMaster(consul, "renamed", master.port()));
  // A Redis that does not replicate the master must not be offered to
  // readers as a healthy replica either.
  EXPECT_FALSE(PassingSlave(consul, "renamed", replica.port()));
  EXPECT_EQ(agent.Stop().code, 0);
  EXPECT_EQ(master_agent.Stop().code, 0);
}

}  // namespace
}  // namespace resec::testing
