#include "failover.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "consul_cost.h"
#include "machine.h"
#include "report.h"
#include "rig_system.h"

namespace resec::bench {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::Clock;

namespace {

// The warm-up must reach kWarmupAcks within this long: at 500 writes/s it
// takes half a second on a healthy group.
constexpr std::chrono::seconds kWarmupTimeout{20};
// A switchover's stopped agent normally exits within its own switchover
// timeout (5 s); past this much longer it is killed before the restart.
constexpr std::chrono::seconds kSwitchoverExitGrace{15};

struct RunResult {
  int run = 0;
  bool failed = false;
  std::string reason;
  std::string old_master;
  std::string new_master;
  double unavailable_ms = 0;
  double converged_ms = 0;
  double longest_write_stall_ms = 0;
  bool failover = false;
  int64_t writes = 0;
  int64_t acked = 0;
  int64_t wait_acked = 0;
  int64_t lost_acked = 0;
  int64_t lost_wait_acked = 0;
  int64_t acked_by_old_master_after_fault = 0;
  int64_t fault_delay_ms = 0;     // the random wait between the steady window and the fault
  int64_t fault_duration_ms = 0;  // how long injecting the fault took (a rolling restart: all of it)
  json consul_cost;
  double duration_s = 0;

  json ToJson() const {
    json j = {{"run", run}, {"failed", failed}};
    if (!reason.empty()) j["reason"] = reason;
    j["old_master"] = old_master;
    j["new_master"] = new_master;
    j["unavailable_ms"] = failed ? json(nullptr) : json(unavailable_ms);
    j["converged_ms"] = failed ? json(nullptr) : json(converged_ms);
    j["longest_write_stall_ms"] = failed ? json(nullptr) : json(longest_write_stall_ms);
    j["failover"] = failed ? json(nullptr) : json(failover);
    j["writes"] = writes;
    j["acked"] = acked;
    j["wait_acked"] = wait_acked;
    j["lost_acked"] = failed ? json(nullptr) : json(lost_acked);
    j["lost_wait_acked"] = failed ? json(nullptr) : json(lost_wait_acked);
    j["acked_by_old_master_after_fault"] = acked_by_old_master_after_fault;
    j["fault_delay_ms"] = fault_delay_ms;
    j["fault_duration_ms"] = fault_duration_ms;
    j["consul_cost"] = consul_cost;
    j["duration_s"] = duration_s;
    return j;
  }
};

std::string Label(const FailoverOptions& o) {
  return std::string(SystemName(o.system)) + " " + std::string(ModeName(o.mode)) + " " +
         std::string(ScenarioName(o.scenario));
}

// Restarts every Consul server in turn, as an upgrade does: SIGTERM, start,
// and wait until it knows a leader before the next.
Status RollingRestart(testing::Rig& rig) {
  for (int i = 0; i < testing::RigNetwork::kServers; ++i) {
    rig.StopConsulServer(i);
    if (Status st = rig.StartConsulServer(i); !st.ok()) return st;
    if (Status st = rig.WaitConsulServer(i); !st.ok()) return st;
  }
  return Status::Ok();
}

// The fault on master host m. *leader receives the killed Consul leader.
Status InjectFault(RigSystem& sys, Scenario scenario, int m, int* leader) {
  testing::Rig& rig = sys.rig();
  switch (scenario) {
    case Scenario::kRedisCrash:
      rig.KillRedis(m);
      return Status::Ok();
    case Scenario::kAgentCrash:
      rig.KillAgent(m);
      return Status::Ok();
    case Scenario::kSwitchover:
      return sys.BeginSwitchover(m);
    case Scenario::kHostCrash:
      rig.CrashHost(m);
      return Status::Ok();
    case Scenario::kHostFreeze:
      return rig.FreezeHost(m);
    case Scenario::kHostPartition:
      return rig.PartitionHost(m);
    case Scenario::kConsulLeaderKill: {
      const std::optional<int> l = rig.ConsulLeaderServer();
      if (!l) return Unavailable("no Consul server names a leader");
      *leader = *l;
      rig.KillConsulServer(*l);
      return Status::Ok();
    }
    case Scenario::kConsulRollingRestart:
      return RollingRestart(rig);
    case Scenario::kConsulAgentRestart:
      // `systemctl restart consul` on the master's host: SIGTERM (a client
      // leaves the cluster gracefully), start, joined again.
      return rig.RestartConsulClient(m, /*graceful=*/true);
  }
  return Internal("unknown scenario");
}

// A recovery step that is finished once it succeeded.
StatusOr<bool> Finished(const Status& st) {
  if (!st.ok()) return st;
  return true;
}

// The scenario's recovery action; false: not finished, call again.
StatusOr<bool> Recover(RigSystem& sys, Scenario scenario, int m, int leader, bool last_chance) {
  testing::Rig& rig = sys.rig();
  switch (scenario) {
    case Scenario::kRedisCrash:
      // A crashed redis-server restarts with what it had on disk (the
      // example's Redis keeps RDB snapshots; runs are short, so usually
      // none was written).
      return Finished(rig.StartRedis(m));
    case Scenario::kAgentCrash:
      return Finished(rig.StartAgent(m));
    case Scenario::kSwitchover:
      return sys.FinishSwitchover(m, last_chance);
    case Scenario::kHostCrash:
      return Finished(rig.StartHost(m));
    case Scenario::kHostFreeze:
      rig.ThawHost(m);
      return true;
    case Scenario::kHostPartition:
      return Finished(rig.HealHost(m));
    case Scenario::kConsulLeaderKill:
      return Finished(rig.StartConsulServer(leader));
    case Scenario::kConsulRollingRestart:
    case Scenario::kConsulAgentRestart:
      return true;  // the fault was the whole procedure
  }
  return Internal("unknown scenario");
}

// A fault that is a procedure of some seconds rather than one act.
bool IsConsulProcedure(Scenario scenario) {
  return scenario == Scenario::kConsulRollingRestart || scenario == Scenario::kConsulAgentRestart;
}

// Whether the master's host is out of the group while the fault lasts
// (crashed, frozen, cut off, or its Redis down), so convergence is judged on
// the others.
bool HostDownDuringFault(Scenario scenario) {
  switch (scenario) {
    case Scenario::kRedisCrash:
    case Scenario::kHostCrash:
    case Scenario::kHostFreeze:
    case Scenario::kHostPartition:
      return true;
    default:
      return false;
  }
}

// The first acknowledgement per host of a write sent at or after the fault,
// found by scanning the writer's record forward as it grows.
class FirstAcks {
 public:
  FirstAcks(const testing::Writer& writer, int64_t first_seq) : writer_(writer), next_(first_seq) {}
  std::optional<int64_t> On(int host) {
    // The newest write may still be in flight: its flags are not final.
    const int64_t done = writer_.last_seq() - 1;
    for (; next_ <= done; ++next_) {
      const testing::Writer::Write w = writer_.Get(next_);
      if (w.acked && w.node >= 0 && !first_.contains(w.node)) first_[w.node] = w.ack_ms;
    }
    auto it = first_.find(host);
    return it == first_.end() ? std::nullopt : std::optional(it->second);
  }

