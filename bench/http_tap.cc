#include "http_tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <set>
#include <unordered_map>

#include "loopback_socket.h"

namespace resec::bench {
namespace {

// A stop request is noticed within this long; it bounds the destructor.
constexpr int kPollMs = 100;
// Consul's requests carry a few hundred bytes of headers; a head this long is
// not a request this parser understands.
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxLineBytes = 4096;
// Backpressure: stop reading one side while this much waits to be written to
// the other (a loopback peer that stopped reading).
constexpr size_t kMaxPending = 1 << 20;
constexpr uint64_t kListenerTag = uint64_t{1} << 63;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx at the start of s.
bool StartsWithUuid(std::string_view s) {
  static constexpr std::string_view kShape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (s.size() < kShape.size()) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    if (kShape[i] == '-' ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// A stream of HTTP/1.1 requests, fed as it arrives.
class RequestStream {
 public:
  using OnRequest = std::function<void(std::string_view method, std::string_view target)>;

  // Calls on_request for every request whose head completes in `in`. Returns
  // false once the stream no longer parses (it then stays lost).
  bool Feed(std::string_view in, const OnRequest& on_request) {
    while (!in.empty() && state_ != State::kLost) {
      switch (state_) {
        case State::kHead: {
          const size_t from = head_.size() >= 3 ? head_.size() - 3 : 0;
          head_.append(in);
          in = {};
          const auto end = head_.find("\r\n\r\n", from);
          if (end == std::string::npos) {
            if (head_.size() > kMaxHeadBytes) state_ = State::kLost;
            break;
          }
          carry_ = head_.substr(end + 4);
          head_.resize(end + 2);  // keep the last header's CRLF
          if (!ParseHead(on_request)) {
            state_ = State::kLost;
            break;
          }
          head_.clear();
          in = carry_;
          break;
        }
        case State::kBody:
        case State::kChunkData:
        case State::kChunkEnd: {
          const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
          in.remove_prefix(n);
          remaining_ -= n;
          if (remaining_ > 0) break;
          if (state_ == State::kBody) {
            state_ = State::kHead;
          } else if (state_ == State::kChunkData) {
            state_ = State::kChunkEnd;
            remaining_ = 2;  // the CRLF after a chunk's data
          } else {
            state_ = State::kChunkSize;
          }
          break;
        }
        case State::kChunkSize:
        case State::kTrailer: {
          std::string line;
          if (!TakeLine(&in, &line)) break;
          if (state_ == State::kTrailer) {
            if (line.empty()) state_ = State::kHead;  // the blank line that ends the trailer
            break;
          }
          uint64_t size = 0;
          const std::string_view digits = line.substr(0, line.find_first_of("; \t"));
          const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
          if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
            state_ = State::kLost;
          } else if (size == 0) {
            state_ = State::kTrailer;
          } else {
            remaining_ = size;
            state_ = State::kChunkData;
          }
          break;
        }
        case State::kLost:
          break;
      }
    }
    return state_ != State::kLost;
  }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kLost };

  // Moves one CRLF-terminated line (without it) from *in into *line; false
  // (keeping the partial line) while the line is incomplete.
  bool TakeLine(std::string_view* in, std::string* line) {
    const auto nl = in->find('\n');
    if (nl == std::string_view::npos) {
      partial_line_.append(*in);
      *in = {};
      if (partial_line_.size() > kMaxLineBytes) state_ = State::kLost;
      return false;
    }
    partial_line_.append(in->substr(0, nl));
    in->remove_prefix(nl + 1);
    if (!partial_line_.empty() && partial_line_.back() == '\r') partial_line_.pop_back();
    *line = std::move(partial_line_);
    partial_line_.clear();
    return true;
  }

  bool ParseHead(const OnRequest& on_request) {
    std::string_view head = head_;
    // A client may send empty lines before a request (RFC 9112 2.2).
    while (head.substr(0, 2) == "\r\n") head.remove_prefix(2);
    auto eol = head.find("\r\n");
    if (eol == std::string_view::npos) return false;
    const std::string_view request_line = head.substr(0, eol);
    const auto sp1 = request_line.find(' ');
    const auto sp2 = request_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1 || request_line.substr(sp2 + 1, 5) != "HTTP/") return false;
    const std::string_view method = request_line.substr(0, sp1);
    const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    bool chunked = false;
    uint64_t length = 0;
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
      eol = head.find("\r\n");
      const std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string name = Lower(Trim(line.substr(0, colon)));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (name == "content-length") {
        if (std::from_chars(value.data(), value.data() + value.size(), length).ec != std::errc()) return false;
      } else if (name == "transfer-encoding" && Lower(value).find("chunked") != std::string::npos) {
        chunked = true;
      }
    }
    on_request(method, target);
    if (chunked) {
      state_ = State::kChunkSize;
    } else if (length > 0) {
      state_ = State::kBody;
      remaining_ = length;
    } else {
      state_ = State::kHead;
    }
    return true;
  }

