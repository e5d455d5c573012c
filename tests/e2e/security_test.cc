// Security (issue 6, item 5), with whole groups of real agents:
//   - Consul with ACLs on and default policy deny, the agents holding only the
//     documented policy: the group converges;
//   - the token read from CONSUL_HTTP_TOKEN_FILE;
//   - HTTPS to Consul with CA verification; a wrong CA or a wrong server name
//     is refused with a clear error while the agent keeps running;
//   - Redis ACL users (REDIS_USERNAME + REDIS_PASSWORD);
//   - the state server bound to loopback only;
//   - no secret (Consul token, Redis password, basic-auth password) in any log
//     line, /state, /info, /, /health, /metrics, or either signal dump;
//   - (issue 16, item 5) neither those nor a Consul session ID (which lets its
//     knower release the lock) in any of those channels, in any log format,
//     nor in /proc/<pid>/cmdline and /proc/<pid>/environ, Consul's check
//     output or Redis' own INFO; nor a password inside a URL in a
//     configuration error.
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/agent_group.h"
#include "support/calls.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"
#include "support/test_certs.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kConverge = 45s;

// The policy an operator grants the agent (docs: key "resec/", session "",
// service "", in today's rule syntax, where `key` would match one exact key
// only). Found out here, under default deny:
//   - node_prefix "" read IS needed: /v1/health/service filters out every
//     instance whose node the token cannot read, so without it the master
//     watch sees no master at all, and replicas never follow. (Consul filters
//     health results on node:read as well as service:read.)
//   - service_prefix "" write covers the service:read the health query needs.
//   - session_prefix "" write lets the agent create sessions on its node;
//     key_prefix "resec/" write covers the lock key, the lock record and the
//     peer reports beside it (resec/.lock/members/...).
constexpr char kAgentPolicy[] = R"(
key_prefix "resec/" { policy = "write" }
session_prefix "" { policy = "write" }
service_prefix "" { policy = "write" }
node_prefix "" { policy = "read" }
)";

// Starts Consul and Redis, makes a token with `policy`, then starts the agents
// with `configure` applied to each agent's environment.
Status StartWithToken(Group& g, const std::string& policy, std::string* token,
                      const std::function<void(std::map<std::string, std::string>&, const std::string&)>& configure) {
  if (Status st = g.Start(); !st.ok()) return st;
  auto t = g.consul().CreateToken(policy);
  if (!t.ok()) return t.status();
  *token = *t;
  for (int i = 0; i < g.size(); ++i) {
    configure(g.agent(i).env(), *token);
    if (Status st = g.StartAgent(i); !st.ok()) return st;
  }
  return Status::Ok();
}

GroupOptions AclOptions() {
  GroupOptions o;
  o.consul.acl = true;
  o.start_agents = false;  // the token exists only once Consul runs
  return o;
}

TEST(Security, AclDefaultDenyWithOnlyTheDocumentedPolicyConverges) {
  Group g(AclOptions());
  std::string token;
  ASSERT_OK(StartWithToken(g, kAgentPolicy, &token,
                           [](auto& env, const std::string& t) { env["CONSUL_HTTP_TOKEN"] = t; }));
  std::string why;
  ASSERT_TRUE(g.WaitConverged(kConverge, &why)) << why;
  // Anonymous requests really are denied: the group did not converge by luck.
  auto anonymous = g.consul().Call("PUT", "/v1/kv/resec/probe", "x", std::string());
  ASSERT_OK(anonymous);
  EXPECT_EQ(anonymous->status, 403) << anonymous->body;
}

TEST(Security, WithoutNodeReadNoMasterIsEverSeen) {
  // The reason kAgentPolicy carries node_prefix "" read (see above).
  GroupOptions o = AclOptions();
  o.size = 2;
  Group g(o);
  std::string token;
  ASSERT_OK(StartWithToken(g,
                           R"(key_prefix "resec/" { policy = "write" }
session_prefix "" { policy = "write" }
service_prefix "" { policy = "write" })",
                           &token, [](auto& env, const std::string& t) { env["CONSUL_HTTP_TOKEN"] = t; }));
  // The lock holder promotes and registers, but the master watch of every agent
  // (and so the replica's) comes back empty: the group never converges.
  EXPECT_FALSE(g.WaitConverged(15s)) << g.Describe();
  // The management token sees the registered master ...
  auto catalog = g.Catalog();
  ASSERT_OK(catalog);
  EXPECT_EQ(catalog->passing_master_ports.size(), 1u) << g.Describe();
  // ... the agents' token sees nothing.
  auto with_token = HttpCall("GET", "127.0.0.1", g.consul().http_port(), "/v1/health/service/redis-master?passing", "",
                             {{"X-Consul-Token", token}});
  ASSERT_OK(with_token);
  EXPECT_EQ(json::parse(with_token->body, nullptr, false), json::array()) << with_token->body;
}

