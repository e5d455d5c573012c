// HiredisClient against a real redis-server: connect and AUTH, error mapping,
// INFO, REPLICAOF (and its SLAVEOF fallback), CLIENT KILL, and the liveness
// wait noticing a SIGKILLed server.
#include <signal.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "resec/redis/client.h"
#include "resec/redis/info.h"
#include "support/free_port.h"
#include "support/redis_server.h"
#include "support/status_matchers.h"
#include "support/wait_for.h"

namespace resec::redis {
namespace {

using namespace std::chrono_literals;
using resec::testing::RedisServer;
using resec::testing::WaitFor;

class RedisClientTest : public ::testing::Test {
 protected:
  // The agent ignores SIGPIPE (hiredis writes with write(2)); so must a test
  // that writes to a server it has just killed.
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }

  static RedisEndpoint EndpointOf(const RedisServer& server, std::string password = "", std::string username = "") {
    RedisEndpoint e;
    e.addr = HostPort{"127.0.0.1", server.port()};
    e.username = std::move(username);
    e.password = std::move(password);
    e.timeout = 1000ms;
    return e;
  }
};

TEST_F(RedisClientTest, ConnectsAndReadsInfo) {
  RedisServer server;
  ASSERT_OK(server.Start());
  auto client = MakeHiredisClient(EndpointOf(server));
  EXPECT_FALSE(client->connected());
  ASSERT_OK(client->Connect());
  EXPECT_TRUE(client->connected());

  StatusOr<std::string> info = client->Info();
  ASSERT_OK(info);
  const RedisState state = ParseInfo(*info);
  EXPECT_EQ(state.role, RedisRole::kMaster);
  EXPECT_FALSE(state.loading);
  EXPECT_EQ(state.master_replid.size(), 40u);
  EXPECT_EQ(state.second_repl_offset, -1);
  EXPECT_EQ(state.connected_slaves, 0);
}

TEST_F(RedisClientTest, ConnectionRefusedIsUnavailable) {
  RedisEndpoint e;
  e.addr = HostPort{"127.0.0.1", resec::testing::FreePort()};
  e.timeout = 500ms;
  auto client = MakeHiredisClient(e);
  Status s = client->Connect();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_FALSE(client->connected());
  StatusOr<std::string> info = client->Info();
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable);
}

TEST_F(RedisClientTest, AuthWithPassword) {
  RedisServer server({.password = "s3cret-pw"});
  ASSERT_OK(server.Start());

  auto good = MakeHiredisClient(EndpointOf(server, "s3cret-pw"));
  ASSERT_OK(good->Connect());
  ASSERT_OK(good->Info());

  auto wrong = MakeHiredisClient(EndpointOf(server, "wrong-pw"));
  Status s = wrong->Connect();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_FALSE(wrong->connected());
  EXPECT_EQ(s.message().find("wrong-pw"), std::string::npos) << "the password leaked into an error";

  // No password at all: the connection opens, every command is refused.
  auto none = MakeHiredisClient(EndpointOf(server));
  ASSERT_OK(none->Connect());
  StatusOr<std::string> info = none->Info();
  EXPECT_EQ(info.status().code(), StatusCode::kPermissionDenied) << info.status().ToString();
}

TEST_F(RedisClientTest, AuthWithAclUser) {
  RedisServer server;
  ASSERT_OK(server.Start());
  ASSERT_OK(server.Call({"ACL", "SETUSER", "resec", "on", ">agent-pw", "~*", "&*", "+@all"}));

  auto good = MakeHiredisClient(EndpointOf(server, "agent-pw", "resec"));
  ASSERT_OK(good->Connect());
  ASSERT_OK(good->Info());

  auto wrong = MakeHiredisClient(EndpointOf(server, "nope", "resec"));
  EXPECT_EQ(wrong->Connect().code(), StatusCode::kPermissionDenied);
}

TEST_F(RedisClientTest, PasswordForServerWithoutOneIsPermissionDenied) {
  RedisServer server;
  ASSERT_OK(server.Start());
  auto client = MakeHiredisClient(EndpointOf(server, "unexpected"));
  Status s = client->Connect();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
}

