// DualMasterDetector: when two Redis servers took writes at the same time
// (invariant I1), from the prober's rounds (support/traffic.h).
//
// Each host's accepting run is a stretch of consecutive rounds in which its
// probe write was answered OK; it spans from the sending of its first
// accepted probe to the answer of its last one, the only times the prober
// knows the host was writable. Two runs of different hosts that overlap in
// time are two writable masters for the length of the overlap.
//
// Counting rounds instead (two hosts accepting probes of the same round)
// would call a clean hand-over a dual master whenever it completes within one
// round: the old master answers its probe just before its writes are paused,
// the new one answers a probe its thread sent a few milliseconds late, just
// after the promotion. The runs tell those apart, since the old master's last
// answer came before the new master's first probe was sent.
//
// Thread-safety: owned by one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "support/traffic.h"

namespace resec::chaos {

struct DualOverlap {
  int a = -1;  // hosts
  int b = -1;
  testing::Clock::time_point from;
  testing::Clock::time_point to;
  int episode = 0;  // the later-starting run's episode
};

class DualMasterDetector {
 public:
  explicit DualMasterDetector(int hosts);

  // The prober's rounds, in order; `episode` is the one current as they are
  // taken (a run keeps its first round's).
  void Add(const std::vector<testing::Prober::Round>& rounds, int episode);
  // Ends every run (the prober has stopped), so the last overlaps are found.
  void CloseAll();
  // Overlaps found since the last call; each pair of runs is reported once,
  // when the first of the two ends.
  std::vector<DualOverlap> TakeOverlaps();

 private:
  struct Run {
    int64_t id = 0;
    testing::Clock::time_point from;
    testing::Clock::time_point to;
    int64_t last_round = 0;
    int episode = 0;
  };
  void Close(int k);
  void Compare(int k, const Run& x, int j, const Run& y);

  std::vector<std::optional<Run>> open_;
  std::vector<std::deque<Run>> closed_;
  std::set<std::pair<int64_t, int64_t>> compared_;  // run ids (lower first)
  std::vector<DualOverlap> found_;
  int64_t next_id_ = 1;
};

}  // namespace resec::chaos
