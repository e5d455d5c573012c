#include "failover.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "machine.h"
#include "report.h"
#include "systems.h"
#include "writer.h"

namespace resec::bench {

using nlohmann::json;
using std::chrono::milliseconds;

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
  int old_master_port = 0;
  int new_master_port = 0;
  double unavailable_ms = 0;
  double converged_ms = 0;
  int64_t writes = 0;
  int64_t acked = 0;
  int64_t wait_acked = 0;
  int64_t lost_acked = 0;
  int64_t lost_wait_acked = 0;
  int64_t acked_by_old_master_after_fault = 0;
  int64_t fault_delay_ms = 0;  // the random wait between warm-up and fault
  double duration_s = 0;

  json ToJson() const {
    json j = {{"run", run}, {"failed", failed}};
    if (!reason.empty()) j["reason"] = reason;
    j["old_master_port"] = old_master_port;
    j["new_master_port"] = new_master_port;
    j["unavailable_ms"] = failed ? json(nullptr) : json(unavailable_ms);
    j["converged_ms"] = failed ? json(nullptr) : json(converged_ms);
    j["writes"] = writes;
    j["acked"] = acked;
    j["wait_acked"] = wait_acked;
    j["lost_acked"] = failed ? json(nullptr) : json(lost_acked);
    j["lost_wait_acked"] = failed ? json(nullptr) : json(lost_wait_acked);
    j["acked_by_old_master_after_fault"] = acked_by_old_master_after_fault;
    j["fault_delay_ms"] = fault_delay_ms;
    j["duration_s"] = duration_s;
    return j;
  }
};

std::string Label(const FailoverOptions& o) {
  return std::string(SystemName(o.system)) + " " + std::string(ModeName(o.mode)) + " " +
         std::string(ScenarioName(o.scenario));
}

Status InjectFault(BenchSystem& sys, Scenario scenario, int m) {
  switch (scenario) {
    case Scenario::kRedisCrash:
      return sys.KillRedis(m);
    case Scenario::kAgentCrash:
      return sys.KillCompanion(m);
    case Scenario::kNodeCrash:
      if (Status st = sys.KillRedis(m); !st.ok()) return st;
      return sys.KillCompanion(m);
    case Scenario::kNodeFreeze:
      if (Status st = sys.PauseRedis(m); !st.ok()) return st;
      return sys.PauseCompanion(m);
    case Scenario::kSwitchover:
      return sys.BeginSwitchover(m);
  }
  return Internal("unknown scenario");
}

// The scenario's recovery action; false: not finished, call again.
StatusOr<bool> Recover(BenchSystem& sys, Scenario scenario, int m, bool last_chance) {
  switch (scenario) {
    case Scenario::kRedisCrash:
      if (Status st = sys.StartRedis(m); !st.ok()) return st;
      return true;
    case Scenario::kAgentCrash:
      if (Status st = sys.StartCompanion(m); !st.ok()) return st;
      return true;
    case Scenario::kNodeCrash:
      if (Status st = sys.StartRedis(m); !st.ok()) return st;
      if (Status st = sys.StartCompanion(m); !st.ok()) return st;
      return true;
    case Scenario::kNodeFreeze:
      if (Status st = sys.ResumeRedis(m); !st.ok()) return st;
      if (Status st = sys.ResumeCompanion(m); !st.ok()) return st;
      return true;
    case Scenario::kSwitchover:
      return sys.FinishSwitchover(m, last_chance);
  }
  return Internal("unknown scenario");
}