TEST_F(RedisClientTest, CommandRendersReplies) {
  RedisServer server;
  ASSERT_OK(server.Start());
  auto client = MakeHiredisClient(EndpointOf(server));
  StatusOr<std::string> r = client->Command({"SET", "k", "v"});
  ASSERT_OK(r);
  EXPECT_EQ(*r, "OK");
  r = client->Command({"GET", "k"});
  ASSERT_OK(r);
  EXPECT_EQ(*r, "v");
  r = client->Command({"GET", "missing"});
  ASSERT_OK(r);
  EXPECT_EQ(*r, "");
  r = client->Command({"INCR", "n"});
  ASSERT_OK(r);
  EXPECT_EQ(*r, "1");
  ASSERT_OK(client->Command({"RPUSH", "l", "a", "b"}));
  r = client->Command({"LRANGE", "l", "0", "-1"});
  ASSERT_OK(r);
  EXPECT_EQ(*r, "a\nb");
  r = client->Command({"NOSUCHCOMMAND"});
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(client->connected()) << "an error reply must not drop the connection";
}

TEST_F(RedisClientTest, ReconnectsAfterServerRestart) {
  RedisServer server;
  ASSERT_OK(server.Start());
  auto client = MakeHiredisClient(EndpointOf(server));
  ASSERT_OK(client->Info());
  server.Kill();
  StatusOr<std::string> info = client->Info();
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable) << info.status().ToString();
  EXPECT_FALSE(client->connected());
  ASSERT_OK(server.Start());
  EXPECT_OK(client->Info());
  EXPECT_TRUE(client->connected());
}

TEST_F(RedisClientTest, PausedServerTimesOut) {
  RedisServer server;
  ASSERT_OK(server.Start());
  RedisEndpoint e = EndpointOf(server);
  e.timeout = 300ms;
  auto client = MakeHiredisClient(e);
  ASSERT_OK(client->Connect());
  ASSERT_TRUE(server.Pause());
  const auto start = std::chrono::steady_clock::now();
  StatusOr<std::string> info = client->Info();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(server.Resume());
  EXPECT_EQ(info.status().code(), StatusCode::kDeadlineExceeded) << info.status().ToString();
  EXPECT_NE(info.status().message().find("timed out"), std::string::npos) << info.status().ToString();
  EXPECT_LT(took, 1500ms);
  EXPECT_FALSE(client->connected());
  EXPECT_OK(client->Info());
}

TEST_F(RedisClientTest, ReplicaOfMakesReplicationHappen) {
  RedisServer master;
  RedisServer replica;
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  ASSERT_OK(master.Call({"SET", "before", "1"}));

  auto client = MakeHiredisClient(EndpointOf(replica));
  ASSERT_OK(client->ReplicaOf("127.0.0.1", master.port()));
  ASSERT_TRUE(WaitFor([&] { return replica.InfoField("replication", "master_link_status") == "up"; }, 10s));

  StatusOr<std::string> info = client->Info();
  ASSERT_OK(info);
  RedisState state = ParseInfo(*info);
  EXPECT_EQ(state.role, RedisRole::kReplica);
  EXPECT_EQ(state.master_host, "127.0.0.1");
  EXPECT_EQ(state.master_port, master.port());
  EXPECT_TRUE(state.master_link_up);
  EXPECT_FALSE(state.master_sync_in_progress);

  ASSERT_OK(master.Call({"SET", "after", "2"}));
  EXPECT_TRUE(WaitFor([&] { return replica.Call({"GET", "after"}).ok() && *replica.Call({"GET", "after"}) == "2"; },
                      5s));
  StatusOr<std::string> before = replica.Call({"GET", "before"});
  ASSERT_OK(before);
  EXPECT_EQ(*before, "1");

  ASSERT_OK(client->ReplicaOfNoOne());
  info = client->Info();
  ASSERT_OK(info);
  state = ParseInfo(*info);
  EXPECT_EQ(state.role, RedisRole::kMaster);
  EXPECT_EQ(state.master_replid2.size(), 40u);  // the old history is kept as replid2
  EXPECT_GE(state.second_repl_offset, 1);
}

