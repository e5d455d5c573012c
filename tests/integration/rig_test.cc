// Proves the test rig (tests/support) against real processes: the child
// process handle, ports, temp dirs, redis-server and Consul fixtures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "support/calls.h"
#include "support/child_process.h"
#include "support/consul_agent.h"
#include "support/free_port.h"
#include "support/redis_server.h"
#include "support/status_matchers.h"
#include "support/test_certs.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using nlohmann::json;

// The state letter of /proc/<pid>/stat: 'T' stopped, 'S' sleeping, ...
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

TEST(FreePort, HandsOutDistinctPortsInRange) {
  std::set<int> ports;
  for (int i = 0; i < 50; ++i) {
    int port = FreePort();
    EXPECT_GE(port, 20000);
    EXPECT_LT(port, 32000);
    EXPECT_TRUE(ports.insert(port).second) << "port handed out twice: " << port;
  }
}

TEST(TempDir, IsNamedAfterTheTestAndRemovedWhenItPasses) {
  std::filesystem::path path;
  {
    TempDir dir("tag");
    path = dir.path();
    ASSERT_FALSE(path.empty());
    EXPECT_TRUE(std::filesystem::is_directory(path));
    EXPECT_NE(path.filename().string().find("TempDir.IsNamedAfterTheTestAndRemovedWhenItPasses-tag"),
              std::string::npos)
        << path;
    std::ofstream(dir.Sub("a/b") / "f") << "x";
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ChildProcess, CapturesStdoutStderrAndEnv) {
  TempDir dir;
  auto child = ChildProcess::Start({.argv = {"sh", "-c", "echo out $RIG_VAR; echo err >&2; exit 3"},
                                    .env = {{"RIG_VAR", "value"}},
                                    .log_dir = dir.path()});
  ASSERT_OK(child);
  std::optional<ExitStatus> exit = child->Wait(seconds(10));
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->code, 3);
  EXPECT_FALSE(child->Running());
  EXPECT_EQ(child->log_path(), dir.path() / "sh.log");
  std::string log = child->ReadLog();
  EXPECT_NE(log.find("out value\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err\n"), std::string::npos) << log;
}

TEST(ChildProcess, MissingBinaryIsAnError) {
  TempDir dir;
  auto child = ChildProcess::Start({.argv = {"/nonexistent/resec-no-such-binary"},
                                    .log_dir = dir.path()});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kFailedPrecondition);
}

TEST(ChildProcess, PauseResumeKill) {
  TempDir dir;
  auto child = ChildProcess::Start({.argv = {"sleep", "60"}, .log_dir = dir.path()});
  ASSERT_OK(child);
  const pid_t pid = child->pid();
  EXPECT_TRUE(child->Running());

  ASSERT_TRUE(child->Pause());
  EXPECT_TRUE(WaitFor([&] { return ProcState(pid) == 'T'; }, seconds(5)));
  EXPECT_TRUE(child->Running()) << "a paused child is still running";
  ASSERT_TRUE(child->Resume());
  EXPECT_TRUE(WaitFor([&] { return ProcState(pid) != 'T'; }, seconds(5)));

  EXPECT_FALSE(child->Wait(milliseconds(50)).has_value());
  ExitStatus exit = child->Kill();
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_FALSE(child->Running());
  EXPECT_FALSE(child->Signal(SIGTERM)) << "never signals a reaped pid";
}

TEST(ChildProcess, StopTermsAndKillsAfterTimeout) {
  TempDir dir;
  auto polite = ChildProcess::Start({.argv = {"sleep", "60"}, .log_dir = dir.path()});
  ASSERT_OK(polite);
  ASSERT_TRUE(polite->Pause());  // Stop must also end a paused child with SIGTERM
  EXPECT_EQ(polite->Stop(seconds(10)).signal, SIGTERM);

  auto stubborn = ChildProcess::Start(
      {.argv = {"sh", "-c", "trap '' TERM; echo armed; while :; do sleep 1; done"},
       .log_dir = dir.path(),
       .log_name = "stubborn.log"});
  ASSERT_OK(stubborn);
  ASSERT_TRUE(WaitFor([&] { return stubborn->ReadLog().find("armed") != std::string::npos; },
                      seconds(5)));
  EXPECT_EQ(stubborn->Stop(milliseconds(200)).signal, SIGKILL);
}