// Starts a fresh system; one retry, since a port another process grabbed in
// the meantime is the usual cause of a failed start.
StatusOr<std::unique_ptr<BenchSystem>> StartSystem(const FailoverOptions& o) {
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto sys = MakeSystem({.kind = o.system, .mode = o.mode, .count_consul_requests = false});
    last = sys->Start();
    if (last.ok()) return sys;
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
  std::unique_ptr<BenchSystem> sys = std::move(*started_sys);
  const std::optional<int> old = sys->Converged();
  if (!old) {
    r.failed = true;
    r.reason = "setup: not converged before the fault:\n" + sys->Describe();
    return finish(r);
  }
  const int m = *old;
  r.old_master_port = sys->RedisPort(m);

  const Clock::time_point origin = Clock::now();
  auto since = [&](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t - origin).count();
  };
  Writer writer(sys->MakeDiscovery(), origin);
  writer.Start();
  const auto warm_deadline = Clock::now() + kWarmupTimeout;
  while (writer.acked() < kWarmupAcks && Clock::now() < warm_deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (writer.acked() < kWarmupAcks) {
    writer.Stop();
    r.failed = true;
    r.reason = "setup: the writer got " + std::to_string(writer.acked()) + " acknowledgements in " +
               std::to_string(kWarmupTimeout.count()) + " s before the fault";
    sys->CopyLogs(logs_dir / ("run-" + std::to_string(run)));
    return finish(r);
  }

  // Decouples the fault from the phase of the agents' periodic loops (see
  // kFaultJitter); the writer keeps writing meanwhile.
  r.fault_delay_ms = fault_delay.count();
  std::this_thread::sleep_for(fault_delay);
  const Clock::time_point fault = Clock::now();
  const int64_t fault_us = since(fault);
  if (Status st = InjectFault(*sys, o.scenario, m); !st.ok()) {
    writer.Stop();
    r.failed = true;
    r.reason = "fault injection: " + st.ToString();
    return finish(r);
  }
  const Clock::time_point recover_at = fault + RecoverAfter(o.scenario);
  bool recovered = false;
  std::optional<int64_t> first_converged_us;
  std::optional<int> final_master;
  std::optional<int64_t> final_ack_us;
  while (true) {
    const Clock::time_point now = Clock::now();
    if (!recovered && now >= recover_at) {
      auto done = Recover(*sys, o.scenario, m, now >= recover_at + kSwitchoverExitGrace);
      if (!done.ok()) {
        r.failed = true;
        r.reason = "recovery action: " + done.status().ToString();
        break;
      }
      recovered = *done;
    }
    const std::optional<int> c = sys->Converged();
    if (c && !first_converged_us && (*c != m || recovered)) first_converged_us = since(Clock::now()) - fault_us;
    if (c && recovered && first_converged_us) {
      if (auto ack = writer.FirstAckOn(sys->RedisPort(*c), fault_us)) {
        final_master = c;
        final_ack_us = ack;
        break;
      }
    }
    if (Clock::now() - fault > kConvergeTimeout) {
      r.failed = true;
      r.reason = "not converged (or no write acknowledged by the converged master) " +
                 std::to_string(kConvergeTimeout.count()) + " s after the fault:\n" + sys->Describe();
      break;
    }
    std::this_thread::sleep_for(kCheckInterval);
  }
  writer.Stop();

  const std::vector<WriteRecord> records = writer.Records();
  r.writes = static_cast<int64_t>(records.size());
  for (const WriteRecord& w : records) {
    if (w.ack_us < 0) continue;
    ++r.acked;
    if (w.wait_acked) ++r.wait_acked;
    if (w.port == r.old_master_port && w.ack_us >= fault_us &&
        (!final_master || sys->RedisPort(*final_master) != r.old_master_port)) {
      ++r.acked_by_old_master_after_fault;
    }
  }
  if (!r.failed) {
    r.new_master_port = sys->RedisPort(*final_master);
    r.unavailable_ms = static_cast<double>(*final_ack_us - fault_us) / 1000.0;
    r.converged_ms = static_cast<double>(*first_converged_us) / 1000.0;
    auto data = ReadSequence(r.new_master_port);
    if (!data.ok()) {
      r.failed = true;
      r.reason = "read back from the new master: " + data.status().ToString();
    } else {
      std::vector<bool> present(records.size() + 2, false);
      for (int64_t seq : *data) {
        if (seq > 0 && static_cast<size_t>(seq) < present.size()) present[static_cast<size_t>(seq)] = true;
      }
      for (const WriteRecord& w : records) {
        if (w.ack_us < 0 || present[static_cast<size_t>(w.seq)]) continue;
        ++r.lost_acked;
        if (w.wait_acked) ++r.lost_wait_acked;
      }
      if (o.dump_writes) {
        std::filesystem::path csv = o.out;
        csv.replace_extension(".writes-run-" + std::to_string(run) + ".csv");
        std::ofstream out(csv);
        out << "# fault_us=" << fault_us << " old_master=" << r.old_master_port
            << " new_master=" << r.new_master_port << "\nseq,sent_us,ack_us,port,wait_acked,present\n";
        for (const WriteRecord& w : records) {
          out << w.seq << ',' << w.sent_us << ',' << w.ack_us << ',' << w.port << ',' << w.wait_acked << ','
              << present[static_cast<size_t>(w.seq)] << '\n';
        }
      }
    }
  }
  // Logs of failed runs and of runs that lost acknowledged writes: both are
  // worth a look.
  if (r.failed || r.lost_acked > 0 || o.keep_logs) sys->CopyLogs(logs_dir / ("run-" + std::to_string(run)));
  return finish(r);
}

