// redis::Watcher against a fake Redis: what it publishes, which commands it
// sends for an intent, what it does for a redis-server process it has not
// seen, and that it stops promptly. Real time drives the poll loop (short
// intervals); the test jumps the injected clock past the 1s re-publish, so
// "not published again" is deterministic.
#include "resec/redis/watcher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
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

// One fake redis-server shared by the watcher's connections. Crash() closes
// every open connection (as a killed server's kernel does); Restart() brings
// up a new process (a new run_id, nothing of the old one's settings);
// Hang() makes calls block until the client timeout (a SIGSTOPped server).
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
  void SetMinReplicas(int n) {
    std::lock_guard lock(mu_);
    min_replicas_ = n;
  }
  void FailReplicaOf(Status status) {
    std::lock_guard lock(mu_);
    replicaof_error_ = std::move(status);
  }
  void Crash() {
    std::vector<int> fds;
    {
      std::lock_guard lock(mu_);
      up_ = false;
      ++generation_;
      fds.swap(watch_fds_);
    }
    const uint64_t one = 1;
    for (int fd : fds) (void)!::write(fd, &one, sizeof(one));
    cv_.notify_all();
  }
  // A new process: another run_id, the role and settings its configuration
  // gives (master, min-replicas-to-write as `config_min_replicas`).
  void Restart(int config_min_replicas = 0) {
    std::lock_guard lock(mu_);
    up_ = true;
    ++run_;
    role_ = "master";
    master_host_.clear();
    master_port_ = 0;
    min_replicas_ = config_min_replicas;
    paused_ = false;
  }
  void Hang(bool hang) {
    {
      std::lock_guard lock(mu_);
      hung_ = hang;
    }
    cv_.notify_all();
  }

  std::string run_id() const {
    std::lock_guard lock(mu_);
    return "run" + std::to_string(run_);
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int count(const std::string& call) const {
    std::lock_guard lock(mu_);
    return static_cast<int>(std::count(calls_.begin(), calls_.end(), call));
  }
  int info_calls() const {
    std::lock_guard lock(mu_);
    return info_calls_;
  }
  int armed() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(watch_fds_.size());
  }
  bool paused() const {
    std::lock_guard lock(mu_);
    return paused_;
  }
  int min_replicas() const {
    std::lock_guard lock(mu_);
    return min_replicas_;
  }

 private:
  friend class FakeClient;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool up_ = true;
  bool hung_ = false;
  int generation_ = 0;  // bumped by Crash(): connections of older generations are dead
  int run_ = 1;
  std::string role_ = "master";
  std::string master_host_;
  int master_port_ = 0;
  bool loading_ = false;
  int64_t offset_ = 100;
  int min_replicas_ = 0;
  bool paused_ = false;
  Status replicaof_error_;
  std::vector<std::string> calls_;  // commands that change something
  int info_calls_ = 0;
  std::vector<int> watch_fds_;  // eventfds of armed watch connections
};

class FakeClient final : public Client {
 public:
  FakeClient(FakeRedis& redis, std::chrono::milliseconds timeout) : redis_(redis), timeout_(timeout) {}
  ~FakeClient() override { Disconnect(); }

  Status Connect() override {
    std::unique_lock lock(redis_.mu_);
    return Usable(lock);
  }
  void Disconnect() override {
    connected_ = false;
    if (fd_ >= 0) {
      std::lock_guard lock(redis_.mu_);
      std::erase(redis_.watch_fds_, fd_);
      ::close(fd_);
      fd_ = -1;
    }
  }
  bool connected() const override { return connected_; }

