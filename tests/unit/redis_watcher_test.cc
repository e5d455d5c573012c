// redis::Watcher against a fake Redis: what it publishes, which commands it
// sends, and that it stops promptly. Real time drives the poll loop (short
// intervals); the injected FakeClock drives only the 1s re-publish, so "not
// published again" is deterministic.
#include "resec/redis/watcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace resec::redis {
namespace {

using namespace std::chrono_literals;

// One fake redis-server shared by the watcher's two connections. Crash() closes
// every open connection (as a killed server's kernel does); Hang() makes calls
// block until the client timeout (a SIGSTOPped server).
class FakeRedis {
 public:
  void SetMaster() {
    std::lock_guard lock(mu_);
    role_ = "master";
    master_host_.clear();
    master_port_ = 0;
  }
  void SetReplicaOf(const std::string& host, int port) {
    std::lock_guard lock(mu_);
    role_ = "slave";
    master_host_ = host;
    master_port_ = port;
  }
  void SetLoading(bool loading) {
    std::lock_guard lock(mu_);
    loading_ = loading;
  }
  void SetOffset(int64_t offset) {
    std::lock_guard lock(mu_);
    offset_ = offset;
  }
  void FailReplicaOf(Status status) {
    std::lock_guard lock(mu_);
    replicaof_error_ = std::move(status);
  }
  void Crash() {
    {
      std::lock_guard lock(mu_);
      up_ = false;
      ++generation_;
    }
    cv_.notify_all();
  }
  void Restart() {
    std::lock_guard lock(mu_);
    up_ = true;
  }
  void Hang(bool hang) {
    {
      std::lock_guard lock(mu_);
      hung_ = hang;
    }
    cv_.notify_all();
  }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int info_calls() const {
    std::lock_guard lock(mu_);
    return info_calls_;
  }
  // Connections blocked in WaitForDisconnect() right now.
  int liveness_waiters() const {
    std::lock_guard lock(mu_);
    return liveness_waiters_;
  }

 private:
  friend class FakeClient;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool up_ = true;
  bool hung_ = false;
  int generation_ = 0;  // bumped by Crash(): connections of older generations are dead
  std::string role_ = "master";
  std::string master_host_;
  int master_port_ = 0;
  bool loading_ = false;
  int64_t offset_ = 100;
  Status replicaof_error_;
  std::vector<std::string> calls_;
  int info_calls_ = 0;
  int liveness_waiters_ = 0;
};

class FakeClient final : public Client {
 public:
  FakeClient(FakeRedis& redis, std::chrono::milliseconds timeout) : redis_(redis), timeout_(timeout) {}

  Status Connect() override {
    std::unique_lock lock(redis_.mu_);
    if (connected_ && generation_ == redis_.generation_) return Status::Ok();
    if (!redis_.up_) return Unavailable("connect fake:6379: Connection refused");
    connected_ = true;
    generation_ = redis_.generation_;
    return Status::Ok();
  }
  void Disconnect() override { connected_ = false; }
  bool connected() const override { return connected_; }

  StatusOr<std::string> Info() override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    ++redis_.info_calls_;
    std::string text = "# Persistence\r\nloading:" + std::string(redis_.loading_ ? "1" : "0") +
                       "\r\n# Replication\r\nrole:" + redis_.role_ + "\r\n";
    if (redis_.role_ == "slave") {
      text += "master_host:" + redis_.master_host_ + "\r\nmaster_port:" + std::to_string(redis_.master_port_) +
              "\r\nmaster_link_status:up\r\nslave_repl_offset:" + std::to_string(redis_.offset_) + "\r\n";
    }
    text += "master_repl_offset:" + std::to_string(redis_.offset_) + "\r\n";
    return text;
  }
  Status ReplicaOfNoOne() override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    redis_.calls_.push_back("REPLICAOF NO ONE");
    redis_.role_ = "master";
    redis_.master_host_.clear();
    redis_.master_port_ = 0;
    return Status::Ok();
  }
  Status ReplicaOf(const std::string& host, int port) override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    redis_.calls_.push_back("REPLICAOF " + host + " " + std::to_string(port));
    if (!redis_.replicaof_error_.ok()) return redis_.replicaof_error_;
    redis_.role_ = "slave";
    redis_.master_host_ = host;
    redis_.master_port_ = port;
    return Status::Ok();
  }
  Status KillNormalClients() override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    redis_.calls_.push_back("CLIENT KILL");
    return Status::Ok();
  }
  StatusOr<std::string> Command(const std::vector<std::string>&) override { return Internal("not faked"); }

  Status WaitForDisconnect(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(redis_.mu_);
    if (!connected_) return Unavailable("not connected");
    ++redis_.liveness_waiters_;
    const bool gone = redis_.cv_.wait_for(lock, timeout, [&] { return generation_ != redis_.generation_; });
    --redis_.liveness_waiters_;
    if (!gone) return Status::Ok();
    connected_ = false;
    return Unavailable("server closed the connection");
  }

 private:
  // Connects if needed, then behaves like a socket to the fake server.
  // REQUIRES: lock holds redis_.mu_.
  Status Usable(std::unique_lock<std::mutex>& lock) {
    if (!connected_) {
      if (!redis_.up_) return Unavailable("connect fake:6379: Connection refused");
      connected_ = true;
      generation_ = redis_.generation_;
    }
    if (redis_.hung_) {
      // A stopped server answers nothing: the call fails after the timeout.
      if (!redis_.cv_.wait_for(lock, timeout_, [&] { return !redis_.hung_; })) {
        connected_ = false;
        return Unavailable("timed out");
      }
    }
    if (generation_ != redis_.generation_) {
      connected_ = false;
      return Unavailable("Server closed the connection");
    }
    return Status::Ok();
  }

  FakeRedis& redis_;
  const std::chrono::milliseconds timeout_;
  bool connected_ = false;
  int generation_ = 0;
};

