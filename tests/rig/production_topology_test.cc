// Issue #13's defects, each reproduced on the production-topology rig
// (tests/support/rig.h): hosts with a Consul client each, Redis on 6379
// everywhere, resec configured as examples/systemd or examples/docker-compose
// configure it, real data. One test per defect, named after what broke; each
// builds a rig of its own.
//
// These need root and network namespaces; a machine without them fails each
// test with one line saying what is missing. RESEC_RIG_SKIP=1 skips them
// instead (a developer's opt-out; CI never sets it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/rig.h"
#include "support/rig_checks.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Polls host k's Redis role and records whether it was ever master.
class RoleWatch {
 public:
  RoleWatch(const Rig& rig, int k) : rig_(rig), k_(k) {
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        if (rig_.Info(k_, "replication")["role"] == "master") became_master_ = true;
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  bool became_master() const { return became_master_; }

 private:
  const Rig& rig_;
  const int k_;
  std::atomic<bool> became_master_{false};
  std::jthread thread_;
};

// ------------------------------------------------------------------ defect 1

// Both switchover tests: a systemd-style group with 100k keys and a writer;
// one replica restarted empty and in its (slow) full sync, watched for a
// promotion. The test then asks for a switchover its own way, and Finish()
// checks the outcome.
class SyncingReplicaScenario {
 public:
  explicit SyncingReplicaScenario(Rig& rig) : rig_(rig) {}

  void Start() {
    ASSERT_NO_FATAL_FAILURE(StartConverged(rig_, &master_));
    if (::testing::Test::IsSkipped()) return;
    ASSERT_NO_FATAL_FAILURE(LoadReplicated(rig_, master_));
    syncing_ = (master_ + 1) % rig_.hosts();
    ASSERT_TRUE(rig_.Redis(master_, {"CONFIG", "SET", "rdb-key-save-delay", kSlowSyncDelayUs}).ok());
    rig_.KillRedis(syncing_);
    ASSERT_TRUE(rig_.StartRedis(syncing_, {.wipe = true}).ok());
    // The agent points its restarted Redis at the master; Redis 7 then
    // waits repl-diskless-sync-delay (5 s) before it streams.
    ASSERT_TRUE(WaitFor([&] { return InFullSync(rig_, syncing_); }, 30s))
        << rig_.host(syncing_).name << " did not start a full sync";
    writer_ = rig_.MakeWriter(Clock::now());
    writer_->Start();
    ASSERT_TRUE(WaitForWaitAcks(*writer_, 100, 30s)) << "the writer got no WAIT-acknowledged write";
    watch_ = std::make_unique<RoleWatch>(rig_, syncing_);
  }

  int master() const { return master_; }

  void Finish() {
    std::string why;
    // The syncing replica finishes its 20 s sync from whichever master it
    // follows, then everything settles.
    std::optional<int> m = rig_.WaitConverged(120s, &why);
    ASSERT_TRUE(m) << why;
    EXPECT_FALSE(watch_->became_master()) << rig_.host(syncing_).name << ", in its full sync, was promoted";
    EXPECT_NE(*m, syncing_);
    ExpectNothingLost(rig_, *writer_, *m, kKeys);
  }

