// redis::Watcher with real hiredis clients against a real redis-server:
// crash detection through the liveness connection, recovery after a restart,
// commands turning into real replication, and a prompt Stop() on a hung server.
#include "resec/redis/watcher.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/redis_server.h"
#include "support/status_matchers.h"
#include "support/wait_for.h"

namespace resec::redis {
namespace {

using namespace std::chrono_literals;
using resec::testing::RedisServer;
using resec::testing::WaitFor;

class RedisWatcherIntegrationTest : public ::testing::Test {
 protected:
  // The agent ignores SIGPIPE (hiredis writes with write(2)); so must a test
  // whose server is killed under a live connection.
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }
  void TearDown() override {
    if (watcher_) watcher_->Stop();
  }

  void StartWatcher(const RedisServer& server, std::chrono::milliseconds poll = 100ms) {
    RedisEndpoint e;
    e.addr = HostPort{"127.0.0.1", server.port()};
    e.password = server.password();
    e.timeout = 500ms;
    WatcherOptions options;
    options.poll_interval = poll;
    options.self_port = server.port();
    options.connect_peer = [e](const std::string& host, int port) {
      RedisEndpoint peer = e;
      peer.addr = HostPort{host, port};
      return MakeHiredisClient(peer);
    };
    watcher_ = std::make_unique<Watcher>(MakeHiredisClient(e), MakeHiredisClient(e), options, clock_,
                                         [this](const RedisState& s) {
                                           {
                                             std::lock_guard lock(mu_);
                                             published_.push_back(s);
                                             if (!s.run_id.empty()) run_id_ = s.run_id;
                                           }
                                           cv_.notify_all();
                                         });
    watcher_->Start();
  }

  // Sends `intent` for the redis-server run last published.
  void Want(RedisIntent intent) {
    {
      std::lock_guard lock(mu_);
      intent.run_id = run_id_;
    }
    watcher_->SetIntent(std::move(intent));
  }
  static RedisIntent Follow(int port) {
    return RedisIntent{.replication = RedisIntent::Replication::kFollow, .host = "127.0.0.1", .port = port};
  }
  static RedisIntent Master() { return RedisIntent{.replication = RedisIntent::Replication::kMaster}; }

  // The next published state matching `pred`; nullopt at the deadline.
  std::optional<RedisState> Next(const std::function<bool(const RedisState&)>& pred,
                                 std::chrono::milliseconds within = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    std::unique_lock lock(mu_);
    while (true) {
      while (!published_.empty()) {
        RedisState s = std::move(published_.front());
        published_.pop_front();
        if (pred(s)) return s;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && published_.empty()) return std::nullopt;
    }
  }

  static bool Healthy(const RedisState& s) { return s.healthy; }
  static bool Unhealthy(const RedisState& s) { return !s.healthy; }

  SystemClock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RedisState> published_;
  std::string run_id_;
  std::unique_ptr<Watcher> watcher_;
};

TEST_F(RedisWatcherIntegrationTest, PublishesUnhealthyWithin500msOfSigkillAndHealthyAfterRestart) {
  RedisServer server({.password = "pw"});
  ASSERT_OK(server.Start());
  // A poll interval longer than the deadline: the liveness connection, not
  // the INFO poll, has to notice the crash.
  StartWatcher(server, 1000ms);
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

  Want(Follow(master.port()));
  auto linked = Next([&](const RedisState& s) { return s.role == RedisRole::kReplica && s.master_link_up; });
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->master_port, master.port());
  EXPECT_TRUE(linked->healthy);
  StatusOr<std::string> v = replica.Call({"GET", "k"});
  ASSERT_OK(v);
  EXPECT_EQ(*v, "v");

  Want(Master());
  auto promoted = Next([](const RedisState& s) { return s.role == RedisRole::kMaster; });
  ASSERT_TRUE(promoted);
  EXPECT_EQ(promoted->master_replid2.size(), 40u);
}