  StatusOr<std::string> Info() override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    ++redis_.info_calls_;
    std::string text = "# Server\r\nrun_id:run" + std::to_string(redis_.run_) + "\r\n# Persistence\r\nloading:" +
                       std::string(redis_.loading_ ? "1" : "0") + "\r\n# Replication\r\nrole:" + redis_.role_ +
                       "\r\n";
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
  StatusOr<std::string> Command(const std::vector<std::string>& argv) override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    auto is = [&](std::initializer_list<const char*> words) {
      size_t i = 0;
      for (const char* w : words) {
        if (i >= argv.size() || argv[i] != w) return false;
        ++i;
      }
      return true;
    };
    if (is({"CLIENT", "PAUSE"})) {
      redis_.calls_.push_back("CLIENT PAUSE");
      redis_.paused_ = true;
      return std::string("OK");
    }
    if (is({"CLIENT", "UNPAUSE"})) {
      redis_.calls_.push_back("CLIENT UNPAUSE");
      redis_.paused_ = false;
      return std::string("OK");
    }
    if (is({"CONFIG", "GET", "min-replicas-to-write"})) {
      return "min-replicas-to-write\n" + std::to_string(redis_.min_replicas_);
    }
    if (is({"CONFIG", "GET", "min-replicas-max-lag"})) return std::string("min-replicas-max-lag\n10");
    if (is({"CONFIG", "SET", "min-replicas-to-write"}) && argv.size() >= 4) {
      redis_.calls_.push_back("CONFIG SET min-replicas-to-write " + argv[3]);
      redis_.min_replicas_ = std::stoi(argv[3]);
      return std::string("OK");
    }
    return Internal("not faked");
  }

  Status WaitForDisconnect(std::chrono::milliseconds) override { return Internal("not used"); }
  Status ArmDisconnectWatch() override {
    std::unique_lock lock(redis_.mu_);
    if (Status s = Usable(lock); !s.ok()) return s;
    if (fd_ < 0) {
      fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      redis_.watch_fds_.push_back(fd_);
    }
    return Status::Ok();
  }
  int fd() const override { return fd_; }
  Status DrainReadable() override {
    {
      std::lock_guard lock(redis_.mu_);
      if (generation_ == redis_.generation_) return Status::Ok();
    }
    Disconnect();
    return Unavailable("server closed the connection");
  }
  std::string LocalAddress() const override { return "10.0.0.9"; }

 private:
  // Connects if needed, then behaves like a socket to the fake server.
  // REQUIRES: lock holds redis_.mu_.
  Status Usable(std::unique_lock<std::mutex>& lock) {
    if (connected_ && generation_ != redis_.generation_) {
      connected_ = false;
      return Unavailable("Server closed the connection");
    }
    if (!connected_) {
      if (!redis_.up_) return Unavailable("connect fake:6379: Connection refused");
      connected_ = true;
      generation_ = redis_.generation_;
    }
    if (redis_.hung_) {
      // A stopped server answers nothing: the call fails after the timeout.
      if (!redis_.cv_.wait_for(lock, timeout_, [&] { return !redis_.hung_; })) {
        connected_ = false;
        return DeadlineExceeded("timed out");
      }
    }
    return Status::Ok();
  }

  FakeRedis& redis_;
  const std::chrono::milliseconds timeout_;
  bool connected_ = false;
  int generation_ = 0;
  int fd_ = -1;
};

constexpr auto kTimeout = 300ms;

class RedisWatcherTest : public ::testing::Test {
 protected:
  void StartWatcher(std::chrono::milliseconds poll = 20ms) {
    WatcherOptions options;
    options.poll_interval = poll;
    watcher_ = std::make_unique<Watcher>(std::make_unique<FakeClient>(redis_, kTimeout),
                                         std::make_unique<FakeClient>(redis_, kTimeout), options, clock_,
                                         [this](const RedisState& s) {
                                           {
                                             std::lock_guard lock(mu_);
                                             published_.push_back(s);
                                           }
                                           cv_.notify_all();
                                         });
    watcher_->Start();
  }

  // The next published state matching `pred`, skipping others; nullopt when
  // none came before the deadline.
  std::optional<RedisState> WaitFor(const std::function<bool(const RedisState&)>& pred,
                                    std::chrono::milliseconds within = 3s) {
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
  size_t pending() {
    std::lock_guard lock(mu_);
    return published_.size();
  }

  // An intent for the process that answers now.
  RedisIntent For(RedisIntent intent) {
    intent.run_id = redis_.run_id();
    return intent;
  }
  static RedisIntent Follow(const std::string& host, int port) {
    return RedisIntent{.replication = RedisIntent::Replication::kFollow, .host = host, .port = port};
  }
  static RedisIntent Master() { return RedisIntent{.replication = RedisIntent::Replication::kMaster}; }

  // Waits until the watcher has read INFO `n` more times.
  void WaitForPolls(int n) {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    const int target = redis_.info_calls() + n;
    while (redis_.info_calls() < target && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_GE(redis_.info_calls(), target) << "watcher stopped polling";
  }

  static bool Healthy(const RedisState& s) { return s.healthy; }

  FakeRedis redis_;
  OffsetClock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RedisState> published_;
  std::unique_ptr<Watcher> watcher_;  // last: stopped before what it uses goes
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

TEST_F(RedisWatcherTest, PublishesHealthyMasterWithItsRun) {
  StartWatcher();
  auto s = WaitFor(Healthy);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->ready);
  EXPECT_EQ(s->error, "");
  EXPECT_EQ(s->role, RedisRole::kMaster);
  EXPECT_EQ(s->run_id, "run1");
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

TEST_F(RedisWatcherTest, AMasterNobodyDecidedForIsFencedOnFirstContact) {
  StartWatcher();
  auto s = WaitFor([](const RedisState& st) { return st.healthy && st.writes_paused; });
  ASSERT_TRUE(s) << "a master the reconciler has not seen must not take writes";
  EXPECT_EQ(redis_.count("CLIENT PAUSE"), 1);
  // An intent for this run that wants writes lifts our own pause.
  watcher_->SetIntent(For(Master()));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.healthy && !st.writes_paused; }));
  EXPECT_FALSE(redis_.paused());
}

