#include "support/rig_network.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "support/netns.h"

namespace resec::testing {
namespace {

// The second octet of every address: a private range nothing else on a test
// machine uses (the chaos runner takes 10.213.x).
constexpr int kNetOctet = 214;
constexpr int kMaxId = 254;
constexpr char kLockDir[] = "/run/resec-rig";
// Links and namespaces per rig: every name derives from the id.
std::string Bridge(int id) { return "rig" + std::to_string(id) + "br"; }
std::string Prefix(int id) { return "10." + std::to_string(kNetOctet) + "." + std::to_string(id) + "."; }

RigMember Member(int id, char kind, int index1) {
  const std::string n = std::string(1, kind) + std::to_string(index1);
  const int last = (kind == 's' ? 10 : 20) + index1;
  return {.name = n,
          .ns = "rig" + std::to_string(id) + "-" + n,
          .ip = Prefix(id) + std::to_string(last),
          .link = "rig" + std::to_string(id) + n};
}

std::vector<RigMember> AllMembers(int id, int hosts) {
  std::vector<RigMember> out;
  for (int i = 1; i <= RigNetwork::kServers; ++i) out.push_back(Member(id, 's', i));
  for (int k = 1; k <= hosts; ++k) out.push_back(Member(id, 'h', k));
  return out;
}

std::string LockPath(int id) { return std::string(kLockDir) + "/" + std::to_string(id) + ".lock"; }

// Opens and flocks rig id's lock file without waiting: the fd, or -1 when
// another process holds it (or it cannot be opened).
int TryLock(int id) {
  std::error_code ec;
  std::filesystem::create_directories(kLockDir, ec);
  const int fd = ::open(LockPath(id).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything of rig id, whether it exists or not. REQUIRES: id's lock held.
void RemoveAll(int id) {
  const std::vector<RigMember> members = AllMembers(id, RigNetwork::kMaxHosts);
  for (const RigMember& m : members) {
    // Children of a crashed run die with it (PDEATHSIG), but anything still
    // running in a namespace keeps it and its veth alive.
    for (pid_t pid : PidsInNetns(m.ns)) ::kill(pid, SIGKILL);
  }
  for (const RigMember& m : members) {
    RunQuietly("ip netns del " + m.ns);
    RunQuietly("ip link del " + m.link);
    std::error_code ec;
    std::filesystem::remove_all("/etc/netns/" + m.ns, ec);
  }
  RunQuietly("ip link del " + Bridge(id));
}

}  // namespace

RigNetwork::RigNetwork(int id, int lock_fd, std::filesystem::path log_dir)
    : id_(id), lock_fd_(lock_fd), log_dir_(std::move(log_dir)) {}

StatusOr<std::unique_ptr<RigNetwork>> RigNetwork::Create(int hosts, const std::filesystem::path& log_dir) {
  if (hosts < 1 || hosts > kMaxHosts) {
    return InvalidArgument("the rig has 1.." + std::to_string(kMaxHosts) + " hosts, not " + std::to_string(hosts));
  }
  if (std::string why = NetnsUnavailableReason(); !why.empty()) return FailedPrecondition("rig: " + why);
  int id = 0;
  int fd = -1;
  if (const char* want = std::getenv("RESEC_RIG_ID"); want != nullptr && *want != '\0') {
    id = std::atoi(want);
    if (id < 1 || id > kMaxId) return InvalidArgument("RESEC_RIG_ID must be 1..254, not " + std::string(want));
    fd = TryLock(id);
    if (fd < 0) return FailedPrecondition("rig " + std::to_string(id) + " is in use (" + LockPath(id) + " is locked)");
  } else {
    for (id = 1; id <= kMaxId && fd < 0; ++id) fd = TryLock(id);
    --id;
    if (fd < 0) return FailedPrecondition("rig: every id 1..254 is in use (locks in " + std::string(kLockDir) + ")");
  }
  std::unique_ptr<RigNetwork> net(new RigNetwork(id, fd, log_dir));  // private constructor
  RemoveAll(id);
  if (Status st = net->SetUp(hosts); !st.ok()) return st;  // the destructor removes what was made
  return net;
}

Status RigNetwork::RemoveLeftovers(int id) {
  const int fd = TryLock(id);
  if (fd < 0) return FailedPrecondition("rig " + std::to_string(id) + " is in use: nothing removed");
  RemoveAll(id);
  ::close(fd);
  return Status::Ok();
}

RigNetwork::~RigNetwork() {
  RemoveAll(id_);
  ::close(lock_fd_);
}

std::string RigNetwork::subnet() const { return Prefix(id_) + "0/24"; }
std::string RigNetwork::bridge() const { return Bridge(id_); }
std::string RigNetwork::bridge_ip() const { return Prefix(id_) + "1"; }

Status RigNetwork::Run(const std::vector<std::string>& argv) const { return RunCommand(argv, log_dir_); }

Status RigNetwork::SetUp(int hosts) {
  for (const std::vector<std::string>& c : std::vector<std::vector<std::string>>{
           {"ip", "link", "add", bridge(), "type", "bridge"},
           {"ip", "addr", "add", bridge_ip() + "/24", "dev", bridge()},
           {"ip", "link", "set", bridge(), "up"}}) {
    if (Status st = Run(c); !st.ok()) return st;
  }
  for (int i = 1; i <= kServers; ++i) servers_.push_back(Member(id_, 's', i));
  for (int k = 1; k <= hosts; ++k) hosts_.push_back(Member(id_, 'h', k));
  for (const auto* list : {&servers_, &hosts_}) {
    for (const RigMember& m : *list) {
      if (Status st = AddMember(m); !st.ok()) return st;
    }
  }
  return WriteHostsFiles();
}

Status RigNetwork::AddMember(const RigMember& m) {
  for (const std::vector<std::string>& c : std::vector<std::vector<std::string>>{
           {"ip", "netns", "add", m.ns},
           {"ip", "-n", m.ns, "link", "set", "lo", "up"},
           {"ip", "link", "add", m.link, "type", "veth", "peer", "name", "eth0", "netns", m.ns},
           {"ip", "link", "set", m.link, "master", bridge(), "up"},
           {"ip", "-n", m.ns, "addr", "add", m.ip + "/24", "dev", "eth0"},
           {"ip", "-n", m.ns, "link", "set", "eth0", "up"}}) {
    if (Status st = Run(c); !st.ok()) return st;
  }
  return Status::Ok();
}

std::map<std::string, std::string> RigNetwork::HostNames() const {
  std::map<std::string, std::string> out;
  for (size_t k = 0; k < hosts_.size(); ++k) {
    out[hosts_[k].name] = hosts_[k].ip;
    out["redis" + std::to_string(k + 1)] = hosts_[k].ip;
  }
  for (const RigMember& s : servers_) out[s.name] = s.ip;
  return out;
}

Status RigNetwork::WriteHostsFiles() {
  std::string common;
  for (size_t k = 0; k < hosts_.size(); ++k) {
    common += hosts_[k].ip + " " + hosts_[k].name + " redis" + std::to_string(k + 1) + "\n";
  }
  for (const RigMember& s : servers_) common += s.ip + " " + s.name + "\n";
  for (const auto* list : {&servers_, &hosts_}) {
    for (const RigMember& m : *list) {
      const std::filesystem::path dir = "/etc/netns/" + m.ns;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      std::ofstream out(dir / "hosts", std::ios::trunc);
      // Every host runs its own Consul client agent, which the compose
      // example reaches as consul:8500.
      out << "127.0.0.1 localhost consul\n::1 localhost ip6-localhost\n" << common;
      if (!out) return Internal("cannot write " + (dir / "hosts").string());
    }
  }
  return Status::Ok();
}

std::vector<std::string> RigNetwork::InMember(const RigMember& m, std::vector<std::string> argv) {
  std::vector<std::string> out = {"ip", "netns", "exec", m.ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Status RigNetwork::Partition(const RigMember& m) { return Run({"ip", "link", "set", m.link, "down"}); }
Status RigNetwork::Heal(const RigMember& m) { return Run({"ip", "link", "set", m.link, "up"}); }

Status RigNetwork::EnsureDropChains(const RigMember& m) {
  if (std::find(drop_chains_.begin(), drop_chains_.end(), m.ns) != drop_chains_.end()) return Status::Ok();
  for (const std::vector<std::string>& c : std::vector<std::vector<std::string>>{
           {"nft", "add", "table", "inet", "rig"},
           {"nft", "add", "chain", "inet", "rig", "in", "{ type filter hook input priority 0 ; policy accept ; }"},
           {"nft", "add", "chain", "inet", "rig", "out", "{ type filter hook output priority 0 ; policy accept ; }"}}) {
    if (Status st = Run(InMember(m, c)); !st.ok()) return st;
  }
  drop_chains_.push_back(m.ns);
  return Status::Ok();
}

Status RigNetwork::DropFrom(const RigMember& m, const std::string& peer_ip) {
  if (Status st = EnsureDropChains(m); !st.ok()) return st;
  return Run(InMember(m, {"nft", "add", "rule", "inet", "rig", "in", "ip", "saddr", peer_ip, "drop"}));
}

Status RigNetwork::DropTo(const RigMember& m, const std::string& peer_ip) {
  if (Status st = EnsureDropChains(m); !st.ok()) return st;
  return Run(InMember(m, {"nft", "add", "rule", "inet", "rig", "out", "ip", "daddr", peer_ip, "drop"}));
}

Status RigNetwork::ClearDrops(const RigMember& m) {
  auto it = std::find(drop_chains_.begin(), drop_chains_.end(), m.ns);
  if (it == drop_chains_.end()) return Status::Ok();
  drop_chains_.erase(it);
  return Run(InMember(m, {"nft", "delete", "table", "inet", "rig"}));
}

}  // namespace resec::testing