TEST_F(RedisWatcherIntegrationTest, StopReturnsPromptlyWhileServerIsPaused) {
  RedisServer server;
  ASSERT_OK(server.Start());
  StartWatcher(server, 50ms);
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

// Links `replica` to `master` and waits until writes flow: after a diskless
// full sync the master streams nothing until the replica's first REPLCONF
// ACK, up to a second later, which the timings below must not include.
bool StreamingReplication(const RedisServer& master, const RedisServer& replica) {
  if (!replica.Call({"REPLICAOF", "127.0.0.1", std::to_string(master.port())}).ok()) return false;
  // A write made before the sync's snapshot proves nothing: once the link is
  // up, keep writing until the last one written arrives.
  if (!WaitFor([&] { return replica.InfoField("replication", "master_link_status") == "up"; }, 10s)) return false;
  int n = 0;
  return WaitFor(
      [&] {
        const std::string written = std::to_string(++n);
        if (!master.Call({"SET", "streaming", written}).ok()) return false;
        return WaitFor([&] { return replica.Call({"GET", "streaming"}).value_or("") == written; }, 50ms);
      },
      10s);
}

// A planned hand-over pauses writes and must see the moment a replica has
// them all; the master's own view (REPLCONF ACK) is refreshed only once a
// second and not at all during a pause, so the watcher asks the replica.
TEST_F(RedisWatcherIntegrationTest, WhilePausedTheReplicasOwnOffsetsArePublished) {
  RedisServer master;
  RedisServer replica;
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  ASSERT_TRUE(StreamingReplication(master, replica));
  StartWatcher(master);
  ASSERT_TRUE(Next([](const RedisState& s) { return s.healthy && s.replicas.size() == 1; }));
  // Decided for: a master that takes writes (a process nobody decided for
  // is fenced on first contact).
  Want(Master());
  ASSERT_TRUE(Next([](const RedisState& s) { return s.healthy && !s.writes_paused; }));
  for (int i = 0; i < 200; ++i) ASSERT_OK(master.Call({"SET", "k" + std::to_string(i), "v"}));

  const auto paused_at = std::chrono::steady_clock::now();
  RedisIntent paused = Master();
  paused.guard.pause_writes = true;
  Want(paused);
  auto caught_up = Next(
      [](const RedisState& s) {
        return s.writes_paused && s.replicas.size() == 1 && s.replicas[0].offset >= s.master_repl_offset;
      },
      2s);
  ASSERT_TRUE(caught_up);
  // Well inside the one-second ACK period.
  EXPECT_LT(std::chrono::steady_clock::now() - paused_at, 300ms);
}

// Promoting a replica whose master is alive (its agent died): the former
// master is paused first, we catch up with its final offset, and after
// REPLICAOF NO ONE it becomes our replica, so nothing it acknowledged is lost
// and it takes no more writes.
TEST_F(RedisWatcherIntegrationTest, PromotionFencesAndDemotesTheFormerMaster) {
  RedisServer former;
  RedisServer replica;
  ASSERT_OK(former.Start());
  ASSERT_OK(replica.Start());
  ASSERT_TRUE(StreamingReplication(former, replica));
  StartWatcher(replica);
  ASSERT_TRUE(Next([](const RedisState& s) { return s.healthy && s.master_link_up; }));

  // A client keeps writing to the former master throughout.
  std::atomic<bool> stop{false};
  std::atomic<int> last_acked{-1};
  std::thread client([&] {
    for (int i = 0; !stop; ++i) {
      if (former.Call({"SET", "w:" + std::to_string(i), "1"}).ok()) last_acked = i;
      std::this_thread::sleep_for(1ms);
    }
  });
  ASSERT_TRUE(WaitFor([&] { return last_acked > 100; }, 10s));
  // What the reconciler asks for: promote, fencing the master we follow
  // first, then demote it.
  RedisIntent promote = Master();
  promote.former = std::pair(std::string("127.0.0.1"), former.port());
  promote.demote = promote.former;
  Want(promote);
  ASSERT_TRUE(Next([](const RedisState& s) { return s.role == RedisRole::kMaster; }));
  ASSERT_TRUE(WaitFor([&] { return former.Role() == "slave"; }, 5s));
  stop = true;
  client.join();

  EXPECT_EQ(former.InfoField("replication", "master_port"), std::to_string(replica.port()));
  const int acked = last_acked;
  for (int i = 0; i <= acked; ++i) {
    StatusOr<std::string> v = replica.Call({"GET", "w:" + std::to_string(i)});
    ASSERT_OK(v);
    ASSERT_EQ(*v, "1") << "write " << i << " of " << acked << " acknowledged by the former master is missing";
  }
  StatusOr<std::string> refused = former.Call({"SET", "late", "1"});
  EXPECT_FALSE(refused.ok());
}

// A former master that does not answer (its host frozen or cut off) costs
// the promotion one peer timeout, not one per connection attempt: a timeout
// on a live connection is not retried on a fresh one.
TEST_F(RedisWatcherIntegrationTest, AnUnansweringFormerMasterCostsOneTimeout) {
  RedisServer former;
  RedisServer replica;
  ASSERT_OK(former.Start());
  ASSERT_OK(replica.Start());
  ASSERT_TRUE(StreamingReplication(former, replica));
  StartWatcher(replica);
  ASSERT_TRUE(Next([](const RedisState& s) { return s.healthy && s.master_link_up; }));
  ASSERT_TRUE(former.Pause());
  RedisIntent promote = Master();
  promote.former = std::pair(std::string("127.0.0.1"), former.port());
  promote.demote = promote.former;
  const auto start = std::chrono::steady_clock::now();
  Want(promote);
  const bool promoted = Next([](const RedisState& s) { return s.role == RedisRole::kMaster; }, 5s).has_value();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(former.Resume());
  ASSERT_TRUE(promoted);
  // The fixture's peer timeout is 500 ms; two would be 1 s.
  EXPECT_LT(took, 900ms);
}

// HoldReplication keeps the dataset and watches the master it names: the
// published state carries that master's INFO (run_id, history), and Redis
// stays read-only and refuses to feed replicas of its own.
TEST_F(RedisWatcherIntegrationTest, HoldKeepsTheDataAndReportsTheWatchedMaster) {
  RedisServer master;
  RedisServer replica;
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  ASSERT_OK(replica.Call({"SET", "ours", "1"}));
  StatusOr<std::string> master_info = master.Call({"INFO", "server"});
  ASSERT_OK(master_info);
  StartWatcher(replica);
  ASSERT_TRUE(Next(Healthy));

  Want(RedisIntent{.replication = RedisIntent::Replication::kHold, .host = "127.0.0.1", .port = master.port()});
  auto held = Next([&](const RedisState& s) { return s.upstream.has_value() && s.master_port == cmd::kHoldPort; });
  ASSERT_TRUE(held);
  EXPECT_EQ(held->role, RedisRole::kReplica);
  EXPECT_EQ(held->master_host, cmd::kHoldHost);
  EXPECT_TRUE(held->upstream->reachable);
  EXPECT_EQ(held->upstream->role, RedisRole::kMaster);
  EXPECT_EQ(held->upstream->port, master.port());
  EXPECT_NE(master_info->find("run_id:" + held->upstream->run_id), std::string::npos);
  EXPECT_EQ(held->upstream->replid.size(), 40u);
  EXPECT_EQ(*replica.Call({"GET", "ours"}), "1");
  EXPECT_FALSE(replica.Call({"SET", "ours", "2"}).ok()) << "a held Redis is read-only";
}

// The master's process dies while our Redis is linked to it: the upstream
// watch notices at once and the next state says so (upstream, unreachable),
// well before the replica's own once-a-second reconnect could reach a
// restarted master.
TEST_F(RedisWatcherIntegrationTest, ADeadMasterIsReportedBeforeOurRedisCanReconnect) {
  RedisServer master;
  RedisServer replica;
  ASSERT_OK(master.Start());
  ASSERT_OK(replica.Start());
  // A poll interval longer than the deadline: the upstream watch, not the
  // INFO poll, has to notice.
  StartWatcher(replica, 2000ms);
  ASSERT_TRUE(Next(Healthy));
  Want(Follow(master.port()));
  ASSERT_TRUE(Next([](const RedisState& s) { return s.master_link_up && !s.master_sync_in_progress; }));
  // Give the watch time to connect to the master it now has to watch.
  ASSERT_TRUE(WaitFor([&] {
    StatusOr<std::string> clients = master.Call({"CLIENT", "LIST", "TYPE", "pubsub"});
    return clients.ok() && clients->find("name=resec-upstream-watch") != std::string::npos;
  }, 5s));
  const auto killed = std::chrono::steady_clock::now();
  master.Kill();
  auto doubted = Next([](const RedisState& s) { return s.upstream.has_value() && !s.upstream->reachable; }, 900ms);
  ASSERT_TRUE(doubted) << "no state reported the lost master";
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 500ms);
}

}  // namespace
}  // namespace resec::redis
