// What operators touch: `resec status` and `resec switchover` against a live
// group, /metrics parsed line by line and its counters across a failover,
// the systemd notify protocol, the Debian package, and the examples (unit,
// compose file, Nomad job, Dockerfile) checked with the tools that exist here.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/agent_group.h"
#include "support/child_process.h"
#include "support/consul_agent.h"
#include "support/redis_server.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr auto kConverge = 30s;
const std::filesystem::path kSource = RESEC_SOURCE_DIR;

// ------------------------------------------------------------------ helpers

struct RunResult {
  ExitStatus exit;
  std::string out;
  std::string err;
  std::string shell_log;  // the launcher's own output (exec failures)
  bool timed_out = false;
  std::string Describe() const {
    return exit.ToString() + (timed_out ? " (timed out)" : "") + "\nstdout:\n" + out + "\nstderr:\n" + err +
           "\nlauncher:\n" + shell_log;
  }
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a command to completion with stdout and stderr captured apart.
RunResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              milliseconds timeout = 60s) {
  TempDir dir("run");
  const auto out = dir.path() / "stdout";
  const auto err = dir.path() / "stderr";
  ChildProcess::Options o;
  o.argv = {"/bin/sh", "-c", "out=$1; err=$2; shift 2; exec \"$@\" >\"$out\" 2>\"$err\"", "sh", out.string(),
            err.string()};
  o.argv.insert(o.argv.end(), argv.begin(), argv.end());
  o.env = env;
  o.log_dir = dir.path();
  o.log_name = "sh.log";
  RunResult r;
  auto p = ChildProcess::Start(o);
  if (!p.ok()) {
    r.err = p.status().ToString();
    return r;
  }
  auto status = p->Wait(timeout);
  if (!status) {
    r.timed_out = true;
    r.exit = p->Kill();
  } else {
    r.exit = *status;
  }
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  r.shell_log = ReadFile(dir.path() / "sh.log");
  return r;
}

bool HaveProgram(const std::string& name) {
  return RunCommand({"/bin/sh", "-c", "command -v " + name}, {}, 10s).exit.code == 0;
}

std::string MemberId(Group& g, int i) { return "redis@:" + std::to_string(g.redis(i).port()); }

std::map<std::string, std::string> ConsulEnv(Group& g) {
  return {{"CONSUL_HTTP_ADDR", g.consul().http_addr()}};
}

// ------------------------------------------------------------------ Prometheus text format

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family -> type
  std::vector<std::string> errors;

  std::optional<double> Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
};

// Parses the text exposition format (version 0.0.4) strictly: every line is a
// HELP, a TYPE or a sample; every sample belongs to a family whose TYPE came
// first; names and labels follow the grammar; values parse as floats; and the
// naming conventions hold (resec_ prefix, counters end in _total).
Exposition ParseExposition(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? ([^ ]+)( -?[0-9]+)?)");
  static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)\")");
  Exposition e;
  if (text.empty() || text.back() != '\n') e.errors.push_back("the body does not end with a newline");
  std::set<std::string> helped;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + " \"" + line + "\": ";
    std::smatch m;
    if (line.empty()) {
      e.errors.push_back(where + "empty line");
    } else if (line.starts_with("# HELP ")) {
      if (!std::regex_match(line, m, kHelp)) {
        e.errors.push_back(where + "malformed HELP");
      } else if (!helped.insert(m[1]).second) {
        e.errors.push_back(where + "second HELP for the family");
      }
    } else if (line.starts_with("# TYPE ")) {
      if (!std::regex_match(line, m, kType)) {
        e.errors.push_back(where + "malformed TYPE");
      } else if (e.types.contains(m[1])) {
        e.errors.push_back(where + "second TYPE for the family");
      } else {
        e.types[m[1]] = m[2];
        if (m[2] == "counter" && !std::string(m[1]).ends_with("_total")) {
          e.errors.push_back(where + "counter name without _total");
        }
      }
    } else if (line.starts_with("#")) {
      // A comment: allowed by the format.
    } else if (!std::regex_match(line, m, kSample)) {
      e.errors.push_back(where + "malformed sample");
    } else {
      Sample s;
      s.name = m[1];
      const std::string labels = m[3];
      for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it) {
        if (!s.labels.emplace((*it)[1], (*it)[2]).second) e.errors.push_back(where + "repeated label");
      }
      const std::string value = m[4];
      char* end = nullptr;
      s.value = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') {
        if (value == "+Inf" || value == "-Inf" || value == "NaN") {
          s.value = value == "NaN" ? NAN : (value == "+Inf" ? INFINITY : -INFINITY);
        } else {
          e.errors.push_back(where + "value is not a float");
        }
      }
      std::string family = s.name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string base = s.name.substr(0, s.name.size() - std::min(s.name.size(), std::strlen(suffix)));
        if (s.name.ends_with(suffix) && e.types.contains(base) &&
            (e.types[base] == "histogram" || e.types[base] == "summary")) {
          family = base;
        }
      }
      if (!e.types.contains(family)) e.errors.push_back(where + "sample before its TYPE");
      if (!s.name.starts_with("resec_")) e.errors.push_back(where + "name without the resec_ prefix");
      if (e.types.contains(family) && e.types[family] == "counter" && s.value < 0) {
        e.errors.push_back(where + "negative counter");
      }
      e.samples.push_back(std::move(s));
    }
  }
  // Histograms: cumulative buckets ending in +Inf, equal to _count.
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    double last = -1;
    std::optional<double> inf;
    for (const Sample& s : e.samples) {
      if (s.name != family + "_bucket") continue;
      if (!s.labels.contains("le")) e.errors.push_back(family + ": bucket without le");
      if (s.value < last) e.errors.push_back(family + ": buckets not cumulative");
      last = s.value;
      if (s.labels.contains("le") && s.labels.at("le") == "+Inf") inf = s.value;
    }
    const auto count = e.Value(family + "_count");
    if (!inf || !count || *inf != *count) e.errors.push_back(family + ": +Inf bucket missing or != _count");
  }
  return e;
}