 private:
  Rig& rig_;
  int master_ = -1;
  int syncing_ = -1;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<RoleWatch> watch_;
};

TEST(ProductionTopology, SigtermOnTheMasterNeverPromotesAReplicaInFullSync) {
  Rig rig({.hosts = 3});
  SyncingReplicaScenario scenario(rig);
  ASSERT_NO_FATAL_FAILURE(scenario.Start());
  if (IsSkipped()) return;
  // A planned stop of the master's agent (systemctl stop resec): it hands
  // over, then exits; systemd would start it again.
  const ExitStatus exit = rig.StopAgent(scenario.master());
  EXPECT_TRUE(exit.Exited() && exit.code == 0) << exit.ToString();
  ASSERT_TRUE(rig.StartAgent(scenario.master()).ok());
  scenario.Finish();
}

TEST(ProductionTopology, SwitchoverCommandNeverPromotesAReplicaInFullSync) {
  // The systemd example as it is: every Redis on 6379, ANNOUNCE_ADDR unset.
  Rig rig({.hosts = 3});
  SyncingReplicaScenario scenario(rig);
  ASSERT_NO_FATAL_FAILURE(scenario.Start());
  if (IsSkipped()) return;
  const CommandResult r = rig.RunResec(scenario.master(), {"switchover"});
  EXPECT_EQ(r.exit.code, 0) << "resec switchover: " << r.output;
  scenario.Finish();
}

TEST(ProductionTopology, StatusTellsMembersApartWhenEveryRedisIsOn6379) {
  Rig rig({.hosts = 3});
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  // Every host runs `resec status` the way resec.env's header says.
  const CommandResult status = rig.RunResec((master + 1) % 3, {"status", "--json"});
  ASSERT_EQ(status.exit.code, 0) << status.output;
  auto j = nlohmann::json::parse(status.output, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("members")) << status.output;
  // A member is its node and its service ID: the ID itself is the one the
  // drop-in contract gives a loopback REDIS_ADDR, redis@:6379 on every host.
  std::set<std::string> ids;
  for (const auto& m : j["members"]) ids.insert(m.value("node", "") + "/" + m.value("id", ""));
  EXPECT_EQ(ids.size(), 3u) << "members are not told apart: " << status.output;
  for (int k = 0; k < rig.hosts(); ++k) {
    const std::string role = rig.Info(k, "replication")["role"];
    int rows = 0;
    for (const auto& m : j["members"]) {
      if (m["address"].is_string() && m["address"] == rig.redis_addr(k)) {
        ++rows;
        EXPECT_EQ(m["role"].is_string() ? m["role"].get<std::string>() : "null", role)
            << rig.host(k).name << " is labelled wrongly: " << status.output;
        EXPECT_EQ(m.value("holder", false), k == master) << rig.host(k).name << ": " << status.output;
      }
    }
    EXPECT_EQ(rows, 1) << rig.host(k).name << " (" << rig.redis_addr(k) << ") is not listed once: " << status.output;
  }
}

// ------------------------------------------------------------------ defect 2

// How long the master's agent stays frozen: the group fails over once its
// check TTL (6 s) has run out and the lock-delay (1 s) has passed, and the
// new holder pauses the old master's writes for a while (10 s on the agent
// this was written against); the freeze must outlast both, as issue #13's
// 15-30 s freezes did. 30 s is that with margin for a slow failover.
constexpr auto kAgentFreeze = 30s;

TEST(ProductionTopology, FrozenMasterAgentNeverLeavesTwoWritableMasters) {
  // MIN_REPLICAS_TO_WRITE=0 and Redis without the example's start-fenced
  // setting: nothing but the agents keeps the old master from taking writes.
  Rig rig({.hosts = 3, .agent_env = {{"MIN_REPLICAS_TO_WRITE", "0"}}, .redis_defaults = true});
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  auto writer = rig.MakeWriter(Clock::now());
  writer->Start();
  ASSERT_TRUE(WaitForWaitAcks(*writer, 100, 30s));
  auto prober = StartProber(rig, master);
  ASSERT_TRUE(rig.FreezeAgent(master));
  std::this_thread::sleep_for(kAgentFreeze);
  rig.ThawAgent(master);
  std::string why;
  std::optional<int> m = rig.WaitConverged(60s, &why);
  ASSERT_TRUE(m) << why;
  ASSERT_TRUE(WaitForWaitAcks(*writer, 100, 30s));
  std::string which;
  const int64_t dual = LongestDualWritableMs(*prober, &which);
  prober->Stop();
  std::printf("[ rig      ] longest two-writable-masters window %lld ms\n", static_cast<long long>(dual));
  EXPECT_EQ(dual, 0) << "two Redis accepted writes together for " << dual << " ms (" << which << ")";
  ExpectNothingLost(rig, *writer, *m, 0);
}

// ------------------------------------------------------------------ defect 3

// How soon a master whose Redis restarted takes writes again: the agent sees
// the new process within a poll (250 ms), re-takes the lock after its 1 s
// lock-delay and sets the process up; 30 s leaves room for a loaded machine.
constexpr auto kWritesBackWithin = 30s;

// min-replicas-to-write of host k's Redis (-1 when it does not answer).
int MinReplicasToWrite(const Rig& rig, int k) {
  auto r = rig.Redis(k, {"CONFIG", "GET", "min-replicas-to-write"});
  return r.ok() ? std::atoi(r->substr(r->find('\n') + 1).c_str()) : -1;
}

// A snapshot of host k's Redis (SAVE). Redis refuses SAVE while a child is
// writing one ("Background save already in progress"), as it is whenever a
// replica's full sync has just begun (diskless, 5 s after the replica asked):
// that is waited out; any other answer is final.
Status SaveSnapshot(const Rig& rig, int k) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (true) {
    auto r = rig.Redis(k, {"SAVE"}, 30s);
    if (r.ok() || r.status().message().find("in progress") == std::string::npos ||
        std::chrono::steady_clock::now() > deadline) {
      return r.status();
    }
    std::this_thread::sleep_for(100ms);
  }
}

