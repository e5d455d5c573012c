#include "promotion_check.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "support/calls.h"
#include "write_audit.h"

namespace resec::chaos {

using std::chrono::milliseconds;
using testing::Clock;

namespace {

// The tail of a Redis log read to tell whether a promotion interrupted a sync.
constexpr std::streamoff kRedisLogTail = 512 * 1024;

}  // namespace

std::optional<bool> PromotedMidFullSync(const std::filesystem::path& log) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(std::max<std::streamoff>(0, size - kRedisLogTail));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(std::move(line));
  size_t i = lines.size();
  while (i > 0 && lines[i - 1].find("MASTER MODE enabled") == std::string::npos) --i;
  if (i == 0) return std::nullopt;
  for (--i; i > 0; --i) {
    const std::string& l = lines[i - 1];
    if (l.find("Finished with success") != std::string::npos ||
        l.find("Successful partial resynchronization") != std::string::npos ||
        l.find("MASTER MODE enabled") != std::string::npos || l.starts_with("=== start")) {
      return false;
    }
    if (l.find("Full resync from master") != std::string::npos) return true;
  }
  return false;
}

PromotionVerdict CheckPromotion(const testing::Rig& rig, const testing::Writer& writer, const ReplicationWatch& watch,
                                int k, const std::string& run_id, const std::optional<RedisSample>& before,
                                int64_t cutoff_ms, int64_t verified_upto, int64_t keys) {
  PromotionVerdict v;
  // In a full sync or loading when promoted: INFO says so in its last answer
  // as a replica; the Redis log tells a sync that finished between that
  // answer and the promotion from one the promotion cut short.
  if (before && (before->syncing || before->loading)) {
    const std::string state = before->loading ? "loading" : "in a full sync";
    if (PromotedMidFullSync(rig.redis_log(k)).value_or(true)) {
      v.problems.push_back(
          "was " + state + " " +
          std::to_string(std::chrono::duration_cast<milliseconds>(Clock::now() - before->at).count()) +
          " ms before it was seen master");
    } else {
      v.note = state + " at its last look as a replica, but its log shows the sync finished first";
    }
  }
  // Every write WAIT-acknowledged before the cutoff: the writer sends a write
  // only once the previous one's WAIT has answered, so all but the last write
  // sent before then had their answer. Checked from the last one verified on
  // a converged master on: a replica holds a prefix of its master's stream,
  // so the tail tells.
  const int64_t upto = LastSeqSentBefore(writer, cutoff_ms) - 1;
  const int64_t from = std::max<int64_t>(1, std::min(LastWaitAckedAtOrBefore(writer, verified_upto), upto));
  if (upto > 0) {
    const int64_t span = writer.last_seq() - from + 16;
    auto r = rig.Redis(k, {"LRANGE", testing::kSeqKey, std::to_string(-span), "-1"}, std::chrono::seconds(10));
    const auto run = watch.CurrentRun(k);
    if (!r.ok() || !run || run->run_id != run_id || run->latest.role != "master") {
      v.judged = false;
      v.why_not = r.ok() ? "it is no longer that master" : r.status().message();
      return v;
    }
    std::set<int64_t> present;
    for (int64_t s : testing::IntegerLines(*r)) present.insert(s);
    MissingWrites missing = FindMissing(writer, present, from, upto);
    if (!missing.wait_acked.empty()) {
      // The new master takes writes while we read: those appended between
      // `span` and the read push the oldest of the range out of the tail.
      // Before calling anything lost, the whole list decides.
      auto whole = rig.Redis(k, {"LRANGE", testing::kSeqKey, "0", "-1"}, std::chrono::seconds(60));
      if (whole.ok()) {
        for (int64_t s : testing::IntegerLines(*whole)) present.insert(s);
        missing = FindMissing(writer, present, from, upto);
      }
    }
    for (int64_t s = from; s <= upto; ++s) v.wait_acked_checked += writer.Get(s).wait_acked ? 1 : 0;
    if (!missing.wait_acked.empty()) {
      v.problems.push_back("lacks " + std::to_string(missing.wait_acked.size()) + " of the " +
                           std::to_string(v.wait_acked_checked) + " WAIT-acknowledged writes " +
                           std::to_string(from) + ".." + std::to_string(upto) + " (first missing " +
                           std::to_string(missing.wait_acked.front()) + ")");
    }
  }
  if (keys > 0) {
    v.keys = rig.CountKeys(k);
    if (v.keys >= 0 && v.keys < keys) {
      v.problems.push_back("holds " + std::to_string(v.keys) + " of the " + std::to_string(keys) + " keys");
    }
  }
  return v;
}

}  // namespace resec::chaos