TEST(Security, TokenFromConsulHttpTokenFileConverges) {
  Group g(AclOptions());
  TempDir dir("token");
  const std::string path = (dir.path() / "consul.token").string();
  std::string token;
  ASSERT_OK(StartWithToken(g, kAgentPolicy, &token, [&](auto& env, const std::string& t) {
    std::ofstream(path) << t << "\n";  // trailing newline, as `echo` writes it
    env["CONSUL_HTTP_TOKEN_FILE"] = path;
    // The file wins over the variable (the Consul API client's rule).
    env["CONSUL_HTTP_TOKEN"] = "00000000-0000-4000-8000-0000000bad00";
  }));
  std::string why;
  EXPECT_TRUE(g.WaitConverged(kConverge, &why)) << why;
}

TEST(Security, HttpsWithCaVerificationConverges) {
  GroupOptions o;
  o.consul.https = true;  // the Group passes CONSUL_HTTP_ADDR=https://... and CONSUL_CACERT
  Group g(o);
  ASSERT_OK(g.Start());
  std::string why;
  EXPECT_TRUE(g.WaitConverged(kConverge, &why)) << why;
  EXPECT_NE(g.agent(0).env()["CONSUL_HTTP_ADDR"].find("https://"), std::string::npos);
}

TEST(Security, HttpsWithTheServerNameOfTheCertificateConverges) {
  GroupOptions o;
  o.consul.https = true;
  o.size = 2;
  // Connect to 127.0.0.1 but verify the name Consul's certificate carries.
  o.env["CONSUL_TLS_SERVER_NAME"] = "server.dc1.consul";
  Group g(o);
  ASSERT_OK(g.Start());
  std::string why;
  EXPECT_TRUE(g.WaitConverged(kConverge, &why)) << why;
}

// One agent against HTTPS Consul with a TLS setting that must be refused.
void ExpectTlsRefused(const std::map<std::string, std::string>& env, const std::vector<std::string>& any_of) {
  GroupOptions o;
  o.consul.https = true;
  o.size = 1;
  o.env = env;
  Group g(o);
  ASSERT_OK(g.Start());
  ResecAgent& agent = g.agent(0);
  ASSERT_TRUE(WaitFor([&] { return agent.ReadLog().find("consul: ") != std::string::npos &&
                                   agent.ReadLog().find(" failed: ") != std::string::npos; },
                      15s))
      << agent.ReadLog();
  // It keeps running (and retrying), never talks to the untrusted server.
  ASSERT_FALSE(WaitFor([&] { return !agent.Running(); }, 5s, 100ms)) << agent.ReadLog();
  const std::string log = agent.ReadLog();
  bool clear = false;
  for (const std::string& s : any_of) clear = clear || log.find(s) != std::string::npos;
  EXPECT_TRUE(clear) << "no clear TLS error in the log:\n" << log;
  auto services = g.consul().Get("/v1/agent/services");
  ASSERT_OK(services);
  EXPECT_EQ(json::parse(services->body, nullptr, false), json::object()) << services->body;
  EXPECT_EQ(agent.Stop().code, 0);
}

TEST(Security, HttpsWithAWrongCaIsRefused) {
  // Another throw-away CA: valid, but not the one that signed Consul's certificate.
  TempDir other("other-ca");
  auto certs = MakeTestCertificates(other.path());
  ASSERT_OK(certs);
  ExpectTlsRefused({{"CONSUL_CACERT", certs->ca_file.string()}},
                   {"certificate verify failed", "unable to get local issuer certificate",
                    "self-signed certificate", "SSL server verification failed"});
}