TEST_F(RedisClientTest, ReplicaOfFallsBackToSlaveOf) {
  RedisServer master;
  RedisServer replica({.extra_args = {"--rename-command", "REPLICAOF", ""}});
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  auto client = MakeHiredisClient(EndpointOf(replica));
  ASSERT_OK(client->ReplicaOf("127.0.0.1", master.port()));
  EXPECT_EQ(replica.Role(), "slave");
  ASSERT_OK(client->ReplicaOfNoOne());
  EXPECT_EQ(replica.Role(), "master");
}

TEST_F(RedisClientTest, BothReplicationCommandsRenamedIsFailedPrecondition) {
  RedisServer server(
      {.extra_args = {"--rename-command", "REPLICAOF", "", "--rename-command", "SLAVEOF", ""}});
  ASSERT_OK(server.Start());
  auto client = MakeHiredisClient(EndpointOf(server));
  Status s = client->ReplicaOf("127.0.0.1", 1);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("REPLICAOF"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("SLAVEOF"), std::string::npos) << s.ToString();
  EXPECT_TRUE(client->connected());
}

TEST_F(RedisClientTest, KillNormalClientsSparesOwnAndLivenessConnections) {
  RedisServer server;
  ASSERT_OK(server.Start());
  auto agent = MakeHiredisClient(EndpointOf(server));
  auto liveness = MakeHiredisClient(EndpointOf(server));
  auto app = MakeHiredisClient(EndpointOf(server));
  ASSERT_OK(agent->Connect());
  ASSERT_OK(app->Connect());
  ASSERT_OK(liveness->WaitForDisconnect(10ms));  // arms it

  ASSERT_OK(agent->KillNormalClients());
  EXPECT_OK(agent->Info());  // our own connection survives
  EXPECT_TRUE(agent->connected());
  EXPECT_OK(liveness->WaitForDisconnect(100ms));  // so does the liveness connection
  StatusOr<std::string> killed = app->Info();
  EXPECT_EQ(killed.status().code(), StatusCode::kUnavailable) << "an application connection must be closed";
}

TEST_F(RedisClientTest, WaitForDisconnectIsQuietWhileServerLives) {
  RedisServer server({.extra_args = {"--timeout", "1"}});  // idle normal clients closed after 1s
  ASSERT_OK(server.Start());
  auto liveness = MakeHiredisClient(EndpointOf(server));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK(liveness->WaitForDisconnect(200ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms);
  // Pub/sub connections are exempt from Redis' idle timeout.
  EXPECT_OK(liveness->WaitForDisconnect(2500ms));
  EXPECT_TRUE(liveness->connected());
}

TEST_F(RedisClientTest, WaitForDisconnectNoticesSigkillAtOnce) {
  RedisServer server;
  ASSERT_OK(server.Start());
  auto liveness = MakeHiredisClient(EndpointOf(server));
  ASSERT_OK(liveness->WaitForDisconnect(10ms));  // connected and subscribed

  // Times the wait from the kill; the server is killed from this thread
  // (the one that started it).
  auto waiter = std::async(std::launch::async, [&] {
    Status s = liveness->WaitForDisconnect(10s);
    const auto returned = std::chrono::steady_clock::now();
    return std::make_pair(s, returned);
  });
  const auto kill_time = std::chrono::steady_clock::now();
  server.Kill();
  ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready);
  auto [status, returned] = waiter.get();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_LT(returned - kill_time, 200ms);
  EXPECT_FALSE(liveness->connected());

  // Once the server is back, the next wait reconnects and re-arms.
  ASSERT_OK(server.Start());
  EXPECT_OK(liveness->WaitForDisconnect(50ms));
  EXPECT_TRUE(liveness->connected());
}

}  // namespace
}  // namespace resec::redis