// What a SET on host k answers: "OK", or the error.
std::string SetAnswer(const Rig& rig, int k) {
  auto r = rig.Redis(k, {"SET", "probe:answer", "1"});
  return r.ok() ? *r : r.status().message();
}

TEST(ProductionTopology, LoneMastersRestartedFencedRedisTakesWritesAgain) {
  // The compose example: Redis boots fenced (min-replicas-to-write 1) and
  // keeps nothing on disk. Two hosts, the replica's Redis gone: the agent's
  // own rule lets a master without replicas take writes (guard 0).
  Rig rig({.style = DeploymentStyle::kCompose, .hosts = 2});
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  const int replica = 1 - master;
  rig.KillRedis(replica);
  ASSERT_TRUE(WaitFor([&] { return MinReplicasToWrite(rig, master) == 0; }, 30s))
      << "the lone master kept min-replicas-to-write " << MinReplicasToWrite(rig, master);
  // kill -9 and a restart: empty (compose keeps no data), then with data (a
  // snapshot taken just before the crash).
  for (const bool with_data : {false, true}) {
    SCOPED_TRACE(with_data ? "restart with data" : "restart empty");
    if (with_data) {
      const Status saved = SaveSnapshot(rig, master);
      ASSERT_TRUE(saved.ok()) << saved.ToString();
    }
    rig.KillRedis(master);
    ASSERT_TRUE(rig.StartRedis(master).ok());
    EXPECT_TRUE(WaitFor([&] { return SetAnswer(rig, master) == "OK"; }, kWritesBackWithin))
        << "the restarted Redis still answers " << SetAnswer(rig, master) << " (min-replicas-to-write "
        << MinReplicasToWrite(rig, master) << ")";
  }
  // The replica returns: the master must be guarded again.
  ASSERT_TRUE(rig.StartRedis(replica, {.wipe = true}).ok());
  std::string why;
  ASSERT_TRUE(rig.WaitConverged(60s, &why)) << why;
  EXPECT_TRUE(WaitFor([&] { return MinReplicasToWrite(rig, master) >= 1; }, 10s))
      << "the master with a replica is unguarded";
}

TEST(ProductionTopology, RepromotedMasterIsGuardedAfterItsRedisRestarted) {
  // The systemd example: Redis boots with its defaults (min-replicas-to-write
  // 0), so only the agent guards a master.
  Rig rig({.hosts = 2});
  int first = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &first));
  if (IsSkipped()) return;
  const int second = 1 - first;
  // The guard counts replicas the master sees online, so it follows the
  // replica's link by one INFO poll.
  ASSERT_TRUE(WaitFor([&] { return MinReplicasToWrite(rig, first) >= 1; }, 10s)) << "the first master is unguarded";
  // kill -9 and a restart; the other host takes over and the restarted
  // Redis becomes its replica.
  rig.KillRedis(first);
  ASSERT_TRUE(rig.StartRedis(first).ok());
  std::string why;
  std::optional<int> m = rig.WaitConverged(60s, &why);
  ASSERT_TRUE(m) << why;
  ASSERT_EQ(*m, second);
  // A planned stop of the new master's agent hands the group back.
  EXPECT_EQ(rig.StopAgent(second).code, 0);
  ASSERT_TRUE(rig.StartAgent(second).ok());
  m = rig.WaitConverged(60s, &why);
  ASSERT_TRUE(m) << why;
  ASSERT_EQ(*m, first);
  EXPECT_GE(std::atoi(rig.Info(first, "replication")["connected_slaves"].c_str()), 1);
  EXPECT_TRUE(WaitFor([&] { return MinReplicasToWrite(rig, first) >= 1; }, 10s))
      << "the re-promoted master " << rig.host(first).name << " has min-replicas-to-write "
      << MinReplicasToWrite(rig, first) << " while it has a replica";
}