StatusOr<Exposition> Scrape(ResecAgent& agent) {
  auto r = agent.Get("/metrics");
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unavailable("/metrics: HTTP " + std::to_string(r->status));
  return ParseExposition(r->body);
}

TEST(MetricsParser, RejectsWhatPrometheusWouldReject) {
  struct Case {
    std::string name;
    std::string text;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"valid", "# HELP resec_x_total X.\n# TYPE resec_x_total counter\nresec_x_total 3\n", true},
      {"labels and escapes", "# TYPE resec_g gauge\nresec_g{a=\"x\\\"y\",b=\"\"} 1.5e3\n", true},
      {"no TYPE", "resec_g 1\n", false},
      {"counter without _total", "# TYPE resec_c counter\nresec_c 1\n", false},
      {"bad value", "# TYPE resec_g gauge\nresec_g one\n", false},
      {"bad label", "# TYPE resec_g gauge\nresec_g{1a=\"x\"} 1\n", false},
      {"no trailing newline", "# TYPE resec_g gauge\nresec_g 1", false},
      {"foreign prefix", "# TYPE go_g gauge\ngo_g 1\n", false},
      {"histogram ok",
       "# TYPE resec_h_seconds histogram\nresec_h_seconds_bucket{le=\"0.1\"} 1\nresec_h_seconds_bucket{le=\"+Inf\"} "
       "2\nresec_h_seconds_sum 0.3\nresec_h_seconds_count 2\n",
       true},
      {"histogram not cumulative",
       "# TYPE resec_h_seconds histogram\nresec_h_seconds_bucket{le=\"0.1\"} 3\nresec_h_seconds_bucket{le=\"+Inf\"} "
       "2\nresec_h_seconds_sum 0.3\nresec_h_seconds_count 2\n",
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Exposition e = ParseExposition(c.text);
    EXPECT_EQ(e.errors.empty(), c.ok) << (e.errors.empty() ? "" : e.errors.front());
  }
}

// ------------------------------------------------------------------ status

TEST(Operability, StatusShowsTheLiveGroup) {
  Group g({});
  ASSERT_OK(g.Start());
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  const std::string master_id = MemberId(g, *m);

  // Converged by Redis and the catalog; the peer reports follow within a
  // second or so.
  json j;
  RunResult r;
  const bool settled = WaitFor(
      [&] {
        r = RunCommand({ResecBinary(), "status", "--json"}, ConsulEnv(g), 20s);
        if (r.exit.code != 0) return false;
        j = json::parse(r.out, nullptr, false);
        if (j.is_discarded() || !j.contains("members") || j["members"].size() != 3) return false;
        for (const auto& member : j["members"]) {
          if (member["id"] != master_id && member["master_link"] != "up") return false;
          // An agent's first session can be replaced once at start-up (its
          // report is briefly without one): wait for the steady state.
          if (member["health"] != "healthy" || member["check"] != "passing") return false;
        }
        return true;
      },
      20s, 500ms);
  ASSERT_FALSE(j.is_discarded()) << r.Describe();
  ASSERT_TRUE(settled) << r.Describe() << "\n" << g.Describe();
  EXPECT_EQ(j["lock"]["held"], true);
  EXPECT_EQ(j["lock"]["holder"], master_id);
  EXPECT_EQ(j["passing_masters"], 1);
  EXPECT_TRUE(j["warnings"].empty()) << j["warnings"].dump();
  int holders = 0;
  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE(i);
    json member;
    for (const auto& candidate : j["members"]) {
      if (candidate["id"] == MemberId(g, i)) member = candidate;
    }
    ASSERT_FALSE(member.is_null()) << j.dump(2);
    const bool is_master = i == *m;
    holders += member["holder"].get<bool>() ? 1 : 0;
    EXPECT_EQ(member["holder"], is_master);
    EXPECT_EQ(member["role"], is_master ? "master" : "slave");
    EXPECT_EQ(member["registered_as"], is_master ? "master" : "slave");
    EXPECT_EQ(member["service"], is_master ? "redis-master" : "redis-slave");
    EXPECT_EQ(member["health"], "healthy");
    EXPECT_EQ(member["check"], "passing");
    EXPECT_EQ(member["address"], "127.0.0.1:" + std::to_string(g.redis(i).port()));
    EXPECT_TRUE(member["offset"].is_number_integer());
    EXPECT_TRUE(member["lag"].is_number_integer());
  }
  EXPECT_EQ(holders, 1);

  // The table: the holder marked, one row per member.
  r = RunCommand({ResecBinary(), "status"}, ConsulEnv(g), 20s);
  ASSERT_EQ(r.exit.code, 0) << r.Describe();
  EXPECT_NE(r.out.find("LOCK resec/.lock held by " + master_id), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("* " + master_id + " "), std::string::npos) << r.out;
  for (int i = 0; i < g.size(); ++i) {
    if (i == *m) continue;
    EXPECT_NE(r.out.find("  " + MemberId(g, i) + " "), std::string::npos) << r.out;
  }
  EXPECT_NE(r.out.find("ID"), std::string::npos);
  EXPECT_EQ(r.out.find("warning:"), std::string::npos) << r.out;
  std::cout << "resec status of a live group:\n" << r.out;

  // A killed agent shows as gone (its session, and so its report's, expire).
  const int replica = (*m + 1) % g.size();
  g.agent(replica).Kill();
  const bool gone = WaitFor(
      [&] {
        r = RunCommand({ResecBinary(), "status", "--json"}, ConsulEnv(g), 20s);
        j = json::parse(r.out, nullptr, false);
        if (j.is_discarded()) return false;
        for (const auto& member : j["members"]) {
          if (member["id"] == MemberId(g, replica)) return member["health"] == "gone" && member["check"] != "passing";
        }
        return false;
      },
      45s, 1s);
  EXPECT_TRUE(gone) << r.Describe();
}

