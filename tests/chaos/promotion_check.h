// What a member that became the group's master must have been and must hold
// (the chaos runner's invariant I5): not in a full sync or loading when it
// was promoted, every key of the data set, and every write WAIT-acknowledged
// before it was last seen a replica (or before its Redis started).
//
// Thread-safety: stateless functions over thread-safe observers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "replication_watch.h"
#include "support/rig.h"
#include "support/traffic.h"

namespace resec::chaos {

struct PromotionVerdict {
  // false: it stopped being that master (or did not answer) before its
  // writes could be read; nothing was judged.
  bool judged = true;
  std::string why_not;
  std::vector<std::string> problems;  // empty: it holds everything
  int64_t wait_acked_checked = 0;
  int64_t keys = -1;  // key:* it holds (-1: not counted)
  // A sync INFO showed that its Redis log says finished before the promotion.
  std::string note;
};

// Host k's Redis run `run_id`, which became master: `before` is its last
// answer as a replica (none: master since it started), `cutoff_ms` (writer
// time) the moment it was last seen not yet master, `verified_upto` the
// last write verified on a converged master, `keys` the data set's size.
PromotionVerdict CheckPromotion(const testing::Rig& rig, const testing::Writer& writer, const ReplicationWatch& watch,
                                int k, const std::string& run_id, const std::optional<RedisSample>& before,
                                int64_t cutoff_ms, int64_t verified_upto, int64_t keys);

// Whether the last promotion in a Redis log (REPLICAOF NO ONE: "MASTER MODE
// enabled") came in the middle of a full sync: a "Full resync from master"
// with no "Finished with success" between it and the promotion. nullopt when
// the log shows no promotion.
std::optional<bool> PromotedMidFullSync(const std::filesystem::path& log);

}  // namespace resec::chaos
