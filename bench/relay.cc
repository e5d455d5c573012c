#include "relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "loopback_socket.h"

namespace resec::bench {
namespace {

// A stop request is noticed within this long; it bounds the destructor.
constexpr int kPollMs = 100;

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(int upstream_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(std::string("relay: socket: ") + std::strerror(errno));
  sockaddr_in a = Loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 64) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    return Internal("relay: bind/listen: " + err);
  }
  return std::make_unique<TcpRelay>(Key(), fd, LocalPort(fd), upstream_port);
}

TcpRelay::TcpRelay(Key, int listen_fd, int port, int upstream_port)
    : listen_fd_(listen_fd), port_(port), upstream_port_(upstream_port) {
  acceptor_ = std::jthread([this](std::stop_token stop) { AcceptLoop(stop); });
}

TcpRelay::~TcpRelay() {
  acceptor_.request_stop();
  if (acceptor_.joinable()) acceptor_.join();
  connections_.clear();  // each jthread is asked to stop and joined
  ::close(listen_fd_);
}

std::set<int> TcpRelay::UpstreamSourcePorts() const {
  MutexLock lock(mu_);
  return source_ports_;
}

void TcpRelay::AcceptLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    // Reap finished connections so a client that connects per request
    // (ours does) does not pile up idle threads.
    connections_.remove_if([](Connection& c) { return c.done.load(); });
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Connection& c = connections_.emplace_back();
    c.thread = std::jthread([this, client, &c](std::stop_token s) { Relay(s, client, &c); });
  }
}

void TcpRelay::Relay(std::stop_token stop, int client_fd, Connection* self) {
  const int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(upstream_port_);
  if (up >= 0 && ::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    RelayWithoutDelay(client_fd, up);
    {
      MutexLock lock(mu_);
      source_ports_.insert(LocalPort(up));
    }
    char buf[64 * 1024];
    bool open = true;
    while (open && !stop.stop_requested()) {
      pollfd p[2] = {{client_fd, POLLIN, 0}, {up, POLLIN, 0}};
      const int n = ::poll(p, 2, kPollMs);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < 2 && open; ++i) {
        if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const int from = p[i].fd;
        const int to = i == 0 ? up : client_fd;
        const ssize_t r = ::recv(from, buf, sizeof(buf), 0);
        if (r <= 0 || !WriteAll(to, buf, static_cast<size_t>(r))) open = false;
      }
    }
  }
  if (up >= 0) ::close(up);
  ::close(client_fd);
  self->done.store(true);
}

}  // namespace resec::bench