TEST(Operability, StatusFailsClearlyWithoutConsul) {
  const RunResult r = RunCommand({ResecBinary(), "status"}, {{"CONSUL_HTTP_ADDR", "127.0.0.1:1"}}, 20s);
  EXPECT_EQ(r.exit.code, 1) << r.Describe();
  EXPECT_NE(r.err.find("cannot read from Consul at http://127.0.0.1:1"), std::string::npos) << r.Describe();
}

TEST(Operability, StatusUsesTheAgentsTokenSettings) {
  GroupOptions o;
  o.consul.acl = true;
  o.start_agents = false;
  Group g(o);
  ASSERT_OK(g.Start());
  // Without a token, Consul refuses (default deny): a permission error, exit 1.
  RunResult r = RunCommand({ResecBinary(), "status"}, ConsulEnv(g), 20s);
  EXPECT_EQ(r.exit.code, 1) << r.Describe();
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.Describe();
  // With the token from CONSUL_HTTP_TOKEN_FILE, as the agent reads it.
  TempDir dir("token");
  const auto token_file = dir.path() / "token";
  std::ofstream(token_file) << g.consul().management_token() << "\n";
  auto env = ConsulEnv(g);
  env["CONSUL_HTTP_TOKEN_FILE"] = token_file.string();
  r = RunCommand({ResecBinary(), "status", "--json"}, env, 20s);
  EXPECT_EQ(r.exit.code, 0) << r.Describe();
  EXPECT_EQ(r.out.find(g.consul().management_token()), std::string::npos);
  EXPECT_EQ(r.err.find(g.consul().management_token()), std::string::npos);
}

// ------------------------------------------------------------------ switchover

TEST(Operability, SwitchoverHandsOverToTheNamedMember) {
  Group g({});
  ASSERT_OK(g.Start());
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  const int target = (*m + 1) % g.size();
  ASSERT_OK(g.redis(*m).Call({"SET", "before-switchover", "1"}));

  const auto started = std::chrono::steady_clock::now();
  const RunResult r = RunCommand({ResecBinary(), "switchover", "--to", MemberId(g, target), "--timeout", "30s"},
                          ConsulEnv(g), 60s);
  ASSERT_EQ(r.exit.code, 0) << r.Describe() << g.Describe();
  EXPECT_NE(r.out.find("switchover done in"), std::string::npos) << r.out;
  std::cout << "resec switchover:\n" << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  const auto m2 = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m2) << why;
  EXPECT_EQ(*m2, target);
  // The request key is gone, and nothing written before was lost.
  auto key = g.consul().Get("/v1/kv/resec/.lock/switchover");
  ASSERT_OK(key);
  EXPECT_EQ(key->status, 404);
  auto value = g.redis(target).Call({"GET", "before-switchover"});
  ASSERT_OK(value);
  EXPECT_EQ(*value, "1");
}

TEST(Operability, SwitchoverRefusesWhatCannotWork) {
  Group g({});
  ASSERT_OK(g.Start());
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  // Wait for the reports to be there (status lists three live members).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = RunCommand({ResecBinary(), "status", "--json"}, ConsulEnv(g), 20s);
        auto j = json::parse(r.out, nullptr, false);
        return !j.is_discarded() && j["members"].size() == 3;
      },
      20s, 500ms));
  RunResult r = RunCommand({ResecBinary(), "switchover", "--to", MemberId(g, *m)}, ConsulEnv(g), 30s);
  EXPECT_EQ(r.exit.code, 1) << r.Describe();
  EXPECT_NE(r.err.find("already the master"), std::string::npos) << r.Describe();
  r = RunCommand({ResecBinary(), "switchover", "--to", "redis@:1"}, ConsulEnv(g), 30s);
  EXPECT_EQ(r.exit.code, 1) << r.Describe();
  EXPECT_NE(r.err.find("no member"), std::string::npos) << r.Describe();
  // Refused requests are never written.
  auto key = g.consul().Get("/v1/kv/resec/.lock/switchover");
  ASSERT_OK(key);
  EXPECT_EQ(key->status, 404) << "no request may be left behind";
}

