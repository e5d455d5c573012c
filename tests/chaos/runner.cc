#include "runner.h"

#include <signal.h>

#include <algorithm>
#include <bit>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "convergence.h"
#include "dual_master.h"
#include "injector.h"
#include "promotion_check.h"
#include "replication_watch.h"
#include "report.h"
#include "resec/config.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/traffic.h"
#include "write_audit.h"

namespace resec::chaos {

using testing::Clock;
using testing::HostProcess;
using testing::kSeqKey;
using testing::kWaitTimeoutMs;
using testing::LockWatcher;
using testing::Prober;
using testing::Rig;
using testing::RigNetwork;
using testing::WriteCounts;
using testing::Writer;

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- The runner's own timing. ----
// One prober round every 20 ms: fine enough to see a dual-master window of a
// few tens of milliseconds (dual_master.h), light enough for a prober thread
// per host on two cores.
constexpr milliseconds kProbeInterval{20};
// A live Redis answers a SET in well under a millisecond over the management
// path; 100 ms tolerates a loaded machine, and a paused server costs no more.
constexpr milliseconds kProbeTimeout{100};
// Every host's INFO this often (I5): a promotion is seen within it.
constexpr milliseconds kReplicationPoll{50};
// The main loop's tick: process exits, prober rounds and promotions are
// looked at this often.
constexpr milliseconds kTick{10};
// Convergence is observed this often (each look is some twenty local requests).
constexpr milliseconds kConvergePoll{100};
// The master must have accepted a probe write this recently to count as serving.
constexpr milliseconds kServingWithin{300};
// Replicas acknowledge the replication stream once a second, so Redis'
// min-replicas-max-lag check can trail the lag setting by about that.
constexpr seconds kLagSlack{2};
// The rig's first start: three servers, a client per host, the first
// election, loading the data set; two minutes cover a loaded 2-core machine.
constexpr seconds kSetupTimeout{120};
// Writes the writer must have WAIT-acknowledged before the first fault, so
// the run starts from a group that is demonstrably serving.
constexpr int64_t kWarmupWaitAcks = 100;
// After a convergence violation, how much longer to wait for the group to
// recover before giving up the run (its state would make later figures moot).
constexpr seconds kRecoveryTimeout{60};
// After convergence the writer finds the master through a blocking query on
// the servers; an episode's write outage ends at its first acknowledged write
// after that, or at this bound (a client that does not follow the master is
// itself a finding: logged).
constexpr seconds kWritesBackTimeout{10};
// A slow kind (a full sync or an RDB load at slow_us per key, after Redis'
// 5 s diskless-sync delay) may take this many times its nominal time (usleep
// granularity makes 200 us per key take 1.5-2x that) plus a minute.
constexpr int kSlowFactor = 4;
constexpr seconds kSlowMargin{60};
// Agent log lines shown with a violation.
constexpr int kTailLines = 40;

int64_t MsBetween(Tp a, Tp b) { return std::chrono::duration_cast<milliseconds>(b - a).count(); }

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string StyleName(testing::DeploymentStyle s) {
  return s == testing::DeploymentStyle::kCompose ? "compose" : "systemd";
}

std::string RedisAddrName(testing::RedisAddrForm f) {
  switch (f) {
    case testing::RedisAddrForm::kExample: return "example";
    case testing::RedisAddrForm::kLoopback: return "loopback";
    case testing::RedisAddrForm::kHostIp: return "ip";
    case testing::RedisAddrForm::kHostname: return "hostname";
  }
  return "?";
}

struct Episode {
  int index = 0;
  std::vector<size_t> faults;  // into Runner::faults_
  Tp start;
  Tp last_heal;
  Tp end;
  std::optional<int64_t> converge_ms;
  int64_t worst_dual_ms = 0;
  WriteOutage outage;
  int master_before = -1;
  int master_after = -1;
  int64_t lost_unconfirmed = 0;
};

struct DualWindow {
  int episode = 0;
  int64_t start_ms = 0;  // since the origin
  int64_t duration_ms = 0;
  unsigned hosts = 0;
  bool dead_agent = false;  // excused up to the dead-agent bound
};

struct Violation {
  std::string invariant;
  int fault = 0;  // the fault it is charged to, 0 for none
  std::string message;
};

class Runner {
 public:
  Runner(const RunnerOptions& o, const std::atomic<bool>& stop) : o_(o), stop_(stop) {}
  int Run();

 private:
  // ---- phases ----
  Status Setup();
  // false: stop the run (interrupted, or the group cannot go on).
  bool RunEpisode();
  bool WaitConverged(Episode& ep);
  // The writer's outage over the episode, once writes flow again.
  void MeasureEpisodeOutage(Episode& ep);
  void FinalChecks();
  RunSummary Summarize() const;
  void Report();

  // ---- faults ----
  FaultDraw NextDraw();
  int ResolveTarget(const FaultDraw& d, int master);
  bool StartFault(Episode& ep, const FaultDraw& d, const std::string& note);
  // Why a second fault may not overlap the first ("" if it may).
  std::string RefuseOverlap(const Episode& ep, const ActiveFault& first, FaultKind kind, int target) const;
  std::string Label(const ActiveFault& f) const;

  // ---- continuous checks ----
  void Tick();
  void CheckProcesses();
  // A process the runner expects to run that exited on its own: a violation
  // of `invariant`, and it is started again (`start`) so the run goes on.
  void Revive(testing::ChildProcess& process, bool& expected, const std::string& invariant, const std::string& who,
              const std::filesystem::path& log, const std::function<Status()>& start);
  void ProcessRounds();
  void JudgeOverlap(const DualOverlap& o);
  void ScanLogs();
  void CheckPromotions();
  // I5 for host k's Redis run `run_id`, which became the master: `before`
  // is its last answer as a replica (none: master since it started), and
  // `cutoff` the moment it was last seen not yet master.
  void JudgePromotion(int k, const std::string& run_id, const std::optional<RedisSample>& before, Tp cutoff,
                      const std::string& how);
  void CheckWrites(int master, bool full, int fault);

  // ---- helpers ----
  void Log(const std::string& line);
  void AddViolation(const std::string& invariant, int fault, const std::string& message, bool with_logs,
                    std::optional<Tp> since = std::nullopt);
  std::string AgentExcerpts(Tp from) const;
  std::string WallClock(Tp t) const;
  int64_t SinceOrigin(Tp t) const { return MsBetween(origin_, t); }
  bool Stopped() const { return stop_.load(); }
  void Sleep(milliseconds d) {
    Tick();
    std::this_thread::sleep_for(d);
  }
  int CurrentFault() const { return faults_.empty() ? 0 : faults_.back().draw.number; }
  int EpisodeFault(int episode) const;
  // The group's master as Consul lists it (one passing instance), else the
  // last converged one.
  int CurrentMaster() const;

