// RigNetwork: the network of the production-topology rig (rig.h). Every Consul
// server and every host is a Linux network namespace with its own address on
// one bridge, as machines on one switch:
//
//   bridge  rig<id>br   10.214.<id>.1/24 in the root namespace
//   server  i = 1..3    namespace rig<id>-s<i>, eth0 10.214.<id>.(10+i)
//   host    k = 1..5    namespace rig<id>-h<k>, eth0 10.214.<id>.(20+k)
//
// The root end of each member's veth is named rig<id>s<i> / rig<id>h<k>;
// setting it down (Partition) cuts the member off everyone at once, as a
// switch port failure would. The root namespace reaches every member over
// the bridge (a client of the group, like the rig's writer, lives there) and
// does not forward between them.
//
// Each host namespace gets a hosts file (/etc/netns/<ns>/hosts, which `ip
// netns exec` mounts over /etc/hosts): `consul` is 127.0.0.1 (every host runs
// its own Consul client agent), h<k> and redis<k> are host k's address, and
// s<i> server i's. Processes started through InMember() see it.
//
// The id is chosen automatically: the first of 1..254 whose lock file
// /run/resec-rig/<id>.lock this process can flock, held for the rig's
// lifetime, so concurrent rigs (other tests, other checkouts) never share a
// name or an address. $RESEC_RIG_ID asks for one id (and fails if it is
// taken). Holding the lock, Create() first removes whatever a crashed run
// with that id left behind (processes in its namespaces, the namespaces,
// links, bridge and hosts files); the destructor removes everything too.
//
// Thread-safety: owned by one thread (the one that starts the processes).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "resec/status.h"

namespace resec::testing {

// One member of the rig's network: a Consul server or a host.
struct RigMember {
  std::string name;  // "s1", "h2": the Consul node name too
  std::string ns;    // its network namespace
  std::string ip;    // its address on the bridge
  std::string link;  // the root end of its veth
};

class RigNetwork {
 public:
  static constexpr int kMaxHosts = 5;
  static constexpr int kServers = 3;

  // Creates the network for `hosts` hosts; `log_dir` receives net.log (the
  // output of every ip/nft command). Fails with one line naming what is
  // missing when namespaces cannot be made.
  static StatusOr<std::unique_ptr<RigNetwork>> Create(int hosts, const std::filesystem::path& log_dir);
  // Deletes everything of rig `id` (what a crashed run left), if its lock is
  // free; FailedPrecondition when a live rig holds it.
  static Status RemoveLeftovers(int id);

  ~RigNetwork();
  RigNetwork(const RigNetwork&) = delete;
  RigNetwork& operator=(const RigNetwork&) = delete;

  int id() const { return id_; }
  std::string subnet() const;  // "10.214.<id>.0/24"
  std::string bridge() const;
  std::string bridge_ip() const;
  int hosts() const { return static_cast<int>(hosts_.size()); }
  // 0-based indexes.
  const RigMember& server(int i) const { return servers_.at(static_cast<size_t>(i)); }
  const RigMember& host(int k) const { return hosts_.at(static_cast<size_t>(k)); }
  // The name -> address map of the hosts files, for clients in the root
  // namespace that meet a registered host name (redis1) and must resolve it
  // as the group's own hosts would.
  std::map<std::string, std::string> HostNames() const;

  // argv run inside a member's namespace with its hosts file
  // (`ip netns exec <ns> argv...`; the pid stays the program's own, so
  // signals reach it directly).
  static std::vector<std::string> InMember(const RigMember& m, std::vector<std::string> argv);

  // Sets the member's link down / up: all of its traffic stops at once.
  Status Partition(const RigMember& m);
  Status Heal(const RigMember& m);
  // One-way drops with nftables inside the member's namespace: packets from
  // `peer_ip` are dropped on the way in (DropFrom) or packets to it on the
  // way out (DropTo); the other direction still flows. ClearDrops removes
  // every drop of that member.
  Status DropFrom(const RigMember& m, const std::string& peer_ip);
  Status DropTo(const RigMember& m, const std::string& peer_ip);
  Status ClearDrops(const RigMember& m);

 private:
  RigNetwork(int id, int lock_fd, std::filesystem::path log_dir);
  Status SetUp(int hosts);
  Status AddMember(const RigMember& m);
  Status WriteHostsFiles();
  Status EnsureDropChains(const RigMember& m);
  Status Run(const std::vector<std::string>& argv) const;

  int id_;
  int lock_fd_;  // flock held for the rig's lifetime
  std::filesystem::path log_dir_;
  std::vector<RigMember> servers_;
  std::vector<RigMember> hosts_;
  std::vector<std::string> drop_chains_;  // namespaces whose nft table exists
};

}  // namespace resec::testing
