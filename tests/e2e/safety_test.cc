// The fast-and-safe failover promises, against real processes: the most
// up-to-date data wins, an isolated master is fenced before another takes
// writes, and a planned switchover loses nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "resec/mutex.h"
#include "resec/state.h"
#include "support/agent_group.h"
#include "support/tcp_proxy.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConverge = 30s;

// Writes k:<n> = n every 2 ms to whatever Consul says is the master, the way
// a client of resec discovers it, and remembers what was acknowledged.
class Writer {
 public:
  explicit Writer(Group& g) : g_(g) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::set<int> acked() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return acked_;
  }

 private:
  void Run() {
    int port = 0;
    for (int n = 0; !stop_; ++n) {
      if (port == 0) {
        auto c = g_.Catalog();
        if (c.ok() && c->passing_master_ports.size() == 1) port = c->passing_master_ports[0];
      }
      if (port != 0) {
        auto r = RedisCall(port, {"SET", "k:" + std::to_string(n), std::to_string(n)}, g_.options().redis_password,
                           "", 200ms);
        if (r.ok()) {
          MutexLock lock(mu_);
          acked_.insert(n);
        } else {
          port = 0;  // rediscover
        }
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  Group& g_;
  std::atomic<bool> stop_{false};
  Mutex mu_;
  std::set<int> acked_ GUARDED_BY(mu_);
  std::thread thread_;
};

std::vector<int> MissingOn(Group& g, int master, const std::set<int>& acked) {
  std::vector<int> missing;
  for (int n : acked) {
    auto v = g.redis(master).Call({"GET", "k:" + std::to_string(n)});
    if (!v.ok() || *v != std::to_string(n)) missing.push_back(n);
  }
  return missing;
}

// Stops the writer and checks that the new master has every acknowledged write.
void ExpectNoAcknowledgedWriteLost(Group& g, Writer& writer, int master) {
  writer.Stop();
  const std::set<int> acked = writer.acked();
  ASSERT_GT(acked.size(), 100u);
  const auto missing = MissingOn(g, master, acked);
  EXPECT_TRUE(missing.empty()) << missing.size() << " acknowledged writes lost, first k:" << missing.front();
}

constexpr char kLoadedKeys[] = "10000";  // what LoadReplicatedKeys writes

bool HasLoadedKeys(Group& g, int node) { return g.redis(node).Call({"DBSIZE"}).value_or("") == kLoadedKeys; }

// Writes 10,000 keys to the master and waits until every replica has them
// (each Call has its own connection, so a WAIT would not cover the MSETs).
void LoadReplicatedKeys(Group& g, int master) {
  for (int batch = 0; batch < 100; ++batch) {
    std::vector<std::string> argv = {"MSET"};
    for (int i = 0; i < 100; ++i) {
      const int n = batch * 100 + i;
      argv.push_back("key:" + std::to_string(n));
      argv.push_back(std::to_string(n));
    }
    ASSERT_TRUE(g.redis(master).Call(argv).ok());
  }
  for (int i = 0; i < g.size(); ++i) {
    if (i == master) continue;
    ASSERT_TRUE(WaitFor([&] { return HasLoadedKeys(g, i); }, 10s)) << i;
  }
}

// Starts the group, waits for it to converge and loads the keys; the master.
void StartLoaded(Group& g, int* master) {
  ASSERT_TRUE(g.Start().ok());
  std::string why;
  const std::optional<int> m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  *master = *m;
  ASSERT_NO_FATAL_FAILURE(LoadReplicatedKeys(g, *m));
}

// After a fault: a new master, and every node (the faulted one as a
// replica again) has every key.
void ExpectNewMasterAndAllKeys(Group& g, int old_master) {
  std::string why;
  const std::optional<int> m2 = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m2) << why;
  EXPECT_NE(*m2, old_master) << "the empty Redis was promoted";
  for (int i = 0; i < g.size(); ++i) {
    EXPECT_TRUE(WaitFor([&] { return HasLoadedKeys(g, i); }, 10s))
        << "node " << i << " has " << g.redis(i).Call({"DBSIZE"}).value_or("?") << " keys";
  }
}

TEST(Safety, MasterRestartedEmptyNeverWinsOverReplicasWithData) {
  Group g({});
  int m = -1;
  ASSERT_NO_FATAL_FAILURE(StartLoaded(g, &m));
  g.redis(m).Kill();
  ASSERT_TRUE(g.redis(m).Restart().ok());  // no persistence: back empty, new replication ID
  ExpectNewMasterAndAllKeys(g, m);
}

// The master's node restarts: Redis and agent killed, Redis back empty at
// once, faster than the check TTL lets anyone take over. The replicas' Redis
// still name it as their master and reconnect by themselves; left alone, they
// would full-resync to its empty dataset. Their agents hold them off it (it
// is not the Redis the lock holder vouched for) until the election, which a
// replica with the data wins.
TEST(Safety, MasterNodeRestartedEmptyBeforeTheCheckTtlLosesNoData) {
  Group g({});
  int m = -1;
  ASSERT_NO_FATAL_FAILURE(StartLoaded(g, &m));
  g.agent(m).Kill();
  g.redis(m).Kill();
  ASSERT_TRUE(g.redis(m).Start().ok());  // no persistence: empty, a new run
  // The fault itself: the node stays half up for longer than the replicas'
  // Redis take to reconnect (once a second), shorter than the 3 s check TTL.
  std::this_thread::sleep_for(2s);
  for (int i = 0; i < g.size(); ++i) {
    if (i == m) continue;
    EXPECT_TRUE(HasLoadedKeys(g, i)) << "replica " << i << " resynced";
  }
  ASSERT_TRUE(g.agent(m).Start().ok());
  ExpectNewMasterAndAllKeys(g, m);
}

// docs/failover.md's advice for the case the agents cannot cover, a replica
// whose agent is down too: every redis-server starts held (REPLICAOF to a
// port nobody listens on). The group still forms, and a master that restarts
// feeds nobody, so even a replica without a live agent keeps its data.
TEST(Safety, RedisStartedHeldFeedsNobodyAfterARestart) {
  GroupOptions o;
  o.redis_args = {"--replicaof", std::string(cmd::kHoldHost), std::to_string(cmd::kHoldPort)};
  Group g(o);
  int m = -1;
  ASSERT_NO_FATAL_FAILURE(StartLoaded(g, &m));
  const int orphan = (m + 1) % g.size();  // a replica whose agent is down too
  g.agent(orphan).Kill();
  g.agent(m).Kill();
  g.redis(m).Kill();
  ASSERT_TRUE(g.redis(m).Start().ok());  // empty, and held
  std::this_thread::sleep_for(2s);       // the orphan's Redis retries once a second
  EXPECT_TRUE(HasLoadedKeys(g, orphan));
  EXPECT_EQ(g.redis(m).Role(), "slave");
  ASSERT_TRUE(g.agent(orphan).Start().ok());
  ASSERT_TRUE(g.agent(m).Start().ok());
  ExpectNewMasterAndAllKeys(g, m);
}

TEST(Safety, IsolatedMasterRefusesWritesBeforeAnotherMasterAcceptsOne) {
  GroupOptions o;
  o.start_agents = false;
  Group g(o);
  ASSERT_TRUE(g.Start().ok());
  std::vector<std::unique_ptr<TcpProxy>> proxies;
  for (int i = 0; i < g.size(); ++i) {
    proxies.push_back(std::make_unique<TcpProxy>(g.consul().http_port()));
    g.agent(i).env()["CONSUL_HTTP_ADDR"] = "127.0.0.1:" + std::to_string(proxies.back()->port());
    ASSERT_TRUE(g.StartAgent(i).ok());
  }
  std::string why;
  auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;

  // Writers straight at each Redis, as clients that never rediscover would.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::optional<Clock::time_point> last_old_ack, first_new_ack;
  std::vector<std::thread> writers;
  for (int i = 0; i < g.size(); ++i) {
    writers.emplace_back([&, i] {
      for (int n = 0; !stop; ++n) {
        auto r = RedisCall(g.redis(i).port(), {"SET", "w" + std::to_string(i), std::to_string(n)}, "", "", 300ms);
        const auto now = Clock::now();
        if (r.ok()) {
          std::lock_guard lock(mu);
          if (i == *m) {
            last_old_ack = now;
          } else if (!first_new_ack) {
            first_new_ack = now;
          }
        }
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  proxies[*m]->Cut();
  const std::optional<int> m2 = g.WaitForNewMaster(*m, kConverge);
  const bool failed_over = m2.has_value();
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_TRUE(failed_over) << g.Describe();
  ASSERT_TRUE(last_old_ack && first_new_ack);
  EXPECT_LT(*last_old_ack, *first_new_ack)
      << "old master acknowledged a write "
      << std::chrono::duration_cast<std::chrono::milliseconds>(*last_old_ack - *first_new_ack).count()
      << " ms after the new master took its first";
  // Healed, the old master rejoins as a replica of the new one.
  proxies[*m]->Heal();
  auto m3 = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m3) << why;
  EXPECT_EQ(*m3, *m2);
}

TEST(Safety, SigtermOnTheMasterHandsOverWithoutLosingAWrite) {
  Group g({});
  ASSERT_TRUE(g.Start().ok());
  std::string why;
  auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  Writer writer(g);
  std::this_thread::sleep_for(500ms);
  auto exit = g.agent(*m).Stop(15s);
  EXPECT_TRUE(exit.Exited() && exit.code == 0) << exit.ToString();
  const std::optional<int> m2 = g.WaitForNewMaster(*m, 10s);
  ASSERT_TRUE(m2) << g.Describe();
  std::this_thread::sleep_for(500ms);
  ExpectNoAcknowledgedWriteLost(g, writer, *m2);
  // The old master's Redis follows the new master.
  ASSERT_TRUE(WaitFor([&] { return g.redis(*m).Role() == "slave"; }, 5s));
}

// The master's agent dies but its Redis lives on, still taking writes from
// clients that found it before. When another agent takes the lock, it pauses
// that Redis, catches up with it, promotes, and makes it a replica: nothing
// the orphaned master acknowledged is lost, and it takes no more writes.
TEST(Safety, AgentCrashOnTheMasterLosesNoAcknowledgedWrite) {
  Group g({});
  ASSERT_TRUE(g.Start().ok());
  std::string why;
  auto m = g.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << why;
  Writer writer(g);
  std::this_thread::sleep_for(500ms);
  g.agent(*m).Kill();
  const std::optional<int> m2 = g.WaitForNewMaster(*m, kConverge);
  ASSERT_TRUE(m2) << g.Describe();
  std::this_thread::sleep_for(500ms);
  ExpectNoAcknowledgedWriteLost(g, writer, *m2);
  // The orphaned master was demoted by the new master's agent.
  EXPECT_TRUE(WaitFor([&] { return g.redis(*m).Role() == "slave"; }, 5s));
  EXPECT_FALSE(g.redis(*m).Call({"SET", "late", "1"}).ok());
}

// The fencing lease is renewed every 500 ms and must reach the reconciler each
// time: a healthy, connected master never pauses its writes, with the test
// group's fast settings or with the documented defaults.
TEST(Safety, HealthyMasterIsNeverFenced) {
  for (const bool defaults : {false, true}) {
    SCOPED_TRACE(defaults ? "documented defaults" : "fast settings");
    GroupOptions o;
    if (defaults) o.env = {{"HEALTHCHECK_INTERVAL", "5s"}, {"HEALTHCHECK_TIMEOUT", "2s"}};
    Group g(o);
    ASSERT_TRUE(g.Start().ok());
    std::string why;
    auto m = g.WaitConverged(kConverge, &why);
    ASSERT_TRUE(m) << why;
    auto pauses = [&] {
      const std::string log = g.agent(*m).ReadLog();
      size_t n = 0;
      for (size_t at = log.find("writes paused"); at != std::string::npos; at = log.find("writes paused", at + 1)) ++n;
      return n;
    };
    // Settled: the start-up pause (a fresh master without the lock) is over.
    ASSERT_TRUE(WaitFor([&] { return g.agent(*m).ReadLog().find("writes unpaused") != std::string::npos; }, 10s));
    const size_t before = pauses();
    std::this_thread::sleep_for(6s);
    EXPECT_EQ(pauses(), before) << g.agent(*m).ReadLog();
  }
}

}  // namespace
}  // namespace resec::testing
