#include "write_audit.h"

#include <algorithm>

namespace resec::chaos {

using testing::Writer;

int64_t LastSeqSentBefore(const Writer& writer, int64_t ms) {
  // Send times grow with the seq (one writer thread): binary search.
  int64_t lo = 0, hi = writer.last_seq();
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (writer.Get(mid).sent_ms < ms) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

int64_t LastWaitAckedAtOrBefore(const Writer& writer, int64_t upto) {
  for (int64_t s = std::min(upto, writer.last_seq()); s >= 1; --s) {
    if (writer.Get(s).wait_acked) return s;
  }
  return 0;
}

MissingWrites FindMissing(const Writer& writer, const std::set<int64_t>& present, int64_t from, int64_t upto) {
  MissingWrites out;
  for (int64_t s = std::max<int64_t>(from, 1); s <= std::min(upto, writer.last_seq()); ++s) {
    const Writer::Write w = writer.Get(s);
    if (!w.acked || present.contains(s)) continue;
    (w.wait_acked ? out.wait_acked : out.acked_only).push_back(s);
  }
  return out;
}

WriteOutage MeasureOutage(const Writer& writer, int64_t from_ms, int64_t to_ms) {
  WriteOutage out;
  const int64_t last = writer.last_seq();
  int64_t s = LastSeqSentBefore(writer, from_ms);
  while (s >= 1 && !writer.Get(s).acked) --s;
  // Before the first acknowledged write of the run: measure from the fault.
  int64_t prev_ms = s >= 1 ? writer.Get(s).sent_ms : from_ms;
  bool first_after = true;
  for (++s; s <= last; ++s) {
    const Writer::Write w = writer.Get(s);
    if (w.sent_ms > to_ms) break;
    if (!w.acked) continue;
    const int64_t gap = w.sent_ms - prev_ms;
    if (first_after && w.sent_ms >= from_ms) {
      out.at_fault_ms = gap;
      first_after = false;
    }
    out.longest_ms = std::max(out.longest_ms, gap);
    prev_ms = w.sent_ms;
  }
  if (first_after) out.at_fault_ms = to_ms - prev_ms;  // writes never resumed
  out.longest_ms = std::max(out.longest_ms, to_ms - prev_ms);
  return out;
}

}  // namespace resec::chaos
