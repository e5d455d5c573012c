#include "runner.h"

#include <signal.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster.h"
#include "network.h"
#include "resec/config.h"
#include "settings.h"
#include "support/child_process.h"
#include "support/redis_conn.h"
#include "support/traffic.h"

namespace resec::chaos {

// The clients are the shared ones (tests/support/traffic.h).
using testing::Clock;
using testing::Endpoint;
using testing::kSeqKey;
using testing::kWaitReplicas;
using testing::kWaitTimeoutMs;
using testing::kWriteInterval;
using testing::LockWatcher;
using testing::Prober;
using testing::RedisOnce;
using testing::WriteCounts;
using testing::Writer;

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- The runner's own timing. ----
// One prober round every 20 ms: fine enough to see a dual-master window of a
// few tens of milliseconds, light enough for three threads on two cores.
constexpr milliseconds kProbeInterval{20};
// A live Redis answers a SET in well under a millisecond over a veth; 100 ms
// tolerates a loaded machine, and a paused server costs no more than that.
constexpr milliseconds kProbeTimeout{100};
// The main loop's tick: process exits and prober rounds are looked at this often.
constexpr milliseconds kTick{10};
// Convergence is observed this often (each look is about ten local requests).
constexpr milliseconds kConvergePoll{100};
// The master must have accepted a probe write this recently to count as serving.
constexpr milliseconds kServingWithin{300};
// A restarted or resumed agent needs a moment (start, first INFO, first
// decision) before it can fence its Redis: dual-master windows up to this
// long after it came back are still charged to the dead-agent bound. The
// runner only counts the agent as back once its state server answers, and it
// reads its Redis' role at once (INFO then every 100 ms): a second is ample,
// and Consul is not needed to fence a Redis that is master without the lock.
constexpr seconds kAgentComebackGrace{1};
// The agent's TILT guard (docs/failover.md): a loop stalled for more than
// 2 s makes no promotion for 5 s. A SIGSTOPped agent wakes up in it, and
// while it lasts that node cannot take over: the fault is not over until the
// cool-down is, or the next fault would overlap it.
// Node restarts bring the agent back this long after its Redis: longer than
// the once-a-second reconnect of the other nodes' Redis (see Heal).
constexpr milliseconds kNodeAgentLag{1500};
constexpr milliseconds kTiltThreshold{1500};  // a little under 2 s: a pause that may have tripped it
constexpr milliseconds kTiltCoolDown{5200};   // 5 s and a scheduling margin
// Replicas acknowledge the replication stream once a second, so Redis'
// min-replicas-max-lag check can trail the lag setting by about that.
constexpr seconds kLagSlack{2};
// The cluster's first start: three Consul servers electing a leader, three
// Redis, three agents electing a master.
constexpr seconds kSetupTimeout{90};
// Writes the writer must have WAIT-acknowledged before the first fault, so
// the run starts from a group that is demonstrably serving.
constexpr int64_t kWarmupWaitAcks = 100;
// After a convergence violation, how much longer to wait for the group to
// recover before giving up the run (its state would make later figures moot).
constexpr seconds kRecoveryTimeout{60};
// Agent log lines shown with a violation.
constexpr int kTailLines = 40;

using Tp = Clock::time_point;

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

// Which processes and links a fault acts on: two overlapping faults on one
// node must not touch the same one.
unsigned Resources(FaultKind k) {
  constexpr unsigned kRedis = 1, kAgent = 2, kConsul = 4, kNet = 8;
  switch (k) {
    case FaultKind::kRedisRestart:
    case FaultKind::kRedisRestartEmpty:
    case FaultKind::kRedisPause:
      return kRedis;
    case FaultKind::kAgentRestart:
    case FaultKind::kAgentPause:
      return kAgent;
    case FaultKind::kNodeRestart:
    case FaultKind::kNodeRestartEmpty:
      return kRedis | kAgent;
    case FaultKind::kConsulLeaderKill:
    case FaultKind::kConsulRestart:
      return kConsul;
    case FaultKind::kPartition:
      return kNet;
  }
  return 0;
}

struct FaultRecord {
  FaultDraw draw;
  FaultKind kind = FaultKind::kRedisRestart;  // may differ from draw.kind (downgraded)
  int node = -1;
  std::string role;  // what the node was when the fault started
  std::string note;
  int episode = 0;
  Tp start;
  Tp heal_at;
  std::optional<Tp> healed;
  bool redis_back = false;  // node restarts: Redis is back, the agent not yet
};

struct Episode {
  int index = 0;
  std::vector<size_t> faults;  // into Runner::faults_
  Tp start;
  Tp last_heal;
  std::optional<int64_t> converge_ms;
  int64_t worst_dual_ms = 0;
  int master_before = -1;
  int master_after = -1;
};

struct DualWindow {
  int episode = 0;
  int64_t start_ms = 0;  // since the origin
  int64_t duration_ms = 0;
  unsigned nodes = 0;
  bool dead_agent = false;  // excused up to the dead-agent bound
};

struct Violation {
  std::string invariant;
  int fault = 0;  // the fault it is charged to, 0 for none
  std::string message;
};

struct KindStats {
  int count = 0;
  int64_t worst_converge_ms = 0;
  int64_t worst_dual_ms = 0;
  WriteCounts writes;
};

class Runner {
 public:
  Runner(const RunnerOptions& o, const std::atomic<bool>& stop) : o_(o), stop_(stop) {}
  int Run();

 private:
  // ---- phases ----
  Status Setup();
  // false: stop the run (interrupted, or the cluster cannot go on).
  bool RunEpisode();
  bool WaitConverged(Episode& ep);
  void FinalChecks();
  void Report();

  // ---- faults ----
  FaultDraw NextDraw();
  int ResolveNode(const FaultDraw& d, int master);
  Status Inject(FaultRecord& f);
  Status Heal(FaultRecord& f);
  std::string Label(const FaultRecord& f) const;

