// What every rig scenario test needs (tests/rig/): starting a rig, loading
// its data, a writer and a prober, and the checks on what they saw. gtest
// assertions inside, so scenario tests read as their steps.
//
// Thread-safety: from the test's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "support/rig.h"
#include "support/traffic.h"

namespace resec::testing {

// A fresh rig's first convergence: three servers elect a leader, a client per
// host joins, the agents elect a master and register (the check TTL and
// lock-delay included); a minute covers a loaded 2-core machine.
inline constexpr auto kConverge = std::chrono::seconds(90);
// The data sets of issue #13: large enough that a full sync is slow, small
// enough to load in a second or two.
inline constexpr int64_t kKeys = 100'000;
inline constexpr size_t kValueBytes = 100;
// Redis' rdb-key-save-delay (microseconds per key, taken by the master's
// fork that streams a full sync): 200 us x 100k keys makes a full sync take
// 20 s or more, as gigabytes of data would.
inline constexpr char kSlowSyncDelayUs[] = "200";
// How often the prober writes to every Redis, and how long it waits for one:
// fine enough to see a window of a few tens of milliseconds; a live Redis
// answers a SET in well under a millisecond.
inline constexpr std::chrono::milliseconds kProbeInterval{10};
inline constexpr std::chrono::milliseconds kProbeTimeout{100};

// Starts the rig or fails the test with the reason (skips under
// RESEC_RIG_SKIP=1).
void StartRig(Rig& rig);
// Starts the rig and waits for its first master.
void StartConverged(Rig& rig, int* master);
// Loads kKeys keys into the master and waits until every Redis has them.
void LoadReplicated(Rig& rig, int master);
// Waits until `writer` has `n` more WAIT-acknowledged writes than now.
bool WaitForWaitAcks(const Writer& writer, int64_t n, std::chrono::milliseconds timeout);
// Whether host k's Redis is in a full sync (a replica loading its master's
// snapshot, or waiting for it).
bool InFullSync(const Rig& rig, int k);
// Stops the writer and checks the final master holds every write it
// acknowledged (with or without WAIT) and every loaded key.
void ExpectNothingLost(const Rig& rig, Writer& writer, int master, int64_t keys);
// The same for WAIT-acknowledged writes only: a master cut off from its
// replicas acknowledges plain writes no replica has until it fences itself,
// as any asynchronous replication does; a client that needs a write kept
// asks for WAIT. Returns the loss (plain acknowledged writes included).
WriteLoss ExpectNoWaitAckedWriteLost(const Rig& rig, Writer& writer, int master);
// The longest two-writable-masters window in the prober's rounds, in ms.
int64_t LongestDualWritableMs(Prober& prober, std::string* which = nullptr);
// A prober of every host, started once the master accepts its writes; the
// start-up rounds are dropped (not judged).
std::unique_ptr<Prober> StartProber(const Rig& rig, int master);
// The longest time between two writes the writer had acknowledged, among
// those sent after `after_ms` (since the writer's origin): how long clients
// could not write.
std::chrono::milliseconds LongestWriteGap(const Writer& writer, int64_t after_ms);
// Waits until Consul lists a passing master on a host other than `old`;
// returns that host, or -1.
int WaitForMasterElsewhere(const Rig& rig, int old, std::chrono::milliseconds timeout);

}  // namespace resec::testing
