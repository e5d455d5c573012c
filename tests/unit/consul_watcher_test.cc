// consul::Watcher against a fake Consul: how it paces retries and what
// "reachable" means. Real time drives the loops (the watcher sleeps on a
// condition variable); the tests wait on call counts with deadlines and judge
// the gaps between calls, whose lower bounds the watcher's sleeps guarantee.
#include "resec/consul/watcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "resec/consul/json_codec.h"

namespace resec::consul {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// ------------------------------------------------------------ classification

struct ConnectionFailureRow {
  std::string name;
  Status status;
  bool connection_failure;
};

TEST(IsConnectionFailure, OnlyAFailedExchangeCounts) {
  const std::vector<ConnectionFailureRow> rows = {
      {"ok", Status::Ok(), false},
      // What the HTTP client makes of a failed exchange (httplib's error names).
      {"refused", Unavailable("GET /v1/kv/resec/.lock: Connection"), true},
      {"reset or cut short", Unavailable("PUT /v1/session/renew/abc: Read"), true},
      {"write failed", Unavailable("PUT /v1/agent/service/register: Write"), true},
      {"connect timeout", Unavailable("GET /v1/health/service/redis-master: ConnectionTimeout"), true},
      {"TLS", Unavailable("GET /v1/agent/self: TLS: certificate verify failed: self-signed certificate"), true},
      {"TLS handshake", Unavailable("GET /v1/agent/self: SSLConnection (error:0A000126:SSL routines::unexpected eof)"),
       true},
      {"name resolution", Unavailable("GET /v1/agent/self: resolve consul.example: Name or service not known"), true},
      {"deadline", DeadlineExceeded("GET /v1/agent/self: timed out"), true},
      {"a fake's bare message", Unavailable("injected"), true},
      // Answers: the agent is there, whatever it says.
      {"500 no leader", StatusFromHttp("PUT", "/v1/agent/check/update/x", 500, "No cluster leader\n"), false},
      {"500 without body", StatusFromHttp("PUT", "/v1/agent/check/update/x", 500, ""), false},
      {"502 from a proxy", StatusFromHttp("GET", "/v1/kv/a", 502, "Bad Gateway"), false},
      {"503", StatusFromHttp("GET", "/v1/kv/a", 503, "Service Unavailable"), false},
      {"429", StatusFromHttp("GET", "/v1/kv/a", 429, "rate limit"), false},
      {"403", StatusFromHttp("GET", "/v1/kv/a", 403, "Permission denied"), false},
      {"404", StatusFromHttp("GET", "/v1/kv/a", 404, ""), false},
      {"400", StatusFromHttp("PUT", "/v1/kv/a", 400, "bad"), false},
      {"302", StatusFromHttp("GET", "/v1/kv/a", 302, ""), false},
      // A key that spells a status is percent-encoded in the path.
      {"500 on a key named like a status", StatusFromHttp("GET", "/v1/kv/a%3A%20500", 500, ""), false},
      {"refused on a key named like a status", Unavailable("GET /v1/kv/a%3A%20500: Connection"), true},
      // Only the answer's status counts, not what the text looks like.
      {"a failed exchange whose text reads like a status", Unavailable("GET /v1/kv/a: 500 Read"), true},
      {"body over the cap", Internal("GET /v1/kv/a: response body larger than the 1048576-byte limit, refused"),
       false},
      {"not JSON", InvalidArgument("kv: not JSON: <html>"), false},
      {"cancelled", Cancelled("GET /v1/kv/a: client cancelled"), false},
  };
  for (const ConnectionFailureRow& row : rows) {
    SCOPED_TRACE(row.name + ": " + row.status.ToString());
    EXPECT_EQ(IsConnectionFailure(row.status), row.connection_failure);
  }
}

// ------------------------------------------------------------ fake Consul

// One Consul shared by the watcher's clients. Blocking reads with an index
// hold until the client is cancelled or kHold passes (nothing changes), unless
// the read is switched to answer at once (a proxy or cache in front of Consul).
class FakeConsul {
 public:
  static constexpr milliseconds kHold{300};

  // Failure switches: the status a call answers with (OK: succeed).
  void FailRegister(Status s) { Set(register_, std::move(s)); }
  void FailCheckUpdate(Status s) { Set(check_, std::move(s)); }
  void FailRenew(Status s) { Set(renew_, std::move(s)); }
  void FailReads(Status s) { Set(reads_, std::move(s)); }
  void FailNodeName(Status s) { Set(node_name_, std::move(s)); }
  void FailCreateSession(Status s) { Set(create_session_, std::move(s)); }
  void SetFastHealth(bool fast) {
    std::lock_guard lock(mu_);
    fast_health_ = fast;
  }