json SettingsJson(const FailoverOptions& o) {
  json s = {{"mode", ModeName(o.mode)}};
  json system = json::object();
  for (const Setting& st : SettingsFor(o.system, o.mode)) system[st.name] = st.value;
  if (o.system == SystemKind::kSentinel) {
    s["sentinel_conf"] = system;
    s["sentinels"] = 3;
    s["quorum"] = 2;
    s["discovery"] = "SENTINEL get-master-addr-by-name mymaster, polled every " +
                     std::to_string(kSentinelPollInterval.count()) + " ms";
  } else {
    s["env"] = system;
    s["agents"] = 3;
    s["consul"] = "one dev agent (1.14.11), shared by the three agents";
    s["discovery"] = "blocking GET /v1/health/service/redis-master?passing (prefix mode, default names)";
  }
  s["harness"] = HarnessSettingsJson(o.scenario);
  for (auto& [k, v] : o.extra_settings.items()) s[k] = v;
  return s;
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
                     "[%s] run %d/%d: unavailable %.0f ms, converged %.0f ms, lost %lld acked / %lld "
                     "WAIT-acked (of %lld / %lld), %.1f s\n",
                     Label(o).c_str(), run, o.runs, r.unavailable_ms, r.converged_ms,
                     static_cast<long long>(r.lost_acked), static_cast<long long>(r.lost_wait_acked),
                     static_cast<long long>(r.acked), static_cast<long long>(r.wait_acked), r.duration_s);
      }
      results.push_back(std::move(r));
    }
  }
  std::vector<double> unavailable, converged;
  int failed = 0;
  int64_t lost = 0, lost_wait = 0;
  for (const RunResult& r : results) {
    if (r.failed) {
      ++failed;
      continue;
    }
    unavailable.push_back(r.unavailable_ms);
    converged.push_back(r.converged_ms);
    lost += r.lost_acked;
    lost_wait += r.lost_wait_acked;
  }
  const bool measured = !na && !o.unavailable;
  summary["runs"] = measured ? o.runs : 0;
  summary["failed_runs"] = failed;
  summary["settings"] = SettingsJson(o);
  summary["unavailable_ms"] = Distribution(unavailable);
  summary["converged_ms"] = Distribution(converged);
  summary["lost_acked"] = measured && failed < o.runs ? json(lost) : json(nullptr);
  summary["lost_wait_acked"] = measured && failed < o.runs ? json(lost_wait) : json(nullptr);
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
