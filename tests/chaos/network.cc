#include "network.h"

#include <signal.h>
#include <unistd.h>

#include "support/netns.h"

namespace resec::chaos {
namespace {

// The second octet of every address: a private range unlikely to be in use
// on a test machine (checked nowhere; pick another here if it is).
constexpr int kNetOctet = 213;

std::string Bridge(int id) { return "rcbr" + std::to_string(id); }
std::string Ns(int id, int k) { return "rc" + std::to_string(id) + "n" + std::to_string(k); }
std::string RootVeth(int id, int k) { return "rc" + std::to_string(id) + "v" + std::to_string(k); }
std::string MgmtVeth(int id, int k) { return "rc" + std::to_string(id) + "m" + std::to_string(k); }
std::string Prefix(int id) { return "10." + std::to_string(kNetOctet) + "." + std::to_string(id) + "."; }

}  // namespace

void Network::RemoveLeftovers(int id, const std::filesystem::path& log_dir) {
  for (int k = 1; k <= kNodes; ++k) {
    // Children of a crashed run die with it (PDEATHSIG); anything left in a
    // namespace of this id keeps the namespace and its veths alive.
    for (pid_t pid : testing::PidsInNetns(Ns(id, k))) ::kill(pid, SIGKILL);
  }
  for (int k = 1; k <= kNodes; ++k) {
    testing::RunQuietly("ip netns del " + Ns(id, k));
    testing::RunQuietly("ip link del " + RootVeth(id, k));
    testing::RunQuietly("ip link del " + MgmtVeth(id, k));
  }
  testing::RunQuietly("ip link del " + Bridge(id));
  (void)log_dir;
}

std::unique_ptr<Network> Network::Create(int net_id, bool force_loopback, const std::filesystem::path& log_dir,
                                         std::string* note) {
  std::unique_ptr<Network> net(new Network(net_id, log_dir));  // private constructor
  if (!force_loopback) {
    if (::geteuid() != 0) {
      *note = "network namespaces need root; falling back to loopback-only faults (no partition)";
    } else {
      RemoveLeftovers(net_id, log_dir);
      Status st = net->SetUpNamespaces();
      if (st.ok()) {
        net->namespaces_ = true;
        *note = "network namespaces " + Ns(net_id, 1) + ".." + Ns(net_id, kNodes) + " on bridge " +
                Bridge(net_id) + " (" + Prefix(net_id) + "0/24)";
        return net;
      }
      net->Teardown();
      *note = "cannot create network namespaces (" + st.message() +
              "); falling back to loopback-only faults (no partition)";
    }
  } else {
    *note = "loopback-only faults requested (--loopback): no partition";
  }
  net->nodes_.clear();
  for (int k = 1; k <= kNodes; ++k) {
    // All on 127.0.0.1, told apart by their ports (as the e2e tests run):
    // the agent registers a loopback announce address as a port only.
    net->nodes_.push_back({.ip = "127.0.0.1", .mgmt_ip = "127.0.0.1", .ns = ""});
  }
  return net;
}

Status Network::SetUpNamespaces() {
  const int id = net_id_;
  const std::string p = Prefix(id);
  std::vector<std::vector<std::string>> cmds = {
      {"ip", "link", "add", Bridge(id), "type", "bridge"},
      {"ip", "addr", "add", p + "1/24", "dev", Bridge(id)},
      {"ip", "link", "set", Bridge(id), "up"},
  };
  nodes_.clear();
  for (int k = 1; k <= kNodes; ++k) {
    const std::string ns = Ns(id, k);
    const std::string ip = p + std::to_string(10 + k);
    const std::string mgmt_root = p + std::to_string(65 + 4 * k);
    const std::string mgmt_node = p + std::to_string(66 + 4 * k);
    nodes_.push_back({.ip = ip, .mgmt_ip = mgmt_node, .ns = ns});
    std::vector<std::vector<std::string>> node_cmds = {
        {"ip", "netns", "add", ns},
        {"ip", "-n", ns, "link", "set", "lo", "up"},
        {"ip", "link", "add", RootVeth(id, k), "type", "veth", "peer", "name", "eth0", "netns", ns},
        {"ip", "link", "set", RootVeth(id, k), "master", Bridge(id), "up"},
        {"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
        {"ip", "-n", ns, "link", "set", "eth0", "up"},
        {"ip", "link", "add", MgmtVeth(id, k), "type", "veth", "peer", "name", "mgmt", "netns", ns},
        {"ip", "addr", "add", mgmt_root + "/30", "dev", MgmtVeth(id, k)},
        {"ip", "link", "set", MgmtVeth(id, k), "up"},
        {"ip", "-n", ns, "addr", "add", mgmt_node + "/30", "dev", "mgmt"},
        {"ip", "-n", ns, "link", "set", "mgmt", "up"},
    };
    cmds.insert(cmds.end(), node_cmds.begin(), node_cmds.end());
  }
  for (const auto& c : cmds) {
    if (Status st = testing::RunCommand(c, log_dir_); !st.ok()) return st;
  }
  return Status::Ok();
}

void Network::Teardown() { RemoveLeftovers(net_id_, log_dir_); }

Network::~Network() {
  if (namespaces_) Teardown();
}

std::vector<std::string> Network::InNode(int i, std::vector<std::string> argv) const {
  const NodeNet& n = node(i);
  if (n.ns.empty()) return argv;
  std::vector<std::string> out = {"ip", "netns", "exec", n.ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Status Network::Cut(int i) {
  if (!namespaces_) return FailedPrecondition("no partition on loopback");
  if (Status st = testing::RunCommand({"ip", "link", "set", RootVeth(net_id_, i + 1), "down"}, log_dir_); !st.ok()) return st;
  cut_.at(static_cast<size_t>(i)) = true;
  return Status::Ok();
}

Status Network::Restore(int i) {
  if (!namespaces_) return FailedPrecondition("no partition on loopback");
  if (Status st = testing::RunCommand({"ip", "link", "set", RootVeth(net_id_, i + 1), "up"}, log_dir_); !st.ok()) return st;
  cut_.at(static_cast<size_t>(i)) = false;
  return Status::Ok();
}

}  // namespace resec::chaos