  const RunnerOptions& o_;
  const std::atomic<bool>& stop_;
  Config agent_config_;  // the agents' settings as the agent reads them
  milliseconds converge_bound_{0};
  milliseconds dead_agent_bound_{0};
  milliseconds slow_bound_{0};
  bool setup_done_ = false;  // the group converged once: I1 and I5 are judged from here
  bool aborted_ = false;
  std::string abort_reason_;

  std::unique_ptr<Rig> rig_;
  std::unique_ptr<FaultInjector> injector_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<LockWatcher> lock_watcher_;
  std::unique_ptr<ReplicationWatch> replication_;
  std::unique_ptr<FaultPlanner> planner_;
  std::optional<FaultDraw> pending_;
  Tp origin_;
  std::chrono::system_clock::time_point origin_wall_;
  Tp run_start_;

  int master_ = -1;
  int faults_started_ = 0;
  int current_episode_ = 0;
  std::vector<Episode> episodes_;
  std::deque<ActiveFault> faults_;  // a deque: references stay valid as it grows
  std::vector<std::string> timeline_;
  std::vector<Violation> violations_;
  std::vector<std::uintmax_t> log_offset_;
  Tp last_scan_;

  // I1
  std::unique_ptr<DualMasterDetector> dual_;
  Tp setup_end_;  // overlaps that ended before this were the deployment being set up
  std::vector<DualWindow> windows_;

  // I3
  int64_t verified_upto_ = 0;
  std::set<int64_t> lost_;  // acknowledged writes found missing (counted once)
  int64_t lost_wait_acked_ = 0;
  int64_t lost_acked_ = 0;        // unconfirmed, where their loss is a violation
  int64_t lost_unconfirmed_ = 0;  // unconfirmed, with a master the fault cut off