// ------------------------------------------------------------------ metrics

TEST(Operability, MetricsParseAndCountTheFailover) {
  Group g({});
  ASSERT_OK(g.Start());
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;

  std::map<int, Exposition> before;
  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE(i);
    auto e = Scrape(g.agent(i));
    ASSERT_OK(e);
    EXPECT_TRUE(e->errors.empty()) << e->errors.front();
    EXPECT_FALSE(e->samples.empty());
    EXPECT_EQ(e->Value("resec_lock_held"), i == *m ? 1 : 0);
    EXPECT_EQ(e->Value("resec_role", {{"role", "master"}}), i == *m ? 1 : 0);
    EXPECT_EQ(e->Value("resec_role", {{"role", "slave"}}), i == *m ? 0 : 1);
    EXPECT_EQ(e->Value("resec_redis_healthy"), 1);
    EXPECT_EQ(e->Value("resec_consul_reachable"), 1);
    EXPECT_TRUE(e->Value("resec_reconciles_total").value_or(0) > 0);
    bool build_info = false;
    for (const Sample& s : e->samples) {
      if (s.name == "resec_build_info") {
        build_info = s.labels.contains("version") && s.value == 1;
        EXPECT_EQ(s.labels.at("service_id"), MemberId(g, i));
      }
    }
    EXPECT_TRUE(build_info);
    if (i == *m) {
      EXPECT_EQ(e->Value("resec_replication_lag_bytes"), 0);
      // Every replica, once the master's snapshot lists them all (the group
      // converges on Consul's view, which may be a poll ahead of it).
      long replicas = 0;
      EXPECT_TRUE(WaitFor(
          [&] {
            auto again = Scrape(g.agent(i));
            if (!again.ok()) return false;
            replicas = std::count_if(again->samples.begin(), again->samples.end(),
                                     [](const Sample& s) { return s.name == "resec_replica_lag_bytes"; });
            return replicas == g.size() - 1;
          },
          5s))
          << replicas << " resec_replica_lag_bytes samples";
    } else {
      // Known once the master's offset report has reached Consul.
      EXPECT_TRUE(WaitFor(
          [&] {
            auto again = Scrape(g.agent(i));
            return again.ok() && again->Value("resec_replication_lag_bytes").has_value();
          },
          5s));
    }
    before[i] = *std::move(e);
  }
  const double acquisitions_before_total = [&] {
    double sum = 0;
    for (auto& [i, e] : before) sum += e.Value("resec_lock_acquisitions_total").value_or(0);
    return sum;
  }();

  // Fail the master's Redis; another member takes over.
  const auto killed_at = std::chrono::steady_clock::now();
  g.redis(*m).Kill();
  std::optional<int> m2;
  ASSERT_TRUE(WaitFor(
      [&] {
        m2 = g.Converged();
        return m2 && *m2 != *m;
      },
      kConverge, 50ms))
      << g.Describe();
  std::cout << "failover from redis" << *m << " to redis" << *m2 << " in "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - killed_at).count()
            << " ms\n";

  // The counters moved where they should, and the exposition is still valid.
  Exposition after_new;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto e = Scrape(g.agent(*m2));
        if (!e.ok()) return false;
        after_new = *std::move(e);
        return after_new.Value("resec_lock_held") == 1;
      },
      10s));
  EXPECT_TRUE(after_new.errors.empty()) << after_new.errors.front();
  EXPECT_GT(after_new.Value("resec_lock_acquisitions_total").value_or(0),
            before[*m2].Value("resec_lock_acquisitions_total").value_or(0));
  EXPECT_GT(after_new.Value("resec_promote_commands_total").value_or(0),
            before[*m2].Value("resec_promote_commands_total").value_or(0));
  EXPECT_GT(after_new.Value("resec_reconciles_total").value_or(0),
            before[*m2].Value("resec_reconciles_total").value_or(0));
  EXPECT_EQ(after_new.Value("resec_role", {{"role", "master"}}), 1);

  auto after_old = Scrape(g.agent(*m));
  ASSERT_OK(after_old);
  EXPECT_TRUE(after_old->errors.empty()) << after_old->errors.front();
  EXPECT_EQ(after_old->Value("resec_redis_healthy"), 0);
  EXPECT_EQ(after_old->Value("resec_lock_held"), 0);
  EXPECT_GT(after_old->Value("resec_lock_losses_total").value_or(0),
            before[*m].Value("resec_lock_losses_total").value_or(0));

  double acquisitions_after_total = 0;
  for (int i = 0; i < g.size(); ++i) {
    auto e = Scrape(g.agent(i));
    ASSERT_OK(e);
    acquisitions_after_total += e->Value("resec_lock_acquisitions_total").value_or(0);
  }
  EXPECT_EQ(acquisitions_after_total, acquisitions_before_total + 1) << "exactly one new lock acquisition";
}

// ------------------------------------------------------------------ systemd notify