TEST(Security, HttpsWithAWrongServerNameIsRefused) {
  // The chain verifies; only the name does not match. The log must say so
  // (naming the mismatch), not just that "verification" failed.
  ExpectTlsRefused({{"CONSUL_TLS_SERVER_NAME", "consul.wrong.example"}},
                   {"hostname mismatch", "Hostname mismatch", "host name mismatch", "does not match"});
}

TEST(Security, RedisAclUserWithItsOwnPasswordWorks) {
  GroupOptions o;
  // The default user keeps a password of its own (requirepass), different
  // from the ACL user's: AUTH without the username would fail, so a
  // converged group proves REDIS_USERNAME is used.
  o.redis_password = "default-user-pw";
  o.env["REDIS_USERNAME"] = "resec";
  o.env["REDIS_PASSWORD"] = "resec-user-pw";
  o.start_agents = false;
  Group g(o);
  ASSERT_OK(g.Start());
  for (int i = 0; i < g.size(); ++i) {
    RedisServer& r = g.redis(i);
    ASSERT_OK(r.Call({"ACL", "SETUSER", "resec", "on", ">resec-user-pw", "~*", "&*", "+@all"}));
    // Replicas authenticate to their master as the same ACL user.
    ASSERT_OK(r.Call({"CONFIG", "SET", "masteruser", "resec"}));
    ASSERT_OK(r.Call({"CONFIG", "SET", "masterauth", "resec-user-pw"}));
  }
  // The premise: the password alone (the default user) is refused.
  auto plain = RedisCall(g.redis(0).port(), {"PING"}, "resec-user-pw");
  EXPECT_FALSE(plain.ok());
  for (int i = 0; i < g.size(); ++i) ASSERT_OK(g.StartAgent(i));
  std::string why;
  EXPECT_TRUE(g.WaitConverged(kConverge, &why)) << why;
}

TEST(Security, StateServerBoundToLoopbackAnswersThereOnly) {
  GroupOptions o;
  o.size = 2;
  o.start_agents = false;
  Group g(o);
  ASSERT_OK(g.Start());
  // Agent 0: 127.0.0.1 only (the Group's default). Agent 1: all addresses,
  // the control that shows 127.0.0.2 is reachable on this machine at all.
  auto& wildcard = g.agent(1).env()["STATE_LISTEN_ADDR"];
  wildcard = "0.0.0.0:" + std::to_string(g.agent(1).state_port());
  ASSERT_EQ(g.agent(0).env()["STATE_LISTEN_ADDR"], "127.0.0.1:" + std::to_string(g.agent(0).state_port()));
  ASSERT_OK(g.StartAgent(0));
  ASSERT_OK(g.StartAgent(1));

  // Linux routes all of 127.0.0.0/8 to the loopback interface.
  auto loopback = HttpCall("GET", "127.0.0.1", g.agent(0).state_port(), "/health", "", {}, 2s);
  ASSERT_OK(loopback);
  auto other = HttpCall("GET", "127.0.0.2", g.agent(0).state_port(), "/health", "", {}, 2s);
  EXPECT_FALSE(other.ok()) << "answered on 127.0.0.2: HTTP " << other->status;
  auto control = HttpCall("GET", "127.0.0.2", g.agent(1).state_port(), "/health", "", {}, 2s);
  EXPECT_OK(control);
}

// Every place a secret could surface, as text.
std::string EverythingAnAgentShows(ResecAgent& agent) {
  std::string all;
  for (const char* path : {"/", "/state", "/info", "/health", "/metrics"}) {
    auto r = agent.Get(path);
    EXPECT_OK(r) << path;
    if (r.ok()) all += std::string("\n--- ") + path + "\n" + r->body;
  }
  // Both dumps go to the log at any level.
  const size_t before = agent.ReadLog().size();
  EXPECT_TRUE(agent.Signal(SIGUSR1));
  EXPECT_TRUE(WaitFor([&] { return agent.ReadLog().find("redis state: ", before) != std::string::npos; }, 5s));
  EXPECT_TRUE(agent.Signal(SIGUSR2));
  EXPECT_TRUE(WaitFor([&] { return agent.ReadLog().find("reconciler state: ", before) != std::string::npos; }, 5s));
  all += "\n--- log\n" + agent.ReadLog();
  return all;
}

