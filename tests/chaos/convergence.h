// What "the group has recovered" means to the chaos runner (invariant I2),
// observed on the rig over its management path:
//
//   - the rig's own Converged(): one Redis master, every other replicating it
//     with its link up, exactly one passing master instance in Consul (on the
//     master's host) and one passing slave instance on each other host;
//   - the catalog holds nothing else: as many instances as hosts, whatever
//     their health (a stale registration fails this);
//   - every Consul server answers, names the same leader and knows three
//     Raft peers.
//
// Whether the master also takes writes is the runner's to add (its prober
// sees that).
//
// Thread-safety: stateless functions; the rig's observation calls are safe
// from any thread.
#pragma once

#include <optional>
#include <string>

#include "support/rig.h"

namespace resec::chaos {

// Every Consul server names the same leader and three peers; else *why.
bool ConsulServersAgree(const testing::Rig& rig, std::string* why);

// Autopilot calls every server healthy (alive, voting, in contact with the
// leader and caught up with its log) and the cluster can lose one: what an
// operator waits for before restarting the next server; else *why.
bool ConsulServersHealthy(const testing::Rig& rig, std::string* why);

// The master's host when the group has converged as above; else nullopt and
// *why.
std::optional<int> GroupConverged(const testing::Rig& rig, std::string* why);

// One line per host (role, upstream, link, sync, offset) and the catalog, for
// a violation's message.
std::string DescribeGroup(const testing::Rig& rig);

}  // namespace resec::chaos
