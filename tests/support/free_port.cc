#include "support/free_port.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <set>

#include "resec/mutex.h"

namespace resec::testing {
namespace {

constexpr int kLowPort = 20000;
constexpr int kHighPort = 32000;  // exclusive
constexpr int kMaxProbes = 2000;

bool CanBind(int port, int type) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // No SO_REUSEADDR on purpose: a port still in TIME_WAIT fails here, which
  // keeps us away from ports a previous test just used.
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

struct PortRegistry {
  Mutex mu;
  std::set<int> handed_out GUARDED_BY(mu);
  std::mt19937 rng GUARDED_BY(mu) = std::mt19937(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
};

}  // namespace

int FreePort() {
  static PortRegistry registry;
  MutexLock lock(registry.mu);
  std::uniform_int_distribution<int> dist(kLowPort, kHighPort - 1);
  for (int i = 0; i < kMaxProbes; ++i) {
    int port = dist(registry.rng);
    if (registry.handed_out.count(port) != 0) continue;
    if (!CanBind(port, SOCK_STREAM) || !CanBind(port, SOCK_DGRAM)) continue;
    registry.handed_out.insert(port);
    return port;
  }
  ADD_FAILURE() << "FreePort: no free loopback port in [" << kLowPort << ", " << kHighPort
                << ") after " << kMaxProbes << " probes";
  return 0;
}

}  // namespace resec::testing