  // ---- continuous checks ----
  void Tick();
  void CheckProcesses();
  void ProcessRounds();
  void CloseWindow();
  void ScanLogs();
  void CheckWrites(int master, bool full, int fault);

  // ---- helpers ----
  void Log(const std::string& line);
  // with_logs: print the agents' log lines since `since` (default: 10 s ago).
  void AddViolation(const std::string& invariant, int fault, const std::string& message, bool with_logs,
                    std::optional<Tp> since = std::nullopt);
  // Each agent's log lines from `from` (5 s earlier, to show the lead-up)
  // to now, at most kTailLines per agent.
  std::string AgentExcerpts(Tp from) const;
  // "2026-01-02T03:04:05.678Z": the agents' own timestamp format.
  std::string WallClock(Tp t) const;
  int64_t SinceOrigin(Tp t) const { return MsBetween(origin_, t); }
  bool Stopped() const { return stop_.load(); }
  void Sleep(milliseconds d) {
    Tick();
    std::this_thread::sleep_for(d);
  }
  void MarkAgentDown(int node, Tp t) { impaired_[node].push_back({t, Tp::max()}); }
  void MarkAgentBack(int node, Tp t) {
    if (!impaired_[node].empty() && impaired_[node].back().second == Tp::max()) {
      impaired_[node].back().second = t + kAgentComebackGrace;
    }
  }
  bool AgentImpairedDuring(int node, Tp from, Tp to) const {
    for (const auto& [a, b] : impaired_[node]) {
      if (a <= to && b >= from) return true;
    }
    return false;
  }
  int CurrentMaster() const;

  const RunnerOptions& o_;
  const std::atomic<bool>& stop_;
  Config agent_config_;  // the agents' settings as the agent reads them
  std::map<std::string, std::string> agent_env_;
  milliseconds converge_bound_{0};
  milliseconds dead_agent_bound_{0};
  std::string net_note_;
  bool setup_done_ = false;  // the group converged once: I1 is judged from here
  bool aborted_ = false;
  std::string abort_reason_;

  std::unique_ptr<Network> net_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<LockWatcher> lock_watcher_;
  std::unique_ptr<FaultPlanner> planner_;
  std::optional<FaultDraw> pending_;
  Tp origin_;
  std::chrono::system_clock::time_point origin_wall_;
  Tp run_start_;

  int master_ = -1;
  int faults_started_ = 0;
  int current_episode_ = 0;
  std::vector<Episode> episodes_;
  std::vector<FaultRecord> faults_;
  std::vector<std::string> timeline_;
  std::vector<Violation> violations_;
  std::array<bool, kNodes> agent_expected_ = {true, true, true};
  std::array<bool, kNodes> redis_expected_ = {true, true, true};
  std::array<bool, kNodes> consul_expected_ = {true, true, true};
  std::array<std::vector<std::pair<Tp, Tp>>, kNodes> impaired_;
  // When each node's Redis last came back (restart or SIGCONT), for the
  // context of a dual-master window.
  std::array<std::optional<Tp>, kNodes> redis_back_;
  std::array<Tp, kNodes> tilt_until_{};  // each agent's promotion cool-down after a pause
  std::array<std::string, kNodes> redis_back_how_;
  std::array<std::uintmax_t, kNodes> log_offset_ = {0, 0, 0};
  Tp last_scan_;

  // I1
  struct OpenWindow {
    int64_t first = 0;
    int64_t last = 0;
    unsigned nodes = 0;
    int episode = 0;
  };
  std::optional<OpenWindow> open_;
  std::vector<DualWindow> windows_;