class RedisWatcherTest : public ::testing::Test {
 protected:
  void StartWatcher(WatcherOptions options = {20ms, 300ms}) {
    options_ = options;
    watcher_ = std::make_unique<Watcher>(std::make_unique<FakeClient>(redis_, options.timeout),
                                         std::make_unique<FakeClient>(redis_, options.timeout), options, clock_,
                                         out_, in_);
    watcher_->Start();
  }

  // The next published state matching `pred`, skipping others; nullopt when
  // none came before the deadline.
  std::optional<RedisState> WaitFor(const std::function<bool(const RedisState&)>& pred,
                                    std::chrono::milliseconds within = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto s = out_.TryPopFor(10ms); s && pred(*s)) return s;
    }
    return std::nullopt;
  }

  // Waits until the watcher has read INFO `n` more times after the command
  // queue drained: by then every queued command has been handled.
  void WaitForPolls(int n) {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (in_.size() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    const int target = redis_.info_calls() + n;
    while (redis_.info_calls() < target && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_GE(redis_.info_calls(), target) << "watcher stopped polling";
  }

  static bool Healthy(const RedisState& s) { return s.healthy; }

  FakeRedis redis_;
  FakeClock clock_;
  BoundedQueue<RedisState> out_{16};
  BoundedQueue<RedisCommand> in_{16};
  WatcherOptions options_;
  std::unique_ptr<Watcher> watcher_;  // last: stopped before the queues go
};

TEST_F(RedisWatcherTest, PublishesUnhealthyWhenConnectFails) {
  redis_.Crash();
  StartWatcher();
  auto s = WaitFor([](const RedisState&) { return true; });
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->ready);
  EXPECT_FALSE(s->healthy);
  EXPECT_NE(s->error.find("refused"), std::string::npos) << s->error;
  EXPECT_EQ(s->role, RedisRole::kUnknown);
}

TEST_F(RedisWatcherTest, PublishesHealthyMaster) {
  StartWatcher();
  auto s = WaitFor([](const RedisState&) { return true; });
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->ready);
  EXPECT_TRUE(s->healthy);
  EXPECT_EQ(s->error, "");
  EXPECT_EQ(s->role, RedisRole::kMaster);
  EXPECT_EQ(s->master_repl_offset, 100);
  EXPECT_NE(s->info.find("role:master"), std::string::npos);
}

TEST_F(RedisWatcherTest, LoadingIsUnhealthy) {
  redis_.SetLoading(true);
  StartWatcher();
  auto s = WaitFor([](const RedisState&) { return true; });
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->healthy);
  EXPECT_EQ(s->error, "loading");
  redis_.SetLoading(false);
  EXPECT_TRUE(WaitFor(Healthy));
}

TEST_F(RedisWatcherTest, ExecutesReplicateFromOnce) {
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"10.0.0.1", 6379}));
  auto s = WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->master_host, "10.0.0.1");
  EXPECT_EQ(s->master_port, 6379);
  EXPECT_EQ(redis_.calls(), (std::vector<std::string>{"REPLICAOF 10.0.0.1 6379", "CLIENT KILL"}));

  // Already replicating that master: nothing is sent, no sync restarts.
  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"10.0.0.1", 6379}));
  WaitForPolls(3);
  EXPECT_EQ(redis_.calls(), (std::vector<std::string>{"REPLICAOF 10.0.0.1 6379", "CLIENT KILL"}));

  // A different master is a change again.
  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"10.0.0.2", 6380}));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.master_host == "10.0.0.2"; }));
  EXPECT_EQ(redis_.calls().size(), 4u);
}

TEST_F(RedisWatcherTest, PromotesOnlyWhenNotMaster) {
  redis_.SetReplicaOf("10.0.0.1", 6379);
  StartWatcher();
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; }));
  ASSERT_TRUE(in_.Push(cmd::PromoteToMaster{}));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.role == RedisRole::kMaster; }));
  ASSERT_TRUE(in_.Push(cmd::PromoteToMaster{}));
  WaitForPolls(3);
  EXPECT_EQ(redis_.calls(), (std::vector<std::string>{"REPLICAOF NO ONE"}));
}

