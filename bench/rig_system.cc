#include "rig_system.h"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "sentinel.h"
#include "consul_cost.h"
#include "support/netns.h"
#include "support/redis_conn.h"
#include "support/wait_for.h"

namespace resec::bench {

using std::chrono::milliseconds;
using testing::Rig;

namespace {

// Sentinel's own default port, on every host.
constexpr int kSentinelPort = 26379;
constexpr char kSentinelSidecar[] = "sentinel";
// Observation of a sentinel over the management path: a live one answers
// within milliseconds.
constexpr milliseconds kProbeTimeout{300};

testing::RigOptions RigOptionsFor(const RigSystemOptions& o) {
  testing::RigOptions r;
  r.hosts = 3;
  r.consul_args = kConsulTelemetryArgs;
  // examples/systemd/redis-resec.conf (start fenced) is resec's advice, which
  // our agent undoes on the master it promotes; the yardsticks never touch
  // min-replicas-to-write, so their Redis runs with Redis' defaults.
  r.redis_defaults = o.kind != SystemKind::kResec;
  if (o.kind == SystemKind::kSentinel) {
    r.start_agents = false;
    return r;
  }
  for (const Setting& s : SettingsFor(o.kind, o.mode)) r.agent_env[s.name] = s.value;
  r.resec_bin = o.agent_bin;
  // ANNOUNCE_ADDR stays unset (the rig's default, the example's too): the Go
  // resec panics at start with it; it then registers the port of REDIS_ADDR
  // (127.0.0.1:6379 by default) and Consul completes it with the node's
  // address, the host's.
  if (o.kind == SystemKind::kResecGo) r.agent_ready_log_line = kResecGoReadyLogLine;
  return r;
}

void CopyIfExists(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;  // best effort: a missing log is not worth failing over
  if (!std::filesystem::exists(from, ec)) return;
  std::filesystem::create_directories(to.parent_path(), ec);
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
}

}  // namespace

RigSystem::RigSystem(Key, const RigSystemOptions& options) : options_(options), rig_(RigOptionsFor(options)) {}

RigSystem::~RigSystem() = default;

StatusOr<std::unique_ptr<RigSystem>> RigSystem::Start(const RigSystemOptions& options) {
  auto sys = std::make_unique<RigSystem>(Key(), options);
  if (Status st = sys->rig_.Start(); !st.ok()) return st;
  if (options.kind == SystemKind::kSentinel) {
    if (Status st = sys->StartSentinels(); !st.ok()) return st;
  }
  std::string why;
  if (!testing::WaitFor([&] { return sys->Converged({}, &why).has_value(); }, kStartTimeout, milliseconds(100))) {
    return Unavailable("the group did not converge after start: " + why);
  }
  return sys;
}

// h1 the master, h2 and h3 its replicas, then a sentinel on every host; they
// find each other and the replicas through hello messages (every 2 s) and
// INFO.
Status RigSystem::StartSentinels() {
  const std::string master_ip = rig_.host(0).ip;
  for (int k = 1; k < hosts(); ++k) {
    auto r = rig_.Redis(k, {"REPLICAOF", master_ip, std::to_string(Rig::kRedisPort)});
    if (!r.ok()) return r.status();
  }
  for (int k = 0; k < hosts(); ++k) {
    const std::filesystem::path dir = rig_.dir() / rig_.host(k).name / "sentinel";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::filesystem::path conf = dir / "sentinel.conf";
    std::ofstream(conf) << SentinelConf({.port = kSentinelPort,
                                         .bind = {rig_.host(k).ip, "127.0.0.1"},
                                         .dir = dir,
                                         .master_host = master_ip,
                                         .master_port = Rig::kRedisPort,
                                         .mode = options_.mode});
    if (Status st = rig_.AddSidecar(k, kSentinelSidecar, {"redis-sentinel", conf.string()}); !st.ok()) return st;
  }
  const bool ready = testing::WaitFor(
      [&] {
        for (int k = 0; k < hosts(); ++k) {
          auto r = testing::InNetns(rig_.host(k).ns, [&] {
            return testing::RedisOnce("127.0.0.1", kSentinelPort, {"SENTINEL", "master", kSentinelMasterName},
                                      kProbeTimeout);
          });
          if (!r.ok() || !SentinelKnowsGroup(*r, hosts())) return false;
        }
        return true;
      },
      kStartTimeout, milliseconds(200));
  if (!ready) return Unavailable("the sentinels did not discover the group:\n" + Describe());
  return Status::Ok();
}

bool RigSystem::SentinelLive(int k) {
  return rig_.SidecarRunning(k, kSentinelSidecar) && !rig_.SidecarPaused(k, kSentinelSidecar);
}

std::optional<int> RigSystem::Converged(const std::vector<int>& down, std::string* why) {
  const std::optional<int> m = rig_.RedisConverged(why, down);
  if (!m) return std::nullopt;
  if (options_.kind != SystemKind::kSentinel) {
    // What clients see: exactly one passing master instance, on that host.
    // Replicas' registrations are not waited for (Rig::Converged does): a
    // crashed agent's host registers nothing until it is restarted, while its
    // Redis already follows the new master.
    auto masters = rig_.Service("redis-master");
    if (!masters.ok()) {
      if (why != nullptr) *why = "catalog: " + masters.status().message();
      return std::nullopt;
    }
    std::vector<std::string> passing;
    for (const testing::HealthInstance& e : *masters) {
      if (e.Passing()) passing.push_back(e.node);
    }
    if (passing.size() != 1 || rig_.HostOf(passing[0]) != *m) {
      if (why != nullptr) {
        *why = std::to_string(passing.size()) + " passing master instances, not one on " + rig_.host(*m).name;
      }
      return std::nullopt;
    }
    return m;
  }
  for (int k = 0; k < hosts(); ++k) {
    if (std::find(down.begin(), down.end(), k) != down.end() || !SentinelLive(k)) continue;
    auto r = testing::InNetns(rig_.host(k).ns, [&] {
      return testing::RedisOnce("127.0.0.1", kSentinelPort,
                                {"SENTINEL", "get-master-addr-by-name", kSentinelMasterName}, kProbeTimeout);
    });
    auto a = r.ok() ? SentinelAddress(*r) : std::nullopt;
    if (!a || a->host != rig_.host(*m).ip) {
      if (why != nullptr) {
        *why = rig_.host(k).name + "'s sentinel names " +
               (a ? a->host : (r.ok() ? *r : r.status().message())) + ", not " + rig_.host(*m).name;
      }
      return std::nullopt;
    }
  }
  return m;
}

std::string RigSystem::Describe(const std::vector<int>& down) {
  std::ostringstream o;
  for (int k = 0; k < hosts(); ++k) {
    auto info = rig_.Info(k, "replication");
    o << rig_.host(k).name << " " << rig_.host(k).ip << ": redis "
      << (info.empty() ? "does not answer" : info["role"] + " master_host=" + info["master_host"] +
                                                 " link=" + info["master_link_status"]);
    if (options_.kind == SystemKind::kSentinel) o << "; sentinel " << (SentinelLive(k) ? "live" : "down or frozen");
    o << "\n";
  }
  std::string why;
  if (!Converged(down, &why)) o << "not converged: " << why << "\n";
  return o.str();
}

std::unique_ptr<testing::Writer> RigSystem::MakeWriter(testing::Clock::time_point origin) const {
  if (options_.kind != SystemKind::kSentinel) return rig_.MakeWriter(origin);
  std::vector<testing::Endpoint> sentinels;
  std::vector<std::string> addrs;
  for (int k = 0; k < rig_.hosts(); ++k) {
    sentinels.push_back({rig_.host(k).ip, kSentinelPort});
    addrs.push_back(rig_.redis_addr(k));
  }
  return std::make_unique<testing::Writer>(MakeSentinelMasterSource(std::move(sentinels)), std::move(addrs), origin);
}

Status RigSystem::BeginSwitchover(int master) {
  if (options_.kind != SystemKind::kSentinel) {
    if (!rig_.SignalAgent(master, SIGTERM)) return FailedPrecondition("the master's agent is not running");
    return Status::Ok();
  }
  // SENTINEL FAILOVER: a forced failover without asking the others.
  Status last = Unavailable("no sentinel answered");
  for (int k = 0; k < hosts(); ++k) {
    auto r = testing::InNetns(rig_.host(k).ns, [&] {
      return testing::RedisOnce("127.0.0.1", kSentinelPort, {"SENTINEL", "FAILOVER", kSentinelMasterName},
                                milliseconds(2000));
    });
    if (r.ok()) return Status::Ok();
    last = r.status();
  }
  return last;
}

StatusOr<bool> RigSystem::FinishSwitchover(int master, bool last_chance) {
  if (options_.kind == SystemKind::kSentinel) return true;
  if (rig_.AgentRunning(master)) {
    if (!last_chance) return false;
    rig_.KillAgent(master);
  }
  if (Status st = rig_.StartAgent(master); !st.ok()) return st;
  return true;
}

void RigSystem::CopyLogs(const std::filesystem::path& dest) const {
  const std::filesystem::path& src = rig_.dir();
  CopyIfExists(src / "net.log", dest / "net.log");
  for (int i = 0; i < testing::RigNetwork::kServers; ++i) {
    const std::string s = rig_.server(i).name;
    CopyIfExists(src / s / "consul.log", dest / s / "consul.log");
  }
  for (int k = 0; k < rig_.hosts(); ++k) {
    const std::string h = rig_.host(k).name;
    for (const char* log : {"consul.log", "redis.log", "resec.log", "sentinel.log"}) {
      CopyIfExists(src / h / log, dest / h / log);
    }
    CopyIfExists(src / h / "sentinel" / "sentinel.conf", dest / h / "sentinel.conf");
  }
}

}  // namespace resec::bench
