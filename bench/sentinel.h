// Redis Sentinel as the benchmarks run it (Debian's redis-sentinel, one per
// node, quorum 2): the sentinel.conf the harness writes, the replies it
// reads, and the way Sentinel's clients find the master. Shared by the
// loopback footprint (systems.cc) and the failover runs on the rig
// (rig_system.cc).
//
// Thread-safety: stateless functions; a MasterSource belongs to the writer's
// discovery thread.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "settings.h"
#include "support/traffic.h"

namespace resec::bench {

inline constexpr char kSentinelMasterName[] = "mymaster";
inline constexpr int kSentinelQuorum = 2;

struct SentinelConfig {
  int port = 0;
  std::vector<std::string> bind;  // addresses it listens on
  std::filesystem::path dir;      // its working directory
  std::string master_host;        // the master it starts out monitoring
  int master_port = 0;
  Mode mode = Mode::kTuned;       // which settings row (settings.h)
};

// The text of a sentinel.conf for `c`: the monitor line (quorum 2) and the
// per-master settings of the mode. Sentinel rewrites the file as it learns.
std::string SentinelConf(const SentinelConfig& c);

// The field/value pairs of a flat reply (SENTINEL master, rendered one
// element a line).
std::map<std::string, std::string> SentinelPairs(const std::string& flat);

// Whether a SENTINEL master reply shows a sentinel that knows the whole
// group of `size` nodes: the other size-1 sentinels (from their hello
// messages, every 2 s) and size-1 replicas (from the master's INFO).
bool SentinelKnowsGroup(const std::string& master_reply, int size);

// The address of a SENTINEL get-master-addr-by-name reply ("ip\nport").
std::optional<testing::MasterSource::Address> SentinelAddress(const std::string& reply);

// Finds the master as Sentinel-aware clients do: SENTINEL
// get-master-addr-by-name, asking the sentinel that answered last and moving
// to the next when it does not; polled every kSentinelPollInterval (clients
// ask on every reconnect; polling stands in for that).
std::unique_ptr<testing::MasterSource> MakeSentinelMasterSource(std::vector<testing::Endpoint> sentinels);

}  // namespace resec::bench