TEST(ChildProcess, DestructorReapsPausedChild) {
  TempDir dir;
  pid_t pid;
  {
    auto child = ChildProcess::Start({.argv = {"sleep", "60"}, .log_dir = dir.path()});
    ASSERT_OK(child);
    pid = child->pid();
    ASSERT_TRUE(child->Pause());
  }
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)))
      << "child neither killed nor reaped";
}

TEST(RedisServer, StartsAnswersAndRestartsEmptyOnTheSamePort) {
  RedisServer redis;
  ASSERT_OK(redis.Start());
  EXPECT_EQ(redis.addr(), "127.0.0.1:" + std::to_string(redis.port()));
  ASSERT_OK(redis.Call({"SET", "k", "v"}));
  auto got = redis.Call({"GET", "k"});
  ASSERT_OK(got);
  EXPECT_EQ(*got, "v");
  EXPECT_EQ(redis.Role(), "master");

  const int port = redis.port();
  redis.Kill();
  EXPECT_FALSE(redis.Running());
  EXPECT_FALSE(redis.Call({"PING"}).ok());
  ASSERT_OK(redis.Start());
  EXPECT_EQ(redis.port(), port);
  got = redis.Call({"GET", "k"});
  ASSERT_OK(got);
  EXPECT_EQ(*got, "") << "no persistence: a restart comes back empty";
}

TEST(RedisServer, FirstStartMovesOffAPortTakenMeanwhile) {
  RedisServer redis;
  const int taken = redis.port();
  // Another process grabs the port between FreePort() and the server's bind.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(taken));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  Status started = redis.Start();
  ::close(fd);
  ASSERT_OK(started);
  EXPECT_NE(redis.port(), taken);
  EXPECT_OK(redis.Call({"PING"}));
}

TEST(RedisServer, PersistenceSurvivesKill) {
  RedisServer redis({.persistence = true});
  ASSERT_OK(redis.Start());
  ASSERT_OK(redis.Call({"SET", "k", "kept"}));
  redis.Kill();
  ASSERT_OK(redis.Start());
  auto got = redis.Call({"GET", "k"});
  ASSERT_OK(got);
  EXPECT_EQ(*got, "kept");
}

TEST(RedisServer, ReplicatesFromMaster) {
  RedisServer master;
  RedisServer replica;
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  ASSERT_OK(replica.ReplicaOf(master));
  EXPECT_EQ(replica.Role(), "slave");
  ASSERT_TRUE(WaitFor([&] { return replica.InfoField("replication", "master_link_status") == "up"; },
                      seconds(10)));
  ASSERT_OK(master.Call({"SET", "replicated", "yes"}));
  EXPECT_TRUE(WaitFor([&] {
    auto v = replica.Call({"GET", "replicated"});
    return v.ok() && *v == "yes";
  }, seconds(10)));

  // A full sync leaves dump.rdb behind; a restart without persistence must
  // still come back empty (and as a master).
  ASSERT_OK(replica.Restart());
  EXPECT_EQ(replica.Role(), "master");
  auto v = replica.Call({"GET", "replicated"});
  ASSERT_OK(v);
  EXPECT_EQ(*v, "");
}

TEST(RedisServer, PasswordRefusesUnauthenticatedCalls) {
  RedisServer redis({.password = "s3cret"});
  ASSERT_OK(redis.Start());
  EXPECT_OK(redis.Call({"PING"}));
  auto anonymous = RedisCall(redis.port(), {"PING"});
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), StatusCode::kPermissionDenied);
  auto wrong = RedisCall(redis.port(), {"PING"}, "wrong");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong.status().message().find("wrong"), std::string::npos) << "password leaked";
}