TEST_F(RedisWatcherTest, AnIntentForAnotherRunDoesNotUnfenceARestartedMaster) {
  StartWatcher();
  watcher_->SetIntent(For(Master()));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.healthy && !st.writes_paused; }));
  // redis-server restarts (empty, say): the standing intent names the old run.
  redis_.Crash();
  redis_.Restart();
  auto s = WaitFor([](const RedisState& st) { return st.healthy && st.run_id == "run2"; });
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->writes_paused) << "the new process must be fenced until decided for";
  EXPECT_TRUE(redis_.paused());
}

TEST_F(RedisWatcherTest, FollowsOnceAndSkipsWhatIsAlreadyTrue) {
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  watcher_->SetIntent(For(Follow("10.0.0.1", 6379)));
  auto s = WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->master_host, "10.0.0.1");
  EXPECT_EQ(s->master_port, 6379);
  EXPECT_EQ(redis_.count("REPLICAOF 10.0.0.1 6379"), 1);
  EXPECT_EQ(redis_.count("CLIENT KILL"), 1);

  // The same wish again, and polls: nothing is sent, no sync restarts.
  RedisIntent again = For(Follow("10.0.0.1", 6379));
  again.observe = 1;
  watcher_->SetIntent(again);
  WaitForPolls(3);
  EXPECT_EQ(redis_.count("REPLICAOF 10.0.0.1 6379"), 1);

  // Someone else re-points it: the standing intent repairs that.
  redis_.SetReplicaOf("10.9.9.9", 7000);
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (redis_.count("REPLICAOF 10.0.0.1 6379") < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(redis_.count("REPLICAOF 10.0.0.1 6379"), 2);
}

TEST_F(RedisWatcherTest, PromotesOnlyWhenNotMaster) {
  redis_.SetReplicaOf("10.0.0.1", 6379);
  StartWatcher();
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; }));
  watcher_->SetIntent(For(Master()));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.role == RedisRole::kMaster; }));
  WaitForPolls(3);
  EXPECT_EQ(redis_.count("REPLICAOF NO ONE"), 1);
}

TEST_F(RedisWatcherTest, ACommandFailureIsPublishedRetriedAndCleared) {
  redis_.FailReplicaOf(FailedPrecondition("REPLICAOF: ERR unknown command 'REPLICAOF'"));
  StartWatcher();
  ASSERT_TRUE(WaitFor(Healthy));
  watcher_->SetIntent(For(Follow("10.0.0.1", 6379)));
  auto s = WaitFor([](const RedisState& st) { return !st.error.empty(); });
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->healthy);  // Redis itself is fine; the intent stands and is retried
  EXPECT_NE(s->error.find("REPLICAOF 10.0.0.1 6379 failed"), std::string::npos) << s->error;
  EXPECT_EQ(s->role, RedisRole::kMaster);
  // Retried with backoff, not on every 20 ms poll.
  std::this_thread::sleep_for(500ms);
  EXPECT_LE(redis_.count("REPLICAOF 10.0.0.1 6379"), 5);
  EXPECT_GE(redis_.count("REPLICAOF 10.0.0.1 6379"), 2);

  redis_.FailReplicaOf(Status::Ok());
  s = WaitFor([](const RedisState& st) { return st.role == RedisRole::kReplica; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, "");
}

TEST_F(RedisWatcherTest, GuardIsVerifiedAndReappliedToEveryNewProcess) {
  StartWatcher();
  RedisIntent intent = For(Master());
  intent.guard.min_replicas_to_write = 1;
  watcher_->SetIntent(intent);
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.min_replicas_to_write == 1; }));
  EXPECT_EQ(redis_.min_replicas(), 1);
  // Changed behind our back: read back and set again.
  redis_.SetMinReplicas(0);
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.min_replicas_to_write == 1; }));
  EXPECT_EQ(redis_.min_replicas(), 1);
  EXPECT_EQ(redis_.count("CONFIG SET min-replicas-to-write 1"), 2);

  // A new process starting with its own configuration (here 3): the guard is
  // applied to it too, once the reconciler has decided for it.
  redis_.Crash();
  redis_.Restart(3);
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.healthy && st.run_id == "run2"; }));
  intent.run_id = "run2";
  watcher_->SetIntent(intent);
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.run_id == "run2" && st.min_replicas_to_write == 1; }));
  EXPECT_EQ(redis_.min_replicas(), 1);
}