// ------------------------------------------------------------------ defect 4

// Issue #13: a master may refuse writes for at most this long in total while
// its only replica full-resyncs: the replica's restart and the agent pointing
// it at the master take about a second; a guard that counts replicas Redis
// sees online must not refuse the 20 s the sync takes.
constexpr auto kMaxRefusalDuringResync = 2000ms;

TEST(ProductionTopology, TwoNodeMasterKeepsTakingWritesWhileItsReplicaResyncs) {
  Rig rig({.hosts = 2});
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(LoadReplicated(rig, master));
  const int replica = 1 - master;
  ASSERT_TRUE(rig.Redis(master, {"CONFIG", "SET", "rdb-key-save-delay", kSlowSyncDelayUs}).ok());
  auto prober = StartProber(rig, master);
  const auto restarted = Clock::now();
  rig.KillRedis(replica);
  ASSERT_TRUE(rig.StartRedis(replica, {.wipe = true}).ok());
  ASSERT_TRUE(WaitFor([&] { return InFullSync(rig, replica); }, 30s)) << "no full sync started";
  // 100k keys at 200 us each, after Redis' 5 s diskless-sync delay.
  ASSERT_TRUE(WaitFor([&] { return !InFullSync(rig, replica) && rig.CountKeys(replica) == kKeys; }, 180s))
      << "the full sync did not finish";
  const auto synced = Clock::now();
  int64_t refused_rounds = 0;
  const std::vector<Prober::Round> rounds = prober->TakeRounds();
  for (const Prober::Round& r : rounds) {
    if (prober->RoundTime(r.index) >= restarted && prober->RoundTime(r.index) <= synced &&
        (r.accepted & (1u << master)) == 0) {
      ++refused_rounds;
    }
  }
  prober->Stop();
  const auto refused = refused_rounds * kProbeInterval;
  std::printf("[ rig      ] the master refused writes for %lld ms of the %lld ms resync\n",
              static_cast<long long>(refused.count()),
              static_cast<long long>(std::chrono::duration_cast<milliseconds>(synced - restarted).count()));
  EXPECT_LE(refused, kMaxRefusalDuringResync)
      << "the master refused writes for " << refused.count() << " ms while its replica resynced";
}

// ------------------------------------------------------------------ defect 5

// A restarted host's Redis (default configuration, without the example's
// start-fenced redis-resec.conf: it boots as a writable master) may accept
// writes beside the group's master only until its agent
// first reaches it. The rig boots a host as its init system would
// (examples/systemd/resec.service's After= decides what resec waits for;
// Redis and the Consul client start side by side, Redis ready within
// milliseconds, the client once it has joined, 100 ms and more later). An
// agent that fences a Redis process it has not seen before on first
// contact, without waiting for Consul, started as soon as Redis is ready,
// needs its own start (exec, settings, one connection) and one command: a
// few milliseconds, 20-30 on this loaded 2-core machine. 50 ms is that plus
// the prober's 10 ms rounds.
constexpr auto kMaxRestartedRedisWritable = 50ms;

// Crashes the master's host, waits until another host is the passing master
// in Consul, and restarts the crashed host in systemd order (Consul client,
// Redis, resec). Returns the crashed host.
int CrashMasterHostAndRestartAfterFailover(Rig& rig, int master, const RedisStart& how) {
  rig.CrashHost(master);
  // Serf declares the host failed, its session goes, another agent is
  // elected and registered passing.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto masters = rig.Service("redis-master");
        if (!masters.ok()) return false;
        return std::any_of(masters->begin(), masters->end(),
                           [&](const HealthInstance& e) { return e.Passing() && rig.HostOf(e.node) != master; });
      },
      60s))
      << "no new master after the host crash";
  EXPECT_TRUE(rig.StartHost(master, how).ok());
  std::string why;
  EXPECT_TRUE(rig.WaitConverged(60s, &why)) << why;
  return master;
}

// How many crash-and-restart cycles tests 5 and 6 run: their windows depend
// on how long a host's Consul client takes to join and when it first syncs,
// which vary from run to run; the worst cycle is judged.
constexpr int kHostRestartCycles = 3;