  // When each call of `op` was made.
  std::vector<TimePoint> Calls(const std::string& op) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(op);
    return it == calls_.end() ? std::vector<TimePoint>{} : it->second;
  }
  size_t Count(const std::string& op) const { return Calls(op).size(); }

  Status Register() { return Call("register", register_); }
  Status Check() { return Call("check", check_); }
  Status Renew() { return Call("renew", renew_); }
  Status NodeName() { return Call("node-name", node_name_); }
  Status CreateSession() { return Call("create-session", create_session_); }
  // The TTL a renewal answers with (the watcher follows Consul's).
  void SetRenewTtl(std::chrono::seconds ttl) {
    std::lock_guard lock(mu_);
    renew_ttl_ = ttl;
  }
  std::chrono::seconds renew_ttl() const {
    std::lock_guard lock(mu_);
    return renew_ttl_;
  }
  Status Read(const std::string& op) { return Call(op, reads_); }
  // The lock key the KV watch reads (default: held by another session), and
  // whether an acquire succeeds.
  void SetLock(KvPair lock) {
    std::lock_guard guard(mu_);
    lock_ = std::move(lock);
  }
  KvPair lock() const {
    std::lock_guard guard(mu_);
    return lock_;
  }
  void SetAcquireWins(bool wins) {
    std::lock_guard guard(mu_);
    acquire_wins_ = wins;
  }
  bool Acquire() {
    (void)Call("acquire", Status::Ok());  // recorded, never refused
    std::lock_guard guard(mu_);
    return acquire_wins_;
  }
  bool fast_health() const {
    std::lock_guard lock(mu_);
    return fast_health_;
  }

 private:
  void Set(Status& slot, Status s) {
    std::lock_guard lock(mu_);
    slot = std::move(s);
  }
  // Records the call and answers with the switch's current status.
  Status Call(const std::string& op, const Status& fault) {
    std::lock_guard lock(mu_);
    calls_[op].push_back(SteadyClock::now());
    return fault;
  }

  mutable std::mutex mu_;
  Status register_, check_, renew_, reads_, node_name_, create_session_;  // GUARDED_BY(mu_)
  bool fast_health_ = false;
  KvPair lock_{.key = "resec/.lock", .session = "other", .lock_index = 1, .modify_index = 7};
  bool acquire_wins_ = true;
  std::chrono::seconds renew_ttl_{15};
  std::map<std::string, std::vector<TimePoint>> calls_;
};

class FakeClient final : public Client {
 public:
  explicit FakeClient(FakeConsul& consul) : consul_(consul) {}

  StatusOr<std::string> CreateSession(const SessionOptions&) override {
    if (Status s = consul_.CreateSession(); !s.ok()) return s;
    return std::string("session-1");
  }
  StatusOr<std::string> NodeName() override {
    if (Status s = consul_.NodeName(); !s.ok()) return s;
    return std::string("node-1");
  }
  StatusOr<std::string> SessionNode(const std::string&) override { return std::string("node-1"); }
  StatusOr<std::chrono::seconds> RenewSession(const std::string&) override {
    Status s = consul_.Renew();
    if (!s.ok()) return s;
    return consul_.renew_ttl();
  }
  StatusOr<std::vector<std::string>> ServerNodes() override { return std::vector<std::string>{"s1"}; }
  Status DestroySession(const std::string&) override { return Status::Ok(); }
  StatusOr<WithMeta<std::optional<KvPair>>> GetKey(const std::string&, const QueryOptions& q) override {
    if (Status s = Hold(q, false); !s.ok()) return s;
    if (Status s = consul_.Read("lock"); !s.ok()) return s;
    // Held by another session: the watcher never tries to acquire.
    KvPair pair{.key = "resec/.lock", .session = "other", .lock_index = 1, .modify_index = 7};
    return WithMeta<std::optional<KvPair>>{pair, QueryMeta{.index = 7}};
  }
  StatusOr<WithMeta<std::vector<KvPair>>> ListKeys(const std::string&, const QueryOptions& q) override {
    if (Status s = Hold(q, false); !s.ok()) return s;
    if (Status s = consul_.Read("kv"); !s.ok()) return s;
    const KvPair pair = consul_.lock();
    return WithMeta<std::vector<KvPair>>{{pair}, QueryMeta{.index = pair.modify_index}};
  }
  StatusOr<bool> AcquireKey(const std::string& key, const std::string&, const std::string&) override {
    return key == "resec/.lock" ? consul_.Acquire() : true;  // the lock, or our report
  }
  StatusOr<bool> ReleaseKey(const std::string&, const std::string&, const std::string&) override { return true; }
  Status PutKey(const std::string&, const std::string&) override { return Status::Ok(); }
  Status DeleteKey(const std::string&) override { return Status::Ok(); }
  Status RegisterService(const ServiceRegistration&) override { return consul_.Register(); }
  Status DeregisterService(const std::string&) override { return Status::Ok(); }
  Status UpdateTtlCheck(const std::string&, const std::string&, const std::string&) override {
    return consul_.Check();
  }
  StatusOr<WithMeta<std::vector<ServiceInstance>>> HealthyInstances(const std::string&, const std::string&,
                                                                      const QueryOptions& q) override {
    if (Status s = Hold(q, consul_.fast_health()); !s.ok()) return s;
    if (Status s = consul_.Read("masters"); !s.ok()) return s;
    return WithMeta<std::vector<ServiceInstance>>{{}, QueryMeta{.index = 7}};
  }
  StatusOr<std::string> Leader() override { return std::string("127.0.0.1:8300"); }
  void Cancel() override {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }

