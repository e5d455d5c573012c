#include "dual_master.h"

#include <algorithm>

namespace resec::chaos {

using testing::Clock;

DualMasterDetector::DualMasterDetector(int hosts)
    : open_(static_cast<size_t>(hosts)), closed_(static_cast<size_t>(hosts)) {}

void DualMasterDetector::Add(const std::vector<testing::Prober::Round>& rounds, int episode) {
  for (const testing::Prober::Round& r : rounds) {
    for (int k = 0; k < static_cast<int>(open_.size()); ++k) {
      std::optional<Run>& run = open_[static_cast<size_t>(k)];
      const auto when = r.when.find(k);
      if (when == r.when.end()) {  // not accepted: the run, if any, is over
        if (run) Close(k);
        continue;
      }
      if (run && run->last_round + 1 != r.index) Close(k);  // a gap: a new run
      if (!run) {
        run = Run{.id = next_id_++, .from = when->second.sent, .to = when->second.answered, .last_round = r.index,
                  .episode = episode};
      } else {
        run->to = when->second.answered;
        run->last_round = r.index;
      }
    }
  }
}

void DualMasterDetector::CloseAll() {
  for (int k = 0; k < static_cast<int>(open_.size()); ++k) {
    if (open_[static_cast<size_t>(k)]) Close(k);
  }
}

std::vector<DualOverlap> DualMasterDetector::TakeOverlaps() {
  std::vector<DualOverlap> out;
  out.swap(found_);
  return out;
}

void DualMasterDetector::Compare(int k, const Run& x, int j, const Run& y) {
  const auto key = std::minmax(x.id, y.id);
  if (!compared_.insert({key.first, key.second}).second) return;
  const Clock::time_point from = std::max(x.from, y.from);
  const Clock::time_point to = std::min(x.to, y.to);
  if (from >= to) return;
  found_.push_back({.a = std::min(k, j), .b = std::max(k, j), .from = from, .to = to,
                    .episode = std::max(x.episode, y.episode)});
}

void DualMasterDetector::Close(int k) {
  const Run x = *open_[static_cast<size_t>(k)];
  open_[static_cast<size_t>(k)].reset();
  // Runs that are still open are compared as far as they have got: they go
  // on past x's end, which is all that can overlap x.
  Clock::time_point oldest_open = Clock::time_point::max();
  for (int j = 0; j < static_cast<int>(open_.size()); ++j) {
    if (j == k) continue;
    for (const Run& y : closed_[static_cast<size_t>(j)]) Compare(k, x, j, y);
    if (const auto& y = open_[static_cast<size_t>(j)]) {
      Compare(k, x, j, *y);
      oldest_open = std::min(oldest_open, y->from);
    }
  }
  closed_[static_cast<size_t>(k)].push_back(x);
  // A closed run can only overlap runs that started before it ended: once
  // every open run started later, nothing new can meet it.
  for (auto& list : closed_) {
    while (!list.empty() && list.front().to < oldest_open) {
      for (auto it = compared_.begin(); it != compared_.end();) {
        it = (it->first == list.front().id || it->second == list.front().id) ? compared_.erase(it) : std::next(it);
      }
      list.pop_front();
    }
  }
}

}  // namespace resec::chaos
