#include "support/fault_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

namespace resec::testing {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A client that sends nothing for this long is gone; also bounds how long a
// stalled reader of the 100 MB body can keep a thread.
constexpr milliseconds kIoTimeout{30000};
// Requests above this are refused (Consul's own limit for a KV value is 512 KB).
constexpr size_t kMaxRequestBytes = size_t{16} << 20;
// How often a hung connection looks whether the faults changed.
constexpr milliseconds kHangPoll{50};

// Closes on every path out.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

// What Consul itself says for these statuses.
std::string DefaultBody(int status) {
  switch (status) {
    case 403: return "Permission denied: token with AccessorID 'fault-injected' lacks permission\n";
    case 404: return "404 page not found\n";
    case 429: return "Your IP is issuing too many concurrent connections, please rate limit your calls\n";
    case 500: return "rpc error making call: No cluster leader\n";
    default: return ReasonPhrase(status) + "\n";
  }
}

std::string Head(int status, const std::string& content_type, size_t content_length) {
  std::ostringstream o;
  o << "HTTP/1.1 " << status << ' ' << ReasonPhrase(status) << "\r\n"
    << "Content-Type: " << content_type << "\r\n"
    << "Content-Length: " << content_length << "\r\n"
    << "Connection: close\r\n\r\n";
  return o.str();
}

}  // namespace

struct FaultHttpServer::Connection {
  std::thread thread;
  std::atomic<bool> done{false};
};

FaultHttpServer::FaultHttpServer() = default;

FaultHttpServer::~FaultHttpServer() { Stop(); }