 private:
  // Consul holds a blocking read (index > 0) while nothing changes.
  Status Hold(const QueryOptions& q, bool fast) {
    std::unique_lock lock(mu_);
    if (q.index > 0 && !fast) cv_.wait_for(lock, FakeConsul::kHold, [&] { return cancelled_; });
    if (cancelled_) return Cancelled("fake: cancelled");
    return Status::Ok();
  }

  FakeConsul& consul_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

// ------------------------------------------------------------ fixture

class ConsulWatcherTest : public ::testing::Test {
 protected:
  ConsulWatcherTest() {
    config_.announce_addr = {"127.0.0.1", 6379};
    config_.healthcheck_interval = 200ms;
    config_.healthcheck_timeout = 1s;
  }
  ~ConsulWatcherTest() override {
    if (watcher_) watcher_->Stop();
  }

  void Start() {
    watcher_ = std::make_unique<Watcher>(
        config_, [this](milliseconds) { return std::make_unique<FakeClient>(consul_); }, clock_,
        [this](const ConsulState& s) {
          std::lock_guard lock(mu_);
          published_.push_back(s);
        });
    watcher_->Start();
  }
  void WantRegistered() {
    ConsulIntent intent;
    intent.register_as = RedisRole::kMaster;
    watcher_->SetIntent(intent);
  }
  std::vector<ConsulState> Published() const {
    std::lock_guard lock(mu_);
    return published_;
  }
  static bool WaitFor(const std::function<bool()>& cond, milliseconds timeout) {
    const TimePoint end = SteadyClock::now() + timeout;
    while (!cond()) {
      if (SteadyClock::now() > end) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  // Once reachable, every published state stayed reachable.
  void ExpectStayedReachable() const {
    const std::vector<ConsulState> published = Published();
    ASSERT_FALSE(published.empty());
    bool seen_reachable = false;
    for (const ConsulState& s : published) {
      if (seen_reachable) {
        EXPECT_TRUE(s.reachable) << "error: " << s.error;
      }
      seen_reachable = seen_reachable || s.reachable;
    }
    EXPECT_TRUE(seen_reachable);
  }
  // The gaps between consecutive calls, in milliseconds.
  static std::vector<int64_t> Gaps(const std::vector<TimePoint>& calls) {
    std::vector<int64_t> gaps;
    for (size_t i = 1; i < calls.size(); ++i) {
      gaps.push_back(std::chrono::duration_cast<milliseconds>(calls[i] - calls[i - 1]).count());
    }
    return gaps;
  }
  static std::string Show(const std::vector<int64_t>& gaps) {
    std::string out;
    for (int64_t g : gaps) out += std::to_string(g) + "ms ";
    return out;
  }

  Config config_;
  SystemClock clock_;
  FakeConsul consul_;
  mutable std::mutex mu_;
  std::vector<ConsulState> published_;
  std::unique_ptr<Watcher> watcher_;
};

// A register endpoint answering 500 got a call every 100 ms, for as long as
// it lasted; it now gets the session's backoff: 200, 400, 800 ms, ... 2 s.
TEST_F(ConsulWatcherTest, RegistrationRetriesBackOff) {
  consul_.FailRegister(StatusFromHttp("PUT", "/v1/agent/service/register", 500, "No cluster leader"));
  Start();
  WantRegistered();
  ASSERT_TRUE(WaitFor([&] { return consul_.Count("register") >= 4; }, 10s)) << consul_.Count("register");
  const std::vector<int64_t> gaps = Gaps(consul_.Calls("register"));
  SCOPED_TRACE("gaps: " + Show(gaps));
  EXPECT_GE(gaps[0], 190);
  EXPECT_GE(gaps[1], 390);
  EXPECT_GE(gaps[2], 790);

  // Healed: registered at the next try, and the backoff starts over.
  consul_.FailRegister(Status::Ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = Published();
        return !p.empty() && p.back().registered;
      },
      5s));
}

// A TTL-only session (peer mode) is renewed three times a TTL while the
// group is two (its lease is Consul's), twice once the group's lease gates
// the master's writes: a third fewer renewals for every agent of a fleet.
TEST_F(ConsulWatcherTest, PeerModeSessionRenewalFollowsWhoseLeaseCounts) {
  config_.lock_ttl = 1s;
  consul_.SetRenewTtl(1s);
  Start();
  ConsulIntent intent;
  intent.register_as = RedisRole::kReplica;
  intent.report = PeerReport{};
  intent.ttl_only_session = true;
  watcher_->SetIntent(intent);
  ASSERT_TRUE(WaitFor([&] { return consul_.Count("renew") >= 3; }, 10s)) << consul_.Count("renew");
  std::vector<int64_t> gaps = Gaps(consul_.Calls("renew"));
  SCOPED_TRACE("strict gaps: " + Show(gaps));
  EXPECT_GE(gaps[1], 320);
  EXPECT_LT(gaps[1], 480);

  intent.relaxed_renewal = true;
  watcher_->SetIntent(intent);
  const size_t before = consul_.Count("renew");
  ASSERT_TRUE(WaitFor([&] { return consul_.Count("renew") >= before + 3; }, 10s));
  const std::vector<TimePoint> calls = consul_.Calls("renew");
  gaps = Gaps(std::vector<TimePoint>(calls.begin() + static_cast<std::ptrdiff_t>(before), calls.end()));
  SCOPED_TRACE("relaxed gaps: " + Show(gaps));
  EXPECT_GE(gaps[1], 490);
  EXPECT_LT(gaps[1], 700);
}

// Watches whose answers come back at once with the same index (a proxy or
// cache that does not block) were polled every 50 ms; they now back off.
TEST_F(ConsulWatcherTest, AnswersThatDoNotBlockBackOff) {
  consul_.SetFastHealth(true);
  Start();
  ASSERT_TRUE(WaitFor([&] { return consul_.Count("masters") >= 6; }, 10s)) << consul_.Count("masters");
  const std::vector<int64_t> gaps = Gaps(consul_.Calls("masters"));
  SCOPED_TRACE("gaps: " + Show(gaps));
  // The first read has no index (it may not block); from the second on each
  // answer is unchanged: 100, 200, 400, 800 ms.
  EXPECT_GE(gaps[2], 190);
  EXPECT_GE(gaps[3], 390);
  EXPECT_GE(gaps[4], 790);

  // Real blocking answers again: the pace resets (no sleep after them).
  consul_.SetFastHealth(false);
  const size_t before = consul_.Count("masters");
  ASSERT_TRUE(WaitFor([&] { return consul_.Count("masters") >= before + 4; }, 10s));
  const std::vector<int64_t> later = Gaps(consul_.Calls("masters"));
  SCOPED_TRACE("later gaps: " + Show(later));
  // Each blocking read is held kHold, and followed by no sleep.
  EXPECT_LT(later.back(), FakeConsul::kHold.count() + 200);
}

// One endpoint answering 500 (the check update) flipped "reachable" on every
// retry, and with it the reconciler's decision; an answer is not an outage.
TEST_F(ConsulWatcherTest, AnErrorStatusFromOneEndpointLeavesConsulReachable) {
  consul_.FailCheckUpdate(StatusFromHttp("PUT", "/v1/agent/check/update/x", 500, "No cluster leader"));
  Start();
  WantRegistered();
  // The reconciler sends its intent again and again (each Redis or Consul
  // change): every wake-up used to retry the failed check at once.
  ASSERT_TRUE(WaitFor(
      [&] {
        ConsulIntent intent;
        intent.register_as = RedisRole::kMaster;
        watcher_->SetIntent(intent);
        return consul_.Count("check") >= 4;
      },
      10s))
      << consul_.Count("check");
  const std::vector<int64_t> gaps = Gaps(consul_.Calls("check"));
  SCOPED_TRACE("check gaps: " + Show(gaps));
  // A failed refresh is retried every 500 ms, not on every wake-up.
  for (int64_t gap : gaps) EXPECT_GE(gap, 450);
  ExpectStayedReachable();
  EXPECT_NE(Published().back().error.find("update check"), std::string::npos) << Published().back().error;
}

// One endpoint that hangs (the check update times out) while the rest
// answers is a broken endpoint, not an unreachable agent.
TEST_F(ConsulWatcherTest, OneEndpointTimingOutLeavesConsulReachable) {
  consul_.FailCheckUpdate(Unavailable("PUT /v1/agent/check/update/x: Read"));
  Start();
  WantRegistered();
  ASSERT_TRUE(WaitFor([&] { return consul_.Count("check") >= 3; }, 10s)) << consul_.Count("check");
  ExpectStayedReachable();
}

// Failed exchanges of several operations are an outage; the next answer of
// any endpoint ends it.
TEST_F(ConsulWatcherTest, AFailedExchangeClearsReachableAndAnAnswerRestoresIt) {
  Start();
  WantRegistered();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = Published();
        return !p.empty() && p.back().reachable && p.back().registered;
      },
      5s));
  consul_.FailReads(Unavailable("GET /v1/kv/resec/.lock: Connection"));
  consul_.FailRenew(Unavailable("PUT /v1/session/renew/session-1: Connection"));
  consul_.FailCheckUpdate(Unavailable("PUT /v1/agent/check/update/x: Connection"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = Published();
        return !p.back().reachable;
      },
      5s));
  // Consul answers again, if only with an error status: reachable.
  consul_.FailReads(Status::Ok());
  consul_.FailRenew(Status::Ok());
  consul_.FailCheckUpdate(StatusFromHttp("PUT", "/v1/agent/check/update/x", 500, "No cluster leader"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = Published();
        return p.back().reachable;
      },
      5s));
}