// The datagram socket systemd would listen on.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{0, 100 * 1000};  // recv() below returns every 100ms to check deadlines
    if (ok_) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  // Collects messages until `done(messages)` or the timeout.
  bool CollectUntil(std::vector<std::string>& messages, const std::function<bool()>& done, milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) messages.emplace_back(buffer, static_cast<size_t>(n));
    }
    return done();
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool ok_ = false;
};

int Count(const std::vector<std::string>& messages, const std::string& what) {
  int n = 0;
  for (const auto& m : messages) n += m.find(what) != std::string::npos ? 1 : 0;
  return n;
}

TEST(Operability, SystemdNotifyReadyWatchdogStopping) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis;
  ASSERT_OK(redis.Start());
  TempDir dir("notify");
  const auto socket_path = dir.path() / "notify.sock";
  NotifySocket socket(socket_path);
  ASSERT_TRUE(socket.ok()) << socket_path;

  ResecAgent agent("resec", {{"REDIS_ADDR", redis.addr()},
                             {"CONSUL_HTTP_ADDR", consul.http_addr()},
                             {"HEALTHCHECK_INTERVAL", "1s"},
                             {"HEALTHCHECK_TIMEOUT", "1s"},
                             {"NOTIFY_SOCKET", socket_path.string()},
                             // 400ms: a ping every 200ms, several within the test.
                             {"WATCHDOG_USEC", "400000"}});
  ASSERT_OK(agent.Start());
  std::vector<std::string> messages;
  ASSERT_TRUE(socket.CollectUntil(
      messages, [&] { return Count(messages, "READY=1") == 1 && Count(messages, "WATCHDOG=1") >= 3; }, 20s))
      << ::testing::PrintToString(messages) << agent.ReadLog();
  // READY carries a status line for `systemctl status`.
  for (const auto& m : messages) {
    if (m.find("READY=1") != std::string::npos) {
      EXPECT_NE(m.find("STATUS=master"), std::string::npos) << m;
    }
  }
  // Alone in its group, the agent becomes master; pings go on meanwhile.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto metrics = agent.Get("/metrics");
        return metrics.ok() && metrics->body.find("resec_lock_held 1") != std::string::npos;
      },
      15s));

  const ExitStatus exit = agent.Stop();
  EXPECT_EQ(exit.code, 0) << exit.ToString();
  socket.CollectUntil(messages, [&] { return Count(messages, "STOPPING=1") > 0; }, 2s);
  EXPECT_EQ(Count(messages, "STOPPING=1"), 1) << ::testing::PrintToString(messages);
  EXPECT_EQ(Count(messages, "READY=1"), 1);
}

// docs/architecture.md lists every thread an idle agent runs; this is that
// list. A thread nobody documented is a thread nobody owns.
TEST(Operability, IdleAgentRunsTheDocumentedThreads) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis;
  ASSERT_OK(redis.Start());
  ResecAgent agent("resec", {{"REDIS_ADDR", redis.addr()}, {"CONSUL_HTTP_ADDR", consul.http_addr()}});
  ASSERT_OK(agent.Start());
  ASSERT_TRUE(WaitFor([&] { return agent.Get("/health").ok() && agent.Get("/health")->status == 200; }, 20s));
  std::multiset<std::string> names;
  const std::filesystem::path tasks = "/proc/" + std::to_string(agent.pid()) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  const std::multiset<std::string> documented = {"resec", "consul", "consul-kv", "consul-masters",
                                                 "redis", "redis-watch", "http"};
  EXPECT_EQ(names, documented);
  EXPECT_LE(names.size(), 8u);
  EXPECT_EQ(agent.Stop().code, 0);
}

TEST(Operability, WithoutNotifySocketNothingIsSent) {
  // The same agent outside systemd: runs normally (no socket, no thread).
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis;
  ASSERT_OK(redis.Start());
  ResecAgent agent("resec", {{"REDIS_ADDR", redis.addr()}, {"CONSUL_HTTP_ADDR", consul.http_addr()}});
  ASSERT_OK(agent.Start());
  EXPECT_EQ(agent.ReadLog().find("systemd:"), std::string::npos) << agent.ReadLog();
  EXPECT_EQ(agent.Stop().code, 0);
}

// ------------------------------------------------------------------ health command

TEST(Operability, HealthCommandFollowsTheStateServer) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  RedisServer redis;
  ASSERT_OK(redis.Start());
  ResecAgent agent("resec", {{"REDIS_ADDR", redis.addr()}, {"CONSUL_HTTP_ADDR", consul.http_addr()}});
  ASSERT_OK(agent.Start());
  const std::map<std::string, std::string> env = {
      {"STATE_LISTEN_ADDR", "0.0.0.0:" + std::to_string(agent.state_port())}};
  RunResult r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = RunCommand({ResecBinary(), "health"}, env, 10s);
        return r.exit.code == 0;
      },
      15s, 200ms))
      << r.Describe();
  EXPECT_EQ(r.out, "ok\n");
  redis.Kill();
  ASSERT_TRUE(WaitFor(
      [&] {
        r = RunCommand({ResecBinary(), "health", "--addr", "127.0.0.1:" + std::to_string(agent.state_port())}, {}, 10s);
        return r.exit.code == 1;
      },
      15s, 200ms))
      << r.Describe();
  EXPECT_EQ(r.out, "fail\n");
  agent.Stop();
  r = RunCommand({ResecBinary(), "health"}, env, 10s);
  EXPECT_EQ(r.exit.code, 1) << r.Describe();
}