TEST(Security, NoSecretInLogsStateInfoOrDumps) {
  GroupOptions o = AclOptions();
  o.redis_password = "redis-Secret-9f3e";
  o.env["LOG_LEVEL"] = "debug";  // the most talkative level
  o.env["CONSUL_HTTP_AUTH"] = "resec:basic-Secret-77ab";
  Group g(o);
  std::string token;
  ASSERT_OK(StartWithToken(g, kAgentPolicy, &token,
                           [](auto& env, const std::string& t) { env["CONSUL_HTTP_TOKEN"] = t; }));
  std::string why;
  ASSERT_TRUE(g.WaitConverged(kConverge, &why)) << why;
  // A failover too, so the logs cover promotion, demotion and re-registration.
  const int master = *g.Converged();
  g.redis(master).Kill();
  EXPECT_TRUE(WaitFor([&] { return g.RedisMasters().size() == 1 && g.RedisMasters()[0] != master; }, kConverge))
      << g.Describe();

  const std::vector<std::string> secrets = {token, "redis-Secret-9f3e", "basic-Secret-77ab",
                                            g.consul().management_token()};
  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE("agent " + std::to_string(i));
    const std::string shown = EverythingAnAgentShows(g.agent(i));
    EXPECT_GT(shown.size(), 1000u);
    for (const std::string& secret : secrets) {
      ASSERT_FALSE(secret.empty());
      EXPECT_EQ(shown.find(secret), std::string::npos) << "secret " << secret.substr(0, 4) << "... shown";
    }
    // Nothing even tried to log a secret (the log sink would redact it).
    EXPECT_EQ(shown.find("[redacted]"), std::string::npos) << shown;
  }
}

// /proc/<pid>/<file> as other processes see it, NULs as newlines.
std::string ReadProc(pid_t pid, const std::string& file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  for (char& c : text) c = c == '\0' ? '\n' : c;
  return text;
}

// Every Consul session that exists now (the agents' lock sessions).
std::set<std::string> SessionIds(Group& g) {
  std::set<std::string> ids;
  auto r = g.consul().Get("/v1/session/list");
  EXPECT_OK(r);
  if (!r.ok()) return ids;
  const json list = json::parse(r->body, nullptr, false);
  if (!list.is_array()) return ids;
  for (const json& s : list) ids.insert(s.value("ID", ""));
  return ids;
}

// Each channel an agent shows, by name: every endpoint, the SIGUSR1 and
// SIGUSR2 dumps (log lines at any level), the rest of its log, and what
// other local processes read in /proc: argv (any user) and the environment
// block (the same user, root, a core dump).
std::map<std::string, std::string> Channels(ResecAgent& agent) {
  std::map<std::string, std::string> out;
  for (const char* path : {"/", "/state", "/info", "/health", "/metrics"}) {
    auto r = agent.Get(path);
    EXPECT_OK(r) << path;
    if (r.ok()) out[path] = r->body;
  }
  const size_t before = agent.ReadLog().size();
  EXPECT_TRUE(agent.Signal(SIGUSR1));
  EXPECT_TRUE(WaitFor([&] { return agent.ReadLog().find("redis state: ", before) != std::string::npos; }, 5s));
  EXPECT_TRUE(agent.Signal(SIGUSR2));
  EXPECT_TRUE(WaitFor([&] { return agent.ReadLog().find("reconciler state: ", before) != std::string::npos; }, 5s));
  std::istringstream log(agent.ReadLog());
  for (std::string line; std::getline(log, line);) {
    const bool usr1 = line.find("consul state: ") != std::string::npos || line.find("redis state: ") != std::string::npos;
    const bool usr2 = line.find("reconciler state: ") != std::string::npos;
    out[usr1 ? "SIGUSR1 dump" : usr2 ? "SIGUSR2 dump" : "log"] += line + "\n";
  }
  out["/proc/<pid>/cmdline"] = ReadProc(agent.pid(), "cmdline");
  out["/proc/<pid>/environ"] = ReadProc(agent.pid(), "environ");
  return out;
}

// The session holding the lock key, "" when none does.
std::string LockHolderSession(Group& g) {
  auto r = g.consul().Get("/v1/kv/resec/.lock");
  if (!r.ok() || r->status != 200) return "";
  const json kv = json::parse(r->body, nullptr, false);
  if (!kv.is_array() || kv.empty()) return "";
  return kv[0].value("Session", "");
}

