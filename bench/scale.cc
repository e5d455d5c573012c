#include "scale.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "http_tap.h"
#include "loopback_consul.h"
#include "machine.h"
#include "proc_stats.h"
#include "report.h"
#include "systems.h"
#include "write_load.h"
#include "support/agent_group.h"
#include "support/calls.h"
#include "support/free_port.h"
#include "support/redis_server.h"
#include "support/traffic.h"
#include "support/wait_for.h"

namespace resec::bench {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Clock;

// The group secret of the peer protocol in tuned mode, when the settings
// table does not carry one itself. Any value works; every member of a group
// shares it (here all groups do: the lock key enters the key derivation).
constexpr char kScalePeerToken[] = "resec-scale-bench-peer-token";
// Before the baseline window: the servers' first Serf and autopilot rounds.
constexpr seconds kSettle{5};
// File descriptors the harness asks for (see RaiseFileLimit).
constexpr rlim_t kWantedFileLimit = 262144;
// RSS is sampled this often within the window (CPU needs only its ends).
constexpr milliseconds kRssSampleInterval{5000};
// Probes of a group's state: a live server answers on loopback in well
// under a millisecond, so this only bounds what a wedged one costs.
constexpr milliseconds kProbeTimeout{500};
// Groups start in waves of kStartWave, each given up to kWaveSettle to
// converge before the next.
constexpr int kStartWave = 10;
constexpr seconds kWaveSettle{30};
// Waiting for every group to converge after start: the elections of N
// groups overlap, but their first registrations queue on the servers.
constexpr seconds kConvergeBase{120};
constexpr milliseconds kConvergePerGroup{1000};
// A failover run: acknowledged writes on the master before the fault (the
// failover bench's warm-up), then a random 0-1 s more so the fault does not
// always meet the same phase of the agents' periodic loops (settings.h,
// kFaultJitter); a run that has no write acknowledged by another node this
// long after the fault failed.
constexpr int kFailoverWarmupAcks = 250;
constexpr milliseconds kFaultJitter{1000};
constexpr seconds kFailoverTimeout{60};
// After a failover the killed Redis is restarted and the group must
// converge again before the next run.
constexpr seconds kReconvergeTimeout{60};
// Paths of the harness's own reads, left out of Consul's request counts.
constexpr std::array<std::string_view, 4> kHarnessPaths = {"path=\"v1_agent_metrics\"", "path=\"v1_agent_self\"",
                                                           "path=\"v1_status_leader\"", "path=\"v1_status_peers\""};

double Round(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

double SecondsBetween(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// ---------------------------------------------------------------------------
// Prometheus text: "name{labels} value" or "name value" per sample.

struct PromSample {
  std::string name;
  std::string labels;  // "{...}" or ""
  double value = 0;
};

std::vector<PromSample> ParsePrometheus(const std::string& text) {
  std::vector<PromSample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const auto brace = line.find('{');
    PromSample s;
    if (brace != std::string::npos && brace < space) {
      s.name = line.substr(0, brace);
      s.labels = line.substr(brace, line.rfind('}', space) - brace + 1);
    } else {
      s.name = line.substr(0, space);
    }
    const char* begin = line.data() + space + 1;
    // Consul writes counters as integers or in exponent form; from_chars
    // reads both.
    if (std::from_chars(begin, line.data() + line.size(), s.value).ec != std::errc()) continue;
    out.push_back(std::move(s));
  }
  return out;
}

double SumOf(const std::vector<PromSample>& samples, std::string_view name) {
  double sum = 0;
  for (const PromSample& s : samples) {
    if (s.name == name) sum += s.value;
  }
  return sum;
}

// Requests a server finished (consul_api_http_count), without the
// harness's own reads.
double ApiRequests(const std::vector<PromSample>& samples) {
  double sum = 0;
  for (const PromSample& s : samples) {
    if (s.name != "consul_api_http_count") continue;
    if (std::any_of(kHarnessPaths.begin(), kHarnessPaths.end(),
                    [&](std::string_view p) { return s.labels.find(p) != std::string::npos; })) {
      continue;
    }
    sum += s.value;
  }
  return sum;
}

// What the leader's state machine applied, by kind: the count of every
// consul_fsm_* timer ("consul_fsm_kvs{op=\"set\"}" -> n). Each Raft entry
// the cluster commits is applied once per server, so the leader's view is
// the cluster's.
std::map<std::string, double> FsmApplies(const std::vector<PromSample>& samples) {
  std::map<std::string, double> out;
  for (const PromSample& s : samples) {
    constexpr std::string_view kPrefix = "consul_fsm_";
    constexpr std::string_view kSuffix = "_count";
    if (s.name.rfind(kPrefix, 0) != 0 || s.name.size() <= kSuffix.size() ||
        s.name.compare(s.name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    out[s.name.substr(0, s.name.size() - kSuffix.size()) + s.labels] += s.value;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The groups.

struct ScaleGroup {
  std::string name;            // "g7"
  std::string service_prefix;  // "redis-g7"; group 0: "redis"
  std::vector<int> servers;    // the Consul server each agent talks to
  std::vector<std::unique_ptr<testing::RedisServer>> redis;
  std::vector<std::unique_ptr<testing::ResecAgent>> agents;  // after redis: destroyed (killed) first
};

std::vector<std::string> NodeAddrs(const ScaleGroup& g) {
  std::vector<std::string> out;
  for (const auto& r : g.redis) out.push_back(r->addr());
  return out;
}

// The master's index when the group has converged: one live Redis master,
// the other live ones replicating it with their link up, and Consul showing
// exactly that master and one passing replica per live replica.
std::optional<int> Converged(ScaleGroup& g, const LoopbackConsul& consul, std::string* why = nullptr) {
  std::vector<std::string> infos(g.redis.size());
  std::optional<int> master;
  int live = 0;
  for (size_t i = 0; i < g.redis.size(); ++i) {
    if (!g.redis[i]->Running()) continue;
    ++live;
    auto r = testing::RedisCall(g.redis[i]->port(), {"INFO", "replication"}, "", "", kProbeTimeout);
    if (!r.ok()) {
      if (why) *why = "redis" + std::to_string(i) + ": " + r.status().ToString();
      return std::nullopt;
    }
    infos[i] = *r;
    if (InfoValue(*r, "role") == "master") {
      if (master) {
        if (why) *why = "two Redis masters";
        return std::nullopt;
      }
      master = static_cast<int>(i);
    }
  }
  if (!master) {
    if (why) *why = "no Redis master";
    return std::nullopt;
  }
  const int master_port = g.redis[static_cast<size_t>(*master)]->port();
  for (size_t i = 0; i < g.redis.size(); ++i) {
    if (static_cast<int>(i) == *master || infos[i].empty()) continue;
    if (InfoValue(infos[i], "role") != "slave" || InfoValue(infos[i], "master_port") != std::to_string(master_port) ||
        InfoValue(infos[i], "master_link_status") != "up") {
      if (why) *why = "redis" + std::to_string(i) + " does not replicate the master";
      return std::nullopt;
    }
  }
  auto ports = [&](const std::string& role) -> std::optional<std::vector<int>> {
    auto r = consul.Get(g.servers[0], "/v1/health/service/" + g.service_prefix + "-" + role + "?passing",
                        milliseconds(2000));
    if (!r.ok() || r->status != 200) return std::nullopt;
    const json j = json::parse(r->body, nullptr, false);
    if (!j.is_array()) return std::nullopt;
    std::vector<int> out;
    for (const json& e : j) {
      if (e.contains("Service") && e["Service"].contains("Port")) out.push_back(e["Service"]["Port"].get<int>());
    }
    return out;
  };
  const auto masters = ports("master");
  const auto slaves = ports("slave");
  if (!masters || *masters != std::vector<int>{master_port}) {
    if (why) *why = "Consul does not show exactly the Redis master as passing master";
    return std::nullopt;
  }
  if (!slaves || static_cast<int>(slaves->size()) != live - 1) {
    if (why) *why = "Consul shows " + (slaves ? std::to_string(slaves->size()) : std::string("?")) +
                    " passing replicas, Redis " + std::to_string(live - 1);
    return std::nullopt;
  }
  return master;
}

std::map<std::string, std::string> AgentEnv(const ScaleOptions& o, const ScaleGroup& g, int tap_port) {
  std::map<std::string, std::string> env;
  for (const Setting& s : SettingsFor(o.system, o.mode)) env[s.name] = s.value;
  env["CONSUL_HTTP_ADDR"] = "127.0.0.1:" + std::to_string(tap_port);
  env["CONSUL_LOCK_KEY"] = "resec/" + g.name + "/.lock";
  env["CONSUL_SERVICE_PREFIX"] = g.service_prefix;
  if (o.system == SystemKind::kResec) {
    // Tuned is the failover bench's configuration with the peer protocol on
    // (issue #15); defaults stay without it, as the agent's own defaults.
    if (o.mode == Mode::kTuned && !env.contains("PEER_TOKEN")) env["PEER_TOKEN"] = kScalePeerToken;
    // The protocol's default heartbeat period, not the failover bench's
    // 50 ms: every agent of every group shares this machine's two cores here
    // (each costs about 1% of a core at 50 ms), where in a fleet each has a
    // host of its own; a redis-crash failover does not wait for heartbeats.
    if (env.contains("PEER_TOKEN")) env["PEER_INTERVAL"] = "100ms";
    // Likewise Redis is polled at the agent's default, not the failover
    // bench's 100 ms: 300 agents polling ten times a second took the two
    // cores at 100 groups, and Consul's cost, what this bench measures, does
    // not depend on it (a crashed Redis is noticed by its closed connection).
    env.erase("REDIS_POLL_INTERVAL");
    // On loopback every member needs a port of its own (default :8379).
    if (env.contains("PEER_TOKEN")) env["PEER_LISTEN_ADDR"] = "127.0.0.1:" + std::to_string(testing::FreePort());
  }
  // The Go resec's ANNOUNCE_ADDR stays unset (it panics with it): it then
  // registers the port only, and Consul's node address (127.0.0.1) fills in.
  return env;
}

// The settings every agent of the run shares (the per-instance ones left out).
json SharedEnvJson(const ScaleOptions& o) {
  ScaleGroup probe;
  probe.name = "g<k>";
  probe.service_prefix = "redis-g<k>";
  std::map<std::string, std::string> env = AgentEnv(o, probe, 0);
  env.erase("CONSUL_HTTP_ADDR");
  if (env.contains("PEER_TOKEN")) env["PEER_TOKEN"] = "(set)";
  if (env.contains("PEER_LISTEN_ADDR")) env["PEER_LISTEN_ADDR"] = "127.0.0.1:<a port per agent>";
  json j = json::object();
  for (const auto& [k, v] : env) j[k] = v;
  return j;
}

// ---------------------------------------------------------------------------
// Measurements at the two ends of the window.

struct ProcessSet {
  std::vector<pid_t> agents;   // index 3k + i
  std::vector<pid_t> redis;    // index 3k + i
  std::vector<pid_t> servers;  // LoopbackConsul index
};

struct Snapshot {
  Clock::time_point at;
  std::vector<HttpTap::ClientCounts> tap;
  std::optional<int> leader;
  std::optional<double> raft_applies;  // the leader's consul_raft_apply
  std::map<std::string, double> fsm;   // the leader's, by kind
  std::optional<int64_t> log_index;    // the leader's
  std::vector<std::optional<double>> api_requests;  // per server
  std::vector<std::optional<ProcStat>> agents, redis, servers;
  std::optional<MachineCpu> machine;
  std::optional<ProcStat> self;
  int64_t load_sent = 0;
  int64_t load_discovery = 0;
};

Snapshot TakeSnapshot(const LoopbackConsul& consul, const HttpTap* tap, const ProcessSet& procs,
                      const WriteLoad* load) {
  Snapshot s;
  s.at = Clock::now();
  if (tap != nullptr) s.tap = tap->Counts();
  s.leader = consul.Leader();
  for (int i = 0; i < LoopbackConsul::kServers; ++i) {
    auto text = consul.Metrics(i);
    if (!text.ok()) {
      s.api_requests.push_back(std::nullopt);
      continue;
    }
    const std::vector<PromSample> samples = ParsePrometheus(*text);
    s.api_requests.push_back(ApiRequests(samples));
    if (s.leader && *s.leader == i) {
      s.raft_applies = SumOf(samples, "consul_raft_apply");
      s.fsm = FsmApplies(samples);
    }
  }
  if (s.leader) s.log_index = consul.LastLogIndex(*s.leader);
  for (pid_t p : procs.agents) s.agents.push_back(ReadProcStat(p));
  for (pid_t p : procs.redis) s.redis.push_back(ReadProcStat(p));
  for (pid_t p : procs.servers) s.servers.push_back(ReadProcStat(p));
  s.machine = ReadMachineCpu();
  s.self = ReadProcStat(::getpid());
  if (load != nullptr) {
    s.load_sent = load->sent();
    s.load_discovery = load->discovery_requests();
  }
  return s;
}

// Raft applies per second between two snapshots; nullopt when the leader
// changed (its counter restarts from another base) or a read failed.
std::optional<double> RaftRate(const Snapshot& a, const Snapshot& b) {
  if (!a.leader || !b.leader || *a.leader != *b.leader || !a.raft_applies || !b.raft_applies) return std::nullopt;
  return (*b.raft_applies - *a.raft_applies) / SecondsBetween(a.at, b.at);
}

std::optional<double> LogRate(const Snapshot& a, const Snapshot& b) {
  if (!a.log_index || !b.log_index) return std::nullopt;
  return static_cast<double>(*b.log_index - *a.log_index) / SecondsBetween(a.at, b.at);
}

json FsmRates(const Snapshot& a, const Snapshot& b) {
  json out = json::object();
  if (!a.leader || !b.leader || *a.leader != *b.leader) return out;
  const double secs = SecondsBetween(a.at, b.at);
  for (const auto& [kind, n] : b.fsm) {
    const double before = a.fsm.contains(kind) ? a.fsm.at(kind) : 0.0;
    if (n - before > 0) out[kind] = Round((n - before) / secs, 4);
  }
  return out;
}

// Mean CPU percent (of one core) over the processes present at both ends.
json CpuOf(const std::vector<std::optional<ProcStat>>& a, const std::vector<std::optional<ProcStat>>& b,
           const std::vector<size_t>& which, double secs) {
  double sum = 0;
  int n = 0;
  for (size_t i : which) {
    if (!a[i] || !b[i]) continue;
    sum += CpuPercent(b[i]->cpu_ticks - a[i]->cpu_ticks, secs);
    ++n;
  }
  return n > 0 ? json(Round(sum / n, 3)) : json(nullptr);
}

std::vector<size_t> AllOf(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// ---------------------------------------------------------------------------
// Failover of group 0 while the others run.

struct FailoverRun {
  std::optional<double> ms;
  int64_t fault_delay_ms = 0;
  std::string error;
};

// The first write sent at or after `fault_ms` and acknowledged by a node
// other than `old`: writes are sequential (each waits for its reply), so
// the first found in order is the first in time.
std::optional<testing::Writer::Write> FirstAckElsewhere(const testing::Writer& w, int64_t from_seq, int64_t fault_ms,
                                                        int old) {
  const int64_t last = w.last_seq();
  for (int64_t s = std::max<int64_t>(1, from_seq); s < last; ++s) {
    const testing::Writer::Write x = w.Get(s);
    if (x.sent_ms >= fault_ms && x.acked && x.node >= 0 && x.node != old) return x;
  }
  return std::nullopt;
}

int64_t AckedOn(const testing::Writer& w, int64_t from_seq, int node) {
  int64_t n = 0;
  const int64_t last = w.last_seq();
  for (int64_t s = from_seq + 1; s < last; ++s) {
    const testing::Writer::Write x = w.Get(s);
    if (x.acked && x.node == node) ++n;
  }
  return n;
}

std::vector<FailoverRun> MeasureFailovers(ScaleGroup& g, const LoopbackConsul& consul, int runs) {
  std::vector<FailoverRun> out;
  std::vector<testing::Endpoint> servers;
  for (int i = 0; i < LoopbackConsul::kServers; ++i) servers.push_back({"127.0.0.1", consul.http_port(i)});
  const Clock::time_point origin = Clock::now();
  auto since_origin = [&] { return std::chrono::duration_cast<milliseconds>(Clock::now() - origin).count(); };
  testing::Writer writer(servers, NodeAddrs(g), origin);
  writer.Start();
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int64_t> jitter(0, kFaultJitter.count() - 1);
  for (int run = 1; run <= runs; ++run) {
    FailoverRun r;
    std::optional<int> m;
    std::string why;
    testing::WaitFor([&] { return (m = Converged(g, consul, &why)).has_value(); }, kReconvergeTimeout,
                     milliseconds(100));
    if (!m) {
      r.error = "group g0 not converged before the fault: " + why;
      out.push_back(r);
      break;
    }
    const int64_t start_seq = writer.last_seq();
    if (!testing::WaitFor([&] { return AckedOn(writer, start_seq, *m) >= kFailoverWarmupAcks; }, seconds(30),
                          milliseconds(20))) {
      r.error = "the writer got fewer than " + std::to_string(kFailoverWarmupAcks) +
                " acknowledgements from the master in 30 s";
      out.push_back(r);
      break;
    }
    r.fault_delay_ms = jitter(rng);
    std::this_thread::sleep_for(milliseconds(r.fault_delay_ms));
    const int64_t fault_seq = writer.last_seq();
    const int64_t fault_ms = since_origin();
    g.redis[static_cast<size_t>(*m)]->Kill();
    std::optional<testing::Writer::Write> first;
    testing::WaitFor([&] { return (first = FirstAckElsewhere(writer, fault_seq, fault_ms, *m)).has_value(); },
                     kFailoverTimeout, milliseconds(5));
    if (first) {
      r.ms = static_cast<double>(first->sent_ms - fault_ms);
    } else {
      r.error = "no write acknowledged by another node " + std::to_string(kFailoverTimeout.count()) +
                " s after the fault";
    }
    std::fprintf(stderr, "[scale] failover %d/%d: %s\n", run, runs,
                 r.ms ? (std::to_string(static_cast<int64_t>(*r.ms)) + " ms").c_str() : r.error.c_str());
    // Back to three members (the restarted Redis is empty, as after a crash).
    if (Status st = g.redis[static_cast<size_t>(*m)]->Start(); !st.ok()) {
      r.error += (r.error.empty() ? "" : "; ") + std::string("restart: ") + st.ToString();
      out.push_back(r);
      break;
    }
    out.push_back(r);
  }
  writer.Stop();
  return out;
}

// ---------------------------------------------------------------------------

// File descriptors this process holds (the tap's sockets, the children's pipes).
int64_t OpenFds() {
  std::error_code ec;
  int64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

void RaiseFileLimit() {
  // Consul servers, the tap and hundreds of children each hold sockets; the
  // children inherit the limit.
  // At 100 groups the steady state needs a few thousand (the tap's relayed
  // connections, two descriptors each, and 600 children's pipes); headroom
  // for a start under heavy load, when timed-out requests are retried on new
  // connections. Root may raise it; anyone else gets the hard limit.
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return;
  const rlimit wide{kWantedFileLimit, std::max<rlim_t>(l.rlim_max, kWantedFileLimit)};
  if (::setrlimit(RLIMIT_NOFILE, &wide) == 0) return;
  if (l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &l);
  }
}

json SettingsJson(const ScaleOptions& o) {
  json s = {{"mode", ModeName(o.mode)},
            {"env", SharedEnvJson(o)},
            {"peer_protocol", o.system == SystemKind::kResec && SharedEnvJson(o).contains("PEER_TOKEN")},
            {"consul", "3 servers (-server -bootstrap-expect=3) on 127.0.0.1, raft_multiplier 1, "
                       "limits.http_max_conns_per_client " + std::to_string(LoopbackConsul::kMaxConnsPerClient)},
            {"agents_to_servers", "agent i of group k talks to server (k + i) mod 3, directly (no client agent)"},
            {"lock_key", "resec/g<k>/.lock"},
            {"service_prefix", "redis-g<k> (group 0: redis)"},
            {"baseline_s", o.baseline_s},
            {"warmup_s", o.warmup_s},
            {"window_s", o.window_s},
            {"rss_sample_interval_ms", kRssSampleInterval.count()},
            {"write_load", o.write_load ? json("SET scale:load <n> to each group's master, " +
                                               std::to_string(o.writes_per_s) +
                                               "/s per group, master found by blocking health queries")
                                        : json(nullptr)},
            {"failover", "SIGKILL of group 0's master redis-server; failover_ms = from the kill to the send of the "
                         "first write acknowledged by another node (RPUSH every 2 ms + WAIT 1 100, "
                         "tests/support/traffic.h); " +
                             std::to_string(kFailoverWarmupAcks) + " acknowledged writes and a uniform 0-" +
                             std::to_string(kFaultJitter.count()) + " ms delay before each fault"},
            {"http_count_method", "per-agent HttpTap port (bench/http_tap.h): requests parsed from the agent's own "
                                  "byte stream to Consul, counted by endpoint when their headers complete"},
            {"raft_method", "the Raft leader's consul_raft_apply counter (/v1/agent/metrics?format=prometheus), "
                            "differenced over the window; by kind from the leader's consul_fsm_*_count; by_agents: "
                            "the total less Consul's own kinds (coordinate batch updates, autopilot)"}};
  for (auto& [k, v] : o.extra_settings.items()) s[k] = v;
  return s;
}

}  // namespace

StatusOr<json> RunScale(const ScaleOptions& o) {
  json result = {{"system", SystemName(o.system)},
                 {"mode", ModeName(o.mode)},
                 {"groups", o.groups},
                 {"agents", 3 * o.groups},
                 {"write_load", o.write_load}};
  if (o.unavailable) {
    result["unavailable"] = *o.unavailable;
    result["settings"] = SettingsJson(o);
    result["machine"] = MachineJson();
    if (Status st = WriteJson(o.out, result); !st.ok()) return st;
    return result;
  }
  if (o.system == SystemKind::kSentinel) return InvalidArgument("scale: Sentinel has no Consul cost to measure");
  RaiseFileLimit();
  const std::string label = "[scale " + std::string(SystemName(o.system)) + " " + std::string(ModeName(o.mode)) +
                            " N=" + std::to_string(o.groups) + (o.write_load ? " load" : " idle") + "]";
  auto logf = [&](const std::string& what) { std::fprintf(stderr, "%s %s\n", label.c_str(), what.c_str()); };
  const std::filesystem::path logs_dir = o.out.string() + ".logs";

  // 1. The cluster and its own Raft traffic.
  LoopbackConsul consul;
  if (Status st = consul.Start(); !st.ok()) return st;
  ProcessSet procs;
  for (int i = 0; i < LoopbackConsul::kServers; ++i) procs.servers.push_back(consul.pid(i));
  std::this_thread::sleep_for(kSettle);
  logf("cluster up; baseline " + std::to_string(o.baseline_s) + " s");
  const Snapshot base0 = TakeSnapshot(consul, nullptr, procs, nullptr);
  std::this_thread::sleep_for(seconds(o.baseline_s));
  const Snapshot base1 = TakeSnapshot(consul, nullptr, procs, nullptr);
  const std::optional<double> baseline_raft = RaftRate(base0, base1);

  // 2. The groups.
  const int agents = 3 * o.groups;
  std::vector<int> upstream;
  for (int k = 0; k < o.groups; ++k) {
    for (int i = 0; i < 3; ++i) upstream.push_back(consul.http_port((k + i) % LoopbackConsul::kServers));
  }
  auto tap_or = HttpTap::Start(upstream);
  if (!tap_or.ok()) return tap_or.status();
  std::unique_ptr<HttpTap> tap = std::move(*tap_or);
  std::vector<std::unique_ptr<ScaleGroup>> groups;
  const Clock::time_point start_begin = Clock::now();
  for (int k = 0; k < o.groups; ++k) {
    auto g = std::make_unique<ScaleGroup>();
    g->name = "g" + std::to_string(k);
    g->service_prefix = k == 0 ? "redis" : "redis-g" + std::to_string(k);
    for (int i = 0; i < 3; ++i) {
      g->servers.push_back((k + i) % LoopbackConsul::kServers);
      g->redis.push_back(std::make_unique<testing::RedisServer>());
      if (Status st = g->redis.back()->Start(); !st.ok()) return st;
    }
    for (int i = 0; i < 3; ++i) {
      auto env = AgentEnv(o, *g, tap->port(3 * k + i));
      env["REDIS_ADDR"] = g->redis[static_cast<size_t>(i)]->addr();
      g->agents.push_back(std::make_unique<testing::ResecAgent>(
          g->name + "-a" + std::to_string(i), env, std::vector<std::string>{},
          o.system == SystemKind::kResecGo ? kResecGoReadyLogLine : ""));
      if (Status st = g->agents.back()->Start(); !st.ok()) {
        consul.CopyLogs(logs_dir);
        return st;
      }
    }
    groups.push_back(std::move(g));
    if ((k + 1) % kStartWave == 0 || k + 1 == o.groups) {
      // Waves: a fleet is not started all at once on two cores (600
      // processes at once made a load of 400 and every first Consul call
      // time out); each wave's elections settle before the next starts.
      // Whatever has not converged by then is checked again below.
      const auto wave_deadline = Clock::now() + kWaveSettle;
      for (int w = std::max(0, k + 1 - kStartWave); w <= k; ++w) {
        testing::WaitFor([&] { return Converged(*groups[static_cast<size_t>(w)], consul).has_value(); },
                         std::chrono::duration_cast<milliseconds>(
                             std::max<Clock::duration>(wave_deadline - Clock::now(), milliseconds(1))),
                         milliseconds(200));
      }
      logf("started " + std::to_string(k + 1) + " groups; the harness holds " + std::to_string(OpenFds()) +
           " file descriptors");
    }
  }
  for (auto& g : groups) {
    for (auto& a : g->agents) procs.agents.push_back(a->pid());
    for (auto& r : g->redis) procs.redis.push_back(r->process().pid());
  }
  std::vector<std::optional<int>> masters(groups.size());
  const auto converge_deadline = Clock::now() + kConvergeBase + kConvergePerGroup * o.groups;
  for (size_t k = 0; k < groups.size(); ++k) {
    std::string w;
    testing::WaitFor([&] { return (masters[k] = Converged(*groups[k], consul, &w)).has_value(); },
                     std::chrono::duration_cast<milliseconds>(
                         std::max<Clock::duration>(converge_deadline - Clock::now(), milliseconds(1))),
                     milliseconds(200));
    if (!masters[k]) {
      consul.CopyLogs(logs_dir);
      for (auto& a : groups[k]->agents) {
        std::error_code ec;
        std::filesystem::copy_file(a->log_path(), logs_dir / a->log_path().filename(),
                                   std::filesystem::copy_options::overwrite_existing, ec);
      }
      return Unavailable("group " + groups[k]->name + " did not converge: " + w);
    }
  }
  const double start_s = SecondsBetween(start_begin, Clock::now());
  logf("all " + std::to_string(o.groups) + " groups converged in " + std::to_string(static_cast<int>(start_s)) + " s");

  // 3. Load.
  std::unique_ptr<WriteLoad> load;
  if (o.write_load) {
    std::vector<WriteLoad::Group> lg;
    for (auto& g : groups) {
      WriteLoad::Group x{.master_service = g->service_prefix + "-master", .consul = {}};
      // Each group's application asks the servers its own agents use, first
      // the one its first agent uses: the discovery load spreads as the
      // agents do.
      for (int s : g->servers) x.consul.push_back({"127.0.0.1", consul.http_port(s)});
      lg.push_back(std::move(x));
    }
    load = std::make_unique<WriteLoad>(std::move(lg), o.writes_per_s);
    load->Start();
  }

  // 4. Warm-up and window.
  logf("warm-up " + std::to_string(o.warmup_s) + " s, window " + std::to_string(o.window_s) + " s");
  std::this_thread::sleep_for(seconds(o.warmup_s));
  std::vector<std::optional<int>> roles0(groups.size());
  for (size_t k = 0; k < groups.size(); ++k) roles0[k] = Converged(*groups[k], consul);
  const Snapshot w0 = TakeSnapshot(consul, tap.get(), procs, load.get());
  std::vector<std::vector<double>> rss_agents(procs.agents.size()), rss_redis(procs.redis.size()),
      rss_servers(procs.servers.size());
  auto sample_rss = [&] {
    for (size_t i = 0; i < procs.agents.size(); ++i) {
      if (auto s = ReadProcStat(procs.agents[i])) rss_agents[i].push_back(static_cast<double>(s->rss_kib));
    }
    for (size_t i = 0; i < procs.redis.size(); ++i) {
      if (auto s = ReadProcStat(procs.redis[i])) rss_redis[i].push_back(static_cast<double>(s->rss_kib));
    }
    for (size_t i = 0; i < procs.servers.size(); ++i) {
      if (auto s = ReadProcStat(procs.servers[i])) rss_servers[i].push_back(static_cast<double>(s->rss_kib));
    }
  };
  const Clock::time_point window_end = w0.at + seconds(o.window_s);
  for (Clock::time_point t = w0.at; t < window_end; t += kRssSampleInterval) {
    std::this_thread::sleep_until(t);
    sample_rss();
  }
  std::this_thread::sleep_until(window_end);
  const Snapshot w1 = TakeSnapshot(consul, tap.get(), procs, load.get());
  std::vector<std::optional<int>> roles1(groups.size());
  for (size_t k = 0; k < groups.size(); ++k) roles1[k] = Converged(*groups[k], consul);
  const double secs = SecondsBetween(w0.at, w1.at);
  const double mins = secs / 60.0;
  logf("window done");

  // 5. Failover of group 0 with the others (and the load) running.
  const std::vector<FailoverRun> failovers = MeasureFailovers(*groups[0], consul, o.failover_runs);
  if (load) load->Stop();
  // The failed-over group's own account of each failover (what its agents
  // decided, and when), next to the figures.
  {
    std::error_code ec;
    std::filesystem::create_directories(logs_dir, ec);
    for (auto& a : groups[0]->agents) {
      std::filesystem::copy_file(a->log_path(), logs_dir / a->log_path().filename(),
                                 std::filesystem::copy_options::overwrite_existing, ec);
    }
  }

  // ---- Figures.
  // HTTP per agent and role.
  int unstable = 0;
  std::vector<size_t> holders, replicas;
  for (size_t k = 0; k < groups.size(); ++k) {
    if (!roles0[k] || roles0[k] != roles1[k]) {
      ++unstable;
      continue;
    }
    for (size_t i = 0; i < 3; ++i) (static_cast<int>(i) == *roles0[k] ? holders : replicas).push_back(3 * k + i);
  }
  auto per_agent = [&](const std::vector<size_t>& which, auto field) -> json {
    if (which.empty() || w0.tap.empty()) return nullptr;
    double sum = 0;
    for (size_t a : which) sum += static_cast<double>(field(w1.tap[a]) - field(w0.tap[a]));
    return Round(sum / static_cast<double>(which.size()) / mins, 1);
  };
  auto requests = [](const HttpTap::ClientCounts& c) { return c.requests; };
  auto connections = [](const HttpTap::ClientCounts& c) { return c.connections; };
  auto endpoints = [&](const std::vector<size_t>& which) {
    std::map<std::string, double> sum;
    for (size_t a : which) {
      for (const auto& [e, n] : w1.tap[a].endpoints) {
        const int64_t before = w0.tap[a].endpoints.contains(e) ? w0.tap[a].endpoints.at(e) : 0;
        if (n > before) sum[e] += static_cast<double>(n - before);
      }
    }
    json out = json::object();
    for (const auto& [e, n] : sum) out[e] = Round(n / static_cast<double>(which.size()) / mins, 2);
    return out;
  };
  const std::vector<size_t> all_agents = AllOf(static_cast<size_t>(agents));
  int64_t unparsed = 0;
  double tap_total = 0;
  for (size_t a = 0; a < all_agents.size(); ++a) {
    unparsed += w1.tap[a].unparsed_connections;
    tap_total += static_cast<double>(w1.tap[a].requests - w0.tap[a].requests);
  }
  double api_total = 0;
  bool api_ok = true;
  for (size_t i = 0; i < w0.api_requests.size(); ++i) {
    if (!w0.api_requests[i] || !w1.api_requests[i]) {
      api_ok = false;
      continue;
    }
    api_total += *w1.api_requests[i] - *w0.api_requests[i];
  }
  const double load_discovery = static_cast<double>(w1.load_discovery - w0.load_discovery);

  result["window_s"] = Round(secs, 1);
  result["consul_http_req_per_min_per_agent"] = per_agent(all_agents, requests);
  result["consul_http_req_per_min_per_agent_by_role"] = {{"holder", per_agent(holders, requests)},
                                                         {"replica", per_agent(replicas, requests)}};
  result["consul_http_conn_per_min_per_agent_by_role"] = {{"holder", per_agent(holders, connections)},
                                                          {"replica", per_agent(replicas, connections)}};
  result["consul_http_endpoints_per_min_per_agent"] = {{"holder", endpoints(holders)},
                                                       {"replica", endpoints(replicas)}};
  result["consul_http_check"] = {
      {"tap_req_per_min_all_agents", Round(tap_total / mins, 1)},
      {"consul_api_http_per_min_all_servers", api_ok ? json(Round(api_total / mins, 1)) : json(nullptr)},
      {"write_load_discovery_req_per_min", Round(load_discovery / mins, 1)},
      {"unparsed_connections", unparsed},
      {"note", "Consul's own count (consul_api_http_count, finished requests, the harness's metrics reads "
               "left out) includes the write load's discovery queries; it should match the tap's total plus "
               "those, within the blocking queries open at the window's ends"}};
  result["groups_unstable_in_window"] = unstable;

  // Raft.
  const std::optional<double> raft = RaftRate(w0, w1);
  // What the agents cost, without what the servers apply for themselves
  // whatever runs on them (their Serf coordinates every ~15 s per agent,
  // autopilot's state): Consul's own kinds, taken out of the total.
  const json by_kind = FsmRates(w0, w1);
  double consul_own = 0;
  for (const auto& [kind, rate] : by_kind.items()) {
    if (kind.rfind("consul_fsm_coordinate", 0) == 0 || kind.rfind("consul_fsm_autopilot", 0) == 0) {
      consul_own += rate.get<double>();
    }
  }
  // -1: unknown (the leader changed within the window).
  const double by_agents = raft ? std::max(0.0, *raft - consul_own) : -1.0;
  json rj = {{"total", raft ? json(Round(*raft, 3)) : json(nullptr)},
             {"per_group", raft ? json(Round(*raft / o.groups, 4)) : json(nullptr)},
             {"baseline_no_agents", baseline_raft ? json(Round(*baseline_raft, 3)) : json(nullptr)},
             {"per_group_above_baseline",
              raft && baseline_raft ? json(Round(std::max(0.0, *raft - *baseline_raft) / o.groups, 4)) : json(nullptr)},
             {"log_entries_per_s", LogRate(w0, w1) ? json(Round(*LogRate(w0, w1), 3)) : json(nullptr)},
             {"by_agents", by_agents >= 0 ? json(Round(by_agents, 4)) : json(nullptr)},
             {"per_group_by_agents", by_agents >= 0 ? json(Round(by_agents / o.groups, 4)) : json(nullptr)},
             {"by_kind_per_s", by_kind},
             {"baseline_by_kind_per_s", FsmRates(base0, base1)}};
  result["raft_applies_per_s"] = rj;

  // CPU and memory.
  auto mean_mb = [](const std::vector<std::vector<double>>& samples, const std::vector<size_t>& which) -> json {
    double sum = 0;
    int n = 0;
    for (size_t i : which) {
      if (samples[i].empty()) continue;
      double s = 0;
      for (double v : samples[i]) s += v;
      sum += s / static_cast<double>(samples[i].size());
      ++n;
    }
    return n > 0 ? json(Round(sum / n / 1024.0, 2)) : json(nullptr);
  };
  const std::vector<size_t> all_servers = AllOf(procs.servers.size());
  json server_cpu = json::array(), server_rss = json::array();
  double server_cpu_total = 0;
  for (size_t i = 0; i < procs.servers.size(); ++i) {
    const json c = CpuOf(w0.servers, w1.servers, {i}, secs);
    server_cpu.push_back(c);
    if (c.is_number()) server_cpu_total += c.get<double>();
    server_rss.push_back(mean_mb(rss_servers, {i}));
  }
  double server_rss_max = 0;
  for (const json& r : server_rss) {
    if (r.is_number()) server_rss_max = std::max(server_rss_max, r.get<double>());
  }
  result["consul_server_cpu_pct"] = {
      {"mean", CpuOf(w0.servers, w1.servers, all_servers, secs)},
      {"total", Round(server_cpu_total, 2)},
      {"leader", w1.leader ? server_cpu[static_cast<size_t>(*w1.leader)] : json(nullptr)},
      {"per_server", server_cpu}};
  result["consul_server_rss_mb"] = {{"mean", mean_mb(rss_servers, all_servers)},
                                    {"max", Round(server_rss_max, 1)},
                                    {"per_server", server_rss}};
  result["agent_rss_mb"] = mean_mb(rss_agents, all_agents);
  result["agent_cpu_pct"] = CpuOf(w0.agents, w1.agents, all_agents, secs);
  result["agent_by_role"] = {
      {"holder", {{"rss_mb", mean_mb(rss_agents, holders)}, {"cpu_pct", CpuOf(w0.agents, w1.agents, holders, secs)}}},
      {"replica",
       {{"rss_mb", mean_mb(rss_agents, replicas)}, {"cpu_pct", CpuOf(w0.agents, w1.agents, replicas, secs)}}}};
  result["redis_rss_mb"] = mean_mb(rss_redis, AllOf(procs.redis.size()));
  result["redis_cpu_pct"] = CpuOf(w0.redis, w1.redis, AllOf(procs.redis.size()), secs);

  // Failover.
  std::vector<double> ok_ms;
  json runs = json::array();
  for (const FailoverRun& r : failovers) {
    json x = {{"failover_ms", r.ms ? json(*r.ms) : json(nullptr)}, {"fault_delay_ms", r.fault_delay_ms}};
    if (!r.error.empty()) x["error"] = r.error;
    runs.push_back(x);
    if (r.ms) ok_ms.push_back(*r.ms);
  }
  result["failover_ms"] = ok_ms.empty() ? json(nullptr) : json(*Percentile(ok_ms, 50));
  result["failover_runs"] = runs;

  // The machine, which other work shares.
  json machine = MachineJson();
  if (w0.machine && w1.machine && w1.machine->total_ticks > w0.machine->total_ticks) {
    machine["busy_pct_of_all_cores_in_window"] =
        Round(100.0 * static_cast<double>(w1.machine->busy_ticks - w0.machine->busy_ticks) /
                  static_cast<double>(w1.machine->total_ticks - w0.machine->total_ticks),
              1);
  }
  if (w0.self && w1.self) machine["harness_cpu_pct"] = Round(CpuPercent(w1.self->cpu_ticks - w0.self->cpu_ticks, secs), 2);
  {
    // Everything this run started, for comparison with the machine's busy
    // time: what is left is other work on the machine.
    double ours = 0;
    for (const auto* set : {&procs.agents, &procs.redis, &procs.servers}) {
      const auto& a = set == &procs.agents ? w0.agents : set == &procs.redis ? w0.redis : w0.servers;
      const auto& b = set == &procs.agents ? w1.agents : set == &procs.redis ? w1.redis : w1.servers;
      for (size_t i = 0; i < set->size(); ++i) {
        if (a[i] && b[i]) ours += CpuPercent(b[i]->cpu_ticks - a[i]->cpu_ticks, secs);
      }
    }
    if (w0.self && w1.self) ours += CpuPercent(w1.self->cpu_ticks - w0.self->cpu_ticks, secs);
    machine["this_run_cpu_pct_of_one_core"] = Round(ours, 1);
  }
  result["machine"] = machine;
  result["start_s"] = Round(start_s, 1);
  if (load) {
    result["write_load_sets_per_s_per_group"] =
        Round(static_cast<double>(w1.load_sent - w0.load_sent) / secs / o.groups, 1);
  }
  result["settings"] = SettingsJson(o);

  std::fprintf(stderr,
               "%s HTTP %s req/min/agent (holder %s, replica %s); Raft %s applies/s (%s per group, baseline %s); "
               "agents' own %s per group; Consul CPU %s%%; agent RSS %s MB, CPU %s%%; failover %s ms\n",
               label.c_str(), result["consul_http_req_per_min_per_agent"].dump().c_str(),
               result["consul_http_req_per_min_per_agent_by_role"]["holder"].dump().c_str(),
               result["consul_http_req_per_min_per_agent_by_role"]["replica"].dump().c_str(), rj["total"].dump().c_str(),
               rj["per_group"].dump().c_str(), rj["baseline_no_agents"].dump().c_str(),
               rj["per_group_by_agents"].dump().c_str(),
               result["consul_server_cpu_pct"]["total"].dump().c_str(), result["agent_rss_mb"].dump().c_str(),
               result["agent_cpu_pct"].dump().c_str(), result["failover_ms"].dump().c_str());
  if (Status st = WriteJson(o.out, result); !st.ok()) return st;
  return result;
}

}  // namespace resec::bench