// The node name tells our master registration from another node's (service
// IDs repeat across nodes). The host name stands in only when Consul refuses
// to tell: an agent that guessed it when /v1/agent/self answered with an
// oversized body retired its own registration as a stale master, which ended
// its session, and did it again after each new acquire (e2e Everything100MB).
struct NodeNameRow {
  std::string name;
  Status self;     // GET /v1/agent/self
  Status session;  // the probe session (only asked after a 403)
  bool guesses_host_name;
};

TEST_F(ConsulWatcherTest, OnlyARefusalMakesTheHostNameStandIn) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  const std::vector<NodeNameRow> rows = {
      {"answered", Status::Ok(), Status::Ok(), false},
      {"no agent:read, the probe session tells", StatusFromHttp("GET", "/v1/agent/self", 403, "denied"), Status::Ok(),
       false},
      {"no agent:read and no session:write",
       StatusFromHttp("GET", "/v1/agent/self", 403, "denied"),
       StatusFromHttp("PUT", "/v1/session/create", 403, "denied"), true},
      {"oversized answer", Internal("GET /v1/agent/self: response body of 104857600 bytes larger than the limit"),
       Status::Ok(), false},
      {"not found (a proxy)", StatusFromHttp("GET", "/v1/agent/self", 404, ""), Status::Ok(), false},
      {"no leader", StatusFromHttp("GET", "/v1/agent/self", 500, "No cluster leader"), Status::Ok(), false},
      {"403, then the probe gets a 500", StatusFromHttp("GET", "/v1/agent/self", 403, "denied"),
       StatusFromHttp("PUT", "/v1/session/create", 500, "No cluster leader"), false},
  };
  for (const NodeNameRow& row : rows) {
    SCOPED_TRACE(row.name);
    FakeConsul consul;
    consul.FailNodeName(row.self);
    consul.FailCreateSession(row.session);
    std::mutex mu;
    std::vector<ConsulState> published;
    Watcher watcher(
        config_, [&consul](milliseconds) { return std::make_unique<FakeClient>(consul); }, clock_,
        [&](const ConsulState& s) {
          std::lock_guard lock(mu);
          published.push_back(s);
        });
    watcher.Start();
    auto node_name = [&] {
      std::lock_guard lock(mu);
      return published.empty() ? std::string() : published.back().node_name;
    };
    const bool answered = row.self.ok() || (row.self.code() == StatusCode::kPermissionDenied && row.session.ok());
    if (answered || row.guesses_host_name) {
      ASSERT_TRUE(WaitFor([&] { return !node_name().empty(); }, 2s));
      EXPECT_EQ(node_name(), row.guesses_host_name ? std::string(host) : std::string("node-1"));
    } else {
      // Asked again with a growing backoff (0.2, 0.4, 0.8 s), never guessed.
      ASSERT_TRUE(WaitFor([&] { return consul.Count("node-name") >= 3; }, 3s)) << consul.Count("node-name");
      EXPECT_EQ(node_name(), "");
      const std::vector<int64_t> gaps = Gaps(consul.Calls("node-name"));
      SCOPED_TRACE("gaps: " + Show(gaps));
      EXPECT_GE(gaps[0], 150);
      EXPECT_GE(gaps[1], 350);
      // Healed: the name Consul gives.
      consul.FailNodeName(Status::Ok());
      consul.FailCreateSession(Status::Ok());
      ASSERT_TRUE(WaitFor([&] { return !node_name().empty(); }, 3s));
      EXPECT_EQ(node_name(), "node-1");
    }
    watcher.Stop();
  }
}