TEST(Security, NoSecretOrLockSessionInAnyChannel) {
  const std::string redis_password = "redis-Secret-5c1d";
  const std::string basic_password = "basic-Secret-2e9a";
  GroupOptions o = AclOptions();
  o.redis_password = redis_password;
  o.env["LOG_LEVEL"] = "debug";  // debug field diffs carry every state field
  o.env["CONSUL_HTTP_AUTH"] = "resec:" + basic_password;
  Group g(o);
  ASSERT_OK(g.Start());
  auto made = g.consul().CreateToken(kAgentPolicy);
  ASSERT_OK(made);
  const std::string token = *made;
  TempDir dir("token");
  const auto token_file = dir.path() / "consul.token";
  std::ofstream(token_file) << token << "\n";
  // Each agent takes its secrets by another road and logs in another format:
  // 0 the environment, text; 1 the token file and `--redis-password PW`,
  // JSON; 2 `--redis-password=PW`, GELF.
  for (int i = 0; i < g.size(); ++i) {
    auto& env = g.agent(i).env();
    env["LOG_FORMAT"] = i == 0 ? "text" : i == 1 ? "json" : "gelf";
    if (i == 1) {
      env["CONSUL_HTTP_TOKEN_FILE"] = token_file.string();
      g.agent(i).args() = {"--redis-password", redis_password};
    } else {
      env["CONSUL_HTTP_TOKEN"] = token;
    }
    if (i == 2) g.agent(i).args() = {"--redis-password=" + redis_password};
    if (i != 0) env.erase("REDIS_PASSWORD");
    ASSERT_OK(g.StartAgent(i));
  }
  std::string why;
  const auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  // The sessions of a whole term, the old master's among them; then a
  // failover, so the logs cover promotion, demotion, a lost session and
  // re-registration, and new sessions are made.
  std::set<std::string> sessions = SessionIds(g);
  // At least the lock holder's (replicas make theirs as they need them).
  const std::string holder = LockHolderSession(g);
  ASSERT_FALSE(holder.empty());
  ASSERT_TRUE(sessions.contains(holder)) << holder;
  g.redis(*m).Kill();
  ASSERT_TRUE(g.WaitForNewMaster(*m, kConverge)) << g.Describe();
  // Settled again (the replica registered under the new master), so both
  // services have a check output to read below.
  ASSERT_TRUE(g.WaitConverged(kConverge, &why)) << why;
  for (const std::string& id : SessionIds(g)) sessions.insert(id);
  ASSERT_NE(LockHolderSession(g), holder) << "a new term, a new session";
  sessions.insert(LockHolderSession(g));

  std::map<std::string, std::string> secrets = {
      {"the Consul token", token},
      {"the management token", g.consul().management_token()},
      {"the Redis password", redis_password},
      {"the basic-auth password", basic_password},
  };
  for (const std::string& id : sessions) secrets["session " + id.substr(0, 8)] = id;
  const auto expect_none = [&](const std::string& where, const std::string& text) {
    for (const auto& [what, secret] : secrets) {
      ASSERT_FALSE(secret.empty());
      EXPECT_EQ(text.find(secret), std::string::npos) << what << " shown in " << where;
    }
  };

  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE("agent " + std::to_string(i) + " (" + g.agent(i).env()["LOG_FORMAT"] + ")");
    const auto channels = Channels(g.agent(i));
    for (const auto& [channel, text] : channels) expect_none(channel, text);
    // Every channel was really read.
    EXPECT_EQ(channels.size(), 10u);
    EXPECT_NE(channels.at("/state").find("session_id"), std::string::npos);
    EXPECT_NE(channels.at("SIGUSR1 dump").find("session_id"), std::string::npos);
    EXPECT_NE(channels.at("SIGUSR2 dump").find("session_id"), std::string::npos);
    EXPECT_NE(channels.at("log").find("modified: .Consul"), std::string::npos) << "no debug field diffs";
    EXPECT_NE(channels.at("/proc/<pid>/cmdline").find("resec"), std::string::npos);
    EXPECT_NE(channels.at("/proc/<pid>/environ").find("REDIS_ADDR="), std::string::npos);
    if (i != 0) {
      EXPECT_NE(channels.at("/proc/<pid>/cmdline").find("--redis-password"), std::string::npos);
    }
    // Sessions are masked, not dropped: the log still tells them apart.
    EXPECT_NE(channels.at("log").find("-xxxx-xxxx-xxxx-xxxxxxxxxxxx"), std::string::npos);
    for (const auto& [channel, text] : channels) {
      EXPECT_EQ(text.find("[redacted]"), std::string::npos) << "something tried to show a secret in " << channel;
    }
  }
  // The check output each agent sends Consul (its Redis INFO), and Redis'
  // own INFO, every section: a password is in neither (masterauth and
  // requirepass are configuration, not INFO).
  for (const char* service : {"redis-master", "redis-slave"}) {
    auto r = g.consul().Get(std::string("/v1/health/service/") + service);
    ASSERT_OK(r);
    expect_none(std::string("check output of ") + service, r->body);
    EXPECT_NE(r->body.find("role:"), std::string::npos) << "no INFO in the check output: " << r->body;
  }
  for (int i = 0; i < g.size(); ++i) {
    if (i == *m) continue;  // killed
    auto info = g.redis(i).Call({"INFO", "everything"});
    ASSERT_OK(info);
    expect_none("INFO everything of redis" + std::to_string(i), *info);
  }
}

