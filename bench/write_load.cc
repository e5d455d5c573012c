#include "write_load.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "support/calls.h"
#include "support/redis_conn.h"

namespace resec::bench {

using std::chrono::milliseconds;
using testing::Clock;

namespace {

// How long each blocking health query may wait for a change. Clients of a
// real deployment wait minutes; 10 s keeps Stop() reasonably prompt, and at
// 100 groups costs Consul 10 idle re-polls a second, nothing beside the
// agents' own traffic.
constexpr std::chrono::seconds kDiscoveryWait{10};
// The read timeout of such a query: the wait plus Consul's jitter (wait/16)
// and room for a slow answer.
constexpr milliseconds kDiscoveryTimeout{13000};
// After a failed query, before asking the next server.
constexpr milliseconds kRetryPause{200};

void SleepUntil(const std::stop_token& stop, Clock::time_point t) {
  while (!stop.stop_requested()) {
    const auto now = Clock::now();
    if (now >= t) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(t - now, milliseconds(50)));
  }
}

}  // namespace

WriteLoad::WriteLoad(std::vector<Group> groups, int writes_per_s)
    : groups_(std::move(groups)), interval_(std::chrono::microseconds(1'000'000 / std::max(1, writes_per_s))) {
  for (size_t g = 0; g < groups_.size(); ++g) targets_.push_back(std::make_unique<Target>());
}

WriteLoad::~WriteLoad() { Stop(); }

void WriteLoad::Start() {
  for (size_t g = 0; g < groups_.size(); ++g) {
    threads_.emplace_back([this, g](std::stop_token s) { DiscoverLoop(s, g); });
    threads_.emplace_back([this, g](std::stop_token s) { WriteLoop(s, g); });
  }
}

void WriteLoad::Stop() {
  for (auto& t : threads_) t.request_stop();  // all at once: the waits overlap
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void WriteLoad::DiscoverLoop(std::stop_token stop, size_t group) {
  const Group& g = groups_[group];
  size_t server = 0;
  uint64_t index = 0;
  while (!stop.stop_requested()) {
    const testing::Endpoint& consul = g.consul[server % g.consul.size()];
    std::string path = "/v1/health/service/" + g.master_service + "?passing";
    if (index > 0) path += "&index=" + std::to_string(index) + "&wait=" + std::to_string(kDiscoveryWait.count()) + "s";
    ++discovery_requests_;
    auto r = testing::HttpCall("GET", consul.host, consul.port, path, "", {}, kDiscoveryTimeout);
    if (!r.ok() || r->status != 200) {
      ++server;
      index = 0;
      SleepUntil(stop, Clock::now() + kRetryPause);
      continue;
    }
    uint64_t next = 0;
    if (auto it = r->headers.find("X-Consul-Index"); it != r->headers.end()) {
      next = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_array() && !j.empty() && j[0].is_object()) {
      try {
        std::string addr = j[0].at("Service").value("Address", "");
        if (addr.empty()) addr = j[0].at("Node").value("Address", "");
        Target& t = *targets_[group];
        MutexLock lock(t.mu);
        t.host = addr;
        t.port = j[0].at("Service").value("Port", 0);
      } catch (const nlohmann::json::exception&) {
        // A malformed entry: keep the master we know.
      }
    }
    // Never send an index that went backwards (Consul's rules); an
    // unchanged index after an error-free answer is a timeout, asked again.
    index = next < index ? 0 : next;
  }
}

void WriteLoad::WriteLoop(std::stop_token stop, size_t group) {
  std::unique_ptr<testing::RedisConn> conn;
  std::string conn_host;
  int conn_port = 0;
  int64_t n = 0;
  Clock::time_point next = Clock::now();
  while (!stop.stop_requested()) {
    SleepUntil(stop, next);
    // Keep the rate, but never burst to catch up after a slow write.
    next += interval_;
    if (const auto now = Clock::now(); next < now) next = now;
    std::string host;
    int port = 0;
    {
      Target& t = *targets_[group];
      MutexLock lock(t.mu);
      host = t.host;
      port = t.port;
    }
    if (port == 0) continue;
    if (conn != nullptr && (host != conn_host || port != conn_port)) conn.reset();
    if (conn == nullptr) {
      conn = testing::RedisConn::Connect(host, port, testing::kClientConnectTimeout, testing::kClientReplyTimeout);
      if (conn == nullptr) continue;
      conn_host = host;
      conn_port = port;
    }
    ++sent_;
    testing::ReplyPtr r = conn->Command({"SET", "scale:load", std::to_string(++n)});
    if (r != nullptr && r->type == REDIS_REPLY_STATUS) {
      ++acked_;
    } else {
      conn.reset();  // refused, READONLY, timeout: reconnect to what discovery says next
    }
  }
}

}  // namespace resec::bench