  State state_ = State::kHead;
  std::string head_;
  std::string carry_;  // what followed a head in the same read
  std::string partial_line_;
  uint64_t remaining_ = 0;
};

// One relayed connection: side 0 is the client, side 1 the upstream server.
struct Conn {
  int client = 0;
  int fds[2] = {-1, -1};
  std::string pending[2];  // bytes waiting to be written to fds[i]
  bool read_closed[2] = {false, false};
  bool write_shut[2] = {false, false};
  uint32_t interest[2] = {EPOLLIN, EPOLLIN};
  bool lost = false;  // its requests no longer parse
  RequestStream requests;
};

}  // namespace

std::string EndpointOf(std::string_view method, std::string_view target) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  std::string out(method);
  out += ' ';
  for (size_t i = 0; i < path.size();) {
    if (StartsWithUuid(path.substr(i))) {
      out += ":id";
      i += 36;
    } else if (std::isdigit(static_cast<unsigned char>(path[i])) != 0) {
      out += 'N';
      while (i < path.size() && std::isdigit(static_cast<unsigned char>(path[i])) != 0) ++i;
    } else {
      out += path[i++];
    }
  }
  if (q == std::string_view::npos) return out;
  static const std::set<std::string_view> kTuning = {"wait", "stale", "consistent", "dc", "token"};
  std::set<std::string> names;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    const std::string_view name = param.substr(0, param.find('='));
    if (!name.empty() && !kTuning.contains(name)) names.emplace(name);
  }
  char sep = '?';
  for (const std::string& n : names) {
    out += sep;
    out += n;
    sep = ',';
  }
  return out;
}

StatusOr<std::unique_ptr<HttpTap>> HttpTap::Start(const std::vector<int>& upstream_ports) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return Internal(std::string("tap: epoll_create1: ") + std::strerror(errno));
  std::vector<int> fds, ports;
  auto fail = [&](const std::string& what) -> Status {
    const std::string err = std::strerror(errno);
    for (int fd : fds) ::close(fd);
    ::close(ep);
    return Internal("tap: " + what + ": " + err);
  };
  for (size_t i = 0; i < upstream_ports.size(); ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail("socket");
    fds.push_back(fd);
    sockaddr_in a = Loopback(0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 128) != 0) {
      return fail("bind/listen");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag | i;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) return fail("epoll_ctl");
    ports.push_back(LocalPort(fd));
  }
  return std::make_unique<HttpTap>(Key(), ep, std::move(fds), std::move(ports), upstream_ports);
}

HttpTap::HttpTap(Key, int epoll_fd, std::vector<int> listen_fds, std::vector<int> ports,
                 std::vector<int> upstream_ports)
    : epoll_fd_(epoll_fd),
      listen_fds_(std::move(listen_fds)),
      ports_(std::move(ports)),
      upstream_ports_(std::move(upstream_ports)) {
  {
    MutexLock lock(mu_);
    counts_.resize(ports_.size());
  }
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

HttpTap::~HttpTap() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  for (int fd : listen_fds_) ::close(fd);
  ::close(epoll_fd_);
}

std::vector<HttpTap::ClientCounts> HttpTap::Counts() const {
  MutexLock lock(mu_);
  return counts_;
}

void HttpTap::Count(int client, const std::string& endpoint) {
  MutexLock lock(mu_);
  ClientCounts& c = counts_[static_cast<size_t>(client)];
  ++c.requests;
  ++c.endpoints[endpoint];
}