// A Redis ACL user with its own password, set up the way an operator would
// (ACL SETUSER ... >password, masteruser/masterauth for replication): the
// password is in none of the channels either.
TEST(Security, AclUserPasswordInNoChannel) {
  const std::string user_password = "acl-Secret-71f0";
  GroupOptions o;
  o.size = 2;
  o.redis_password = "default-Secret-0a3b";
  o.env["REDIS_USERNAME"] = "resec";
  o.env["REDIS_PASSWORD"] = user_password;
  o.env["LOG_LEVEL"] = "debug";
  o.start_agents = false;
  Group g(o);
  ASSERT_OK(g.Start());
  for (int i = 0; i < g.size(); ++i) {
    ASSERT_OK(g.redis(i).Call({"ACL", "SETUSER", "resec", "on", ">" + user_password, "~*", "&*", "+@all"}));
    ASSERT_OK(g.redis(i).Call({"CONFIG", "SET", "masteruser", "resec"}));
    ASSERT_OK(g.redis(i).Call({"CONFIG", "SET", "masterauth", user_password}));
  }
  for (int i = 0; i < g.size(); ++i) ASSERT_OK(g.StartAgent(i));
  std::string why;
  ASSERT_TRUE(g.WaitConverged(kConverge, &why)) << why;
  for (int i = 0; i < g.size(); ++i) {
    SCOPED_TRACE("agent " + std::to_string(i));
    std::string all = EverythingAnAgentShows(g.agent(i));
    all += ReadProc(g.agent(i).pid(), "cmdline") + ReadProc(g.agent(i).pid(), "environ");
    auto info = g.redis(i).Call({"INFO", "everything"});
    ASSERT_OK(info);
    all += *info;
    for (const std::string& secret : {user_password, std::string("default-Secret-0a3b")}) {
      EXPECT_EQ(all.find(secret), std::string::npos) << secret.substr(0, 4) << "... shown";
    }
  }
}

// A URL pasted where an address belongs: the configuration error quotes the
// value, but not its password.
TEST(Security, ConfigErrorHidesAPasswordInAUrl) {
  TempDir dir("config-error");
  ChildProcess::Options o;
  o.argv = {ResecBinary()};
  o.env = {{"REDIS_ADDR", "redis://resec:url-Secret-93d1@10.0.0.1:6379"},
           {"CONSUL_HTTP_ADDR", "http://user:consul-url-Secret-4b2e@127.0.0.1:8500"}};
  o.log_dir = dir.path();
  o.log_name = "resec.log";
  auto p = ChildProcess::Start(o);
  ASSERT_OK(p);
  const auto status = p->Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 2);
  const std::string log = p->ReadLog();
  EXPECT_NE(log.find("REDIS_ADDR"), std::string::npos) << log;
  EXPECT_EQ(log.find("url-Secret-93d1"), std::string::npos) << log;
  EXPECT_EQ(log.find("consul-url-Secret-4b2e"), std::string::npos) << log;
}

}  // namespace
}  // namespace resec::testing