// ------------------------------------------------------------------ packaging

TEST(Packaging, DebExtractsAndRuns) {
#ifdef RESEC_SANITIZED_BUILD
  GTEST_SKIP() << "inspects the release binary; a sanitizer build links libasan and libubsan";
#endif
  ASSERT_TRUE(HaveProgram("cpack") && HaveProgram("dpkg-deb"))
      << "cpack (cmake) and dpkg-deb are needed: scripts/install-deps.sh installs them";
  TempDir dir("deb");
  const std::string bin = RESEC_BINARY_DIR;
  // What scripts/package.sh does after its build, on this test's build tree.
  RunResult r = RunCommand({"cpack", "--config", bin + "/CPackConfig.cmake", "-G", "DEB", "-B", (dir.path() / "out").string()},
                    {}, 300s);
  ASSERT_EQ(r.exit.code, 0) << r.Describe();
  std::filesystem::path deb;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "out")) {
    if (entry.path().extension() == ".deb") deb = entry.path();
  }
  ASSERT_FALSE(deb.empty()) << r.Describe();
  const auto root = dir.path() / "root";
  r = RunCommand({"dpkg-deb", "-x", deb.string(), root.string()}, {}, 60s);
  ASSERT_EQ(r.exit.code, 0) << r.Describe();

  r = RunCommand({(root / "usr/bin/resec").string(), "--version"}, {}, 10s);
  EXPECT_EQ(r.exit.code, 0) << r.Describe();
  EXPECT_EQ(r.out, std::string("resec ") + RESEC_VERSION + "\n");
  EXPECT_TRUE(std::filesystem::exists(root / "lib/systemd/system/resec.service"));
  EXPECT_EQ(ReadFile(root / "lib/systemd/system/resec.service"), ReadFile(kSource / "examples/systemd/resec.service"));
  EXPECT_EQ(ReadFile(root / "etc/default/resec"), ReadFile(kSource / "examples/systemd/resec.env"));
  EXPECT_TRUE(std::filesystem::exists(root / "usr/share/man/man1/resec.1.gz")) << "help2man missing at configure time?";

  r = RunCommand({"dpkg-deb", "--field", deb.string(), "Package", "Version", "Depends"}, {}, 10s);
  EXPECT_NE(r.out.find("Package: resec"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("libhiredis"), std::string::npos) << r.out;
  r = RunCommand({"dpkg-deb", "--ctrl-tarfile", deb.string()}, {}, 10s);
  EXPECT_EQ(r.exit.code, 0);
  r = RunCommand({"/bin/sh", "-c", "dpkg-deb --ctrl-tarfile \"$0\" | tar -xO ./conffiles", deb.string()}, {}, 10s);
  EXPECT_EQ(r.out, "/etc/default/resec\n") << r.Describe();

  // The packaged unit verifies with the packaged binary and man page.
  if (!HaveProgram("systemd-analyze")) {
    GTEST_SKIP() << "systemd-analyze not installed: unit verification not run";
  }
  std::string unit = ReadFile(root / "lib/systemd/system/resec.service");
  const std::string exec = "ExecStart=/usr/bin/resec";
  ASSERT_NE(unit.find(exec), std::string::npos);
  unit.replace(unit.find(exec), exec.size(), "ExecStart=" + (root / "usr/bin/resec").string());
  std::ofstream(dir.path() / "resec.service") << unit;
  r = RunCommand({"systemd-analyze", "verify", (dir.path() / "resec.service").string()},
          {{"MANPATH", (root / "usr/share/man").string()}}, 60s);
  EXPECT_EQ(r.exit.code, 0) << r.Describe();
  EXPECT_EQ(r.err, "") << r.Describe();
}

// ------------------------------------------------------------------ examples

TEST(Examples, SystemdUnitVerifies) {
  if (!HaveProgram("systemd-analyze")) {
    GTEST_SKIP() << "systemd-analyze not installed: `systemd-analyze verify` not run";
  }
  std::string unit = ReadFile(kSource / "examples/systemd/resec.service");
  for (const char* wanted : {"Type=notify", "EnvironmentFile=-/etc/default/resec", "DynamicUser=yes",
                             "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                             "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "WatchdogSec=30",
                             "Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=15",
                             "ExecStart=/usr/bin/resec\n"}) {
    EXPECT_NE(unit.find(wanted), std::string::npos) << wanted;
  }
  // verify wants ExecStart to exist: point it at the binary under test.
  const std::string exec = "ExecStart=/usr/bin/resec";
  unit.replace(unit.find(exec), exec.size(), "ExecStart=" + ResecBinary());
  TempDir dir("unit");
  std::ofstream(dir.path() / "resec.service") << unit;
  // The man page is checked by Packaging.DebExtractsAndRuns, where it exists.
  const RunResult r = RunCommand({"systemd-analyze", "verify", "--man=no", (dir.path() / "resec.service").string()}, {}, 60s);
  EXPECT_EQ(r.exit.code, 0) << r.Describe();
  EXPECT_EQ(r.err, "") << r.Describe();
}

// Every variable an example sets for resec.
struct ExampleEnv {
  std::string file;
  std::set<std::string> names;
};