TEST(RedisServer, PausedServerTimesOutThenRecovers) {
  RedisServer redis;
  ASSERT_OK(redis.Start());
  ASSERT_TRUE(redis.Pause());
  auto r = redis.Call({"PING"}, milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(redis.Resume());
  EXPECT_OK(redis.Call({"PING"}));
}

TEST(RedisCall, RendersReplies) {
  RedisServer redis;
  ASSERT_OK(redis.Start());
  auto ok = redis.Call({"RPUSH", "l", "a", "b"});
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, "2");
  auto list = redis.Call({"LRANGE", "l", "0", "-1"});
  ASSERT_OK(list);
  EXPECT_EQ(*list, "a\nb");
  auto nil = redis.Call({"GET", "missing"});
  ASSERT_OK(nil);
  EXPECT_EQ(*nil, "");
  auto err = redis.Call({"NOSUCHCOMMAND"});
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().code(), StatusCode::kFailedPrecondition);
}

TEST(ConsulAgent, ElectsLeaderAndRoundTripsKv) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  auto leader = consul.Leader();
  ASSERT_OK(leader);
  EXPECT_EQ(*leader, "127.0.0.1:" + std::to_string(consul.server_port()));

  auto put = consul.Put("/v1/kv/rig/key", "hello");
  ASSERT_OK(put);
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(json::parse(put->body, nullptr, false), json(true)) << put->body;
  auto get = consul.Get("/v1/kv/rig/key?raw");
  ASSERT_OK(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "hello");
  EXPECT_FALSE(get->headers["X-Consul-Index"].empty());
  auto missing = consul.Get("/v1/kv/rig/missing");
  ASSERT_OK(missing);
  EXPECT_EQ(missing->status, 404);

  // Dev mode is in-memory: a restart keeps the ports and loses the data.
  const int port = consul.http_port();
  ASSERT_OK(consul.Restart());
  EXPECT_EQ(consul.http_port(), port);
  missing = consul.Get("/v1/kv/rig/key");
  ASSERT_OK(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(ConsulAgent, SessionCreateThenDestroy) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  auto created = consul.Put("/v1/session/create", R"({"Name":"rig","TTL":"15s"})");
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 200) << created->body;
  json j = json::parse(created->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("ID")) << created->body;
  const std::string id = j["ID"].get<std::string>();

  auto info = consul.Get("/v1/session/info/" + id);
  ASSERT_OK(info);
  json sessions = json::parse(info->body, nullptr, false);
  ASSERT_TRUE(sessions.is_array());
  EXPECT_EQ(sessions.size(), 1u);

  auto destroyed = consul.Put("/v1/session/destroy/" + id);
  ASSERT_OK(destroyed);
  EXPECT_EQ(json::parse(destroyed->body, nullptr, false), json(true)) << destroyed->body;
  info = consul.Get("/v1/session/info/" + id);
  ASSERT_OK(info);
  sessions = json::parse(info->body, nullptr, false);
  EXPECT_TRUE(sessions.is_null() || (sessions.is_array() && sessions.empty())) << info->body;
}

TEST(ConsulAgent, TtlCheckGoesCriticalWhenNotUpdated) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  auto reg = consul.Put("/v1/agent/service/register", R"({
      "ID": "rig-1", "Name": "rig", "Port": 6379,
      "Check": {"CheckID": "rig-ttl", "Name": "rig ttl", "TTL": "1s", "Status": "passing"}})");
  ASSERT_OK(reg);
  ASSERT_EQ(reg->status, 200) << reg->body;

  auto check_status = [&]() -> std::string {
    auto r = consul.Get("/v1/health/checks/rig");
    if (!r.ok() || r->status != 200) return "";
    json checks = json::parse(r->body, nullptr, false);
    if (!checks.is_array()) return "";
    for (const json& c : checks) {
      if (c.value("CheckID", "") == "rig-ttl") return c.value("Status", "");
    }
    return "";
  };
  EXPECT_TRUE(WaitFor([&] { return check_status() == "passing"; }, seconds(5)));
  // TTL 1s, never updated: Consul marks it critical once the timer fires.
  EXPECT_TRUE(WaitFor([&] { return check_status() == "critical"; }, seconds(10)))
      << "last status: " << check_status();
}

