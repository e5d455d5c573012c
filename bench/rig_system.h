// A system under benchmark on the production-topology rig (support/rig.h):
// three hosts, each a network namespace with a Consul client agent and Redis
// on 6379, three Consul servers, and on each host
//   resec, resec-go  the agent, configured as examples/systemd configures
//                    it plus the settings row of the mode (settings.h); the
//                    Go resec is known to be up by a line it logs, as it has
//                    no state server, and keeps ANNOUNCE_ADDR unset;
//   sentinel         Debian's redis-sentinel on 26379 (a rig sidecar, so
//                    host faults take it too), quorum 2; Redis started as
//                    h1's master and two replicas, and no agent.
// The failover runner injects faults through the rig and this class, asks
// whether the group has converged, and gets a writer that finds the master
// the way that system's clients do (Consul: blocking health queries against
// the servers; Sentinel: SENTINEL get-master-addr-by-name), from the root
// namespace over the bridge, as a real client.
//
// Thread-safety: owned by the thread that started it (the rig's children die
// with that thread); the writer runs on threads of its own.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resec/status.h"
#include "settings.h"
#include "support/rig.h"
#include "support/traffic.h"

namespace resec::bench {

struct RigSystemOptions {
  SystemKind kind = SystemKind::kResec;
  Mode mode = Mode::kTuned;
  // The agent binary (resec, resec-go); "" for ours: $RESEC_BIN or the build's.
  std::string agent_bin = {};
};

class RigSystem {
 public:
  // Builds the rig, starts everything and waits (up to kStartTimeout) for a
  // converged group.
  static StatusOr<std::unique_ptr<RigSystem>> Start(const RigSystemOptions& options);
  // Only Start() can make the key: a RigSystem is always a started one.
  class Key {
    friend class RigSystem;
    Key() = default;
  };
  RigSystem(Key, const RigSystemOptions& options);
  ~RigSystem();
  RigSystem(const RigSystem&) = delete;
  RigSystem& operator=(const RigSystem&) = delete;

  testing::Rig& rig() { return rig_; }
  SystemKind kind() const { return options_.kind; }
  int hosts() const { return rig_.hosts(); }

  // The master host's index when the group has converged, the hosts in
  // `down` left out: one Redis master, every other Redis replicating it with
  // its link up (Rig::RedisConverged), and the system's discovery agreeing:
  // for the Consul systems exactly one passing master instance, on that host
  // (as the loopback harness judged it); for Sentinel every live sentinel
  // naming that master.
  std::optional<int> Converged(const std::vector<int>& down = {}, std::string* why = nullptr);
  std::string Describe(const std::vector<int>& down = {});

  // A writer for this system's clients, not started.
  std::unique_ptr<testing::Writer> MakeWriter(testing::Clock::time_point origin) const;

  // A planned switchover away from `master`: SIGTERM to the agent (both
  // resecs release the lock; ours hands over) / SENTINEL FAILOVER.
  Status BeginSwitchover(int master);
  // Its recovery step (the stopped agent restarted, as a rolling restart
  // would); false: not yet, call again; with last_chance it must finish.
  StatusOr<bool> FinishSwitchover(int master, bool last_chance);

  // Copies every log of the rig (agents, Redis, Consul clients and servers,
  // sentinels, network commands) into `dest`.
  void CopyLogs(const std::filesystem::path& dest) const;

 private:
  Status StartSentinels();
  bool SentinelLive(int k);

  RigSystemOptions options_;
  testing::Rig rig_;
};

}  // namespace resec::bench
