#include "faults.h"

#include <algorithm>

namespace resec::chaos {
namespace {

using std::chrono::milliseconds;

// How long a drawn duration may be, relative to --fault-ms MIN:MAX.
enum class Span {
  kNormal,  // MIN..MAX
  // MIN..2 x MAX: a cut, a frozen agent or host must sometimes outlast Serf's
  // failure detection (a few seconds) or the check TTL (6 s by default) to
  // cause a failover rather than only fencing; both outcomes are worth drawing.
  kLong,
  // kFreezeMin..kFreezeMax whatever --fault-ms says: longer than any write
  // pause an agent sets (the new holder's CLIENT PAUSE 10000 on the old master).
  kFreeze,
};
constexpr milliseconds kFreezeMin{12000};
constexpr milliseconds kFreezeMax{30000};

struct KindRow {
  FaultKind kind;
  std::string_view name;
  Target target;
  unsigned resources;
  bool impairs_agent;
  // Restarts Redis: without its data when the deployment keeps none.
  bool restarts_redis;
  bool wipes_redis;  // deletes the data whatever the deployment
  bool runs_alone;
  bool may_lose_unreplicated;
  Span span;
};

constexpr unsigned kHostAll = kUsesRedis | kUsesAgent | kUsesConsulClient | kUsesLink | kUsesClock;

// One row per kind. The resources of the multi-host and server faults do not
// matter: they run alone or on no host.
constexpr KindRow kKinds[] = {
    {FaultKind::kRedisRestart, "redis-restart", Target::kHost, kUsesRedis, false, true, false, false, true,
     Span::kNormal},
    {FaultKind::kRedisRestartEmpty, "redis-restart-empty", Target::kHost, kUsesRedis, false, true, true, true, true,
     Span::kNormal},
    {FaultKind::kRedisKillFenced, "redis-kill-fenced", Target::kHost, kUsesRedis, false, true, false, false, true,
     Span::kNormal},
    {FaultKind::kRedisPause, "redis-pause", Target::kHost, kUsesRedis, false, false, false, false, true,
     Span::kNormal},
    {FaultKind::kSlowRdbLoad, "slow-rdb-load", Target::kHost, kUsesRedis, false, false, false, false, true,
     Span::kNormal},
    {FaultKind::kFullResync, "full-resync", Target::kReplica, kUsesRedis, false, true, true, true, false,
     Span::kNormal},
    {FaultKind::kRollingRestart, "rolling-restart", Target::kAllHosts, kHostAll, true, true, false, true, false,
     Span::kNormal},
    {FaultKind::kAgentRestart, "agent-restart", Target::kHost, kUsesAgent, true, false, false, false, false,
     Span::kNormal},
    {FaultKind::kAgentPause, "agent-pause", Target::kHost, kUsesAgent, true, false, false, false, false,
     Span::kLong},
    {FaultKind::kAgentFreezeLong, "agent-freeze-long", Target::kHost, kUsesAgent, true, false, false, false, false,
     Span::kFreeze},
    {FaultKind::kClockStep, "clock-step", Target::kHost, kUsesClock, false, false, false, false, false,
     Span::kNormal},
    {FaultKind::kSwitchover, "switchover", Target::kHost, kHostAll, false, false, false, true, false, Span::kNormal},
    {FaultKind::kHostCrash, "host-crash", Target::kHost, kHostAll, true, true, false, false, true, Span::kNormal},
    {FaultKind::kHostCrashEmpty, "host-crash-empty", Target::kHost, kHostAll, true, true, true, true, true,
     Span::kNormal},
    {FaultKind::kHostFreeze, "host-freeze", Target::kHost, kUsesRedis | kUsesAgent | kUsesConsulClient, true, false,
     false, false, true, Span::kLong},
    {FaultKind::kHostPartition, "host-partition", Target::kHost, kUsesLink, false, false, false, false, true,
     Span::kLong},
    {FaultKind::kOneWayDrop, "one-way-drop", Target::kHost, kUsesLink, false, false, false, false, true, Span::kLong},
    {FaultKind::kConsulClientRestart, "consul-client-restart", Target::kHost, kUsesConsulClient, false, false, false,
     false, false, Span::kNormal},
    {FaultKind::kConsulServerKill, "consul-server-kill", Target::kServer, 0, false, false, false, false, false,
     Span::kNormal},
    {FaultKind::kConsulLeaderKill, "consul-leader-kill", Target::kServer, 0, false, false, false, false, false,
     Span::kNormal},
    {FaultKind::kConsulRollingRestart, "consul-rolling-restart", Target::kAllServers, 0, false, false, false, true,
     false, Span::kNormal},
};

const KindRow& Row(FaultKind k) {
  for (const KindRow& r : kKinds) {
    if (r.kind == k) return r;
  }
  return kKinds[0];
}

}  // namespace

std::string_view KindName(FaultKind k) { return Row(k).name; }

std::optional<FaultKind> ParseKind(std::string_view s) {
  for (const KindRow& r : kKinds) {
    if (r.name == s) return r.kind;
  }
  return std::nullopt;
}

Target TargetOf(FaultKind k) { return Row(k).target; }
unsigned Resources(FaultKind k) { return Row(k).resources; }
bool ImpairsAgent(FaultKind k) { return Row(k).impairs_agent; }

bool LosesData(FaultKind k, bool redis_keeps_data) {
  const KindRow& r = Row(k);
  return r.wipes_redis || (r.restarts_redis && !redis_keeps_data && r.target != Target::kAllHosts);
}

bool RunsAlone(FaultKind k, bool redis_keeps_data) { return Row(k).runs_alone || LosesData(k, redis_keeps_data); }

bool MayLoseUnreplicatedWrites(FaultKind k) { return Row(k).may_lose_unreplicated; }

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
  d.variant = unit(rng_);
  d.variant2 = unit(rng_);
  int64_t lo = options_.min_duration.count();
  int64_t hi = options_.max_duration.count();
  switch (Row(d.kind).span) {
    case Span::kNormal: break;
    case Span::kLong: hi *= 2; break;
    case Span::kFreeze:
      lo = kFreezeMin.count();
      hi = kFreezeMax.count();
      break;
  }
  d.duration = milliseconds(lo + static_cast<int64_t>(unit(rng_) * static_cast<double>(hi - lo)));
  d.overlap = unit(rng_) < options_.overlap;
  d.overlap_at = 0.2 + 0.6 * unit(rng_);
  return d;
}

}  // namespace resec::chaos