TEST(ConsulAgent, AclDeniesAnonymousAndAllowsManagementToken) {
  ConsulAgent consul({.acl = true});
  ASSERT_OK(consul.Start());
  ASSERT_EQ(consul.management_token(), ConsulAgent::kDefaultManagementToken);

  auto anonymous = consul.Call("PUT", "/v1/kv/rig/acl", "x", /*token=*/"");
  ASSERT_OK(anonymous);
  EXPECT_EQ(anonymous->status, 403) << anonymous->body;
  auto managed = consul.Put("/v1/kv/rig/acl", "x");
  ASSERT_OK(managed);
  EXPECT_EQ(managed->status, 200) << managed->body;

  auto token = consul.CreateToken(R"(key_prefix "rig/" { policy = "write" })");
  ASSERT_OK(token);
  auto scoped = consul.Call("PUT", "/v1/kv/rig/scoped", "y", *token);
  ASSERT_OK(scoped);
  EXPECT_EQ(scoped->status, 200) << scoped->body;
  auto outside = consul.Call("PUT", "/v1/kv/other", "y", *token);
  ASSERT_OK(outside);
  EXPECT_EQ(outside->status, 403) << outside->body;

  ConsulClientConfig config = consul.client_config(*token);
  EXPECT_EQ(config.scheme, "http");
  EXPECT_EQ(config.port, consul.http_port());
  EXPECT_EQ(config.token, *token);
}

TEST(ConsulAgent, HttpsWithTestCa) {
  ConsulAgent consul({.https = true});
  ASSERT_OK(consul.Start());
  EXPECT_EQ(consul.http_addr(), "https://127.0.0.1:" + std::to_string(consul.http_port()));
  ASSERT_FALSE(consul.ca_file().empty());

  auto leader = HttpsCall("GET", "127.0.0.1", consul.http_port(), "/v1/status/leader",
                          consul.ca_file());
  ASSERT_OK(leader);
  EXPECT_EQ(leader->status, 200);
  auto put = consul.Put("/v1/kv/rig/tls", "secure");
  ASSERT_OK(put);
  EXPECT_EQ(put->status, 200);

  // Plain HTTP is off, and a CA that did not sign the server is refused.
  auto plain = HttpCall("GET", "127.0.0.1", consul.http_port(), "/v1/status/leader");
  EXPECT_TRUE(!plain.ok() || plain->status == 400) << "plain HTTP answered " << plain->status;
  TempDir other;
  ASSERT_OK(MakeTestCertificates(other.path()));
  auto untrusted = HttpsCall("GET", "127.0.0.1", consul.http_port(), "/v1/status/leader",
                             (other.path() / "ca.pem").string());
  EXPECT_FALSE(untrusted.ok());

  ConsulClientConfig config = consul.client_config();
  EXPECT_EQ(config.scheme, "https");
  EXPECT_EQ(config.ca_file, consul.ca_file());
}

TEST(ConsulAgent, PauseMakesItUnresponsiveUntilResumed) {
  ConsulAgent consul;
  ASSERT_OK(consul.Start());
  ASSERT_TRUE(consul.Pause());
  auto r = consul.Call("GET", "/v1/status/leader", "", std::nullopt, milliseconds(300));
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(consul.Resume());
  EXPECT_OK(consul.Leader());
  consul.Kill();
  EXPECT_FALSE(consul.Running());
}

}  // namespace
}  // namespace resec::testing
