// Network: where the chaos runner's three nodes live, and the one network
// fault it injects (cutting a node off).
//
// With namespaces (root, `ip netns` works): a bridge rcbr<id> in the root
// namespace holding 10.213.<id>.1/24, and per node k = 1..3 a namespace
// rc<id>n<k> whose eth0 (10.213.<id>.1<k>/24) is a veth to the bridge (root
// end rc<id>v<k>). Everything of a node (redis-server, resec, its Consul
// server) binds that address, so the cluster's own traffic crosses the bridge.
// Cut(k) sets the root end down: the node loses the other nodes and the
// writer at once, as a switch port failure would.
//
// The runner keeps a second path per node that a cut does not touch: a veth
// rc<id>m<k> <-> "mgmt" with a /30 of its own (10.213.<id>.(65+4k) root side,
// .(66+4k) node side). The root namespace does not forward (ip_forward is not
// touched), so a cut node cannot reach the others through it. The prober and
// the convergence checks use it; the writer, like a real client, does not.
//
// Without namespaces (not root, or `ip netns add` fails) the nodes all live
// on 127.0.0.1 with ports of their own, and Cut() is refused: the partition
// fault is then not drawn.
//
// Names derive from the id (--net-id), so two runs with different ids can run
// side by side; Create() first deletes what a crashed run with the same id
// left behind. The destructor removes everything it created.
//
// Thread-safety: owned by the runner's main thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "resec/status.h"

namespace resec::chaos {

inline constexpr int kNodes = 3;

struct NodeNet {
  std::string ip;       // the node's cluster address
  std::string mgmt_ip;  // the runner's own path to it (== ip on loopback)
  std::string ns;       // network namespace, "" on loopback
};

class Network {
 public:
  // Namespaces unless force_loopback or they cannot be made; *note says which
  // and why. Command output goes to log_dir/net.log.
  static std::unique_ptr<Network> Create(int net_id, bool force_loopback,
                                         const std::filesystem::path& log_dir, std::string* note);
  // Deletes the namespaces, links and bridge of `net_id` (and kills what still
  // runs in those namespaces: only a crashed run of ours leaves anything).
  static void RemoveLeftovers(int net_id, const std::filesystem::path& log_dir);

  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  bool namespaces() const { return namespaces_; }
  int net_id() const { return net_id_; }
  const NodeNet& node(int i) const { return nodes_.at(static_cast<size_t>(i)); }
  // argv run inside node i's namespace (`ip netns exec <ns> argv...`; the
  // pid stays the program's own, so signals reach it directly).
  std::vector<std::string> InNode(int i, std::vector<std::string> argv) const;

  Status Cut(int i);
  Status Restore(int i);
  bool is_cut(int i) const { return cut_.at(static_cast<size_t>(i)); }

 private:
  Network(int net_id, std::filesystem::path log_dir) : net_id_(net_id), log_dir_(std::move(log_dir)) {}
  Status SetUpNamespaces();
  void Teardown();

  int net_id_;
  std::filesystem::path log_dir_;
  bool namespaces_ = false;
  std::vector<NodeNet> nodes_;
  std::vector<bool> cut_ = std::vector<bool>(kNodes, false);
};

}  // namespace resec::chaos