// Consul refused at start (everything 403: an ACL being rolled out, a proxy
// in front of it): the host name stood in. The first session Consul grants
// is on our node and corrects it, before any lock is taken under the wrong
// name (regression: our own master registration looked like another node's
// stale one, and retiring it dropped our session's lock, over and over).
TEST_F(ConsulWatcherTest, FirstGrantedSessionCorrectsAGuessedNodeName) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  ASSERT_NE(std::string(host), "node-1");
  consul_.FailNodeName(StatusFromHttp("GET", "/v1/agent/self", 403, "denied"));
  consul_.FailCreateSession(StatusFromHttp("PUT", "/v1/session/create", 403, "denied"));
  Start();
  auto node_name = [&] {
    const std::vector<ConsulState> published = Published();
    return published.empty() ? std::string() : published.back().node_name;
  };
  ASSERT_TRUE(WaitFor([&] { return node_name() == host; }, 2s)) << node_name();
  consul_.FailCreateSession(Status::Ok());  // agent:read still refused
  ConsulIntent intent;
  intent.register_as = RedisRole::kMaster;
  intent.hold_lock = true;
  watcher_->SetIntent(intent);
  ASSERT_TRUE(WaitFor([&] { return node_name() == "node-1"; }, 3s)) << node_name();
}

