#include "injector.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>

#include "convergence.h"
#include "support/calls.h"
#include "support/netns.h"

namespace resec::chaos {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Clock;
using testing::ExitStatus;
using testing::HostProcess;
using testing::RedisStart;
using testing::RigNetwork;

namespace {

// A restarted or resumed agent needs a moment (start, first INFO, first
// decision) before it can fence its Redis: I1 still charges a window to the
// dead-agent bound this long after the agent came back. The rig counts it as
// back once its state server answers, and it reads its Redis' role at once.
constexpr seconds kAgentComebackGrace{1};
// The agent's TILT guard (docs/failover.md): a loop stalled for more than
// 2 s, or a clock that jumped as far, makes no promotion for 5 s. An agent
// that wakes up in it cannot take over, so the next fault waits until the
// cool-down is over (or it would be a second fault at once).
constexpr milliseconds kTiltThreshold{1500};  // a little under 2 s: a pause that may have tripped it
constexpr milliseconds kTiltCoolDown{5200};   // 5 s and a scheduling margin
// A waiting step looks at the group this often (each look is a few local
// requests over the management path).
constexpr milliseconds kLookEvery{100};
// A planned stop of an agent: the master's hands over first (up to
// SWITCHOVER_TIMEOUT, 5 s, plus its Consul round trips); systemd's
// TimeoutStopSec is 15 s. Past 30 s the rig kills it, and I4 reports it.
constexpr seconds kAgentStopTimeout{30};
// redis-server's SIGTERM shutdown: a master waits up to shutdown-timeout
// (10 s) for its replicas, then saves its snapshot when configured to.
constexpr seconds kRedisStopTimeout{20};
// A replica restarted empty starts its full sync once its agent points it at
// the master and Redis' repl-diskless-sync-delay (5 s) has passed.
constexpr seconds kSyncStartTimeout{30};
// A restarted Consul server rejoins (retry-join every 30 s at the latest,
// but it starts with one), the cluster agrees on a leader within seconds, and
// autopilot calls it healthy once it has been stable for 10 s.
constexpr seconds kServerRejoinTimeout{90};
constexpr seconds kServerStabilization{10};
// How far a clock-step fault moves an agent's wall clock (forwards or back,
// as NTP steps a clock): beyond TILT's 2 s, beyond the session TTL (15 s),
// an hour, a day.
constexpr seconds kClockSteps[] = {seconds(5), seconds(60), seconds(3600), seconds(86400)};

std::string Field(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

// A one-step heal: done when the step worked.
StatusOr<bool> Healed(const Status& st) {
  if (!st.ok()) return st;
  return true;
}

}  // namespace

FaultInjector::FaultInjector(testing::Rig& rig, InjectorOptions options, Report report, Log log)
    : rig_(rig),
      options_(options),
      report_(std::move(report)),
      log_(std::move(log)),
      hosts_(static_cast<size_t>(rig.hosts())),
      servers_expected_(RigNetwork::kServers),
      bridge_ip_(rig.network().bridge_ip()) {}

std::string FaultInjector::TargetName(const ActiveFault& f) const {
  switch (TargetOf(f.kind)) {
    case Target::kHost:
    case Target::kReplica: return rig_.host(f.target).name;
    case Target::kServer: return rig_.server(f.target).name;
    case Target::kAllHosts: return "every host";
    case Target::kAllServers: return "every server";
  }
  return "?";
}

bool FaultInjector::AgentDownDuring(int k, Tp from, Tp to) const {
  for (const auto& [a, b] : host(k).agent_down) {
    if (a <= to && (b == Tp::max() || b + kAgentComebackGrace >= from)) return true;
  }
  return false;
}

void FaultInjector::MarkAgentDown(int k) { host(k).agent_down.emplace_back(Clock::now(), Tp::max()); }

void FaultInjector::MarkAgentBack(int k) {
  auto& down = host(k).agent_down;
  if (!down.empty() && down.back().second == Tp::max()) down.back().second = Clock::now();
}

std::vector<int> FaultInjector::Others(int master, double pick) const {
  std::vector<int> others;
  for (int k = 0; k < rig_.hosts(); ++k) {
    if (k != master) others.push_back(k);
  }
  if (others.empty()) return others;
  const auto first = std::min(others.size() - 1, static_cast<size_t>(pick * static_cast<double>(others.size())));
  std::rotate(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(first), others.end());
  return others;
}

std::vector<std::string> FaultInjector::DropPeers(int k, bool servers_only) const {
  std::vector<std::string> peers;
  for (int i = 0; i < RigNetwork::kServers; ++i) peers.push_back(rig_.server(i).ip);
  if (servers_only) return peers;
  for (int j = 0; j < rig_.hosts(); ++j) {
    if (j != k) peers.push_back(rig_.host(j).ip);
  }
  // The bridge's address: the group's clients (the writer) live behind it.
  peers.push_back(bridge_ip_);
  return peers;
}

bool FaultInjector::Synced(int k) const {
  auto info = rig_.Info(k, "replication");
  return Field(info, "role") == "slave" && Field(info, "master_link_status") == "up" &&
         Field(info, "master_sync_in_progress") == "0" && (options_.keys == 0 || rig_.CountKeys(k) >= options_.keys);
}

void FaultInjector::SetSaveDelay(int us) {
  for (int k = 0; k < rig_.hosts(); ++k) {
    // A host that is down gets the default when its Redis starts again.
    (void)rig_.Redis(k, {"CONFIG", "SET", "rdb-key-save-delay", std::to_string(us)});
  }
}

Status FaultInjector::StartRedis(int k, const RedisStart& how, const std::string& why) {
  HostWatch& h = host(k);
  h.redis_back = Clock::now();
  h.redis_back_how = why;
  if (Status st = rig_.StartRedis(k, how); !st.ok()) return st;
  h.redis_expected = true;
  return Status::Ok();
}

void FaultInjector::RejoinConsul(int k) {
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    // Best effort: a server may be down for a fault of its own.
    (void)testing::InNetns(rig_.host(k).ns, [&] {
      return testing::HttpCall("PUT", "127.0.0.1", testing::Rig::kConsulHttpPort,
                               "/v1/agent/join/" + rig_.server(i).ip, "", {}, seconds(2));
    });
  }
}

void FaultInjector::RunSwitchover(ActiveFault& f) {
  // As an operator would: on the master's host, with its agent's settings.
  const int on = f.master >= 0 ? f.master : 0;
  const testing::CommandResult r = rig_.RunResec(on, {"switchover"});
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (const auto nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
  f.note += (f.note.empty() ? "" : "; ") + std::string("resec switchover: ") + r.exit.ToString() + ": " + out;
  log_(rig_.host(on).name + " resec switchover: " + r.exit.ToString() + ": " + out);
}

// ------------------------------------------------------------------ inject

Status FaultInjector::Inject(ActiveFault& f) {
  const int k = f.target;
  switch (f.kind) {
    case FaultKind::kRedisRestart:
    case FaultKind::kRedisRestartEmpty:
    case FaultKind::kRedisKillFenced:
      host(k).redis_expected = false;
      rig_.KillRedis(k);
      if (f.kind == FaultKind::kRedisRestartEmpty) rig_.WipeRedis(k);
      return Status::Ok();
    case FaultKind::kRedisPause:
      if (!rig_.FreezeRedis(k)) return FailedPrecondition("redis-server is not running");
      return Status::Ok();
    case FaultKind::kSlowRdbLoad: {
      // A snapshot of everything to load; a kill, not a shutdown, so what it
      // acknowledged after the snapshot is what a crash loses.
      auto saved = rig_.Redis(k, {"SAVE"}, seconds(60));
      if (!saved.ok()) f.note = "SAVE failed: " + saved.status().message();
      host(k).redis_expected = false;
      rig_.KillRedis(k);
      return Status::Ok();
    }
    case FaultKind::kFullResync:
      // The master streams the snapshot slowly, as gigabytes would take.
      SetSaveDelay(options_.slow_us);
      host(k).redis_expected = false;
      rig_.KillRedis(k);
      rig_.WipeRedis(k);
      f.heal_at = Clock::now();  // start it again at once: the fault is the sync
      return Status::Ok();
    case FaultKind::kRollingRestart:
      // Replicas first, the master last, as a rolling upgrade goes.
      f.order = Others(f.master, f.draw.pick);
      if (f.master >= 0) f.order.push_back(f.master);
      f.heal_at = Clock::now();
      return Status::Ok();
    case FaultKind::kAgentRestart:
      host(k).agent_expected = false;
      rig_.KillAgent(k);
      MarkAgentDown(k);
      return Status::Ok();
    case FaultKind::kAgentPause:
    case FaultKind::kAgentFreezeLong:
      MarkAgentDown(k);
      if (!rig_.FreezeAgent(k)) return FailedPrecondition("the agent is not running");
      return Status::Ok();
    case FaultKind::kClockStep: {
      // The wall clock only: the rig's libfaketime cannot step a monotonic
      // clock without breaking the agent's timed waits (rig.h), and a real
      // monotonic clock never steps. Back to the true time at the heal, as
      // NTP would step it again.
      const size_t n = std::size(kClockSteps);
      const seconds step = kClockSteps[std::min(n - 1, static_cast<size_t>(f.draw.variant * static_cast<double>(n)))];
      host(k).clock_offset = f.draw.variant2 < 0.5 ? -step : step;
      f.note = "wall clock " + std::string(step.count() > 0 && f.draw.variant2 < 0.5 ? "-" : "+") +
               std::to_string(step.count()) + " s";
      return rig_.StepAgentClock(k, host(k).clock_offset);
    }
    case FaultKind::kSwitchover:
      if (f.draw.variant < 0.5 || rig_.hosts() < 2) {
        f.phase = -1;  // a plain switchover under writes
        RunSwitchover(f);
        f.heal_at = Clock::now();
        return Status::Ok();
      }
      // While a replica full-syncs: restart one empty, slowly fed.
      f.helper = Others(f.master, f.draw.pick).front();
      f.note = rig_.host(f.helper).name + " restarted empty to full-sync first";
      SetSaveDelay(options_.slow_us);
      host(f.helper).redis_expected = false;
      rig_.KillRedis(f.helper);
      rig_.WipeRedis(f.helper);
      f.heal_at = Clock::now();
      return Status::Ok();
    case FaultKind::kHostCrash:
    case FaultKind::kHostCrashEmpty: {
      HostWatch& h = host(k);
      h.agent_expected = h.redis_expected = h.consul_expected = false;
      rig_.CrashHost(k);
      if (f.kind == FaultKind::kHostCrashEmpty) rig_.WipeRedis(k);
      MarkAgentDown(k);
      return Status::Ok();
    }
    case FaultKind::kHostFreeze:
      MarkAgentDown(k);
      return rig_.FreezeHost(k);
    case FaultKind::kHostPartition:
      host(k).cut = true;
      return rig_.PartitionHost(k);
    case FaultKind::kOneWayDrop: {
      const bool inbound = f.draw.variant < 0.5;
      const bool servers_only = f.draw.variant2 < 0.5;
      f.note = std::string(inbound ? "drops what it receives from " : "drops what it sends to ") +
               (servers_only ? "the Consul servers" : "everyone");
      host(k).cut = true;
      for (const std::string& ip : DropPeers(k, servers_only)) {
        if (Status st = inbound ? rig_.DropFrom(k, ip) : rig_.DropTo(k, ip); !st.ok()) return st;
      }
      return Status::Ok();
    }
    case FaultKind::kConsulClientRestart: {
      // systemctl stop consul (SIGTERM: a client leaves the cluster) or a
      // crash of the client (SIGKILL: the servers declare it failed).
      const bool graceful = f.draw.variant < 0.5;
      f.note = graceful ? "SIGTERM (leaves)" : "SIGKILL";
      host(k).consul_expected = false;
      testing::ChildProcess& consul = rig_.Process(k, HostProcess::kConsul);
      if (graceful) {
        consul.Stop(seconds(10));
      } else {
        consul.Kill();
      }
      return Status::Ok();
    }
    case FaultKind::kConsulServerKill:
    case FaultKind::kConsulLeaderKill:
      server_expected(k) = false;
      rig_.KillConsulServer(k);
      return Status::Ok();
    case FaultKind::kConsulRollingRestart:
      for (int i = 0; i < RigNetwork::kServers; ++i) f.order.push_back(i);
      std::rotate(f.order.begin(),
                  f.order.begin() + std::min(RigNetwork::kServers - 1,
                                             static_cast<int>(f.draw.pick * RigNetwork::kServers)),
                  f.order.end());
      f.heal_at = Clock::now();
      return Status::Ok();
  }
  return Internal("unknown fault kind");
}

// ------------------------------------------------------------------ heal

Status FaultInjector::Advance(ActiveFault& f) {
  const int k = f.target;
  const Tp now = Clock::now();
  if (now < f.next_look) return Status::Ok();
  f.next_look = now + kLookEvery;
  StatusOr<bool> done = true;
  switch (f.kind) {
    case FaultKind::kRedisRestart:
      done = Healed(StartRedis(k, {}, "restarted"));
      break;
    case FaultKind::kRedisRestartEmpty:
      done = Healed(StartRedis(k, {}, "restarted empty"));
      break;
    case FaultKind::kRedisKillFenced:
      // The start-fenced configuration docs/failover.md recommends (compose's
      // Redis has it anyway).
      done = Healed(StartRedis(k, {.extra_args = {"--min-replicas-to-write", "1"}}, "restarted fenced"));
      break;
    case FaultKind::kRedisPause:
      host(k).redis_back = now;
      host(k).redis_back_how = "resumed (SIGCONT)";
      if (!rig_.ThawRedis(k)) done = FailedPrecondition("redis-server is gone");
      break;
    case FaultKind::kSlowRdbLoad:
      done = StepSlowLoad(f);
      break;
    case FaultKind::kFullResync:
      done = StepFullResync(f);
      break;
    case FaultKind::kRollingRestart:
      done = StepRollingRestart(f);
      break;
    case FaultKind::kAgentRestart:
      if (Status st = rig_.StartAgent(k); !st.ok()) {
        done = st;
        break;
      }
      host(k).agent_expected = true;
      MarkAgentBack(k);
      break;
    case FaultKind::kAgentPause:
    case FaultKind::kAgentFreezeLong:
      if (!rig_.ThawAgent(k)) {
        done = FailedPrecondition("the agent is gone");
        break;
      }
      MarkAgentBack(k);
      if (f.draw.duration >= kTiltThreshold) host(k).tilt_until = Clock::now() + kTiltCoolDown;
      break;
    case FaultKind::kClockStep:
      host(k).clock_offset = seconds(0);
      if (Status st = rig_.StepAgentClock(k, seconds(0)); !st.ok()) done = st;
      break;
    case FaultKind::kSwitchover:
      done = f.phase < 0 ? StatusOr<bool>(true) : StepSwitchover(f);
      break;
    case FaultKind::kHostCrash:
    case FaultKind::kHostCrashEmpty: {
      // Booted as its init system would (rig.h): Consul client and Redis,
      // then resec in the example's order.
      HostWatch& h = host(k);
      h.redis_back = now;
      h.redis_back_how = f.kind == FaultKind::kHostCrash ? "booted with its host" : "booted empty with its host";
      if (Status st = rig_.StartHost(k); !st.ok()) {
        done = st;
        break;
      }
      h.agent_expected = h.redis_expected = h.consul_expected = true;
      MarkAgentBack(k);
      break;
    }
    case FaultKind::kHostFreeze:
      rig_.ThawHost(k);
      host(k).redis_back = now;
      host(k).redis_back_how = "thawed with its host";
      MarkAgentBack(k);
      if (f.draw.duration >= kTiltThreshold) host(k).tilt_until = Clock::now() + kTiltCoolDown;
      RejoinConsul(k);
      break;
    case FaultKind::kHostPartition:
      if (Status st = rig_.HealHost(k); !st.ok()) {
        done = st;
        break;
      }
      host(k).cut = false;
      RejoinConsul(k);
      break;
    case FaultKind::kOneWayDrop:
      if (Status st = rig_.ClearDrops(k); !st.ok()) {
        done = st;
        break;
      }
      host(k).cut = false;
      RejoinConsul(k);
      break;
    case FaultKind::kConsulClientRestart:
      if (Status st = rig_.StartConsulClient(k); !st.ok()) {
        done = st;
        break;
      }
      host(k).consul_expected = true;
      break;
    case FaultKind::kConsulServerKill:
    case FaultKind::kConsulLeaderKill:
      if (Status st = rig_.StartConsulServer(k); !st.ok()) {
        done = st;
        break;
      }
      server_expected(k) = true;
      break;
    case FaultKind::kConsulRollingRestart:
      done = StepServerRollingRestart(f);
      break;
  }
  if (!done.ok()) return done.status();
  if (*done) f.healed = Clock::now();
  return Status::Ok();
}

StatusOr<bool> FaultInjector::StepSlowLoad(ActiveFault& f) {
  const int k = f.target;
  if (f.phase == 0) {
    // key-load-delay: microseconds per key while loading the snapshot, as a
    // large data set takes; the rig returns once Redis answers (LOADING).
    if (Status st = StartRedis(k, {.extra_args = {"--key-load-delay", std::to_string(options_.slow_us)},
                                   .wait_loaded = false},
                               "restarted, loading slowly");
        !st.ok()) {
      return st;
    }
    f.phase = 1;
    f.deadline = Clock::now() + options_.slow_bound;
    return false;
  }
  auto pong = rig_.Redis(k, {"PING"}, milliseconds(500));
  if (!pong.ok() || *pong != "PONG") {
    if (Clock::now() > f.deadline) return DeadlineExceeded("Redis did not finish loading its snapshot");
    return false;
  }
  // Loaded: later loads (a full sync into it) go at full speed again.
  (void)rig_.Redis(k, {"CONFIG", "SET", "key-load-delay", "0"});
  log_(rig_.host(k).name + " loaded its snapshot");
  return true;
}

StatusOr<bool> FaultInjector::StepFullResync(ActiveFault& f) {
  const int k = f.target;
  if (f.phase == 0) {
    if (Status st = StartRedis(k, {}, "restarted empty for a full sync"); !st.ok()) return st;
    f.phase = 1;
    f.deadline = Clock::now() + options_.slow_bound;
    return false;
  }
  if (!Synced(k)) {
    if (Clock::now() > f.deadline) {
      SetSaveDelay(0);
      return DeadlineExceeded("the full sync did not finish");
    }
    return false;
  }
  SetSaveDelay(0);
  log_(rig_.host(k).name + " finished its full sync");
  return true;
}

StatusOr<bool> FaultInjector::StepSwitchover(ActiveFault& f) {
  const int h = f.helper;
  switch (f.phase) {
    case 0:
      if (Status st = StartRedis(h, {}, "restarted empty for a full sync"); !st.ok()) return st;
      f.phase = 1;
      f.deadline = Clock::now() + kSyncStartTimeout;
      return false;
    case 1: {
      auto info = rig_.Info(h, "replication");
      const bool syncing = Field(info, "role") == "slave" && Field(info, "master_sync_in_progress") == "1";
      if (!syncing && Clock::now() < f.deadline) return false;
      if (!syncing) f.note += "; no full sync seen on " + rig_.host(h).name + " before the switchover";
      RunSwitchover(f);
      f.phase = 2;
      f.deadline = Clock::now() + options_.slow_bound;
      return false;
    }
    default:
      if (!Synced(h)) {
        if (Clock::now() > f.deadline) {
          SetSaveDelay(0);
          return DeadlineExceeded(rig_.host(h).name + "'s full sync did not finish");
        }
        return false;
      }
      SetSaveDelay(0);
      log_(rig_.host(h).name + " finished its full sync");
      return true;
  }
}

StatusOr<bool> FaultInjector::StepRollingRestart(ActiveFault& f) {
  if (f.step >= f.order.size()) return true;
  const int k = f.order[f.step];
  if (f.phase == 0) {
    HostWatch& h = host(k);
    // systemctl restart resec redis-server, as a rolling upgrade does it: a
    // planned stop of the agent (the master's hands over first), a clean
    // shutdown of Redis, both started again.
    h.agent_expected = false;
    MarkAgentDown(k);
    const ExitStatus exit = rig_.StopAgent(k, kAgentStopTimeout);
    log_(rig_.host(k).name + " agent stopped: " + exit.ToString());
    if (!exit.Exited() || exit.code != 0) {
      report_("I4", f.draw.number, rig_.host(k).name + " agent ended with " + exit.ToString() + " on SIGTERM");
    }
    h.redis_expected = false;
    rig_.Process(k, HostProcess::kRedis).Stop(kRedisStopTimeout);
    if (Status st = StartRedis(k, {}, "restarted (rolling)"); !st.ok()) return st;
    if (Status st = rig_.StartAgent(k); !st.ok()) return st;
    h.agent_expected = true;
    MarkAgentBack(k);
    f.phase = 1;
    f.deadline = Clock::now() + options_.converge_bound;
    return false;
  }
  // The next host only once the group is whole again, as an operator waits.
  std::string why;
  if (!GroupConverged(rig_, &why)) {
    if (Clock::now() <= f.deadline) return false;
    report_("I2", f.draw.number,
            "not converged " + std::to_string(options_.converge_bound.count()) + " ms after restarting " +
                rig_.host(k).name + " in a rolling restart: " + why + "\n" + DescribeGroup(rig_));
  } else {
    log_(rig_.host(k).name + " restarted; the group converged");
  }
  ++f.step;
  f.phase = 0;
  return f.step >= f.order.size();
}

StatusOr<bool> FaultInjector::StepServerRollingRestart(ActiveFault& f) {
  if (f.step >= f.order.size()) return true;
  const int i = f.order[f.step];
  if (f.phase == 0) {
    // SIGTERM: a server shuts down without leaving the Raft configuration
    // (leave_on_terminate is off for servers), as a restart should.
    server_expected(i) = false;
    const ExitStatus exit = rig_.ServerProcess(i).Stop(seconds(10));
    log_(rig_.server(i).name + " stopped: " + exit.ToString());
    if (Status st = rig_.StartConsulServer(i); !st.ok()) return st;
    server_expected(i) = true;
    f.phase = 1;
    f.step_started = Clock::now();
    f.deadline = f.step_started + kServerRejoinTimeout;
    return false;
  }
  // As an operator does: the next server only once autopilot calls every
  // server healthy again, which it does once the restarted one has been
  // stable for server_stabilization_time (10 s); a restart faster than
  // autopilot looks would otherwise pass for healthy at once, and the next
  // restart may cost the quorum.
  std::string why;
  if (Clock::now() - f.step_started < kServerStabilization || !ConsulServersHealthy(rig_, &why)) {
    if (Clock::now() <= f.deadline) return false;
    return DeadlineExceeded(rig_.server(i).name + " did not rejoin: " + why);
  }
  log_(rig_.server(i).name + " back; autopilot calls the servers healthy");
  ++f.step;
  f.phase = 0;
  return f.step >= f.order.size();
}

}  // namespace resec::chaos