TEST(ProductionTopology, RestartedHostsRedisNeverTakesWritesBesideTheMaster) {
  Rig rig({.hosts = 3, .redis_defaults = true});
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  const int replica = (master + 1) % rig.hosts();
  auto prober = StartProber(rig, master);
  int64_t worst = 0;
  for (int cycle = 0; cycle < kHostRestartCycles; ++cycle) {
    rig.CrashHost(replica);
    ASSERT_TRUE(rig.StartHost(replica).ok());
    std::string why;
    ASSERT_TRUE(rig.WaitConverged(60s, &why)) << why;
    const int64_t dual = LongestDualWritableMs(*prober);
    std::printf("[ rig      ] restart %d: the restarted Redis took writes beside the master for %lld ms\n",
                cycle + 1, static_cast<long long>(dual));
    worst = std::max(worst, dual);
  }
  prober->Stop();
  EXPECT_LE(milliseconds(worst), kMaxRestartedRedisWritable)
      << "two Redis accepted writes together for up to " << worst << " ms";
}

// ------------------------------------------------------------------ defect 6

// Consul must not list two passing masters at any moment a client could ask.
// The master's host restarts right after the group failed over, as a quick
// reboot does: its Consul client restores the old redis-master registration
// with the check state it persisted, passing until the check TTL after the
// dead agent's last refresh. Even past that TTL the servers' copy from
// before the crash (passing) counts again once the node rejoins, until the
// client's first anti-entropy sync (staggered up to 3 s after it joins).
// The agent starts only after Redis has loaded, so neither may be left to
// it. The agent that took over marks the old registration critical in the
// catalog when it takes over: the servers' copy never counts again (0 ms).
// A reboot within the check TTL is the one case left: the rejoined client
// pushes its restored passing check at its first sync, and the master marks
// it critical again as soon as its blocking watch of passing masters shows
// it (10-30 ms measured here). Only a check Consul does not restore as
// passing (not a TTL check, which the drop-in contract prescribes) could
// close that; 100 ms is that reaction with margin for a loaded machine.
constexpr auto kMaxTwoPassingMasters = 100ms;
// Redis' key-load-delay (microseconds per key while loading a snapshot):
// 20k keys load for 4 s or more, longer than the 3 s within which a
// restarted Consul client first syncs its state after joining.
constexpr int64_t kSlowLoadKeys = 20'000;
constexpr char kSlowLoadDelayUs[] = "200";

TEST(ProductionTopology, RestartedHostNeverAdvertisesAStaleMaster) {
  Rig rig({.hosts = 3});
  int master = -1;
  ASSERT_NO_FATAL_FAILURE(StartConverged(rig, &master));
  if (IsSkipped()) return;
  // The crashed host comes back with a snapshot to load, slowly, as
  // gigabytes load: its agent starts only once Redis is ready.
  ASSERT_TRUE(rig.LoadKeys(master, kSlowLoadKeys, kValueBytes).ok());
  PassingProbe probe(rig.ServerEndpoints(), "redis-master", kProbeInterval);
  probe.Start();
  milliseconds worst{0};
  std::string worst_nodes;
  for (int cycle = 0; cycle < kHostRestartCycles; ++cycle) {
    const Status saved = SaveSnapshot(rig, master);
    ASSERT_TRUE(saved.ok()) << saved.ToString();
    ASSERT_NO_FATAL_FAILURE(CrashMasterHostAndRestartAfterFailover(
        rig, master, {.extra_args = {"--key-load-delay", kSlowLoadDelayUs}}));
    std::string nodes;
    const milliseconds two = probe.LongestAtLeast(2, &nodes);
    std::printf("[ rig      ] after restart %d: the longest two-passing-masters window so far %lld ms (%s)\n",
                cycle + 1,
                static_cast<long long>(two.count()), nodes.c_str());
    if (two > worst) {
      worst = two;
      worst_nodes = nodes;
    }
    std::string why;
    std::optional<int> m = rig.WaitConverged(60s, &why);
    ASSERT_TRUE(m) << why;
    master = *m;
  }
  probe.Stop();
  EXPECT_LE(worst, kMaxTwoPassingMasters)
      << "Consul listed two passing masters (" << worst_nodes << ") for " << worst.count() << " ms";
}

}  // namespace
}  // namespace resec::testing