// A blocking read of the lock that Consul answered before our acquire
// landed still shows the lock free. It is older than what we know, not a
// loss: the lock stays ours, and is not taken a second time. A newer answer
// that shows it gone is a loss.
TEST_F(ConsulWatcherTest, AnAnswerOlderThanOurAcquireIsNoLoss) {
  consul_.SetLock(KvPair{.key = "resec/.lock", .session = "", .lock_index = 1, .modify_index = 7});
  Start();
  ConsulIntent intent;
  intent.register_as = RedisRole::kReplica;
  intent.hold_lock = true;
  watcher_->SetIntent(intent);
  auto held_since = [&]() -> std::optional<size_t> {
    const std::vector<ConsulState> p = Published();
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].lock_held) return i;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(WaitFor([&] { return held_since().has_value(); }, 5s));
  // The watch keeps answering "free at 7" for three of its reads.
  std::this_thread::sleep_for(3 * FakeConsul::kHold);
  const std::vector<ConsulState> published = Published();
  for (size_t i = *held_since(); i < published.size(); ++i) {
    EXPECT_TRUE(published[i].lock_held) << "state " << i << " of " << published.size();
  }
  EXPECT_EQ(consul_.Count("acquire"), 1u);

  // Consul shows the lock ours, then free at a newer index (our session
  // ended): that is a loss, and nobody wins it back here.
  consul_.SetAcquireWins(false);
  consul_.SetLock(KvPair{.key = "resec/.lock", .session = "session-1", .lock_index = 2, .modify_index = 8});
  std::this_thread::sleep_for(2 * FakeConsul::kHold);
  EXPECT_TRUE(Published().back().lock_held);
  consul_.SetLock(KvPair{.key = "resec/.lock", .session = "", .lock_index = 2, .modify_index = 9});
  EXPECT_TRUE(WaitFor([&] { return !Published().back().lock_held; }, 3s));
}

}  // namespace
}  // namespace resec::consul