 private:
  const testing::Writer& writer_;
  int64_t next_;
  std::map<int, int64_t> first_;
};

// Starts a fresh rig; one retry, as a start can fail on a loaded machine
// (a Consul server that took too long to elect).
StatusOr<std::unique_ptr<RigSystem>> StartSystem(const FailoverOptions& o) {
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto sys = RigSystem::Start({.kind = o.system, .mode = o.mode, .agent_bin = o.agent_bin});
    if (sys.ok()) return sys;
    last = sys.status();
    std::fprintf(stderr, "[%s] start failed (attempt %d): %s\n", Label(o).c_str(), attempt + 1,
                 last.ToString().c_str());
  }
  return last;
}

RunResult RunOnce(const FailoverOptions& o, int run, const std::filesystem::path& logs_dir,
                  milliseconds fault_delay) {
  RunResult r;
  r.run = run;
  const auto started = Clock::now();
  auto finish = [&](RunResult& res) -> RunResult& {
    res.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
    return res;
  };
  auto started_sys = StartSystem(o);
  if (!started_sys.ok()) {
    r.failed = true;
    r.reason = "setup: " + started_sys.status().ToString();
    return finish(r);
  }
  std::unique_ptr<RigSystem> sys = std::move(*started_sys);
  testing::Rig& rig = sys->rig();
  const auto run_logs = logs_dir / ("run-" + std::to_string(run));
  std::string why;
  const std::optional<int> old = sys->Converged({}, &why);
  if (!old) {
    r.failed = true;
    r.reason = "setup: not converged before the fault: " + why;
    sys->CopyLogs(run_logs);
    return finish(r);
  }
  const int m = *old;
  r.old_master = rig.host(m).name;

  const Clock::time_point origin = Clock::now();
  auto ms_since = [&](Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(t - origin).count();
  };
  std::unique_ptr<testing::Writer> writer = sys->MakeWriter(origin);
  writer->Start();
  const auto warm_deadline = Clock::now() + kWarmupTimeout;
  while (writer->Totals().acked < kWarmupAcks && Clock::now() < warm_deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (writer->Totals().acked < kWarmupAcks) {
    writer->Stop();
    r.failed = true;
    r.reason = "setup: the writer got " + std::to_string(writer->Totals().acked) + " acknowledgements in " +
               std::to_string(kWarmupTimeout.count()) + " s before the fault";
    sys->CopyLogs(run_logs);
    return finish(r);
  }

  // The steady state: Consul's counters at both ends of the window.
  const ConsulCounters steady_from = ReadConsulCounters(rig);
  std::this_thread::sleep_for(kSteadyWindow);
  const ConsulCounters steady_to = ReadConsulCounters(rig);
  r.consul_cost = ConsulCost(rig, steady_from, steady_to, m, o.system != SystemKind::kSentinel);

  // Decouples the fault from the phase of the agents' periodic loops (see
  // kFaultJitter); the writer keeps writing meanwhile.
  r.fault_delay_ms = fault_delay.count();
  std::this_thread::sleep_for(fault_delay);
  const Clock::time_point fault = Clock::now();
  const int64_t fault_ms = ms_since(fault);
  int64_t first_seq_after_fault = writer->last_seq() + 1;
  int leader = -1;
  if (Status st = InjectFault(*sys, o.scenario, m, &leader); !st.ok()) {
    writer->Stop();
    r.failed = true;
    r.reason = "fault injection: " + st.ToString();
    sys->CopyLogs(run_logs);
    return finish(r);
  }
  r.fault_duration_ms = ms_since(Clock::now()) - fault_ms;
  // A fault that acts at once (a kill, a stop, a cut) has taken effect when
  // its injection returns, a few milliseconds in (fork and exec of `ip`,
  // reaping): a write sent in between may still be answered by the old
  // master, which says nothing about the fault. Only writes sent after it
  // end the outage. A Consul procedure (a rolling restart, an agent
  // restart) lasts seconds and acts from its start.
  if (!IsConsulProcedure(o.scenario)) first_seq_after_fault = writer->last_seq() + 1;
  const Clock::time_point recover_at = fault + RecoverAfter(o.scenario);
  bool recovered = false;
  Clock::time_point recovered_time;
  std::optional<int64_t> first_converged_ms;
  std::optional<int> final_master;
  std::optional<int64_t> final_ack_ms;
  FirstAcks first_acks(*writer, first_seq_after_fault);
  while (true) {
    const Clock::time_point now = Clock::now();
    if (!recovered && now >= recover_at) {
      auto done = Recover(*sys, o.scenario, m, leader, now >= recover_at + kSwitchoverExitGrace);
      if (!done.ok()) {
        r.failed = true;
        r.reason = "recovery action: " + done.status().ToString();
        break;
      }
      recovered = *done;
      if (recovered) recovered_time = Clock::now();
    }
    const std::vector<int> down = !recovered && HostDownDuringFault(o.scenario) ? std::vector<int>{m}
                                                                                 : std::vector<int>{};
    const std::optional<int> c = sys->Converged(down, &why);
    if (c && !first_converged_ms && (*c != m || recovered)) first_converged_ms = ms_since(Clock::now()) - fault_ms;
    // A Consul fault's effects may come after its recovery: watch a little
    // longer before calling the run done.
    const bool settled = !IsConsulFault(o.scenario) || (recovered && Clock::now() >= recovered_time + kConsulSettle);
    if (c && recovered && first_converged_ms && settled) {
      if (auto ack = first_acks.On(*c)) {
        final_master = c;
        final_ack_ms = ack;
        break;
      }
    }
    if (Clock::now() - fault > kConvergeTimeout) {
      r.failed = true;
      r.reason = "not converged (or no write acknowledged by the converged master) " +
                 std::to_string(kConvergeTimeout.count()) + " s after the fault: " + why + "\n" +
                 sys->Describe(down);
      break;
    }
    std::this_thread::sleep_for(kCheckInterval);
  }
  // The end of the stall window is now, not after Stop(): joining the
  // writer's discovery thread can wait out a blocking query (a second or
  // more) while no write is sent, which is no stall of the master.
  const int64_t end_ms = ms_since(Clock::now());
  writer->Stop();

  // Every write, once: counts, the longest gap between acknowledgements
  // after the fault, and who acknowledged what.
  const int64_t last = writer->last_seq();
  std::vector<testing::Writer::Write> writes;
  writes.reserve(static_cast<size_t>(last));
  for (int64_t seq = 1; seq <= last; ++seq) writes.push_back(writer->Get(seq));
  r.writes = last;
  int64_t prev_ack = -1;
  int64_t stall = 0;
  bool other_host_acked = false;
  for (const testing::Writer::Write& w : writes) {
    if (!w.acked) continue;
    ++r.acked;
    if (w.wait_acked) ++r.wait_acked;
    if (w.ack_ms >= fault_ms) {
      if (prev_ack >= 0) stall = std::max(stall, w.ack_ms - prev_ack);
      if (w.node != m) other_host_acked = true;
      if (w.node == m && (!final_master || *final_master != m)) ++r.acked_by_old_master_after_fault;
    }
    prev_ack = w.ack_ms;
  }
  if (prev_ack >= 0) stall = std::max(stall, end_ms - std::max(prev_ack, fault_ms));
  if (!r.failed) {
    r.new_master = rig.host(*final_master).name;
    r.unavailable_ms = static_cast<double>(*final_ack_ms - fault_ms);
    r.converged_ms = static_cast<double>(*first_converged_ms);
    r.longest_write_stall_ms = static_cast<double>(stall);
    r.failover = other_host_acked || *final_master != m;
    auto data = rig.WrittenSequence(*final_master);
    if (!data.ok()) {
      r.failed = true;
      r.reason = "read back from the final master: " + data.status().ToString();
    } else {
      const testing::WriteLoss loss = testing::CountLoss(*writer, *data);
      r.lost_acked = loss.acked_lost;
      r.lost_wait_acked = loss.wait_acked_lost;
      if (o.dump_writes) {
        std::vector<int64_t> present = *data;
        std::sort(present.begin(), present.end());
        std::filesystem::path csv = o.out;
        csv.replace_extension(".writes-run-" + std::to_string(run) + ".csv");
        std::ofstream out(csv);
        out << "# fault_ms=" << fault_ms << " old_master=" << r.old_master << " new_master=" << r.new_master
            << "\nseq,sent_ms,ack_ms,host,wait_acked,present\n";
        for (const testing::Writer::Write& w : writes) {
          out << w.seq << ',' << w.sent_ms << ',' << w.ack_ms << ','
              << (w.node >= 0 ? rig.host(w.node).name : "-") << ',' << w.wait_acked << ','
              << std::binary_search(present.begin(), present.end(), w.seq) << '\n';
        }
      }
    }
  }
  // Logs of failed runs and of runs that lost acknowledged writes: both are
  // worth a look.
  if (r.failed || r.lost_acked > 0 || o.keep_logs) sys->CopyLogs(run_logs);
  return finish(r);
}

json SettingsJson(const FailoverOptions& o) {
  json s = {{"mode", ModeName(o.mode)}};
  json system = json::object();
  for (const Setting& st : SettingsFor(o.system, o.mode)) {
    system[st.name] = st.name == "PEER_TOKEN" ? "(a fixed bench token)" : st.value;
  }
  s["topology"] =
      "production-topology rig (docs/rig.md): 3 hosts (network namespaces) each with a Consul client agent "
      "(1.14.11), redis-server 7.0 on 6379 (Debian, examples/systemd: Redis' defaults) and the system's process; "
      "3 Consul servers (raft_multiplier 1); the client in the root namespace over the bridge";
  if (o.system == SystemKind::kSentinel) {
    s["sentinel_conf"] = system;
    s["sentinels"] = 3;
    s["quorum"] = 2;
    s["discovery"] = "SENTINEL get-master-addr-by-name mymaster against the hosts' sentinels (26379), polled every " +
                     std::to_string(kSentinelPollInterval.count()) + " ms";
  } else {
    s["env"] = system;
    s["agents"] = 3;
    s["agent_config"] = "examples/systemd/resec.env plus env (REDIS_ADDR 127.0.0.1:6379, ANNOUNCE_ADDR unset)";
    s["discovery"] =
        "blocking GET /v1/health/service/redis-master?passing against the Consul servers, the next on failure";
  }
  s["consul_cost_method"] =
      "Prometheus counters of /v1/agent/metrics over the steady window: each host's client agent's "
      "consul_api_http_count (its own metrics reads left out), the Raft leader's consul_raft_apply";
  s["harness"] = HarnessSettingsJson(o.scenario);
  for (auto& [k, v] : o.extra_settings.items()) s[k] = v;
  return s;
}

// The median of one consul_cost field over the runs that have it.
json MedianCost(const std::vector<RunResult>& results, const char* key) {
  std::vector<double> v;
  for (const RunResult& r : results) {
    if (!r.failed && r.consul_cost.contains(key) && r.consul_cost[key].is_number()) {
      v.push_back(r.consul_cost[key].get<double>());
    }
  }
  const auto p = Percentile(v, 50);
  return p ? json(*p) : json(nullptr);
}

}  // namespace

std::filesystem::path RunsPathFor(const std::filesystem::path& summary) {
  std::filesystem::path p = summary;
  p.replace_extension(".runs.json");
  return p;
}

StatusOr<json> RunFailover(const FailoverOptions& o) {
  json summary = {{"system", SystemName(o.system)}, {"scenario", ScenarioName(o.scenario)}};
  std::vector<RunResult> results;
  const std::optional<std::string> na = NotApplicable(o.system, o.scenario);
  const std::filesystem::path logs_dir = [&] {
    std::filesystem::path p = o.out;
    p.replace_extension(".logs");
    return p;
  }();
  if (!na && !o.unavailable) {
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int64_t> jitter(0, kFaultJitter.count() - 1);
    for (int run = 1; run <= o.runs; ++run) {
      RunResult r = RunOnce(o, run, logs_dir, milliseconds(jitter(rng)));
      if (r.failed) {
        std::fprintf(stderr, "[%s] run %d/%d FAILED after %.1f s: %s\n", Label(o).c_str(), run, o.runs,
                     r.duration_s, r.reason.c_str());
      } else {
        std::fprintf(stderr,
                     "[%s] run %d/%d: unavailable %.0f ms, converged %.0f ms, stall %.0f ms, %s, lost %lld "
                     "acked / %lld WAIT-acked (of %lld / %lld), Consul %s req/min/agent %s Raft applies/s, "
                     "%.1f s\n",
                     Label(o).c_str(), run, o.runs, r.unavailable_ms, r.converged_ms, r.longest_write_stall_ms,
                     r.failover ? ("failover " + r.old_master + " -> " + r.new_master).c_str() : "no failover",
                     static_cast<long long>(r.lost_acked), static_cast<long long>(r.lost_wait_acked),
                     static_cast<long long>(r.acked), static_cast<long long>(r.wait_acked),
                     r.consul_cost.value("http_requests_per_min_per_agent", json(nullptr)).dump().c_str(),
                     r.consul_cost.value("raft_applies_per_s", json(nullptr)).dump().c_str(), r.duration_s);
      }
      results.push_back(std::move(r));
    }
  }
  std::vector<double> unavailable, converged, stall;
  int failed = 0, failovers = 0;
  int64_t lost = 0, lost_wait = 0;
  for (const RunResult& r : results) {
    if (r.failed) {
      ++failed;
      continue;
    }
    unavailable.push_back(r.unavailable_ms);
    converged.push_back(r.converged_ms);
    stall.push_back(r.longest_write_stall_ms);
    if (r.failover) ++failovers;
    lost += r.lost_acked;
    lost_wait += r.lost_wait_acked;
  }
  const bool measured = !na && !o.unavailable;
  const bool any = measured && failed < o.runs;
  summary["runs"] = measured ? o.runs : 0;
  summary["failed_runs"] = failed;
  summary["settings"] = SettingsJson(o);
  summary["unavailable_ms"] = Distribution(unavailable);
  summary["converged_ms"] = Distribution(converged);
  summary["longest_write_stall_ms"] = Distribution(stall);
  summary["failover"] = any ? json(failovers > 0) : json(nullptr);
  summary["failover_runs"] = any ? json(failovers) : json(nullptr);
  summary["lost_acked"] = any ? json(lost) : json(nullptr);
  summary["lost_wait_acked"] = any ? json(lost_wait) : json(nullptr);
  summary["consul_cost"] = {
      {"what", "median over the runs of each run's steady window"},
      {"http_requests_per_min_per_agent", MedianCost(results, "http_requests_per_min_per_agent")},
      {"http_requests_per_min_master_host", MedianCost(results, "http_requests_per_min_master_host")},
      {"http_requests_per_min_replica_hosts", MedianCost(results, "http_requests_per_min_replica_hosts")},
      {"raft_applies_per_s", MedianCost(results, "raft_applies_per_s")},
  };
  summary["machine"] = MachineJson();
  if (na) summary["not_applicable"] = *na;
  if (o.unavailable) summary["unavailable"] = *o.unavailable;

  json runs = json::array();
  for (const RunResult& r : results) runs.push_back(r.ToJson());
  json detail = {{"system", SystemName(o.system)},
                 {"scenario", ScenarioName(o.scenario)},
                 {"mode", ModeName(o.mode)},
                 {"runs", runs}};
  if (Status st = WriteJson(o.out, summary); !st.ok()) return st;
  if (Status st = WriteJson(RunsPathFor(o.out), detail); !st.ok()) return st;
  return summary;
}

}  // namespace resec::bench
