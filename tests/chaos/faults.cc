#include "faults.h"

namespace resec::chaos {

std::string_view KindName(FaultKind k) {
  switch (k) {
    case FaultKind::kRedisRestart:
      return "redis-restart";
    case FaultKind::kRedisRestartEmpty:
      return "redis-restart-empty";
    case FaultKind::kAgentRestart:
      return "agent-restart";
    case FaultKind::kNodeRestart:
      return "node-restart";
    case FaultKind::kNodeRestartEmpty:
      return "node-restart-empty";
    case FaultKind::kRedisPause:
      return "redis-pause";
    case FaultKind::kAgentPause:
      return "agent-pause";
    case FaultKind::kConsulLeaderKill:
      return "consul-leader-kill";
    case FaultKind::kConsulRestart:
      return "consul-restart";
    case FaultKind::kPartition:
      return "partition";
  }
  return "?";
}

std::optional<FaultKind> ParseKind(std::string_view s) {
  for (FaultKind k : kAllKinds) {
    if (KindName(k) == s) return k;
  }
  return std::nullopt;
}

bool ImpairsAgent(FaultKind k) {
  return k == FaultKind::kAgentRestart || k == FaultKind::kNodeRestart || k == FaultKind::kNodeRestartEmpty ||
         k == FaultKind::kAgentPause;
}

bool LosesData(FaultKind k) { return k == FaultKind::kRedisRestartEmpty || k == FaultKind::kNodeRestartEmpty; }

bool IsConsulFault(FaultKind k) { return k == FaultKind::kConsulLeaderKill || k == FaultKind::kConsulRestart; }

FaultPlanner::FaultPlanner(PlannerOptions options) : options_(std::move(options)), rng_(options_.seed) {}

FaultDraw FaultPlanner::Next() {
  // Every draw consumes the same numbers in the same order, used or not.
  std::uniform_int_distribution<size_t> kind(0, options_.kinds.size() - 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  FaultDraw d;
  d.number = ++count_;
  d.kind = options_.kinds[kind(rng_)];
  d.target_master = unit(rng_) < 0.5;
  d.pick = unit(rng_);
  // Partitions and frozen agents get up to twice as long: a fault must
  // outlast Serf's failure detection (~5 s) or the check TTL (3 s) to cause a
  // failover rather than only fencing, and both outcomes are worth drawing.
  const bool longer = d.kind == FaultKind::kPartition || d.kind == FaultKind::kAgentPause;
  const int64_t lo = options_.min_duration.count();
  const int64_t hi = options_.max_duration.count() * (longer ? 2 : 1);
  d.duration = std::chrono::milliseconds(lo + static_cast<int64_t>(unit(rng_) * static_cast<double>(hi - lo)));
  d.overlap = unit(rng_) < options_.overlap;
  d.overlap_at = 0.2 + 0.6 * unit(rng_);
  return d;
}

}  // namespace resec::chaos