  // I3
  int64_t verified_upto_ = 0;
  std::set<int64_t> lost_wait_acked_;
  int64_t lost_acked_ = 0;  // acknowledged without WAIT and gone: expected, reported only
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
  if (cluster_ == nullptr) return out;
  const std::string since = WallClock(from - seconds(5));
  for (int i = 0; i < kNodes; ++i) {
    out += "----- " + cluster_->agent_log(i).string() + " since " + since + "\n";
    // Agent lines start with their UTC timestamp, so text order is time order.
    std::deque<std::string> lines;
    std::ifstream in(cluster_->agent_log(i), std::ios::binary);
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

std::string Runner::Label(const FaultRecord& f) const {
  return Fmt("#%d %s %s (%s)", f.draw.number, std::string(KindName(f.kind)).c_str(),
             cluster_->node_name(f.node).c_str(), f.role.c_str());
}

int Runner::CurrentMaster() const {
  ClusterView v = cluster_->Observe();
  if (v.catalog_ok) {
    int found = -1, n = 0;
    for (const ServiceInstance& s : v.masters) {
      if (s.status == "passing") {
        found = cluster_->NodeOfName(s.node);
        ++n;
      }
    }
    if (n == 1 && found >= 0) return found;
  }
  return master_;
}

// ---------------------------------------------------------------------------
// setup

Status Runner::Setup() {
  std::error_code ec;
  std::filesystem::create_directories(o_.dir, ec);
  if (ec) return FailedPrecondition("cannot create " + o_.dir.string() + ": " + ec.message());

  // The agents run the benchmark's tuned settings; the bounds derive from
  // them as the agent itself reads them.
  for (const bench::Setting& s : bench::SettingsFor(bench::SystemKind::kResec, bench::Mode::kTuned)) {
    agent_env_[s.name] = s.value;
  }
  agent_env_["LOG_LEVEL"] = o_.agent_log_level;
  Environment env(agent_env_.begin(), agent_env_.end());
  ParseResult parsed = ParseConfig(env, {}, ReadWholeFile);
  if (const auto* errors = std::get_if<ConfigErrors>(&parsed)) {
    std::string all;
    for (const auto& l : errors->lines) all += l + "; ";
    return InvalidArgument("agent settings: " + all);
  }
  agent_config_ = std::get<Config>(parsed);
  const milliseconds check_ttl = agent_config_.EffectiveCheckTtl();
  converge_bound_ = o_.converge_timeout.value_or(2 * agent_config_.lock_ttl + check_ttl + agent_config_.lock_delay +
                                                 seconds(5));
  dead_agent_bound_ = std::chrono::duration_cast<milliseconds>(agent_config_.min_replicas_max_lag + kLagSlack);

  net_ = Network::Create(o_.net_id, o_.loopback, o_.dir, &net_note_);
  Log("network: " + net_note_);
  for (int i = 0; i < kNodes; ++i) {
    const NodeNet& n = net_->node(i);
    Log(Fmt("node n%d: %s (runner path %s)%s%s", i + 1, n.ip.c_str(), n.mgmt_ip.c_str(),
            n.ns.empty() ? "" : " in namespace ", n.ns.c_str()));
  }

  ClusterOptions co;
  co.dir = o_.dir;
  co.resec_bin = o_.resec_bin;
  co.consul_bin = o_.consul_bin;
  co.agent_env = agent_env_;
  co.stop = &stop_;
  if (o_.redis_boot_fenced) co.redis_extra_args = {"--min-replicas-to-write", "1"};
  cluster_ = std::make_unique<Cluster>(*net_, co);

  const Tp deadline = Clock::now() + kSetupTimeout;
  for (int i = 0; i < kNodes; ++i) {
    if (Status st = cluster_->StartConsul(i); !st.ok()) return st;
  }
  if (Status st = cluster_->WaitConsulCluster(kSetupTimeout); !st.ok()) return st;
  Log("consul: three servers, leader on " +
      cluster_->node_name(cluster_->ConsulLeaderNode().value_or(0)));
  for (int i = 0; i < kNodes; ++i) {
    if (Status st = cluster_->StartRedis(i); !st.ok()) return st;
  }
  for (int i = 0; i < kNodes; ++i) {
    if (Status st = cluster_->StartAgent(i); !st.ok()) return st;
  }

  origin_ = Clock::now();
  origin_wall_ = std::chrono::system_clock::now();
  prober_ = std::make_unique<Prober>(
      [&] {
        std::vector<Endpoint> t;
        for (int i = 0; i < kNodes; ++i) t.push_back({cluster_->net(i).mgmt_ip, cluster_->ports(i).redis});
        return t;
      }(),
      origin_, kProbeInterval, kProbeTimeout);
  prober_->Start();
  {
    std::vector<Endpoint> servers;
    std::vector<std::pair<std::string, int>> redis;
    for (int i = 0; i < kNodes; ++i) {
      servers.push_back({cluster_->net(i).mgmt_ip, cluster_->ports(i).consul_http});
      redis.emplace_back(cluster_->net(i).ip, cluster_->ports(i).redis);
    }
    lock_watcher_ = std::make_unique<LockWatcher>(servers, agent_config_.lock_key, redis);
    lock_watcher_->Start();
  }
  last_scan_ = Clock::now();

  std::string why;
  while (true) {
    Sleep(kConvergePoll);
    if (Stopped()) return Cancelled("interrupted");
    ClusterView v = cluster_->Observe();
    std::optional<int> m = Cluster::Converged(*cluster_, v, &why);
    auto last = m ? prober_->LastAccepted(*m) : std::nullopt;
    if (m && last && Clock::now() - *last < kServingWithin) {
      master_ = *m;
      ProcessRounds();  // rounds up to here belong to the setup
      setup_done_ = true;
      break;
    }
    if (Clock::now() > deadline) {
      return DeadlineExceeded("the group did not converge after start: " + why + "\n" + cluster_->Describe(v) +
                              AgentExcerpts(origin_));
    }
  }
  Log("group converged: master " + cluster_->node_name(master_));

  std::vector<std::string> addrs;
  for (int i = 0; i < kNodes; ++i) addrs.push_back(cluster_->redis_addr(i));
  writer_ = std::make_unique<Writer>(cluster_->ConsulClientAddrs(), addrs, origin_);
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
  Log(Fmt("writer: %lld WAIT-acknowledged writes on %s; converge bound %lld ms, dead-agent dual-master bound %lld ms",
          static_cast<long long>(writer_->Totals().wait_acked), writer_->Target().c_str(),
          static_cast<long long>(converge_bound_.count()), static_cast<long long>(dead_agent_bound_.count())));

  std::vector<FaultKind> kinds = o_.kinds.empty() ? std::vector<FaultKind>(std::begin(kAllKinds), std::end(kAllKinds))
                                                  : o_.kinds;
  if (!net_->namespaces()) std::erase(kinds, FaultKind::kPartition);
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
  if (cluster_ == nullptr) return;
  CheckProcesses();
  if (prober_ != nullptr) ProcessRounds();
  if (Clock::now() - last_scan_ > seconds(1)) ScanLogs();
}

void Runner::CheckProcesses() {
  const int fault = faults_.empty() ? 0 : faults_.back().draw.number;
  for (int i = 0; i < kNodes; ++i) {
    if (agent_expected_[i] && !cluster_->agent(i).Running()) {
      const testing::ExitStatus exit =
          cluster_->agent(i).Wait(milliseconds(0)).value_or(testing::ExitStatus{});
      AddViolation("I4", fault, cluster_->node_name(i) + " agent exited on its own (" + exit.ToString() + ")", true);
      MarkAgentDown(i, Clock::now());
      if (Status st = cluster_->StartAgent(i); !st.ok()) {
        aborted_ = true;
        abort_reason_ = "cannot restart the agent: " + st.ToString();
        agent_expected_[i] = false;
      }
      MarkAgentBack(i, Clock::now());
    }
    if (redis_expected_[i] && !cluster_->redis(i).Running()) {
      const testing::ExitStatus exit =
          cluster_->redis(i).Wait(milliseconds(0)).value_or(testing::ExitStatus{});
      AddViolation("env", fault,
                   cluster_->node_name(i) + " redis-server exited on its own (" + exit.ToString() + "); log tail:\n" +
                       testing::TailFile(cluster_->redis_log(i), 20),
                   false);
      if (Status st = cluster_->StartRedis(i); !st.ok()) {
        aborted_ = true;
        abort_reason_ = "cannot restart redis-server: " + st.ToString();
        redis_expected_[i] = false;
      }
    }
    if (consul_expected_[i] && !cluster_->consul(i).Running()) {
      const testing::ExitStatus exit =
          cluster_->consul(i).Wait(milliseconds(0)).value_or(testing::ExitStatus{});
      AddViolation("env", fault,
                   cluster_->node_name(i) + " consul exited on its own (" + exit.ToString() + "); log tail:\n" +
                       testing::TailFile(cluster_->consul_log(i), 20),
                   false);
      if (Status st = cluster_->StartConsul(i); !st.ok()) {
        aborted_ = true;
        abort_reason_ = "cannot restart consul: " + st.ToString();
        consul_expected_[i] = false;
      }
    }
  }
}

void Runner::ProcessRounds() {
  for (const Prober::Round& r : prober_->TakeRounds()) {
    if (std::popcount(r.accepted) >= 2) {
      if (!open_) {
        open_ = OpenWindow{.first = r.index, .last = r.index, .nodes = r.accepted, .episode = current_episode_};
      } else {
        open_->last = r.index;
        open_->nodes |= r.accepted;
      }
    } else if (open_) {
      CloseWindow();
    }
  }
}

void Runner::CloseWindow() {
  const OpenWindow w = *open_;
  open_.reset();
  const Tp from = prober_->RoundTime(w.first);
  const Tp to = prober_->RoundTime(w.last + 1);
  DualWindow d;
  d.episode = w.episode;
  d.start_ms = SinceOrigin(from);
  d.duration_ms = (w.last - w.first + 1) * kProbeInterval.count();
  d.nodes = w.nodes;
  // The legitimate master is the lock holder at the end of the window; the
  // window is charged to the dead-agent bound only when every other
  // accepting server's agent was dead or stopped (nobody could fence it).
  const std::optional<int> holder = lock_watcher_->HolderAt(to);
  std::string names, context;
  bool all_others_impaired = true;
  int others = 0;
  for (int i = 0; i < kNodes; ++i) {
    if ((w.nodes & (1u << i)) == 0) continue;
    names += (names.empty() ? "" : "+") + cluster_->node_name(i);
    const bool impaired = AgentImpairedDuring(i, from, to);
    if (!holder || *holder != i) {
      ++others;
      all_others_impaired = all_others_impaired && impaired;
    }
    context += "; " + cluster_->node_name(i) + ": " + (holder && *holder == i ? "lock holder, " : "") + "agent " +
               (impaired ? "dead or stopped" : "alive");
    if (redis_back_[i] && *redis_back_[i] <= to) {
      context += Fmt(", its Redis %s %lld ms before the window", redis_back_how_[i].c_str(),
                     static_cast<long long>(MsBetween(*redis_back_[i], from)));
    }
    if (net_->is_cut(i)) context += ", cut off";
  }
  if (!holder) context += "; lock holder unknown";
  else if (*holder < 0) context += "; lock free";
  d.dead_agent = others > 0 && all_others_impaired;
  if (!setup_done_) {
    // Before the group first converged every Redis starts out a standalone
    // master: that is the deployment being set up, not a fault handled.
    Log("dual master during setup (not judged): " + names);
    return;
  }
  windows_.push_back(d);
  if (w.episode > 0) {
    Episode& ep = episodes_[static_cast<size_t>(w.episode - 1)];
    ep.worst_dual_ms = std::max(ep.worst_dual_ms, d.duration_ms);
  }
  const int64_t bound = d.dead_agent ? dead_agent_bound_.count() : 0;
  const int fault = w.episode > 0 && !episodes_[static_cast<size_t>(w.episode - 1)].faults.empty()
                        ? faults_[episodes_[static_cast<size_t>(w.episode - 1)].faults.front()].draw.number
                        : 0;
  const std::string text =
      Fmt("%s accepted writes together for %lld ms (from %s, %lld rounds of %lld ms)%s", names.c_str(),
          static_cast<long long>(d.duration_ms), WallClock(from).c_str(),
          static_cast<long long>(w.last - w.first + 1), static_cast<long long>(kProbeInterval.count()),
          context.c_str());
  if (d.duration_ms > bound) {
    AddViolation("I1", fault, text + Fmt(" (bound %lld ms)", static_cast<long long>(bound)), true, from);
  } else {
    Log("dual master within bound: " + text);
  }
}

void Runner::ScanLogs() {
  last_scan_ = Clock::now();
  static constexpr const char* kPatterns[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                              "WARNING: ThreadSanitizer", "runtime error:",
                                              "SUMMARY: UndefinedBehaviorSanitizer"};
  for (int i = 0; i < kNodes; ++i) {
    std::ifstream in(cluster_->agent_log(i), std::ios::binary);
    if (!in) continue;
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::uintmax_t>(in.tellg());
    if (size < log_offset_[i]) log_offset_[i] = 0;  // truncated: read it all again
    if (size == log_offset_[i]) continue;
    // Back up a little so a report split across two scans is still seen whole.
    const std::uintmax_t from = log_offset_[i] > 64 ? log_offset_[i] - 64 : 0;
    in.seekg(static_cast<std::streamoff>(from));
    std::string chunk(size - from, '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    for (const char* p : kPatterns) {
      const auto at = chunk.find(p);
      if (at == std::string::npos || from + at < log_offset_[i]) continue;
      const auto line_end = chunk.find('\n', at);
      AddViolation("I4", faults_.empty() ? 0 : faults_.back().draw.number,
                   cluster_->node_name(i) + " agent log has a sanitizer report: " +
                       chunk.substr(at, std::min<size_t>(line_end == std::string::npos ? 200 : line_end - at, 200)),
                   true);
      break;
    }
    log_offset_[i] = size;
  }
}

void Runner::CheckWrites(int master, bool full, int fault) {
  // The WAIT-acknowledged writes to check are fixed before the read: a write
  // acknowledged after it may not be in what the read returns.
  const int64_t upto = writer_->last_seq();
  const std::vector<int64_t> acked = writer_->WaitAckedIn(full ? 0 : verified_upto_, upto);
  // The list holds increasing seqs (one sequential writer; a replica holds a
  // prefix of its master's stream), so every seq above verified_upto_ is
  // among its last (current seq - verified_upto_) entries.
  const int64_t span = writer_->last_seq() - (full ? 0 : verified_upto_) + 16;
  const std::vector<std::string> argv = full ? std::vector<std::string>{"LRANGE", kSeqKey, "0", "-1"}
                                             : std::vector<std::string>{"LRANGE", kSeqKey, std::to_string(-span), "-1"};
  // A list of up to a few 10^5 short strings: well under a second.
  auto r = RedisOnce(cluster_->net(master).mgmt_ip, cluster_->ports(master).redis, argv, seconds(30));
  if (!r.ok()) {
    Log("write check skipped: cannot read " + std::string(kSeqKey) + " from " + cluster_->node_name(master) + ": " +
        r.status().message());
    return;
  }
  std::set<int64_t> present;
  std::istringstream in(*r);
  std::string line;
  while (std::getline(in, line)) {
    int64_t v = 0;
    if (std::from_chars(line.data(), line.data() + line.size(), v).ec == std::errc()) present.insert(v);
  }
  std::vector<int64_t> missing;
  for (int64_t s : acked) {
    if (!present.contains(s) && !lost_wait_acked_.contains(s)) missing.push_back(s);
  }
  if (full) {
    lost_acked_ = 0;
    for (int64_t s = 1; s <= upto; ++s) {
      const Writer::Write w = writer_->Get(s);
      if (w.acked && !w.wait_acked && !present.contains(s)) ++lost_acked_;
    }
  }
  if (!missing.empty()) {
    std::string detail;
    for (size_t i = 0; i < std::min<size_t>(missing.size(), 5); ++i) {
      const Writer::Write w = writer_->Get(missing[i]);
      std::string during = "warm-up";
      if (w.tag > 0 && w.tag <= static_cast<int>(episodes_.size())) {
        during.clear();
        for (size_t idx : episodes_[static_cast<size_t>(w.tag - 1)].faults) {
          during += (during.empty() ? "fault #" : "+#") + std::to_string(faults_[idx].draw.number);
        }
      }
      detail += Fmt(" seq %lld (sent at %s to %s, during %s);", static_cast<long long>(w.seq),
                    WallClock(origin_ + milliseconds(w.sent_ms)).c_str(),
                    w.node >= 0 ? cluster_->node_name(w.node).c_str() : "?", during.c_str());
    }
    for (int64_t s : missing) lost_wait_acked_.insert(s);
    AddViolation("I3", fault,
                 Fmt("%zu WAIT-acknowledged writes missing on master %s:", missing.size(),
                     cluster_->node_name(master).c_str()) +
                     detail,
                 true, origin_ + milliseconds(writer_->Get(missing.front()).sent_ms));
  }
  if (!full) verified_upto_ = upto;
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

int Runner::ResolveNode(const FaultDraw& d, int master) {
  if (d.kind == FaultKind::kConsulLeaderKill) {
    if (auto leader = cluster_->ConsulLeaderNode()) return *leader;
  }
  if (d.target_master && master >= 0) return master;
  std::vector<int> others;
  for (int i = 0; i < kNodes; ++i) {
    if (i != master) others.push_back(i);
  }
  const auto idx = std::min(others.size() - 1, static_cast<size_t>(d.pick * static_cast<double>(others.size())));
  return others[idx];
}

Status Runner::Inject(FaultRecord& f) {
  const int n = f.node;
  const Tp now = Clock::now();
  switch (f.kind) {
    case FaultKind::kRedisRestart:
      redis_expected_[n] = false;
      cluster_->KillRedis(n);
      break;
    case FaultKind::kRedisRestartEmpty:
      redis_expected_[n] = false;
      cluster_->KillRedis(n);
      cluster_->WipeRedis(n);
      break;
    case FaultKind::kAgentRestart:
      agent_expected_[n] = false;
      cluster_->KillAgent(n);
      MarkAgentDown(n, now);
      break;
    case FaultKind::kNodeRestart:
    case FaultKind::kNodeRestartEmpty:
      agent_expected_[n] = false;
      redis_expected_[n] = false;
      cluster_->KillAgent(n);
      cluster_->KillRedis(n);
      if (f.kind == FaultKind::kNodeRestartEmpty) cluster_->WipeRedis(n);
      MarkAgentDown(n, now);
      break;
    case FaultKind::kRedisPause:
      if (!cluster_->PauseRedis(n)) return FailedPrecondition("redis-server is not running");
      break;
    case FaultKind::kAgentPause:
      MarkAgentDown(n, now);
      if (!cluster_->PauseAgent(n)) return FailedPrecondition("the agent is not running");
      break;
    case FaultKind::kConsulLeaderKill:
      consul_expected_[n] = false;
      cluster_->KillConsul(n);
      break;
    case FaultKind::kConsulRestart:
      consul_expected_[n] = false;
      cluster_->StopConsul(n);
      break;
    case FaultKind::kPartition:
      if (Status st = net_->Cut(n); !st.ok()) return st;
      break;
  }
  return Status::Ok();
}

Status Runner::Heal(FaultRecord& f) {
  const int n = f.node;
  switch (f.kind) {
    case FaultKind::kRedisRestart:
    case FaultKind::kRedisRestartEmpty:
      redis_back_[n] = Clock::now();
      redis_back_how_[n] = "restarted";
      if (Status st = cluster_->StartRedis(n); !st.ok()) return st;
      redis_expected_[n] = true;
      break;
    case FaultKind::kAgentRestart:
      if (Status st = cluster_->StartAgent(n); !st.ok()) return st;
      agent_expected_[n] = true;
      MarkAgentBack(n, Clock::now());
      break;
    case FaultKind::kNodeRestart:
    case FaultKind::kNodeRestartEmpty:
      if (!f.redis_back) {
        redis_back_[n] = Clock::now();
        redis_back_how_[n] = "restarted";
        if (Status st = cluster_->StartRedis(n); !st.ok()) return st;
        redis_expected_[n] = true;
        f.redis_back = true;
        // A booting node starts its services in some order, and resec waits
        // for its Consul agent: give the other nodes' Redis, which retry
        // their master once a second, the window to reach this restarted
        // one before its agent acts.
        f.heal_at = Clock::now() + kNodeAgentLag;
        Log(Label(f) + Fmt(" redis-server back, the agent follows in %lld ms",
                           static_cast<long long>(kNodeAgentLag.count())));
        return Status::Ok();
      }
      if (Status st = cluster_->StartAgent(n); !st.ok()) return st;
      agent_expected_[n] = true;
      MarkAgentBack(n, Clock::now());
      break;
    case FaultKind::kRedisPause:
      redis_back_[n] = Clock::now();
      redis_back_how_[n] = "resumed (SIGCONT)";
      if (!cluster_->ResumeRedis(n)) return FailedPrecondition("redis-server is gone");
      break;
    case FaultKind::kAgentPause:
      if (!cluster_->ResumeAgent(n)) return FailedPrecondition("the agent is gone");
      MarkAgentBack(n, Clock::now());
      if (f.draw.duration >= kTiltThreshold) tilt_until_[n] = Clock::now() + kTiltCoolDown;
      break;
    case FaultKind::kConsulLeaderKill:
    case FaultKind::kConsulRestart:
      if (Status st = cluster_->StartConsul(n); !st.ok()) return st;
      consul_expected_[n] = true;
      break;
    case FaultKind::kPartition:
      if (Status st = net_->Restore(n); !st.ok()) return st;
      cluster_->JoinConsul(n);
      break;
  }
  f.healed = Clock::now();
  return Status::Ok();
}

bool Runner::RunEpisode() {
  episodes_.push_back(Episode{});
  Episode& ep = episodes_.back();
  ep.index = static_cast<int>(episodes_.size());
  ep.start = Clock::now();
  ep.master_before = master_;
  current_episode_ = ep.index;
  writer_->SetTag(ep.index);

  // `master`: where the master is as the fault starts, for its label.
  auto start_fault = [&](const FaultDraw& d, int node, int master, const std::string& note) -> bool {
    FaultRecord f;
    f.draw = d;
    f.kind = d.kind;
    f.node = node;
    f.note = note;
    f.episode = ep.index;
    if (LosesData(d.kind)) {
      // Restarting a Redis without its data is only survivable while the
      // other two hold everything: never with another node down or behind.
      std::string why;
      ClusterView v = cluster_->Observe();
      const std::optional<int> m = Cluster::Converged(*cluster_, v, &why);
      if (!ep.faults.empty() || !m) {
        f.kind = d.kind == FaultKind::kNodeRestartEmpty ? FaultKind::kNodeRestart : FaultKind::kRedisRestart;
        f.note += (f.note.empty() ? "" : "; ") + std::string("drawn without data, restarted with it: ") +
                  (!ep.faults.empty() ? "another fault is active" : why);
      }
    }
    const std::optional<int> leader = cluster_->ConsulLeaderNode();
    f.role = node == master ? "master" : "replica";
    if (leader && *leader == node) f.role += ", consul leader";
    f.start = Clock::now();
    f.heal_at = f.start + d.duration;
    faults_.push_back(f);
    ep.faults.push_back(faults_.size() - 1);
    ++faults_started_;
    FaultRecord& rec = faults_.back();
    Log(Label(rec) + Fmt(" start, %lld ms", static_cast<long long>(d.duration.count())) +
        (rec.note.empty() ? "" : " [" + rec.note + "]"));
    if (Status st = Inject(rec); !st.ok()) {
      aborted_ = true;
      abort_reason_ = "cannot inject " + Label(rec) + ": " + st.ToString();
      return false;
    }
    return true;
  };

  const FaultDraw first = NextDraw();
  if (!start_fault(first, ResolveNode(first, master_), master_, "")) return false;
  const FaultKind first_kind = faults_[ep.faults.front()].kind;
  const int first_node = faults_[ep.faults.front()].node;

  std::optional<FaultDraw> second;
  Tp second_at{};
  if (first.overlap && !LosesData(first.kind) && faults_started_ < o_.faults) {
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
      const int current = CurrentMaster();
      const int node = ResolveNode(d, current);
      // Two faults at once stay within what a three-node group with WAIT 1
      // is built to survive: both on one node (on different processes), or
      // both away from the master. A fault on the master plus one on another
      // node can legitimately lose a WAIT-acknowledged write (the replica
      // holding it may be the one that cannot be promoted), and a Redis
      // restarted without data must not overlap anything.
      std::string refuse;
      const bool on_master = [&] {
        for (int m : {ep.master_before, current}) {
          if (m == node || m == first_node) return true;
        }
        return false;
      }();
      if (LosesData(d.kind)) {
        refuse = "a restart without data never overlaps";
      } else if (node == first_node && (Resources(d.kind) & Resources(first_kind)) != 0) {
        refuse = "it acts on the same process";
      } else if (node != first_node && on_master) {
        refuse = "two nodes including the master";
      }
      if (!refuse.empty()) {
        pending_ = d;
        Log(Fmt("#%d %s on %s deferred to run alone (%s)", d.number, std::string(KindName(d.kind)).c_str(),
                cluster_->node_name(node).c_str(), refuse.c_str()));
      } else if (!start_fault(d, node, current, "overlaps #" + std::to_string(first.number))) {
        return false;
      }
    }
    bool all_healed = !second.has_value();
    for (size_t idx : ep.faults) {
      FaultRecord& f = faults_[idx];
      if (f.healed) continue;
      if (now >= f.heal_at) {
        if (Status st = Heal(f); !st.ok()) {
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
  return WaitConverged(ep);
}

bool Runner::WaitConverged(Episode& ep) {
  const int fault = faults_[ep.faults.front()].draw.number;
  const Tp deadline = ep.last_heal + converge_bound_;
  std::string why;
  ClusterView v;
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
    v = cluster_->Observe();
    std::optional<int> m = Cluster::Converged(*cluster_, v, &why);
    if (m) {
      auto last = prober_->LastAccepted(*m);
      if (!last || Clock::now() - *last > kServingWithin) {
        m.reset();
        why = cluster_->node_name(master_) + " is master everywhere but does not accept writes";
      }
    }
    if (m) {
      const Tp now = Clock::now();
      if (!reported) ep.converge_ms = MsBetween(ep.last_heal, now);
      ep.master_after = *m;
      master_ = *m;
      Log(Fmt("converged %lld ms after the heal: master %s, %d sessions",
              static_cast<long long>(MsBetween(ep.last_heal, now)), cluster_->node_name(*m).c_str(),
              cluster_->CountSessions(agent_config_.lock_session_name)));
      CheckWrites(*m, false, fault);
      const Tp settle = *std::max_element(tilt_until_.begin(), tilt_until_.end());
      if (settle > Clock::now()) {
        Log(Fmt("waiting %lld ms for a resumed agent's no-promotion cool-down (TILT) to end",
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
                       why + "\n" + cluster_->Describe(v),
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
    sessions = cluster_->CountSessions(agent_config_.lock_session_name);
    if (sessions == kNodes || Clock::now() > deadline) break;
  }
  if (sessions != kNodes) {
    AddViolation("I4", 0, Fmt("%d lock sessions named %s at the end for %d live agents", sessions,
                              agent_config_.lock_session_name.c_str(), kNodes),
                 true);
  } else {
    Log(Fmt("%d sessions for %d agents", sessions, kNodes));
  }

  writer_->Stop();
  // The last rounds, so a window still open is judged too.
  Sleep(kProbeTimeout + 2 * kProbeInterval);
  ProcessRounds();
  prober_->Stop();
  if (open_) CloseWindow();
  CheckWrites(master_, true, 0);

  // Every agent exits 0 on SIGTERM (the master hands over first).
  for (int i = 0; i < kNodes; ++i) {
    agent_expected_[i] = false;
    cluster_->agent(i).Signal(SIGTERM);
  }
  for (int i = 0; i < kNodes; ++i) {
    // The master's handover waits up to SWITCHOVER_TIMEOUT, then its
    // shutdown has its own deadline: 30 s covers both.
    auto exit = cluster_->agent(i).Wait(seconds(30));
    if (!exit) {
      cluster_->agent(i).Kill();
      AddViolation("I4", 0, cluster_->node_name(i) + " agent did not exit within 30 s of SIGTERM", true);
    } else if (!exit->Exited() || exit->code != 0) {
      AddViolation("I4", 0, cluster_->node_name(i) + " agent ended with " + exit->ToString() + " on SIGTERM", true);
    }
  }
  ScanLogs();
}

void Runner::Report() {
  const auto by_tag = writer_ != nullptr ? writer_->CountsByTag() : std::map<int, WriteCounts>{};
  std::map<FaultKind, KindStats> kinds;
  for (const Episode& ep : episodes_) {
    std::set<FaultKind> in_episode;
    for (size_t idx : ep.faults) {
      kinds[faults_[idx].kind].count++;
      in_episode.insert(faults_[idx].kind);
    }
    for (FaultKind k : in_episode) {
      KindStats& s = kinds[k];
      s.worst_converge_ms = std::max(s.worst_converge_ms, ep.converge_ms.value_or(0));
      s.worst_dual_ms = std::max(s.worst_dual_ms, ep.worst_dual_ms);
      if (auto it = by_tag.find(ep.index); it != by_tag.end()) {
        s.writes.writes += it->second.writes;
        s.writes.acked += it->second.acked;
        s.writes.wait_acked += it->second.wait_acked;
      }
    }
  }
  int64_t worst_converge = 0, worst_dual = 0;
  for (const Episode& ep : episodes_) worst_converge = std::max(worst_converge, ep.converge_ms.value_or(0));
  for (const DualWindow& w : windows_) worst_dual = std::max(worst_dual, w.duration_ms);
  const WriteCounts totals = writer_ != nullptr ? writer_->Totals() : WriteCounts{};

  std::printf("chaos: %-20s %6s %18s %21s %10s %10s %11s\n", "kind", "faults", "worst_converge_ms",
              "worst_dual_master_ms", "writes", "acked", "wait_acked");
  for (const auto& [k, s] : kinds) {
    std::printf("chaos: %-20s %6d %18lld %21lld %10lld %10lld %11lld\n", std::string(KindName(k)).c_str(), s.count,
                static_cast<long long>(s.worst_converge_ms), static_cast<long long>(s.worst_dual_ms),
                static_cast<long long>(s.writes.writes), static_cast<long long>(s.writes.acked),
                static_cast<long long>(s.writes.wait_acked));
  }
  std::printf("chaos: %-20s %6d %18lld %21lld %10lld %10lld %11lld\n", "all (incl. warm-up)", faults_started_,
              static_cast<long long>(worst_converge), static_cast<long long>(worst_dual),
              static_cast<long long>(totals.writes), static_cast<long long>(totals.acked),
              static_cast<long long>(totals.wait_acked));
  const double secs = static_cast<double>(MsBetween(run_start_, Clock::now())) / 1000.0;
  std::printf("chaos: seed=%llu network=%s duration=%.0fs (%.1f s per fault) lost_acked_without_wait=%lld%s\n",
              static_cast<unsigned long long>(o_.seed),
              net_ != nullptr && net_->namespaces() ? "namespaces" : "loopback",
              secs, faults_started_ > 0 ? secs / faults_started_ : 0.0, static_cast<long long>(lost_acked_),
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
    std::printf("chaos: logs kept in %s\n", o_.dir.string().c_str());
  }
  std::printf("chaos: faults=%d violations=%zu lost_wait_acked=%zu worst_converge_ms=%lld worst_dual_master_ms=%lld\n",
              faults_started_, violations_.size(), lost_wait_acked_.size(), static_cast<long long>(worst_converge),
              static_cast<long long>(worst_dual));
  std::fflush(stdout);

  {
    std::ofstream t(o_.dir / "timeline.txt");
    for (const std::string& line : timeline_) t << line << "\n";
  }
  if (o_.out_json.empty()) return;
  json j;
  j["seed"] = o_.seed;
  j["faults"] = faults_started_;
  j["faults_requested"] = o_.faults;
  j["overlap"] = o_.overlap;
  j["network"] = net_ != nullptr && net_->namespaces() ? "namespaces" : "loopback";
  j["network_note"] = net_note_;
  j["redis_boot_fenced"] = o_.redis_boot_fenced;
  j["duration_s"] = secs;
  j["aborted"] = aborted_ ? json(abort_reason_) : json(nullptr);
  j["violations"] = violations_.size();
  j["lost_wait_acked"] = lost_wait_acked_.size();
  j["lost_acked_without_wait"] = lost_acked_;
  j["worst_converge_ms"] = worst_converge;
  j["worst_dual_master_ms"] = worst_dual;
  j["writes"] = {{"writes", totals.writes}, {"acked", totals.acked}, {"wait_acked", totals.wait_acked}};
  j["settings"] = {{"agent_env", agent_env_},
                   {"converge_bound_ms", converge_bound_.count()},
                   {"dead_agent_dual_master_bound_ms", dead_agent_bound_.count()},
                   {"probe_interval_ms", kProbeInterval.count()},
                   {"probe_timeout_ms", kProbeTimeout.count()},
                   {"write_interval_ms", kWriteInterval.count()},
                   {"wait", "WAIT " + std::to_string(kWaitReplicas) + " " + std::to_string(kWaitTimeoutMs)},
                   {"fault_ms", {o_.min_fault.count(), o_.max_fault.count()}}};
  json jk = json::object();
  for (const auto& [k, s] : kinds) {
    jk[std::string(KindName(k))] = {{"faults", s.count},
                                    {"worst_converge_ms", s.worst_converge_ms},
                                    {"worst_dual_master_ms", s.worst_dual_ms},
                                    {"writes", s.writes.writes},
                                    {"acked", s.writes.acked},
                                    {"wait_acked", s.writes.wait_acked}};
  }
  j["kinds"] = jk;
  json jv = json::array();
  for (const Violation& v : violations_) {
    jv.push_back({{"invariant", v.invariant}, {"fault", v.fault}, {"message", v.message}});
  }
  j["violation_list"] = jv;
  json jf = json::array();
  for (const FaultRecord& f : faults_) {
    const Episode& ep = episodes_[static_cast<size_t>(f.episode - 1)];
    jf.push_back({{"number", f.draw.number},
                  {"kind", KindName(f.kind)},
                  {"drawn_kind", KindName(f.draw.kind)},
                  {"node", cluster_->node_name(f.node)},
                  {"role", f.role},
                  {"episode", f.episode},
                  {"start_ms", SinceOrigin(f.start)},
                  {"duration_ms", f.draw.duration.count()},
                  {"converge_ms", ep.converge_ms ? json(*ep.converge_ms) : json(nullptr)},
                  {"note", f.note}});
  }
  j["fault_list"] = jf;
  json jw = json::array();
  for (const DualWindow& w : windows_) {
    jw.push_back({{"episode", w.episode}, {"start_ms", w.start_ms}, {"duration_ms", w.duration_ms},
                  {"nodes_mask", w.nodes}, {"dead_agent", w.dead_agent}});
  }
  j["dual_master_windows"] = jw;
  std::error_code ec;
  if (o_.out_json.has_parent_path()) std::filesystem::create_directories(o_.out_json.parent_path(), ec);
  std::ofstream out(o_.out_json);
  out << j.dump(2) << "\n";
}

int Runner::Run() {
  run_start_ = Clock::now();
  Log(Fmt("seed %llu, %d faults, overlap %.2f, fault %lld..%lld ms, run directory %s%s",
          static_cast<unsigned long long>(o_.seed), o_.faults, o_.overlap, static_cast<long long>(o_.min_fault.count()),
          static_cast<long long>(o_.max_fault.count()), o_.dir.string().c_str(),
          o_.redis_boot_fenced ? ", Redis boots with min-replicas-to-write 1" : ""));
  Status st = Setup();
  if (!st.ok()) {
    std::printf("chaos: error: setup failed: %s\n", st.ToString().c_str());
    aborted_ = true;
    abort_reason_ = "setup failed";
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
  Report();
  if (Stopped()) return 130;
  if (aborted_) return 3;
  return violations_.empty() ? 0 : 1;
}

}  // namespace

int RunChaos(const RunnerOptions& options, const std::atomic<bool>& stop) {
  int code = 0;
  {
    Runner runner(options, stop);
    code = runner.Run();
  }  // processes and network are gone here
  std::error_code ec;
  if (code == 0 && !options.keep_dir) std::filesystem::remove_all(options.dir, ec);
  return code;
}

}  // namespace resec::chaos