std::set<std::string> KnownSettings() {
  const RunResult r = RunCommand({ResecBinary(), "--help"}, {}, 10s);
  std::set<std::string> known;
  static const std::regex kName(R"(\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b)");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), kName), end; it != end; ++it) known.insert(it->str());
  return known;
}

std::vector<ExampleEnv> ExampleEnvironments() {
  std::vector<ExampleEnv> out;
  const auto lines_matching = [](const std::string& text, const std::regex& re, std::set<std::string>& names) {
    std::istringstream in(text);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, re)) names.insert(m[1]);
    }
  };
  {
    ExampleEnv e{"examples/systemd/resec.env", {}};
    lines_matching(ReadFile(kSource / e.file), std::regex(R"(^#?([A-Z][A-Z0-9_]*)=)"), e.names);
    out.push_back(e);
  }
  {
    ExampleEnv e{"examples/systemd/resec.service", {}};
    lines_matching(ReadFile(kSource / e.file), std::regex(R"(^Environment="?([A-Z][A-Z0-9_]*)=)"), e.names);
    out.push_back(e);
  }
  {
    // Inside the resec task's env block and its template's KEY=value lines.
    ExampleEnv e{"examples/nomad/resec.nomad", {}};
    const std::string text = ReadFile(kSource / e.file);
    const size_t task = text.find("task \"resec\"");
    EXPECT_NE(task, std::string::npos);
    const std::string body = task == std::string::npos ? "" : text.substr(task);
    // The env block ends at a line holding only '}' (values hold "${...}").
    std::string block;
    {
      std::istringstream in(body);
      std::string line;
      bool inside = false;
      while (std::getline(in, line)) {
        const std::string trimmed = std::regex_replace(line, std::regex(R"(^\s+|\s+$)"), "");
        if (!inside && trimmed == "env {") {
          inside = true;
        } else if (inside && trimmed == "}") {
          break;
        } else if (inside) {
          block += line + "\n";
        }
      }
    }
    EXPECT_FALSE(block.empty());
    lines_matching(block, std::regex(R"(^\s*([A-Z][A-Z0-9_]*)\s*=)"), e.names);
    lines_matching(body, std::regex(R"(\}\}([A-Z][A-Z0-9_]*)=)"), e.names);
    out.push_back(e);
  }
  {
    ExampleEnv e{"Dockerfile", {}};
    lines_matching(ReadFile(kSource / e.file), std::regex(R"(^ENV ([A-Z][A-Z0-9_]*)=)"), e.names);
    lines_matching(ReadFile(kSource / e.file), std::regex(R"(^\s+([A-Z][A-Z0-9_]*)=\S+\s*$)"), e.names);
    out.push_back(e);
  }
  {
    // The compose file, as YAML -> JSON by Python (Debian's python3-yaml).
    ExampleEnv e{"examples/docker-compose/docker-compose.yml", {}};
    const RunResult r = RunCommand({"/usr/bin/python3", "-c",
                             "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                             (kSource / e.file).string()},
                            {}, 30s);
    EXPECT_EQ(r.exit.code, 0) << r.Describe();
    const json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.Describe();
    if (!j.is_discarded()) {
      for (const auto& [name, service] : j["services"].items()) {
        if (!name.starts_with("resec")) continue;
        for (const auto& [k, v] : service["environment"].items()) e.names.insert(k);
      }
    }
    EXPECT_EQ(e.names.count("REDIS_ADDR"), 1u);
    out.push_back(e);
  }
  return out;
}

TEST(Examples, EnvironmentUsesOnlyKnownSettings) {
  const std::set<std::string> known = KnownSettings();
  ASSERT_TRUE(known.contains("REDIS_ADDR") && known.contains("CONSUL_HTTP_ADDR") && known.contains("STATE_SERVER"))
      << "resec --help did not list the settings";
  for (const ExampleEnv& e : ExampleEnvironments()) {
    SCOPED_TRACE(e.file);
    if (e.file != "examples/systemd/resec.service") {
      EXPECT_FALSE(e.names.empty()) << "no settings found";
    }
    for (const std::string& name : e.names) {
      EXPECT_TRUE(known.contains(name)) << name << " is not a setting listed by resec --help";
    }
  }
}

TEST(Examples, ComposeFileIsValid) {
  const std::string file = (kSource / "examples/docker-compose/docker-compose.yml").string();
  if (!HaveProgram("docker-compose")) {
    GTEST_SKIP() << "docker-compose not installed (scripts/install-deps.sh installs it): compose file not validated";
  }
  const RunResult r = RunCommand({"docker-compose", "-f", file, "config"}, {}, 60s);
  ASSERT_EQ(r.exit.code, 0) << r.Describe();
  for (const char* service : {"consul:", "redis1:", "redis2:", "redis3:", "resec1:", "resec2:", "resec3:"}) {
    EXPECT_NE(r.out.find("  " + std::string(service)), std::string::npos) << service << "\n" << r.out;
  }
}

TEST(Examples, NomadJobIsWellFormed) {
  // No Nomad binary here: check the HCL's structure ourselves (balanced
  // braces, brackets and quotes outside heredocs) and the blocks it must have.
  const std::string text = ReadFile(kSource / "examples/nomad/resec.nomad");
  int depth = 0;
  int brackets = 0;
  bool in_string = false;
  bool in_comment = false;
  std::string heredoc;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!heredoc.empty()) {
      if (line.find_first_not_of(' ') != std::string::npos && line.substr(line.find_first_not_of(' ')) == heredoc) {
        heredoc.clear();
      }
      continue;
    }
    in_comment = false;
    for (size_t i = 0; i < line.size() && !in_comment; ++i) {
      const char c = line[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '#') in_comment = true;
      if (c == '"') in_string = true;
      if (c == '{') ++depth;
      if (c == '}') --depth;
      if (c == '[') ++brackets;
      if (c == ']') --brackets;
      if (c == '<' && line.compare(i, 3, "<<-") == 0) {
        heredoc = line.substr(i + 3);
        break;
      }
      ASSERT_GE(depth, 0) << "line " << n << ": unbalanced '}'";
    }
    ASSERT_FALSE(in_string) << "line " << n << ": unterminated string";
  }
  EXPECT_EQ(depth, 0);
  EXPECT_EQ(brackets, 0);
  EXPECT_TRUE(heredoc.empty()) << "unterminated heredoc " << heredoc;
  for (const char* block : {"job \"redis\"", "group \"redis\"", "task \"redis\"", "task \"resec\"", "leader       = true",
                            "path     = \"/health\"", "image        = var.resec_image"}) {
    EXPECT_NE(text.find(block), std::string::npos) << block;
  }
}

