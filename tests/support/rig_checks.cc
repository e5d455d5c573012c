// Rig scenario helpers: see tests/support/rig_checks.h.
#include "support/rig_checks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "support/wait_for.h"

namespace resec::testing {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Starts the rig or fails the test with the reason (skips under
// RESEC_RIG_SKIP=1).
void StartRig(Rig& rig) {
  Status st = rig.Start();
  if (!st.ok() && std::getenv("RESEC_RIG_SKIP") != nullptr) GTEST_SKIP() << st.message();
  ASSERT_TRUE(st.ok()) << st.message();
}

// Starts the rig and waits for its first master.
void StartConverged(Rig& rig, int* master) {
  ASSERT_NO_FATAL_FAILURE(StartRig(rig));
  if (::testing::Test::IsSkipped()) return;
  std::string why;
  std::optional<int> m = rig.WaitConverged(kConverge, &why);
  ASSERT_TRUE(m) << "no convergence after start: " << why;
  *master = *m;
}

// Loads kKeys keys into the master and waits until every Redis has them.
void LoadReplicated(Rig& rig, int master) {
  ASSERT_TRUE(rig.LoadKeys(master, kKeys, kValueBytes).ok());
  for (int k = 0; k < rig.hosts(); ++k) {
    // A replica streams 10 MB in well under a second.
    ASSERT_TRUE(WaitFor([&] { return rig.CountKeys(k) == kKeys; }, 30s))
        << rig.host(k).name << " has " << rig.CountKeys(k) << " keys";
  }
}

// Waits until `writer` has `n` more WAIT-acknowledged writes than now.
bool WaitForWaitAcks(const Writer& writer, int64_t n, milliseconds timeout) {
  const int64_t target = writer.Totals().wait_acked + n;
  return WaitFor([&] { return writer.Totals().wait_acked >= target; }, timeout);
}

// Whether host k's Redis is in a full sync (a replica loading its master's
// snapshot, or waiting for it).
bool InFullSync(const Rig& rig, int k) {
  auto info = rig.Info(k, "replication");
  return info["role"] == "slave" && info["master_sync_in_progress"] == "1";
}

// Stops the writer and checks the final master holds every write it
// acknowledged (with or without WAIT) and every loaded key.
void ExpectNothingLost(const Rig& rig, Writer& writer, int master, int64_t keys) {
  writer.Stop();
  EXPECT_EQ(rig.CountKeys(master), keys) << "keys on the final master " << rig.host(master).name;
  auto seq = rig.WrittenSequence(master);
  ASSERT_TRUE(seq.ok()) << seq.status().message();
  const WriteLoss loss = CountLoss(writer, *seq);
  EXPECT_GT(loss.wait_acked, 0) << "the writer got no write through";
  EXPECT_EQ(loss.acked_lost, 0) << loss.ToString();
  EXPECT_EQ(loss.wait_acked_lost, 0) << loss.ToString();
  std::printf("[ rig      ] %s; final master %s holds %lld keys\n", loss.ToString().c_str(),
              rig.host(master).name.c_str(), static_cast<long long>(rig.CountKeys(master)));
}

// The longest two-writable-masters window in the prober's rounds, in ms.
int64_t LongestDualWritableMs(Prober& prober, std::string* which) {
  int64_t best = 0;
  for (const MultiWriterWindow& w : MultiWriterWindows(prober.TakeRounds())) {
    const int64_t ms = w.rounds * prober.interval().count();
    if (ms > best) {
      best = ms;
      if (which != nullptr) *which = "nodes mask " + std::to_string(w.nodes);
    }
  }
  return best;
}

// A prober of every host, started once the master accepts its writes; the
// start-up rounds are dropped (not judged).
std::unique_ptr<Prober> StartProber(const Rig& rig, int master) {
  auto prober = rig.MakeProber(Clock::now(), kProbeInterval, kProbeTimeout);
  prober->Start();
  EXPECT_TRUE(WaitFor([&] { return prober->LastAccepted(master).has_value(); }, 5s))
      << rig.host(master).name << " never accepted a probe write";
  prober->TakeRounds();
  return prober;
}

WriteLoss ExpectNoWaitAckedWriteLost(const Rig& rig, Writer& writer, int master) {
  writer.Stop();
  auto seq = rig.WrittenSequence(master);
  EXPECT_TRUE(seq.ok()) << seq.status().message();
  if (!seq.ok()) return {};
  const WriteLoss loss = CountLoss(writer, *seq);
  EXPECT_GT(loss.wait_acked, 0) << "the writer got no write through";
  EXPECT_EQ(loss.wait_acked_lost, 0) << loss.ToString();
  std::printf("[ rig      ] %s; final master %s\n", loss.ToString().c_str(), rig.host(master).name.c_str());
  return loss;
}

milliseconds LongestWriteGap(const Writer& writer, int64_t after_ms) {
  int64_t last = -1;
  int64_t longest = 0;
  for (int64_t seq = 1; seq <= writer.last_seq(); ++seq) {
    const Writer::Write w = writer.Get(seq);
    if (w.sent_ms < after_ms || !w.acked) continue;
    if (last >= 0) longest = std::max(longest, w.sent_ms - last);
    last = w.sent_ms;
  }
  return milliseconds(longest);
}

int WaitForMasterElsewhere(const Rig& rig, int old, milliseconds timeout) {
  int found = -1;
  WaitFor(
      [&] {
        auto masters = rig.Service("redis-master");
        if (!masters.ok()) return false;
        for (const HealthInstance& e : *masters) {
          const int k = rig.HostOf(e.node);
          if (e.Passing() && k != old && k >= 0) {
            found = k;
            return true;
          }
        }
        return false;
      },
      timeout, 10ms);
  return found;
}

}  // namespace resec::testing