void HttpTap::Run(std::stop_token stop) {
  // Connections by id; epoll carries id * 2 + side.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_id = 1;
  std::vector<char> buf(64 * 1024);

  auto close_conn = [&](uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    for (int fd : it->second->fds) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      ::close(fd);
    }
    conns.erase(it);
  };

  auto accept_from = [&](int client) {
    const int listen_fd = listen_fds_[static_cast<size_t>(client)];
    while (true) {
      const int cfd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (cfd < 0) return;  // EAGAIN: all taken
      {
        MutexLock lock(mu_);
        ++counts_[static_cast<size_t>(client)].connections;
      }
      // A blocking connect: on loopback it completes at once or is refused.
      const int ufd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a = Loopback(upstream_ports_[static_cast<size_t>(client)]);
      if (ufd < 0 || ::connect(ufd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
          ::fcntl(ufd, F_SETFL, ::fcntl(ufd, F_GETFL) | O_NONBLOCK) != 0) {
        if (ufd >= 0) ::close(ufd);
        ::close(cfd);  // the client sees its server refuse, as it would without us
        continue;
      }
      RelayWithoutDelay(cfd, ufd);
      auto c = std::make_unique<Conn>();
      c->client = client;
      c->fds[0] = cfd;
      c->fds[1] = ufd;
      const uint64_t id = next_id++;
      for (int s = 0; s < 2; ++s) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = id * 2 + static_cast<uint64_t>(s);
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fds[s], &ev);
      }
      conns.emplace(id, std::move(c));
    }
  };

  // Handles readiness of side s of connection id; may close it.
  auto step = [&](uint64_t id, int s, uint32_t events) {
    auto it = conns.find(id);
    if (it == conns.end()) return;  // closed earlier in this batch
    Conn& c = *it->second;
    if ((events & EPOLLERR) != 0) return close_conn(id);
    if ((events & (EPOLLIN | EPOLLHUP)) != 0 && !c.read_closed[s]) {
      const ssize_t n = ::read(c.fds[s], buf.data(), buf.size());
      if (n > 0) {
        const std::string_view data(buf.data(), static_cast<size_t>(n));
        if (s == 0 && !c.lost) {
          const bool ok = c.requests.Feed(
              data, [&](std::string_view method, std::string_view target) { Count(c.client, EndpointOf(method, target)); });
          if (!ok) {
            c.lost = true;
            MutexLock lock(mu_);
            ++counts_[static_cast<size_t>(c.client)].unparsed_connections;
          }
        }
        c.pending[1 - s].append(data);
      } else if (n == 0) {
        // An HTTP client never half-closes to await an answer: its end of
        // stream means it gave up (a timed-out request) or is done. Passing
        // on only the half-close kept both legs of every abandoned blocking
        // query here until Consul answered it, up to a minute later: at 100
        // groups, starting under heavy load, that ran the harness out of
        // file descriptors.
        if (s == 0) return close_conn(id);
        c.read_closed[s] = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        return close_conn(id);
      }
    }
    for (int i = 0; i < 2; ++i) {
      while (!c.pending[i].empty()) {
        const ssize_t w = ::send(c.fds[i], c.pending[i].data(), c.pending[i].size(), MSG_NOSIGNAL);
        if (w > 0) {
          c.pending[i].erase(0, static_cast<size_t>(w));
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
          break;
        } else {
          return close_conn(id);
        }
      }
      // The other side finished sending and all of it was delivered: pass
      // the end of stream on (a half-close, as the peer did).
      if (!c.write_shut[i] && c.read_closed[1 - i] && c.pending[i].empty()) {
        ::shutdown(c.fds[i], SHUT_WR);
        c.write_shut[i] = true;
      }
    }
    if (c.write_shut[0] && c.write_shut[1]) return close_conn(id);
    // Hang-up with nothing left to read: that peer is gone both ways, so
    // nothing more can reach it and what it asked for has no one to go to.
    if ((events & EPOLLHUP) != 0 && c.read_closed[s]) return close_conn(id);
    for (int i = 0; i < 2; ++i) {
      uint32_t want = 0;
      if (!c.read_closed[i] && c.pending[1 - i].size() < kMaxPending) want |= EPOLLIN;
      if (!c.pending[i].empty()) want |= EPOLLOUT;
      if (want == c.interest[i]) continue;
      epoll_event ev{};
      ev.events = want;
      ev.data.u64 = id * 2 + static_cast<uint64_t>(i);
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fds[i], &ev);
      c.interest[i] = want;
    }
  };

  std::vector<epoll_event> events(256);
  while (!stop.stop_requested()) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), kPollMs);
    for (int k = 0; k < n; ++k) {
      const uint64_t tag = events[static_cast<size_t>(k)].data.u64;
      if ((tag & kListenerTag) != 0) {
        accept_from(static_cast<int>(tag & ~kListenerTag));
      } else {
        step(tag / 2, static_cast<int>(tag % 2), events[static_cast<size_t>(k)].events);
      }
    }
  }
  while (!conns.empty()) close_conn(conns.begin()->first);
}

}  // namespace resec::bench