TEST_F(RedisWatcherTest, NeverLiftsAPauseItDidNotSet) {
  StartWatcher();
  watcher_->SetIntent(For(Master()));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.healthy && !st.writes_paused; }));
  // (Lifting our own first-contact fence, if the intent came after it, is
  // ours to do; what follows is not.)
  const int ours = redis_.count("CLIENT UNPAUSE");
  // A new master fencing us (the former master) pauses our Redis.
  ASSERT_TRUE(FakeClient(redis_, kTimeout).Command({"CLIENT", "PAUSE", "10000", "WRITE"}).ok());
  WaitForPolls(5);
  EXPECT_TRUE(redis_.paused());
  EXPECT_EQ(redis_.count("CLIENT UNPAUSE"), ours);
}

TEST_F(RedisWatcherTest, OffsetsAloneAreRepublishedOnlyAfterRefreshPeriod) {
  StartWatcher();
  watcher_->SetIntent(For(Master()));
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return st.healthy && !st.writes_paused; }));
  WaitForPolls(3);
  while (pending() > 0) WaitFor([](const RedisState&) { return false; }, 10ms);
  redis_.SetOffset(5000);
  WaitForPolls(3);
  EXPECT_EQ(pending(), 0u) << "an offset change alone must not publish before the refresh period";

  clock_.Advance(1s);
  auto s = WaitFor([](const RedisState&) { return true; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->master_repl_offset, 5000);
}

TEST_F(RedisWatcherTest, AnObserveRequestIsAnsweredAtOnce) {
  StartWatcher(10s);  // only a request explains a prompt answer
  ASSERT_TRUE(WaitFor(Healthy));
  RedisIntent intent = For(Master());
  intent.observe = 7;
  watcher_->SetIntent(intent);
  auto s = WaitFor([](const RedisState& st) { return st.observe_seq == 7; }, 1s);
  ASSERT_TRUE(s);
}

TEST_F(RedisWatcherTest, CrashIsPublishedThroughTheDisconnectWatchBeforeNextPoll) {
  // A poll interval far longer than the deadline below: only the watch
  // connection can explain a prompt unhealthy state.
  StartWatcher(10s);
  ASSERT_TRUE(WaitFor(Healthy));
  const auto armed_deadline = std::chrono::steady_clock::now() + 3s;
  while (redis_.armed() == 0 && std::chrono::steady_clock::now() < armed_deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(redis_.armed(), 1);
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
  EXPECT_EQ(s->run_id, "run2");
}

TEST_F(RedisWatcherTest, NothingIsSentWhileUnreachable) {
  redis_.Crash();
  StartWatcher();
  ASSERT_TRUE(WaitFor([](const RedisState& st) { return !st.healthy; }));
  watcher_->SetIntent(RedisIntent{.replication = RedisIntent::Replication::kFollow, .host = "10.0.0.1",
                                  .port = 6379, .run_id = "run1"});
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(redis_.calls().empty());
}

TEST_F(RedisWatcherTest, StopReturnsPromptly) {
  StartWatcher(250ms);
  ASSERT_TRUE(WaitFor(Healthy));
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
  watcher_->Stop();  // idempotent
}

TEST_F(RedisWatcherTest, StopReturnsWithinTimeoutWhenRedisHangs) {
  StartWatcher(20ms);
  ASSERT_TRUE(WaitFor(Healthy));
  redis_.Hang(true);
  WaitFor([](const RedisState&) { return false; }, 50ms);  // let a call get stuck
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 800ms);
}

TEST_F(RedisWatcherTest, HungRedisIsPublishedUnhealthy) {
  StartWatcher(20ms);
  ASSERT_TRUE(WaitFor(Healthy));
  redis_.Hang(true);
  auto s = WaitFor([](const RedisState& st) { return !st.healthy; });
  ASSERT_TRUE(s);
  EXPECT_NE(s->error.find("timed out"), std::string::npos) << s->error;
  redis_.Hang(false);
  EXPECT_TRUE(WaitFor(Healthy));
}

}  // namespace
}  // namespace resec::redis