Status FaultHttpServer::Start() {
  if (listen_fd_ >= 0) return FailedPrecondition("fault server already started");
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks: no race with other servers for the port
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 128) != 0) {
    return Internal(std::string("bind/listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

void FaultHttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (stop_pipe_[1] >= 0) {
    // Never drained: every poll() watching the read end returns at once from now on.
    const char byte = 'x';
    (void)!::write(stop_pipe_[1], &byte, 1);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::shared_ptr<Connection>> connections;
  {
    MutexLock lock(threads_mu_);
    connections.swap(connections_);
  }
  for (auto& c : connections) {
    if (c->thread.joinable()) c->thread.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  for (int& fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

void FaultHttpServer::SetUpstream(const std::string& host, int port) {
  MutexLock lock(mu_);
  upstream_host_ = host;
  upstream_port_ = port;
  RulesChanged();
}

void FaultHttpServer::SetFault(Fault fault, int status, std::string body) {
  MutexLock lock(mu_);
  rules_.clear();
  rules_.push_back(Rule{"", fault, status, std::move(body)});
  RulesChanged();
}

void FaultHttpServer::AddRule(Rule rule) {
  MutexLock lock(mu_);
  rules_.push_back(std::move(rule));
  RulesChanged();
}

void FaultHttpServer::ClearFaults() {
  MutexLock lock(mu_);
  rules_.clear();
  RulesChanged();
}

void FaultHttpServer::RulesChanged() { generation_.fetch_add(1); }

int64_t FaultHttpServer::RequestsTo(const std::string& prefix) const {
  MutexLock lock(mu_);
  int64_t n = 0;
  for (const auto& [path, count] : path_counts_) {
    if (path.starts_with(prefix)) n += count;
  }
  return n;
}

std::string FaultHttpServer::RecentRequests(size_t max) const {
  MutexLock lock(mu_);
  std::string out;
  const size_t skip = recent_.size() > max ? recent_.size() - max : 0;
  for (size_t i = skip; i < recent_.size(); ++i) out += recent_[i] + "\n";
  return out;
}

void FaultHttpServer::Record(const std::string& line) {
  MutexLock lock(mu_);
  recent_.push_back(line);
  if (recent_.size() > 200) recent_.pop_front();
}

FaultHttpServer::Rule FaultHttpServer::Decide(const std::string& path) const {
  MutexLock lock(mu_);
  for (const Rule& r : rules_) {
    if (path.starts_with(r.path_prefix)) return r;
  }
  return Rule{"", Fault::kProxy};
}

void FaultHttpServer::ReapFinished() {
  MutexLock lock(threads_mu_);
  auto done = std::partition(connections_.begin(), connections_.end(),
                             [](const std::shared_ptr<Connection>& c) { return !c->done.load(); });
  for (auto it = done; it != connections_.end(); ++it) {
    if ((*it)->thread.joinable()) (*it)->thread.join();
  }
  connections_.erase(done, connections_.end());
}

void FaultHttpServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, 1000) <= 0) continue;
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ReapFinished();
    auto c = std::make_shared<Connection>();
    MutexLock lock(threads_mu_);
    c->thread = std::thread([this, fd, c] {
      Serve(fd);
      c->done.store(true);
    });
    connections_.push_back(std::move(c));
  }
}

namespace {

// Waits for `events` on fd, or the stop pipe, for at most `timeout`.
// 1: ready; 0: timeout; -1: stop or error.
int WaitFd(int fd, short events, int stop_fd, milliseconds timeout) {
  pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  const int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (n < 0) return errno == EINTR ? 0 : -1;
  if (n == 0) return 0;
  if (fds[1].revents != 0) return -1;
  return 1;
}

// Sends everything or fails (client gone, stalled for kIoTimeout, or stop).
bool SendAll(int fd, const char* data, size_t size, int stop_fd) {
  while (size > 0) {
    if (WaitFd(fd, POLLOUT, stop_fd, kIoTimeout) != 1) return false;
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool SendAll(int fd, const std::string& s, int stop_fd) { return SendAll(fd, s.data(), s.size(), stop_fd); }

}  // namespace

void FaultHttpServer::Serve(int raw_fd) {
  Fd client(raw_fd);
  const int stop_fd = stop_pipe_[0];

  // Request line and headers, then Content-Length bytes of body.
  std::string request;
  size_t head_end = std::string::npos;
  char buffer[65536];
  const auto deadline = Clock::now() + kIoTimeout;
  while (head_end == std::string::npos) {
    if (Clock::now() > deadline || request.size() > 65536) return;
    if (WaitFd(client.fd, POLLIN, stop_fd, milliseconds(1000)) < 0) return;
    const ssize_t n = ::recv(client.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n == 0) return;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return;
    }
    request.append(buffer, static_cast<size_t>(n));
    head_end = request.find("\r\n\r\n");
  }
  const std::string head = request.substr(0, head_end + 2);  // keeps the last header's CRLF
  std::string body = request.substr(head_end + 4);

  std::istringstream lines(head);
  std::string request_line;
  std::getline(lines, request_line);
  if (!request_line.empty() && request_line.back() == '\r') request_line.pop_back();
  std::istringstream words(request_line);
  std::string method, target;
  words >> method >> target;
  const std::string path = target.substr(0, target.find('?'));
  size_t content_length = 0;
  std::vector<std::string> headers;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string name = Lower(line.substr(0, line.find(':')));
    if (name == "content-length") content_length = std::strtoull(line.substr(line.find(':') + 1).c_str(), nullptr, 10);
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection") continue;
    headers.push_back(line);
  }
  if (content_length > kMaxRequestBytes) return;
  while (body.size() < content_length) {
    if (WaitFd(client.fd, POLLIN, stop_fd, kIoTimeout) != 1) return;
    const ssize_t n = ::recv(client.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n == 0) return;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return;
    }
    body.append(buffer, static_cast<size_t>(n));
  }

  requests_.fetch_add(1);
  {
    MutexLock lock(mu_);
    ++path_counts_[path];
  }
  const uint64_t generation = generation_.load();
  const Rule rule = Decide(path);
  const std::string what = method + " " + path;

  switch (rule.fault) {
    case Fault::kProxy: {
      std::string host;
      int port = 0;
      {
        MutexLock lock(mu_);
        host = upstream_host_;
        port = upstream_port_;
      }
      if (host.empty()) {
        faulted_.fetch_add(1);
        Record(what + " -> 502 (no upstream)");
        const std::string text = "fault server: no upstream\n";
        SendAll(client.fd, Head(502, "text/plain", text.size()) + text, stop_fd);
        return;
      }
      Fd upstream(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      if (upstream.fd < 0 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
          ::connect(upstream.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        faulted_.fetch_add(1);
        Record(what + " -> 502 (upstream refused)");
        const std::string text = "fault server: upstream unreachable\n";
        SendAll(client.fd, Head(502, "text/plain", text.size()) + text, stop_fd);
        return;
      }
      // One request per upstream connection; its end (EOF) ends the answer.
      std::string forward = request_line + "\r\n";
      for (const std::string& h : headers) forward += h + "\r\n";
      forward += "Connection: close\r\n\r\n";
      forward += body;
      if (!SendAll(upstream.fd, forward, stop_fd)) return;
      Record(what + " -> proxied");
      while (true) {
        pollfd fds[3] = {{upstream.fd, POLLIN, 0}, {client.fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
          if (errno == EINTR) continue;
          return;
        }
        if (fds[2].revents != 0) return;
        if (fds[1].revents != 0) {
          // The client sent more (it should not) or hung up: a hang-up ends the
          // relay, which also ends Consul's blocking query.
          const ssize_t n = ::recv(client.fd, buffer, sizeof buffer, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
        }
        if (fds[0].revents != 0) {
          const ssize_t n = ::recv(upstream.fd, buffer, sizeof buffer, MSG_DONTWAIT);
          if (n == 0) return;
          if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return;
          }
          if (!SendAll(client.fd, buffer, static_cast<size_t>(n), stop_fd)) return;
        }
      }
    }
    case Fault::kStatus: {
      faulted_.fetch_add(1);
      Record(what + " -> " + std::to_string(rule.status));
      const std::string text = rule.body.empty() ? DefaultBody(rule.status) : rule.body;
      SendAll(client.fd, Head(rule.status, "text/plain; charset=utf-8", text.size()) + text, stop_fd);
      return;
    }
    case Fault::kNonJson: {
      faulted_.fetch_add(1);
      Record(what + " -> 200 html");
      const std::string text = "<html><head><title>Welcome</title></head><body>It works!</body></html>\n";
      SendAll(client.fd, Head(200, "text/html", text.size()) + text, stop_fd);
      return;
    }
    case Fault::kTruncated: {
      faulted_.fetch_add(1);
      Record(what + " -> 200 truncated");
      SendAll(client.fd, Head(200, "application/json", 4096) + R"([{"Key":"resec/.lock","Va)", stop_fd);
      return;  // closing here leaves the promised 4096 bytes unsent
    }
    case Fault::kHugeBody: {
      faulted_.fetch_add(1);
      Record(what + " -> 200 with 100 MB");
      if (!SendAll(client.fd, Head(200, "application/json", kHugeBodyBytes), stop_fd)) return;
      std::string chunk = "[";
      const std::string item = R"({"Key":"resec/x","Value":null,"LockIndex":0},)";
      while (chunk.size() + item.size() < 65536) chunk += item;
      size_t sent = 0;
      while (sent < kHugeBodyBytes) {
        const size_t n = std::min(chunk.size(), kHugeBodyBytes - sent);
        if (!SendAll(client.fd, chunk.data(), n, stop_fd)) return;  // the client gave up: good
        sent += n;
        if (chunk[0] == '[') chunk[0] = ' ';
      }
      return;
    }
    case Fault::kHang: {
      faulted_.fetch_add(1);
      Record(what + " -> hang");
      // Silent until the client hangs up, the faults change, or Stop().
      while (generation_.load() == generation) {
        const int ready = WaitFd(client.fd, POLLIN, stop_fd, kHangPoll);
        if (ready < 0) return;
        if (ready == 1) {
          const ssize_t n = ::recv(client.fd, buffer, sizeof buffer, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
        }
      }
      return;
    }
    case Fault::kReset: {
      faulted_.fetch_add(1);
      Record(what + " -> reset");
      // Linger 0: close() sends RST instead of FIN, as a crashed peer would.
      linger l{1, 0};
      ::setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      return;
    }
  }
}

}  // namespace resec::testing