TEST_F(RedisWatcherTest, CommandFailureIsPublishedAndLoggedOnce) {
  redis_.FailReplicaOf(FailedPrecondition("REPLICAOF: ERR unknown command 'REPLICAOF'"));
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"10.0.0.1", 6379}));
  auto s = WaitFor([](const RedisState& st) { return !st.error.empty(); });
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->healthy);  // Redis itself is fine; the reconciler will retry
  EXPECT_NE(s->error.find("REPLICAOF 10.0.0.1 6379 failed"), std::string::npos) << s->error;
  EXPECT_EQ(s->role, RedisRole::kMaster);

  // The error clears once the command finally succeeds.
  redis_.FailReplicaOf(Status::Ok());
  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"10.0.0.1", 6379}));
  s = WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, "");
}

TEST_F(RedisWatcherTest, OffsetsAloneAreRepublishedOnlyAfterRefreshPeriod) {
  StartWatcher();
  auto first = WaitFor(Healthy);
  ASSERT_TRUE(first);
  redis_.SetOffset(5000);
  WaitForPolls(3);
  EXPECT_EQ(out_.size(), 0u) << "an offset change alone must not publish before the refresh period";

  clock_.Advance(1s);
  auto s = WaitFor([](const RedisState&) { return true; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->master_repl_offset, 5000);
}

TEST_F(RedisWatcherTest, RoleChangeIsPublishedAtOnce) {
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  redis_.SetReplicaOf("10.9.9.9", 7000);  // someone else ran REPLICAOF
  auto s = WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; }, 1s);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->master_host, "10.9.9.9");
}

TEST_F(RedisWatcherTest, CrashIsPublishedThroughLivenessBeforeNextPoll) {
  // A poll interval far longer than the deadline below: only the liveness
  // connection can explain a prompt unhealthy state.
  StartWatcher({10s, 300ms});
  ASSERT_TRUE(WaitFor(Healthy));
  const auto armed_deadline = std::chrono::steady_clock::now() + 3s;
  while (redis_.liveness_waiters() == 0 && std::chrono::steady_clock::now() < armed_deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(redis_.liveness_waiters(), 1);
  const auto crashed_at = std::chrono::steady_clock::now();
  redis_.Crash();
  auto s = WaitFor([](const RedisState& st) { return !st.healthy; }, 2s);
  ASSERT_TRUE(s);
  EXPECT_LT(std::chrono::steady_clock::now() - crashed_at, 500ms);
  EXPECT_TRUE(s->ready);
}

TEST_F(RedisWatcherTest, RecoversAfterRestart) {
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  redis_.Crash();
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return !st.healthy; }));
  redis_.Restart();
  auto s = WaitFor(Healthy);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, "");
}

TEST_F(RedisWatcherTest, CommandsWhileUnreachableAreDropped) {
  redis_.Crash();
  StartWatcher();
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return !st.healthy; }));
  ASSERT_TRUE(in_.Push(cmd::ReplicateFrom{"10.0.0.1", 6379}));
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (in_.size() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  // Three more unreachable observations (each re-published once the refresh
  // period passed): the poller has waited, and so dropped the command, since.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1s);
    ASSERT_TRUE(WaitFor([](const RedisState& st) { return !st.healthy; }));
  }
  redis_.Restart();
  auto s = WaitFor(Healthy);
  ASSERT_TRUE(s);
  WaitForPolls(3);
  EXPECT_TRUE(redis_.calls().empty());
}

TEST_F(RedisWatcherTest, StopReturnsPromptly) {
  StartWatcher({250ms, 300ms});
  ASSERT_TRUE(WaitFor(Healthy));
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  // The threads block at most 250ms at a time; generous slack for loaded CI.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms);
  watcher_->Stop();  // idempotent
}

TEST_F(RedisWatcherTest, StopReturnsWithinTimeoutWhenRedisHangs) {
  StartWatcher({20ms, 300ms});
  ASSERT_TRUE(WaitFor(Healthy));
  redis_.Hang(true);
  WaitFor([](const RedisState&) { return false; }, 50ms);  // let a call get stuck
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 800ms);
}

TEST_F(RedisWatcherTest, HungRedisIsPublishedUnhealthy) {
  StartWatcher({20ms, 200ms});
  ASSERT_TRUE(WaitFor(Healthy));
  redis_.Hang(true);
  auto s = WaitFor([](const RedisState& st) { return !st.healthy; });
  ASSERT_TRUE(s);
  EXPECT_NE(s->error.find("timed out"), std::string::npos) << s->error;
  redis_.Hang(false);
  EXPECT_TRUE(WaitFor(Healthy));
}

TEST_F(RedisWatcherTest, StopsWhenCommandQueueIsClosed) {
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  in_.Close();
  redis_.SetReplicaOf("h", 1);
  EXPECT_TRUE(WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; }));
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms);
}

}  // namespace
}  // namespace resec::redis
