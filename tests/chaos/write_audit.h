// What the writer's record says, for the chaos runner's invariants and
// figures: which acknowledged writes a Redis lacks (I3, I5) and how long the
// writer went without an acknowledged write around a fault (the write
// outage, per fault class in the summary).
//
// Times are the writer's send times in milliseconds since its origin; a write
// is acknowledged within its client timeouts of being sent, so the send time
// stands for it.
//
// Thread-safety: pure functions over a Writer (whose queries are
// thread-safe).
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "support/traffic.h"

namespace resec::chaos {

// The last write sent before `ms` (0 if none).
int64_t LastSeqSentBefore(const testing::Writer& writer, int64_t ms);

// The largest WAIT-acknowledged seq <= upto (0 if none).
int64_t LastWaitAckedAtOrBefore(const testing::Writer& writer, int64_t upto);

// Acknowledged writes in [from, upto] missing from `present`.
struct MissingWrites {
  std::vector<int64_t> wait_acked;  // WAIT said a replica had it
  std::vector<int64_t> acked_only;  // acknowledged, WAIT did not confirm a replica
};
MissingWrites FindMissing(const testing::Writer& writer, const std::set<int64_t>& present, int64_t from,
                          int64_t upto);

// The writer's view of a fault, between `from_ms` (the fault's start) and
// `to_ms` (the end of its episode).
struct WriteOutage {
  // From the last acknowledged write sent before the fault to the first sent
  // after its start: how long the fault itself stopped writes (a few ms when
  // it did not).
  int64_t at_fault_ms = 0;
  // The longest time between two consecutive acknowledged writes from the
  // last one before the fault until `to_ms` (to `to_ms` itself when writes
  // had not resumed by then).
  int64_t longest_ms = 0;
};
WriteOutage MeasureOutage(const testing::Writer& writer, int64_t from_ms, int64_t to_ms);

}  // namespace resec::chaos
