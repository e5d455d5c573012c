// redis::Watcher with real hiredis clients against a real redis-server:
// crash detection through the liveness connection, recovery after a restart,
// commands turning into real replication, and a prompt Stop() on a hung server.
#include "resec/redis/watcher.h"

#include <signal.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "support/redis_server.h"
#include "support/status_matchers.h"
#include "support/wait_for.h"

namespace resec::redis {
namespace {

using namespace std::chrono_literals;
using resec::testing::RedisServer;

class RedisWatcherIntegrationTest : public ::testing::Test {
 protected:
  // The agent ignores SIGPIPE (hiredis writes with write(2)); so must a test
  // whose server is killed under a live connection.
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }
  void TearDown() override {
    if (watcher_) watcher_->Stop();
  }

  void StartWatcher(const RedisServer& server, WatcherOptions options = {100ms, 500ms}) {
    RedisEndpoint e;
    e.addr = HostPort{"127.0.0.1", server.port()};
    e.password = server.password();
    e.timeout = options.timeout;
    watcher_ = std::make_unique<Watcher>(MakeHiredisClient(e), MakeHiredisClient(e), options, clock_, out_, in_);
    watcher_->Start();
  }

  // The next published state matching `pred`; nullopt at the deadline.
  std::optional<RedisState> Next(const std::function<bool(const RedisState&)>& pred,
                                 std::chrono::milliseconds within = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto s = out_.TryPopFor(10ms); s && pred(*s)) return s;
    }
    return std::nullopt;
  }

  static bool Healthy(const RedisState& s) { return s.healthy; }
  static bool Unhealthy(const RedisState& s) { return !s.healthy; }

  SystemClock clock_;
  BoundedQueue<RedisState> out_{64};
  BoundedQueue<RedisCommand> in_{16};
  std::unique_ptr<Watcher> watcher_;
};

TEST_F(RedisWatcherIntegrationTest, PublishesUnhealthyWithin500msOfSigkillAndHealthyAfterRestart) {
  RedisServer server({.password = "pw"});
  ASSERT_OK(server.Start());
  // A poll interval longer than the deadline: the liveness connection, not
  // the INFO poll, has to notice the crash.
  StartWatcher(server, {1000ms, 500ms});
  auto first = Next(Healthy);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->role, RedisRole::kMaster);
  EXPECT_EQ(first->error, "");
  // The liveness connection is armed once it shows up as a pub/sub client.
  ASSERT_TRUE(resec::testing::WaitFor(
      [&] {
        auto clients = server.Call({"CLIENT", "LIST", "TYPE", "pubsub"});
        return clients.ok() && clients->find("sub=1") != std::string::npos;
      },
      5s));

  const auto killed_at = std::chrono::steady_clock::now();
  server.Kill();
  auto down = Next(Unhealthy, 5s);
  ASSERT_TRUE(down);
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 500ms);
  EXPECT_TRUE(down->ready);
  EXPECT_FALSE(down->error.empty());
  EXPECT_EQ(down->error.find("pw"), std::string::npos) << down->error;

  ASSERT_OK(server.Start());
  auto up = Next(Healthy, 10s);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->role, RedisRole::kMaster);
}

TEST_F(RedisWatcherIntegrationTest, UnreachableAtStartIsPublishedAtOnce) {
  RedisServer server;  // never started: nothing listens on its port
  StartWatcher(server);
  auto s = Next([](const RedisState&) { return true; }, 2s);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->ready);
  EXPECT_FALSE(s->healthy);
  EXPECT_NE(s->error.find("refused"), std::string::npos) << s->error;
  ASSERT_OK(server.Start());
  EXPECT_TRUE(Next(Healthy));
}

TEST_F(RedisWatcherIntegrationTest, ReplicateFromAndPromote) {
  RedisServer master;
  RedisServer replica;
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  ASSERT_OK(master.Call({"SET", "k", "v"}));
  StartWatcher(replica);
  ASSERT_TRUE(Next(Healthy));

  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"127.0.0.1", master.port()}));
  auto linked = Next([&](const RedisState& s) { return s.role == RedisRole::kReplica && s.master_link_up; });
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->master_port, master.port());
  EXPECT_TRUE(linked->healthy);
  StatusOr<std::string> v = replica.Call({"GET", "k"});
  ASSERT_OK(v);
  EXPECT_EQ(*v, "v");

  ASSERT_TRUE(in_.Push(cmd::PromoteToMaster{}));
  auto promoted = Next([](const RedisState& s) { return s.role == RedisRole::kMaster; });
  ASSERT_TRUE(promoted);
  EXPECT_EQ(promoted->master_replid2.size(), 40u);
}

TEST_F(RedisWatcherIntegrationTest, StopReturnsPromptlyWhileServerIsPaused) {
  RedisServer server;
  ASSERT_OK(server.Start());
  StartWatcher(server, {50ms, 500ms});
  ASSERT_TRUE(Next(Healthy));
  ASSERT_TRUE(server.Pause());
  // A paused server keeps its sockets open: only the INFO timeout reveals it.
  auto hung = Next(Unhealthy, 5s);
  EXPECT_TRUE(hung);
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  ASSERT_TRUE(server.Resume());
}

}  // namespace
}  // namespace resec::redis