  // I5
  // When each (host, run_id) was last judged as it became master.
  std::map<std::pair<int, std::string>, Tp> judged_at_;
  std::optional<std::pair<int, std::string>> serving_;  // the group's master as last seen
  Tp serving_since_;
  json promotions_ = json::array();
};

// ---------------------------------------------------------------------------
// helpers

void Runner::Log(const std::string& line) {
  const double t = run_start_ == Tp{} ? 0.0 : static_cast<double>(MsBetween(run_start_, Clock::now())) / 1000.0;
  std::string s = Fmt("[%8.3fs %s] ", t, WallClock(Clock::now()).substr(11).c_str()) + line;
  timeline_.push_back(s);
  std::printf("chaos: %s\n", s.c_str());
  std::fflush(stdout);
}

std::string Runner::WallClock(Tp t) const {
  // Before the origin is taken, map through "now" instead.
  const Tp base = origin_ == Tp{} ? Clock::now() : origin_;
  const auto base_wall = origin_ == Tp{} ? std::chrono::system_clock::now() : origin_wall_;
  const auto wall = base_wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - base);
  const std::time_t secs = std::chrono::system_clock::to_time_t(wall);
  const auto ms = std::chrono::duration_cast<milliseconds>(wall.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return Fmt("%s.%03lldZ", buf, static_cast<long long>(ms));
}

std::string Runner::AgentExcerpts(Tp from) const {
  std::string out;
  if (rig_ == nullptr || injector_ == nullptr) return out;
  for (int k = 0; k < rig_->hosts(); ++k) {
    // An agent whose clock was stepped stamps its lines that much later.
    const std::string since = WallClock(from - seconds(5) + injector_->host(k).clock_offset);
    out += "----- " + rig_->agent_log(k).string() + " since " + since + "\n";
    // Agent lines start with their UTC timestamp, so text order is time order.
    std::deque<std::string> lines;
    std::ifstream in(rig_->agent_log(k), std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      if (line.compare(0, since.size(), since) < 0 && !line.starts_with("===") && line.size() > 4 &&
          line[4] == '-') {
        continue;
      }
      lines.push_back(std::move(line));
      if (static_cast<int>(lines.size()) > kTailLines) lines.pop_front();
    }
    for (const std::string& l : lines) out += l + "\n";
  }
  return out;
}

void Runner::AddViolation(const std::string& invariant, int fault, const std::string& message, bool with_logs,
                          std::optional<Tp> since) {
  violations_.push_back({invariant, fault, message});
  std::string where = fault > 0 ? Fmt(" at fault #%d", fault) : "";
  Log("VIOLATION " + invariant + where + " (seed " + std::to_string(o_.seed) + "): " + message);
  if (with_logs) {
    std::printf("%s", AgentExcerpts(since.value_or(Clock::now() - seconds(10))).c_str());
    std::printf("chaos: replay with: %s\n", o_.replay_command.c_str());
    std::fflush(stdout);
  }
}

std::string Runner::Label(const ActiveFault& f) const {
  return Fmt("#%d %s %s (%s)", f.draw.number, std::string(KindName(f.kind)).c_str(),
             injector_->TargetName(f).c_str(), f.role.c_str());
}

int Runner::EpisodeFault(int episode) const {
  if (episode <= 0 || episode > static_cast<int>(episodes_.size())) return 0;
  const Episode& ep = episodes_[static_cast<size_t>(episode - 1)];
  return ep.faults.empty() ? 0 : faults_[ep.faults.front()].draw.number;
}

int Runner::CurrentMaster() const {
  auto masters = rig_->Service("redis-master");
  if (masters.ok()) {
    int found = -1, n = 0;
    for (const testing::HealthInstance& e : *masters) {
      if (!e.Passing()) continue;
      found = rig_->HostOf(e.node);
      ++n;
    }
    if (n == 1 && found >= 0) return found;
  }
  return master_;
}

// ---------------------------------------------------------------------------
// setup

Status Runner::Setup() {
  std::vector<FaultKind> kinds =
      o_.kinds.empty() ? std::vector<FaultKind>(std::begin(kAllKinds), std::end(kAllKinds)) : o_.kinds;
  testing::RigOptions ro{.style = o_.style,
                         .hosts = o_.hosts,
                         .redis_addr = o_.redis_addr,
                         .announce_addr = o_.announce,
                         .agent_env = o_.agent_env,
                         .resec_bin = o_.resec_bin,
                         // Only a clock step needs the agents under libfaketime.
                         .faketime = std::find(kinds.begin(), kinds.end(), FaultKind::kClockStep) != kinds.end(),
                         .dir_tag = "chaos-seed-" + std::to_string(o_.seed)};
  rig_ = std::make_unique<Rig>(ro);
  if (rig_->dir().empty()) return Internal("no run directory");
  Log("run directory " + rig_->dir().string());
  if (Status st = rig_->Start(); !st.ok()) return st;
  Log("rig " + std::to_string(rig_->network().id()) + ": " + std::to_string(o_.hosts) + " hosts, " +
      StyleName(o_.style) + " style, REDIS_ADDR " + RedisAddrName(o_.redis_addr) +
      (o_.announce ? ", ANNOUNCE_ADDR set" : "") + (ro.faketime ? ", agents under faketime" : ""));
  std::printf("%s", rig_->Describe().c_str());

  // The bounds derive from the agents' settings as the agent reads them.
  Environment env(rig_->agent_env(0).begin(), rig_->agent_env(0).end());
  ParseResult parsed = ParseConfig(env, {}, ReadWholeFile);
  if (const auto* errors = std::get_if<ConfigErrors>(&parsed)) {
    std::string all;
    for (const auto& l : errors->lines) all += l + "; ";
    return InvalidArgument("agent settings: " + all);
  }
  agent_config_ = std::get<Config>(parsed);
  converge_bound_ = o_.converge_timeout.value_or(2 * agent_config_.lock_ttl + agent_config_.EffectiveCheckTtl() +
                                                 agent_config_.lock_delay + seconds(5));
  dead_agent_bound_ = std::chrono::duration_cast<milliseconds>(agent_config_.min_replicas_max_lag + kLagSlack);
  slow_bound_ = std::chrono::duration_cast<milliseconds>(
      std::chrono::microseconds(o_.keys * o_.slow_us * kSlowFactor) + kSlowMargin);

  std::string why;
  std::optional<int> m = rig_->WaitConverged(kSetupTimeout, &why);
  if (!m) return DeadlineExceeded("the group did not converge after start: " + why + "\n" + DescribeGroup(*rig_));
  master_ = *m;
  if (o_.keys > 0) {
    if (Status st = rig_->LoadKeys(master_, o_.keys, o_.value_bytes); !st.ok()) return st;
    const Tp deadline = Clock::now() + kSetupTimeout;
    for (int k = 0; k < rig_->hosts(); ++k) {
      while (rig_->CountKeys(k) != o_.keys) {
        if (Stopped()) return Cancelled("interrupted");
        if (Clock::now() > deadline) return DeadlineExceeded(rig_->host(k).name + " never got the data set");
        std::this_thread::sleep_for(milliseconds(100));
      }
    }
    Log(Fmt("data set: %lld keys of %zu bytes on every host", static_cast<long long>(o_.keys), o_.value_bytes));
  }

  injector_ = std::make_unique<FaultInjector>(
      *rig_,
      InjectorOptions{.keys = o_.keys, .slow_us = o_.slow_us, .converge_bound = converge_bound_,
                      .slow_bound = slow_bound_},
      [this](const std::string& inv, int fault, const std::string& msg) { AddViolation(inv, fault, msg, true); },
      [this](const std::string& line) { Log(line); });
  log_offset_.assign(static_cast<size_t>(rig_->hosts()), 0);

  origin_ = Clock::now();
  origin_wall_ = std::chrono::system_clock::now();
  prober_ = rig_->MakeProber(origin_, kProbeInterval, kProbeTimeout);
  prober_->Start();
  dual_ = std::make_unique<DualMasterDetector>(rig_->hosts());
  std::vector<std::string> names, netns;
  for (int k = 0; k < rig_->hosts(); ++k) {
    names.push_back(rig_->host(k).name);
    netns.push_back(rig_->host(k).ns);
  }
  lock_watcher_ = std::make_unique<LockWatcher>(rig_->ServerEndpoints(), agent_config_.lock_key, names);
  lock_watcher_->Start();
  replication_ = std::make_unique<ReplicationWatch>(netns, kReplicationPoll);
  replication_->Start();
  last_scan_ = Clock::now();

  const Tp deadline = Clock::now() + kSetupTimeout;
  while (true) {
    Sleep(kConvergePoll);
    if (Stopped()) return Cancelled("interrupted");
    m = GroupConverged(*rig_, &why);
    auto last = m ? prober_->LastAccepted(*m) : std::nullopt;
    if (m && last && Clock::now() - *last < kServingWithin) {
      master_ = *m;
      ProcessRounds();  // rounds up to here belong to the setup
      setup_end_ = Clock::now();
      replication_->TakePromotions();
      if (auto run = replication_->CurrentRun(master_)) {
        serving_ = {master_, run->run_id};
        serving_since_ = Clock::now();
      }
      setup_done_ = true;
      break;
    }
    if (Clock::now() > deadline) {
      return DeadlineExceeded("the group did not converge after start: " + why + "\n" + DescribeGroup(*rig_) +
                              AgentExcerpts(origin_));
    }
  }
  Log("group converged: master " + rig_->host(master_).name);

  writer_ = rig_->MakeWriter(origin_);
  writer_->SetTag(0);
  writer_->Start();
  while (writer_->Totals().wait_acked < kWarmupWaitAcks) {
    Sleep(milliseconds(50));
    if (Stopped()) return Cancelled("interrupted");
    if (Clock::now() > deadline) {
      return DeadlineExceeded(Fmt("the writer got %lld WAIT-acknowledged writes before the deadline (target %s)",
                                  static_cast<long long>(writer_->Totals().wait_acked), writer_->Target().c_str()));
    }
  }
  Log(Fmt("writer: %lld WAIT-acknowledged writes on %s; converge bound %lld ms, dead-agent dual-master bound "
          "%lld ms, slow-step bound %lld ms",
          static_cast<long long>(writer_->Totals().wait_acked), writer_->Target().c_str(),
          static_cast<long long>(converge_bound_.count()), static_cast<long long>(dead_agent_bound_.count()),
          static_cast<long long>(slow_bound_.count())));

  if (o_.hosts < 2) std::erase_if(kinds, [](FaultKind k) { return TargetOf(k) == Target::kReplica; });
  if (kinds.empty()) return InvalidArgument("no fault kind can be drawn");
  planner_ = std::make_unique<FaultPlanner>(PlannerOptions{.seed = o_.seed,
                                                           .overlap = o_.overlap,
                                                           .min_duration = o_.min_fault,
                                                           .max_duration = o_.max_fault,
                                                           .kinds = kinds});
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// continuous checks

void Runner::Tick() {
  if (rig_ == nullptr || injector_ == nullptr) return;
  CheckProcesses();
  if (prober_ != nullptr) ProcessRounds();
  if (replication_ != nullptr && setup_done_) CheckPromotions();
  if (Clock::now() - last_scan_ > seconds(1)) ScanLogs();
}

void Runner::CheckProcesses() {
  for (int k = 0; k < rig_->hosts(); ++k) {
    HostWatch& h = injector_->host(k);
    const std::string& name = rig_->host(k).name;
    Revive(rig_->Process(k, HostProcess::kAgent), h.agent_expected, "I4", name + " agent", "", [&] {
      injector_->MarkAgentDown(k);
      Status st = rig_->StartAgent(k);
      injector_->MarkAgentBack(k);
      return st;
    });
    Revive(rig_->Process(k, HostProcess::kRedis), h.redis_expected, "env", name + " redis-server",
           rig_->redis_log(k), [&] { return rig_->StartRedis(k); });
    Revive(rig_->Process(k, HostProcess::kConsul), h.consul_expected, "env", name + " Consul client",
           rig_->dir() / name / "consul.log", [&] { return rig_->StartConsulClient(k); });
  }
  for (int i = 0; i < RigNetwork::kServers; ++i) {
    const std::string& name = rig_->server(i).name;
    Revive(rig_->ServerProcess(i), injector_->server_expected(i), "env", name + " Consul server",
           rig_->dir() / name / "consul.log", [&] { return rig_->StartConsulServer(i); });
  }
}

void Runner::Revive(testing::ChildProcess& process, bool& expected, const std::string& invariant,
                    const std::string& who, const std::filesystem::path& log, const std::function<Status()>& start) {
  if (!expected || process.Running()) return;
  const testing::ExitStatus exit = process.Wait(milliseconds(0)).value_or(testing::ExitStatus{});
  // An agent's own log is shown with the violation; another process's tail
  // says why it went.
  AddViolation(invariant, CurrentFault(),
               who + " exited on its own (" + exit.ToString() + ")" +
                   (log.empty() ? "" : "; log tail:\n" + testing::TailFile(log, 20)),
               log.empty());
  if (Status st = start(); !st.ok()) {
    aborted_ = true;
    abort_reason_ = "cannot restart the " + who + ": " + st.ToString();
    expected = false;
  }
}

void Runner::ProcessRounds() {
  dual_->Add(prober_->TakeRounds(), current_episode_);
  for (const DualOverlap& o : dual_->TakeOverlaps()) JudgeOverlap(o);
}

void Runner::JudgeOverlap(const DualOverlap& o) {
  DualWindow d;
  d.episode = o.episode;
  d.start_ms = SinceOrigin(o.from);
  d.duration_ms = std::max<int64_t>(1, std::chrono::ceil<milliseconds>(o.to - o.from).count());
  d.hosts = (1u << o.a) | (1u << o.b);
  const std::string names = rig_->host(o.a).name + "+" + rig_->host(o.b).name;
  if (!setup_done_ || o.to <= setup_end_) {
    // Before the group first converged every Redis starts out a standalone
    // master: that is the deployment being set up, not a fault handled.
    Log("dual master during setup (not judged): " + names);
    return;
  }
  // The legitimate master is the lock holder at the end of the window; the
  // window is charged to the dead-agent bound only when the other accepting
  // server's agent was dead or stopped (nobody could fence it).
  const std::optional<int> holder = lock_watcher_->HolderAt(o.to);
  std::string context;
  bool all_others_impaired = true;
  int others = 0;
  for (int k : {o.a, o.b}) {
    const HostWatch& h = injector_->host(k);
    const bool impaired = injector_->AgentDownDuring(k, o.from, o.to);
    if (!holder || *holder != k) {
      ++others;
      all_others_impaired = all_others_impaired && impaired;
    }
    context += "; " + rig_->host(k).name + ": " + (holder && *holder == k ? "lock holder, " : "") + "agent " +
               (impaired ? "dead or stopped" : "alive");
    if (h.redis_back && *h.redis_back <= o.to) {
      context += Fmt(", its Redis %s %lld ms before the window", h.redis_back_how.c_str(),
                     static_cast<long long>(MsBetween(*h.redis_back, o.from)));
    }
    if (h.cut) context += ", cut off";
  }
  if (!holder) context += "; lock holder unknown";
  else if (*holder < 0) context += "; lock free";
  d.dead_agent = others > 0 && all_others_impaired;
  windows_.push_back(d);
  if (o.episode > 0) {
    Episode& ep = episodes_[static_cast<size_t>(o.episode - 1)];
    ep.worst_dual_ms = std::max(ep.worst_dual_ms, d.duration_ms);
  }
  const int64_t bound = d.dead_agent ? dead_agent_bound_.count() : 0;
  const std::string text = Fmt("%s accepted writes together for %lld ms (from %s)%s", names.c_str(),
                               static_cast<long long>(d.duration_ms), WallClock(o.from).c_str(), context.c_str());
  if (d.duration_ms > bound) {
    AddViolation("I1", EpisodeFault(o.episode), text + Fmt(" (bound %lld ms)", static_cast<long long>(bound)), true,
                 o.from);
  } else {
    Log("dual master within bound: " + text);
  }
}

void Runner::ScanLogs() {
  last_scan_ = Clock::now();
  static constexpr const char* kPatterns[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                              "WARNING: ThreadSanitizer", "runtime error:",
                                              "SUMMARY: UndefinedBehaviorSanitizer"};
  for (int k = 0; k < rig_->hosts(); ++k) {
    std::uintmax_t& offset = log_offset_[static_cast<size_t>(k)];
    std::ifstream in(rig_->agent_log(k), std::ios::binary);
    if (!in) continue;
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::uintmax_t>(in.tellg());
    if (size < offset) offset = 0;  // truncated: read it all again
    if (size == offset) continue;
    // Back up a little so a report split across two scans is still seen whole.
    const std::uintmax_t from = offset > 64 ? offset - 64 : 0;
    in.seekg(static_cast<std::streamoff>(from));
    std::string chunk(size - from, '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    for (const char* p : kPatterns) {
      const auto at = chunk.find(p);
      if (at == std::string::npos || from + at < offset) continue;
      const auto line_end = chunk.find('\n', at);
      AddViolation("I4", CurrentFault(),
                   rig_->host(k).name + " agent log has a sanitizer report: " +
                       chunk.substr(at, std::min<size_t>(line_end == std::string::npos ? 200 : line_end - at, 200)),
                   true);
      break;
    }
    offset = size;
  }
}

void Runner::CheckPromotions() {
  for (const Promotion& p : replication_->TakePromotions()) {
    // Judged already when it was first seen taking writes as the master.
    const auto judged = judged_at_.find({p.host, p.after.run_id});
    if (judged != judged_at_.end() && judged->second >= p.before.at) continue;
    JudgePromotion(p.host, p.after.run_id, p.before, p.before.at, "promoted (REPLICAOF NO ONE)");
  }
  // The group's master as a client meets it: the lock holder's Redis taking
  // writes. A run that became that without a promotion seen (a Redis its
  // agent kept master from boot) is judged when it does.
  const Tp now = Clock::now();
  const std::optional<int> holder = lock_watcher_->HolderAt(now);
  if (!holder || *holder < 0) return;
  const auto last = prober_->LastAccepted(*holder);
  if (!last || now - *last > kServingWithin) return;
  const auto run = replication_->CurrentRun(*holder);
  if (!run || run->latest.role != "master") return;
  const std::pair<int, std::string> key{*holder, run->run_id};
  if (serving_ && *serving_ == key) return;
  // A lock taken before this Redis started (the holder's session outlived a
  // crash of its host) does not make it the group's master: it is a Redis
  // booting as a standalone master, which I1 and I3 judge by what it does.
  const std::optional<Tp> since = lock_watcher_->HeldSince(now);
  if (!since || *since < run->first_seen) return;
  // A promotion seen since the last change of master was judged already.
  const auto judged = judged_at_.find(key);
  const bool seen = judged != judged_at_.end() && serving_ && judged->second >= serving_since_;
  serving_ = key;
  serving_since_ = now;
  if (seen) return;
  if (run->last_replica) {
    JudgePromotion(*holder, run->run_id, run->last_replica, run->last_replica->at, "promoted (between two looks)");
  } else {
    JudgePromotion(*holder, run->run_id, std::nullopt, run->first_seen, "master since its Redis started");
  }
}

void Runner::JudgePromotion(int k, const std::string& run_id, const std::optional<RedisSample>& before, Tp cutoff,
                            const std::string& how) {
  judged_at_[{k, run_id}] = Clock::now();
  const int fault = CurrentFault();
  const std::string who = rig_->host(k).name + " (" + how + ")";
  const PromotionVerdict v =
      CheckPromotion(*rig_, *writer_, *replication_, k, run_id, before, SinceOrigin(cutoff), verified_upto_, o_.keys);
  if (!v.note.empty()) Log(who + ": " + v.note);
  if (!v.judged) {
    Log(who + ": its writes could not be read while it was that master: not judged (" + v.why_not + ")");
    return;
  }
  promotions_.push_back({{"host", rig_->host(k).name},
                         {"run_id", run_id},
                         {"how", how},
                         {"fault", fault},
                         {"at_ms", SinceOrigin(Clock::now())},
                         {"wait_acked_checked", v.wait_acked_checked},
                         {"keys", v.keys},
                         {"problems", v.problems}});
  if (v.problems.empty()) {
    Log(Fmt("%s became master holding all %lld WAIT-acknowledged writes checked and %lld keys", who.c_str(),
            static_cast<long long>(v.wait_acked_checked), static_cast<long long>(v.keys)));
    return;
  }
  std::string text = who + " became master but ";
  for (size_t i = 0; i < v.problems.size(); ++i) text += (i > 0 ? "; " : "") + v.problems[i];
  AddViolation("I5", fault, text, true, cutoff);
}

void Runner::CheckWrites(int master, bool full, int fault) {
  // The writes to check are fixed before the read: a write acknowledged
  // after it may not be in what the read returns.
  const int64_t upto = writer_->last_seq();
  const int64_t from = full ? 1 : verified_upto_ + 1;
  // The list holds increasing seqs (one sequential writer; a replica holds a
  // prefix of its master's stream), so every seq above verified_upto_ is
  // among its last (current seq - verified_upto_) entries.
  const int64_t span = writer_->last_seq() - from + 17;
  const std::vector<std::string> argv = full ? std::vector<std::string>{"LRANGE", kSeqKey, "0", "-1"}
                                             : std::vector<std::string>{"LRANGE", kSeqKey, std::to_string(-span), "-1"};
  // A list of up to a few 10^6 short strings: a second or two.
  auto r = rig_->Redis(master, argv, seconds(60));
  if (!r.ok()) {
    Log("write check skipped: cannot read " + std::string(kSeqKey) + " from " + rig_->host(master).name + ": " +
        r.status().message());
    return;
  }
  std::set<int64_t> present;
  for (int64_t v : testing::IntegerLines(*r)) present.insert(v);
  MissingWrites missing = FindMissing(*writer_, present, from, upto);
  std::erase_if(missing.wait_acked, [&](int64_t s) { return lost_.contains(s); });
  std::erase_if(missing.acked_only, [&](int64_t s) { return lost_.contains(s); });
  if (!full) verified_upto_ = upto;
  for (int64_t s : missing.wait_acked) lost_.insert(s);
  for (int64_t s : missing.acked_only) lost_.insert(s);
  // An unconfirmed write may be lost with a master a fault killed, froze or
  // cut off: one sent to that master before the fault took hold, which it
  // had not replicated by then (no later write to it was WAIT-acknowledged
  // before the fault). Not one a Redis acknowledged after it came back (a
  // restarted, empty one). The fault need not be this episode's: a master
  // whose replicas were all cut off keeps such writes until their links
  // resume (a TCP retransmission, seconds after a heal), and a fault in a
  // later episode may take it first.
  std::map<int, int64_t> excused_by_episode;
  const int64_t excused = std::erase_if(missing.acked_only, [&](int64_t seq) {
    const Writer::Write w = writer_->Get(seq);
    for (const ActiveFault& f : faults_) {
      if (!MayLoseUnreplicatedWrites(f.kind) || f.target < 0 || f.target != f.master || w.node != f.target ||
          f.injected == Tp{}) {
        continue;
      }
      const int64_t injected_ms = SinceOrigin(f.injected);
      if (w.sent_ms <= injected_ms && !writer_->LaterWaitAckedTo(seq, w.node, injected_ms)) {
        ++excused_by_episode[f.episode];
        return true;
      }
    }
    return false;
  });
  if (excused > 0) {
    lost_unconfirmed_ += excused;
    for (const auto& [episode, n] : excused_by_episode) {
      if (episode >= 1 && episode <= static_cast<int>(episodes_.size())) {
        episodes_[static_cast<size_t>(episode - 1)].lost_unconfirmed += n;
      }
    }
    Log(Fmt("%lld acknowledged writes WAIT had not confirmed were lost with a master a fault cut off before "
            "it could replicate them",
            static_cast<long long>(excused)));
  }
  lost_wait_acked_ += static_cast<int64_t>(missing.wait_acked.size());
  lost_acked_ += static_cast<int64_t>(missing.acked_only.size());
  for (const auto* list : {&missing.wait_acked, &missing.acked_only}) {
    if (list->empty()) continue;
    const bool wait = list == &missing.wait_acked;
    std::string detail;
    for (size_t i = 0; i < std::min<size_t>(list->size(), 5); ++i) {
      const Writer::Write w = writer_->Get((*list)[i]);
      std::string during = w.tag > 0 ? Fmt("fault #%d", EpisodeFault(w.tag)) : "warm-up";
      detail += Fmt(" seq %lld (sent at %s to %s, during %s);", static_cast<long long>(w.seq),
                    WallClock(origin_ + milliseconds(w.sent_ms)).c_str(),
                    w.node >= 0 ? rig_->host(w.node).name.c_str() : "?", during.c_str());
    }
    AddViolation("I3", fault,
                 Fmt("%zu %s writes missing on master %s:", list->size(),
                     wait ? "WAIT-acknowledged"
                          : "acknowledged (WAIT had not confirmed them, but no fault cut off the master that "
                            "took them before it could replicate them)",
                     rig_->host(master).name.c_str()) +
                     detail,
                 true, origin_ + milliseconds(writer_->Get(list->front()).sent_ms));
  }
}

// ---------------------------------------------------------------------------
// faults

FaultDraw Runner::NextDraw() {
  if (pending_) {
    FaultDraw d = *pending_;
    pending_.reset();
    return d;
  }
  return planner_->Next();
}

int Runner::ResolveTarget(const FaultDraw& d, int master) {
  switch (TargetOf(d.kind)) {
    case Target::kAllHosts:
    case Target::kAllServers:
      return -1;
    case Target::kServer: {
      if (d.kind == FaultKind::kConsulLeaderKill) {
        if (auto leader = rig_->ConsulLeaderServer()) return *leader;
      }
      return std::min(RigNetwork::kServers - 1, static_cast<int>(d.pick * RigNetwork::kServers));
    }
    case Target::kHost:
      if (d.target_master && master >= 0) return master;
      [[fallthrough]];
    case Target::kReplica: {
      std::vector<int> others;
      for (int k = 0; k < rig_->hosts(); ++k) {
        if (k != master) others.push_back(k);
      }
      if (others.empty()) return std::max(master, 0);
      return others[std::min(others.size() - 1, static_cast<size_t>(d.pick * static_cast<double>(others.size())))];
    }
  }
  return 0;
}

bool Runner::StartFault(Episode& ep, const FaultDraw& d, const std::string& note) {
  const int master = CurrentMaster();
  ActiveFault f;
  f.draw = d;
  f.kind = d.kind;
  f.master = master;
  f.target = ResolveTarget(d, master);
  f.note = note;
  f.episode = ep.index;
  switch (TargetOf(d.kind)) {
    case Target::kServer: {
      const std::optional<int> leader = rig_->ConsulLeaderServer();
      f.role = leader && *leader == f.target ? "leader" : "follower";
      break;
    }
    case Target::kAllHosts:
    case Target::kAllServers:
      f.role = master >= 0 ? "master " + rig_->host(master).name : "master unknown";
      break;
    default:
      f.role = f.target == master ? "master" : "replica";
  }
  f.start = Clock::now();
  f.heal_at = f.start + d.duration;
  faults_.push_back(std::move(f));
  ep.faults.push_back(faults_.size() - 1);
  ++faults_started_;
  ActiveFault& rec = faults_.back();
  Log(Label(rec) + Fmt(" start, %lld ms", static_cast<long long>(d.duration.count())) +
      (rec.note.empty() ? "" : " [" + rec.note + "]"));
  const std::string planned = rec.note;
  if (Status st = injector_->Inject(rec); !st.ok()) {
    if (Stopped()) return false;
    aborted_ = true;
    abort_reason_ = "cannot inject " + Label(rec) + ": " + st.ToString();
    return false;
  }
  rec.injected = Clock::now();
  if (rec.note != planned) Log(Label(rec) + ": " + rec.note);
  return true;
}

std::string Runner::RefuseOverlap(const Episode& ep, const ActiveFault& first, FaultKind kind, int target) const {
  const bool keeps_data = o_.style == testing::DeploymentStyle::kSystemd;
  if (RunsAlone(kind, keeps_data)) return "it runs alone";
  const Target a = TargetOf(first.kind), b = TargetOf(kind);
  const bool first_server = a == Target::kServer, second_server = b == Target::kServer;
  // Two Consul servers at once lose the quorum of three: beyond what the
  // deployment is built to survive.
  if (first_server && second_server) return "two Consul servers at once";
  if (first_server || second_server) return "";
  // Two faults on hosts at once stay within what a group with WAIT 1 is
  // built to survive: both on one host (on different processes), or both
  // away from the master. A fault on the master plus one on another host can
  // legitimately lose a WAIT-acknowledged write (the replica holding it may
  // be the one that cannot be promoted).
  if (target == first.target) {
    return (Resources(kind) & Resources(first.kind)) != 0 ? "it acts on the same process" : "";
  }
  for (int m : {ep.master_before, first.master, CurrentMaster()}) {
    if (m >= 0 && (m == target || m == first.target)) return "two hosts including the master";
  }
  return "";
}

bool Runner::RunEpisode() {
  episodes_.push_back(Episode{});
  Episode& ep = episodes_.back();
  ep.index = static_cast<int>(episodes_.size());
  ep.start = Clock::now();
  ep.master_before = master_;
  current_episode_ = ep.index;
  writer_->SetTag(ep.index);

  const FaultDraw first = NextDraw();
  if (!StartFault(ep, first, "")) return false;
  const size_t first_idx = ep.faults.front();
  const bool keeps_data = o_.style == testing::DeploymentStyle::kSystemd;

  std::optional<FaultDraw> second;
  Tp second_at{};
  if (first.overlap && !RunsAlone(first.kind, keeps_data) && faults_started_ < o_.faults) {
    second = planner_->Next();
    second_at = ep.start + std::chrono::duration_cast<Clock::duration>(first.duration * first.overlap_at);
  }

  while (true) {
    Sleep(kTick);
    if (Stopped() || aborted_) return false;
    const Tp now = Clock::now();
    if (second && now >= second_at) {
      const FaultDraw d = *second;
      second.reset();
      const ActiveFault& f1 = faults_[first_idx];
      const int target = ResolveTarget(d, CurrentMaster());
      const std::string refuse = f1.healed ? "the first already healed" : RefuseOverlap(ep, f1, d.kind, target);
      if (!refuse.empty()) {
        pending_ = d;
        Log(Fmt("#%d %s deferred to run alone (%s)", d.number, std::string(KindName(d.kind)).c_str(),
                refuse.c_str()));
      } else if (!StartFault(ep, d, "overlaps #" + std::to_string(first.number))) {
        return false;
      }
    }
    bool all_healed = !second.has_value();
    for (size_t idx : ep.faults) {
      ActiveFault& f = faults_[idx];
      if (f.healed) continue;
      if (Clock::now() >= f.heal_at) {
        if (Status st = injector_->Advance(f); !st.ok()) {
          if (Stopped()) return false;
          AddViolation("heal", f.draw.number, "cannot heal " + Label(f) + ": " + st.ToString(), true);
          aborted_ = true;
          abort_reason_ = "a heal action failed";
          return false;
        }
        if (!f.healed) {  // healing in steps
          all_healed = false;
          continue;
        }
        Log(Label(f) + " healed");
        ep.last_heal = *f.healed;
      } else {
        all_healed = false;
      }
    }
    if (all_healed) break;
  }
  if (!WaitConverged(ep)) return false;
  MeasureEpisodeOutage(ep);
  return true;
}

bool Runner::WaitConverged(Episode& ep) {
  const int fault = faults_[ep.faults.front()].draw.number;
  const Tp deadline = ep.last_heal + converge_bound_;
  std::string why;
  bool reported = false;
  Tp next_note = ep.last_heal + seconds(5);
  while (true) {
    Sleep(kConvergePoll);
    if (!why.empty() && Clock::now() >= next_note) {
      // A slow convergence says what it is waiting for, so the timeline
      // explains a long converge time even when it stays within the bound.
      Log("still converging: " + why);
      next_note += seconds(5);
    }
    if (Stopped() || aborted_) return false;
    std::optional<int> m = GroupConverged(*rig_, &why);
    if (m) {
      auto last = prober_->LastAccepted(*m);
      if (!last || Clock::now() - *last > kServingWithin) {
        why = rig_->host(*m).name + " is master everywhere but does not accept writes";
        m.reset();
      }
    }
    if (m) {
      const Tp now = Clock::now();
      if (!reported) ep.converge_ms = MsBetween(ep.last_heal, now);
      ep.master_after = *m;
      master_ = *m;
      const auto sessions = rig_->ConsulGet("/v1/session/list");
      const json sj = sessions.ok() ? json::parse(sessions->body, nullptr, false) : json();
      Log(Fmt("converged %lld ms after the heal: master %s, %d sessions",
              static_cast<long long>(MsBetween(ep.last_heal, now)), rig_->host(*m).name.c_str(),
              sj.is_array() ? static_cast<int>(sj.size()) : -1));
      CheckWrites(*m, false, fault);
      Tp settle{};
      for (int k = 0; k < rig_->hosts(); ++k) settle = std::max(settle, injector_->host(k).tilt_until);
      if (settle > Clock::now()) {
        Log(Fmt("waiting %lld ms for an agent's no-promotion cool-down (TILT) to end",
                static_cast<long long>(MsBetween(Clock::now(), settle))));
        while (Clock::now() < settle) {
          Sleep(kTick);
          if (Stopped() || aborted_) return false;
        }
      }
      return true;
    }
    if (!reported && Clock::now() > deadline) {
      reported = true;
      ep.converge_ms = converge_bound_.count();
      AddViolation("I2", fault,
                   Fmt("not converged %lld ms after the heal: ", static_cast<long long>(converge_bound_.count())) +
                       why + "\n" + DescribeGroup(*rig_),
                   true, ep.last_heal);
    }
    if (reported && Clock::now() > deadline + kRecoveryTimeout) {
      aborted_ = true;
      abort_reason_ = "the group did not recover " + std::to_string(kRecoveryTimeout.count()) +
                      " s after the convergence deadline";
      return false;
    }
  }
}

void Runner::MeasureEpisodeOutage(Episode& ep) {
  // Writes resume once the writer has followed the master; the outage ends
  // with the first acknowledged write after convergence.
  const int64_t converged_seq = writer_->last_seq();
  const Tp deadline = Clock::now() + kWritesBackTimeout;
  bool back = false;
  while (!back && Clock::now() < deadline && !Stopped()) {
    for (int64_t s = converged_seq + 1; s <= writer_->last_seq() && !back; ++s) back = writer_->Get(s).acked;
    if (!back) Sleep(milliseconds(20));
  }
  if (!back) {
    Log(Fmt("the writer had no write acknowledged %lld s after convergence (target %s)",
            static_cast<long long>(kWritesBackTimeout.count()), writer_->Target().c_str()));
  }
  ep.end = Clock::now();
  ep.outage = MeasureOutage(*writer_, SinceOrigin(ep.start), SinceOrigin(ep.end));
  Log(Fmt("write outage: %lld ms at the fault, longest gap %lld ms", static_cast<long long>(ep.outage.at_fault_ms),
          static_cast<long long>(ep.outage.longest_ms)));
}

// ---------------------------------------------------------------------------
// end of run

void Runner::FinalChecks() {
  // Sessions: one per live agent, once Consul has invalidated those of the
  // agents it saw die (between one and two session TTLs at most).
  const Tp deadline = Clock::now() + 2 * agent_config_.lock_ttl + seconds(5);
  int sessions = -1;
  while (true) {
    Sleep(milliseconds(200));
    if (Stopped()) return;
    sessions = -1;
    if (auto r = rig_->ConsulGet("/v1/session/list"); r.ok()) {
      const json j = json::parse(r->body, nullptr, false);
      if (j.is_array()) {
        sessions = 0;
        for (const json& s : j) {
          if (s.is_object() && s.value("Name", "") == agent_config_.lock_session_name) ++sessions;
        }
      }
    }
    if (sessions == rig_->hosts() || Clock::now() > deadline) break;
  }
  if (sessions != rig_->hosts()) {
    AddViolation("I4", 0,
                 Fmt("%d lock sessions named %s at the end for %d live agents", sessions,
                     agent_config_.lock_session_name.c_str(), rig_->hosts()),
                 true);
  } else {
    Log(Fmt("%d sessions for %d agents", sessions, rig_->hosts()));
  }

  writer_->Stop();
  // The last rounds, so a window still open is judged too.
  Sleep(kProbeTimeout + 2 * kProbeInterval);
  prober_->Stop();
  ProcessRounds();
  dual_->CloseAll();
  for (const DualOverlap& o : dual_->TakeOverlaps()) JudgeOverlap(o);
  CheckPromotions();
  CheckWrites(master_, true, 0);

  // Every agent exits 0 on SIGTERM (the master hands over first).
  for (int k = 0; k < rig_->hosts(); ++k) {
    injector_->host(k).agent_expected = false;
    rig_->Process(k, HostProcess::kAgent).Signal(SIGTERM);
  }
  for (int k = 0; k < rig_->hosts(); ++k) {
    // The master's handover waits up to SWITCHOVER_TIMEOUT, then its
    // shutdown has its own deadline: 30 s covers both.
    testing::ChildProcess& agent = rig_->Process(k, HostProcess::kAgent);
    auto exit = agent.Wait(seconds(30));
    if (!exit) {
      agent.Kill();
      AddViolation("I4", 0, rig_->host(k).name + " agent did not exit within 30 s of SIGTERM", true);
    } else if (!exit->Exited() || exit->code != 0) {
      AddViolation("I4", 0, rig_->host(k).name + " agent ended with " + exit->ToString() + " on SIGTERM", true);
    }
  }
  ScanLogs();
}

RunSummary Runner::Summarize() const {
  RunSummary s;
  const auto by_tag = writer_ != nullptr ? writer_->CountsByTag() : std::map<int, WriteCounts>{};
  for (const Episode& ep : episodes_) {
    std::set<std::string> in_episode;
    for (size_t idx : ep.faults) {
      const std::string name(KindName(faults_[idx].kind));
      s.kinds[name].faults++;
      in_episode.insert(name);
    }
    for (const std::string& name : in_episode) {
      KindStats& k = s.kinds[name];
      k.worst_converge_ms = std::max(k.worst_converge_ms, ep.converge_ms.value_or(0));
      k.worst_dual_master_ms = std::max(k.worst_dual_master_ms, ep.worst_dual_ms);
      k.longest_outage_ms = std::max(k.longest_outage_ms, ep.outage.longest_ms);
      k.longest_outage_at_fault_ms = std::max(k.longest_outage_at_fault_ms, ep.outage.at_fault_ms);
      k.lost_unconfirmed += ep.lost_unconfirmed;
      if (auto it = by_tag.find(ep.index); it != by_tag.end()) {
        k.writes.writes += it->second.writes;
        k.writes.acked += it->second.acked;
        k.writes.wait_acked += it->second.wait_acked;
      }
    }
    s.worst_converge_ms = std::max(s.worst_converge_ms, ep.converge_ms.value_or(0));
  }
  for (const DualWindow& w : windows_) s.worst_dual_master_ms = std::max(s.worst_dual_master_ms, w.duration_ms);
  s.writes = writer_ != nullptr ? writer_->Totals() : WriteCounts{};
  s.faults = faults_started_;
  s.duration_s = static_cast<double>(MsBetween(run_start_, Clock::now())) / 1000.0;
  if (aborted_) s.aborted = abort_reason_;
  s.violations = static_cast<int>(violations_.size());
  for (const Violation& v : violations_) {
    s.violations_by_invariant[v.invariant]++;
    for (const ActiveFault& f : faults_) {
      if (f.draw.number == v.fault) s.kinds[std::string(KindName(f.kind))].violations[v.invariant]++;
    }
  }
  s.lost_wait_acked = lost_wait_acked_;
  s.lost_acked = lost_acked_;
  s.lost_unconfirmed = lost_unconfirmed_;
  s.promotions_checked = static_cast<int>(promotions_.size());

  json env = rig_ != nullptr ? json(rig_->agent_env(0)) : json::object();
  s.header = {{"seed", o_.seed},
              {"faults_requested", o_.faults},
              {"overlap", o_.overlap},
              {"rig", {{"style", StyleName(o_.style)},
                       {"hosts", o_.hosts},
                       {"redis_addr", RedisAddrName(o_.redis_addr)},
                       {"announce_addr", o_.announce},
                       {"keys", o_.keys},
                       {"value_bytes", o_.value_bytes},
                       {"slow_us_per_key", o_.slow_us}}},
              {"settings", {{"agent_env_h1", env},
                            {"converge_bound_ms", converge_bound_.count()},
                            {"dead_agent_dual_master_bound_ms", dead_agent_bound_.count()},
                            {"slow_step_bound_ms", slow_bound_.count()},
                            {"probe_interval_ms", kProbeInterval.count()},
                            {"probe_timeout_ms", kProbeTimeout.count()},
                            {"info_poll_ms", kReplicationPoll.count()},
                            {"write_interval_ms", testing::kWriteInterval.count()},
                            {"wait", "WAIT " + std::to_string(testing::kWaitReplicas) + " " +
                                         std::to_string(kWaitTimeoutMs)},
                            {"fault_ms", {o_.min_fault.count(), o_.max_fault.count()}}}},
              {"replay", o_.replay_command}};
  json jv = json::array();
  for (const Violation& v : violations_) {
    jv.push_back({{"invariant", v.invariant}, {"fault", v.fault}, {"message", v.message}});
  }
  json jf = json::array();
  for (const ActiveFault& f : faults_) {
    const Episode& ep = episodes_[static_cast<size_t>(f.episode - 1)];
    jf.push_back({{"number", f.draw.number},
                  {"kind", KindName(f.kind)},
                  {"target", injector_->TargetName(f)},
                  {"role", f.role},
                  {"episode", f.episode},
                  {"start_ms", SinceOrigin(f.start)},
                  {"duration_ms", f.draw.duration.count()},
                  {"healed_after_ms", f.healed ? json(MsBetween(f.start, *f.healed)) : json(nullptr)},
                  {"converge_ms", ep.converge_ms ? json(*ep.converge_ms) : json(nullptr)},
                  {"write_outage_ms", ep.outage.longest_ms},
                  {"write_outage_at_fault_ms", ep.outage.at_fault_ms},
                  {"note", f.note}});
  }
  json jw = json::array();
  for (const DualWindow& w : windows_) {
    jw.push_back({{"episode", w.episode}, {"fault", EpisodeFault(w.episode)}, {"start_ms", w.start_ms},
                  {"duration_ms", w.duration_ms}, {"hosts_mask", w.hosts}, {"dead_agent", w.dead_agent}});
  }
  s.lists = {{"violation_list", jv}, {"fault_list", jf}, {"dual_master_windows", jw}, {"promotions", promotions_}};
  return s;
}

void Runner::Report() {
  const RunSummary s = Summarize();
  std::printf("%s", SummaryTable(s).c_str());
  std::printf("chaos: seed=%llu duration=%.0fs (%.1f s per fault) promotions_checked=%d lost_acked=%lld "
              "lost_acked_unconfirmed_excused=%lld%s\n",
              static_cast<unsigned long long>(o_.seed), s.duration_s, s.faults > 0 ? s.duration_s / s.faults : 0.0,
              s.promotions_checked, static_cast<long long>(s.lost_acked), static_cast<long long>(s.lost_unconfirmed),
              aborted_ ? (" ABORTED: " + abort_reason_).c_str() : "");
  if (!violations_.empty()) {
    std::printf("chaos: %zu violation(s), seed %llu; replay with: %s\n", violations_.size(),
                static_cast<unsigned long long>(o_.seed), o_.replay_command.c_str());
    for (const Violation& v : violations_) {
      std::printf("chaos:   %s fault #%d: %s\n", v.invariant.c_str(), v.fault,
                  v.message.substr(0, v.message.find('\n')).c_str());
    }
    std::printf("chaos: fault timeline:\n");
    for (const std::string& line : timeline_) std::printf("chaos:   %s\n", line.c_str());
  }
  if (rig_ != nullptr && (!violations_.empty() || aborted_ || o_.keep_dir)) {
    rig_->KeepDir();
    std::printf("chaos: logs kept in %s\n", rig_->dir().string().c_str());
  }
  std::printf("%s\n", SummaryLastLine(s).c_str());
  std::fflush(stdout);
  if (rig_ != nullptr && !rig_->dir().empty()) {
    std::ofstream t(rig_->dir() / "timeline.txt");
    for (const std::string& line : timeline_) t << line << "\n";
  }
  if (!o_.out_json.empty()) {
    if (Status st = WriteSummaryJson(s, o_.out_json); !st.ok()) std::printf("chaos: %s\n", st.ToString().c_str());
  }
}

int Runner::Run() {
  run_start_ = Clock::now();
  Log(Fmt("seed %llu, %d faults, overlap %.2f, fault %lld..%lld ms", static_cast<unsigned long long>(o_.seed),
          o_.faults, o_.overlap, static_cast<long long>(o_.min_fault.count()),
          static_cast<long long>(o_.max_fault.count())));
  Status st = Setup();
  if (!st.ok()) {
    std::printf("chaos: error: setup failed: %s\n", st.ToString().c_str());
    aborted_ = true;
    abort_reason_ = "setup failed";
    if (writer_ != nullptr) writer_->Stop();
    Report();
    return Stopped() ? 130 : 3;
  }
  while (faults_started_ < o_.faults && !aborted_ && !Stopped()) {
    if (!RunEpisode()) break;
  }
  if (!aborted_ && !Stopped()) {
    writer_->SetTag(0);
    current_episode_ = 0;
    FinalChecks();
  } else if (writer_ != nullptr) {
    writer_->Stop();
  }
  if (prober_ != nullptr) prober_->Stop();
  if (lock_watcher_ != nullptr) lock_watcher_->Stop();
  if (replication_ != nullptr) replication_->Stop();
  Report();
  if (Stopped()) return 130;
  if (aborted_) return 3;
  return violations_.empty() ? 0 : 1;
}

}  // namespace

int RunChaos(const RunnerOptions& options, const std::atomic<bool>& stop) {
  Runner runner(options, stop);
  return runner.Run();  // the rig (processes, network, directory unless kept) goes with the runner
}

}  // namespace resec::chaos