// The Dockerfile cannot be built here (no Docker engine). What can be checked:
// every package it installs is a real bookworm package (this machine is
// bookworm and has them all installed, building and running resec), and the
// runtime stage's packages provide every shared library the binary needs.
TEST(Examples, DockerfilePackagesAreRealAndCoverTheBinary) {
#ifdef RESEC_SANITIZED_BUILD
  GTEST_SKIP() << "inspects the release binary; a sanitizer build links libasan and libubsan";
#endif
  const std::string text = ReadFile(kSource / "Dockerfile");
  const size_t runtime = text.find("FROM debian:bookworm-slim");
  ASSERT_NE(text.find("FROM debian:bookworm AS build"), std::string::npos);
  ASSERT_NE(runtime, std::string::npos);
  EXPECT_NE(text.find("-DRESEC_BUILD_TESTS=OFF"), std::string::npos);
  EXPECT_NE(text.find("USER 10001"), std::string::npos);
  EXPECT_NE(text.find("HEALTHCHECK"), std::string::npos);
  EXPECT_NE(text.find("EXPOSE 8080"), std::string::npos);
  EXPECT_NE(text.find("STATE_SERVER=true"), std::string::npos);

  const auto packages = [](const std::string& stage) {
    std::set<std::string> out;
    const size_t at = stage.find("apt-get install");
    if (at == std::string::npos) return out;
    const std::string rest = stage.substr(at, stage.find("&&", at + 16) - at);
    static const std::regex kPackage(R"((?:^|\s)([a-z0-9][a-z0-9.+-]+[a-z0-9])(?=\s|\\|$))");
    for (std::sregex_iterator it(rest.begin(), rest.end(), kPackage), end; it != end; ++it) {
      const std::string p = (*it)[1];
      if (p != "apt-get" && p != "install") out.insert(p);
    }
    return out;
  };
  const std::set<std::string> build = packages(text.substr(0, runtime));
  const std::set<std::string> run = packages(text.substr(runtime));
  EXPECT_TRUE(build.contains("libhiredis-dev") && build.contains("cmake")) << ::testing::PrintToString(build);
  EXPECT_TRUE(run.contains("libhiredis0.14")) << ::testing::PrintToString(run);
  for (const auto& set : {build, run}) {
    for (const std::string& p : set) {
      const RunResult r = RunCommand({"dpkg-query", "-W", "-f=${Status}", p}, {}, 10s);
      EXPECT_EQ(r.out, "install ok installed") << p << ": not a package installed on this bookworm machine";
    }
  }

  // Each library the binary links, by the package that ships it.
  const RunResult needed = RunCommand({"/bin/sh", "-c", "readelf -d \"$0\" | sed -n 's/.*Shared library: \\[\\(.*\\)\\]/\\1/p'",
                                ResecBinary()},
                               {}, 10s);
  ASSERT_EQ(needed.exit.code, 0) << needed.Describe();
  std::istringstream libs(needed.out);
  std::string lib;
  int count = 0;
  // In every Debian image, slim included.
  const std::set<std::string> base = {"libc6", "libstdc++6", "libgcc-s1"};
  while (std::getline(libs, lib)) {
    ++count;
    const RunResult owner = RunCommand({"/bin/sh", "-c", "dpkg -S \"*/$0\" | head -1 | cut -d: -f1", lib}, {}, 10s);
    std::string pkg = owner.out.substr(0, owner.out.find('\n'));
    EXPECT_TRUE(run.contains(pkg) || base.contains(pkg))
        << lib << " comes from " << pkg << ", which the runtime stage does not install";
  }
  EXPECT_GT(count, 3);

  const std::string ignore = ReadFile(kSource / ".dockerignore");
  for (const char* excluded : {"build", "build-*", ".git"}) {
    EXPECT_NE(ignore.find(std::string("\n") + excluded + "\n"), std::string::npos) << excluded;
  }
}

}  // namespace
}  // namespace resec::testing
