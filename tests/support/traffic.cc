#include "support/traffic.h"

#include <algorithm>
#include <bit>
#include <set>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "support/calls.h"
#include "support/netns.h"
#include "support/redis_conn.h"

namespace resec::testing {

using std::chrono::milliseconds;

namespace {

// Sleeps until `t` or until a stop is requested, whichever comes first.
void SleepUntil(const std::stop_token& stop, Clock::time_point t) {
  while (!stop.stop_requested()) {
    const auto now = Clock::now();
    if (now >= t) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(t - now, milliseconds(50)));
  }
}

// Follows the endpoint's namespace: the calling thread joins it when it
// differs from the one joined last (*entered). Endpoints are all in the
// caller's namespace ("") or all in namespaces of their own.
bool EnterEndpointNetns(const std::string& netns, std::string* entered) {
  if (netns.empty() || netns == *entered) return true;
  if (!EnterNetns(netns).ok()) return false;
  *entered = netns;
  return true;
}

// The Consul agents a client is configured with, used as such a client
// does: the current one until it fails, then the next. The calling thread
// follows the current endpoint's namespace.
class ConsulRotation {
 public:
  explicit ConsulRotation(const std::vector<Endpoint>& consul) : consul_(consul) {}
  // The endpoint to ask now; nullptr if its namespace cannot be entered.
  const Endpoint* Current() {
    const Endpoint& e = consul_[i_];
    return EnterEndpointNetns(e.netns, &entered_) ? &e : nullptr;
  }
  void Next() { i_ = (i_ + 1) % consul_.size(); }

 private:
  const std::vector<Endpoint>& consul_;
  size_t i_ = 0;
  std::string entered_;
};

}  // namespace

// ---------------------------------------------------------------------------
// ConsulMasterSource

namespace {

class ConsulMasterSource : public MasterSource {
 public:
  ConsulMasterSource(std::vector<Endpoint> consul, std::map<std::string, std::string> hosts)
      : consul_(std::move(consul)), hosts_(std::move(hosts)), servers_(consul_) {}

  std::optional<Address> Next(const std::stop_token& stop) override {
    const Endpoint* consul = servers_.Current();
    if (consul == nullptr) {
      SleepUntil(stop, Clock::now() + milliseconds(1000));  // cannot enter its namespace: nothing to ask
      return std::nullopt;
    }
    std::string path = "/v1/health/service/redis-master?passing";
    // wait=1s keeps Stop() prompt; the read timeout allows Consul's jitter
    // (wait/16) and a slow answer from a server that lost its leader.
    if (index_ > 0) path += "&index=" + std::to_string(index_) + "&wait=1s";
    const auto start = Clock::now();
    auto r = testing::HttpCall("GET", consul->host, consul->port, path, "", {}, milliseconds(2500));
    if (!r.ok() || r->status != 200) {
      // This server is down, cut off or without a leader: a client with
      // several servers configured moves on to the next.
      servers_.Next();
      index_ = 0;
      SleepUntil(stop, Clock::now() + milliseconds(50));
      return std::nullopt;
    }
    uint64_t next = 0;
    if (auto it = r->headers.find("X-Consul-Index"); it != r->headers.end()) {
      next = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    std::optional<Address> out;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_array() && !j.empty() && j[0].is_object()) {
      try {
        // Several passing masters: a client takes the first, so do we.
        std::string addr = j[0].at("Service").value("Address", "");
        if (addr.empty()) addr = j[0].at("Node").value("Address", "");
        if (auto h = hosts_.find(addr); h != hosts_.end()) addr = h->second;
        out = Address{addr, j[0].at("Service").value("Port", 0)};
      } catch (const nlohmann::json::exception&) {
        // A malformed entry: keep the master we know.
      }
    }
    // Never send an index below 1 or one that went backwards (Consul's rules).
    const bool same = next == index_;
    index_ = next < index_ ? 0 : next;
    if (same && Clock::now() - start < milliseconds(10)) SleepUntil(stop, Clock::now() + milliseconds(10));
    return out;
  }

 private:
  const std::vector<Endpoint> consul_;
  const std::map<std::string, std::string> hosts_;
  ConsulRotation servers_;  // refers to consul_
  uint64_t index_ = 0;
};

}  // namespace

std::unique_ptr<MasterSource> MakeConsulMasterSource(std::vector<Endpoint> consul,
                                                     std::map<std::string, std::string> hosts) {
  return std::make_unique<ConsulMasterSource>(std::move(consul), std::move(hosts));
}

// ---------------------------------------------------------------------------
// Writer

Writer::Writer(std::vector<Endpoint> consul, std::vector<std::string> node_addrs, Clock::time_point origin,
               std::map<std::string, std::string> hosts)
    : Writer(MakeConsulMasterSource(std::move(consul), std::move(hosts)), std::move(node_addrs), origin) {}

Writer::Writer(std::unique_ptr<MasterSource> source, std::vector<std::string> node_addrs, Clock::time_point origin)
    : source_(std::move(source)), node_addrs_(std::move(node_addrs)), origin_(origin) {
  records_.reserve(1 << 20);
}

Writer::~Writer() { Stop(); }

void Writer::Start() {
  discover_thread_ = std::jthread([this](std::stop_token s) { DiscoverLoop(s); });
  write_thread_ = std::jthread([this](std::stop_token s) { WriteLoop(s); });
}

void Writer::Stop() {
  for (std::jthread* t : {&write_thread_, &discover_thread_}) {
    t->request_stop();
    if (t->joinable()) t->join();
  }
}

void Writer::DiscoverLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    if (std::optional<MasterSource::Address> a = source_->Next(stop)) {
      MutexLock lock(mu_);
      target_host_ = a->host;
      target_port_ = a->port;
    }
  }
}

void Writer::WriteLoop(std::stop_token stop) {
  std::unique_ptr<RedisConn> conn;
  std::string conn_host;
  int conn_port = 0;
  int conn_node = -1;
  Clock::time_point next = Clock::now();
  while (!stop.stop_requested()) {
    std::this_thread::sleep_until(next);
    // Keep the cadence, but never burst to catch up after a slow write.
    next += kWriteInterval;
    if (const auto now = Clock::now(); next < now) next = now;
    std::string host;
    int port = 0;
    {
      MutexLock lock(mu_);
      host = target_host_;
      port = target_port_;
    }
    if (port == 0) continue;
    if (conn != nullptr && (conn_host != host || conn_port != port)) conn.reset();
    if (conn == nullptr) {
      conn = RedisConn::Connect(host, port, kClientConnectTimeout, kClientReplyTimeout);
      if (conn == nullptr) continue;
      conn_host = host;
      conn_port = port;
      conn_node = -1;
      for (size_t i = 0; i < node_addrs_.size(); ++i) {
        if (node_addrs_[i] == host + ":" + std::to_string(port)) conn_node = static_cast<int>(i);
      }
    }
    const int64_t seq = seq_.load() + 1;
    Record rec{};
    rec.sent_ms = static_cast<int32_t>(std::chrono::duration_cast<milliseconds>(Clock::now() - origin_).count());
    rec.ack_ms = -1;
    rec.tag = tag_.load();
    rec.node = static_cast<int8_t>(conn_node);
    {
      // Recorded before it is sent, so a reader never sees a seq it cannot look up.
      MutexLock lock(mu_);
      records_.push_back(rec);
      seq_.store(seq);
    }
    uint8_t flags = 0;
    int32_t ack_ms = -1;
    ReplyPtr r = conn->Command({"RPUSH", kSeqKey, std::to_string(seq)});
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER) {
      flags |= 1;
      ack_ms = static_cast<int32_t>(std::chrono::duration_cast<milliseconds>(Clock::now() - origin_).count());
      ReplyPtr w = conn->Command({"WAIT", std::to_string(kWaitReplicas), std::to_string(kWaitTimeoutMs)});
      if (w != nullptr && w->type == REDIS_REPLY_INTEGER) {
        if (w->integer >= kWaitReplicas) flags |= 2;
      } else {
        conn.reset();
      }
    } else {
      conn.reset();  // timeout, refused, READONLY, ...: reconnect to whatever discovery says
    }
    MutexLock lock(mu_);
    records_[static_cast<size_t>(seq - 1)].flags = flags;
    records_[static_cast<size_t>(seq - 1)].ack_ms = ack_ms;
  }
}

Writer::Write Writer::Get(int64_t seq) const {
  MutexLock lock(mu_);
  Write w;
  w.seq = seq;
  if (seq < 1 || seq > static_cast<int64_t>(records_.size())) return w;
  const Record& r = records_[static_cast<size_t>(seq - 1)];
  w.sent_ms = r.sent_ms;
  w.ack_ms = r.ack_ms;
  w.node = r.node;
  w.tag = r.tag;
  w.acked = (r.flags & 1) != 0;
  w.wait_acked = (r.flags & 2) != 0;
  return w;
}

std::vector<int64_t> Writer::WaitAckedIn(int64_t after, int64_t upto) const {
  MutexLock lock(mu_);
  std::vector<int64_t> out;
  upto = std::min<int64_t>(upto, static_cast<int64_t>(records_.size()));
  for (int64_t s = std::max<int64_t>(after + 1, 1); s <= upto; ++s) {
    if ((records_[static_cast<size_t>(s - 1)].flags & 2) != 0) out.push_back(s);
  }
  return out;
}

bool Writer::LaterWaitAckedTo(int64_t seq, int node, int64_t sent_before_ms) const {
  MutexLock lock(mu_);
  for (size_t i = static_cast<size_t>(std::max<int64_t>(seq, 0)); i < records_.size(); ++i) {
    const Record& r = records_[i];
    if (r.sent_ms >= sent_before_ms) break;
    if (r.node == node && (r.flags & 2) != 0) return true;
  }
  return false;
}

std::map<int, WriteCounts> Writer::CountsByTag() const {
  MutexLock lock(mu_);
  std::map<int, WriteCounts> out;
  for (const Record& r : records_) {
    WriteCounts& c = out[r.tag];
    ++c.writes;
    if ((r.flags & 1) != 0) ++c.acked;
    if ((r.flags & 2) != 0) ++c.wait_acked;
  }
  return out;
}

WriteCounts Writer::Totals() const {
  WriteCounts t;
  for (const auto& [tag, c] : CountsByTag()) {
    t.writes += c.writes;
    t.acked += c.acked;
    t.wait_acked += c.wait_acked;
  }
  return t;
}

std::string Writer::Target() const {
  MutexLock lock(mu_);
  if (target_port_ == 0) return "(none)";
  return target_host_ + ":" + std::to_string(target_port_);
}

// ---------------------------------------------------------------------------
// Prober

Prober::Prober(std::vector<Endpoint> targets, Clock::time_point origin, milliseconds interval,
               milliseconds timeout)
    : targets_(std::move(targets)),
      origin_(origin),
      interval_(interval),
      timeout_(timeout),
      done_(targets_.size()),
      last_accepted_(targets_.size()) {}

Prober::~Prober() { Stop(); }

void Prober::Start() {
  const int64_t first = RoundAt(Clock::now()) + 1;
  {
    MutexLock lock(mu_);
    taken_ = first - 1;
  }
  for (auto& d : done_) d.store(first - 1);
  for (size_t i = 0; i < targets_.size(); ++i) {
    threads_.emplace_back([this, i](std::stop_token s) { ProbeLoop(s, static_cast<int>(i)); });
  }
}

void Prober::Stop() {
  for (auto& t : threads_) t.request_stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Prober::ProbeLoop(std::stop_token stop, int node) {
  const auto& [host, port, netns] = targets_[static_cast<size_t>(node)];
  // Sockets made from here on live in the node's namespace (netns.h).
  std::string entered;
  if (!EnterEndpointNetns(netns, &entered)) return;
  const std::string key = "probe:n" + std::to_string(node + 1);
  std::unique_ptr<RedisConn> conn;
  int64_t k = done_[static_cast<size_t>(node)].load() + 1;
  while (!stop.stop_requested()) {
    SleepUntil(stop, RoundTime(k));
    if (stop.stop_requested()) break;
    bool ok = false;
    const auto sent = Clock::now();
    if (conn == nullptr) conn = RedisConn::Connect(host, port, timeout_, timeout_);
    if (conn != nullptr) {
      ReplyPtr r = conn->Command({"SET", key, std::to_string(k)});
      if (r == nullptr) {
        conn.reset();
      } else {
        ok = r->type == REDIS_REPLY_STATUS && RenderReply(r.get()) == "OK";
      }
    }
    const auto now = Clock::now();
    if (ok) {
      MutexLock lock(mu_);
      accepted_[k] |= 1u << node;
      accept_times_[k][node] = {sent, now};
      last_accepted_[static_cast<size_t>(node)] = now;
    }
    // A probe that outlasted its round skips the rounds it overlapped: the
    // node did not accept a write in them.
    const int64_t next = std::max(k + 1, RoundAt(now) + 1);
    done_[static_cast<size_t>(node)].store(next - 1);
    k = next;
  }
}

std::vector<Prober::Round> Prober::TakeRounds() {
  int64_t upto = INT64_MAX;
  for (const auto& d : done_) upto = std::min(upto, d.load());
  MutexLock lock(mu_);
  std::vector<Round> out;
  for (int64_t k = taken_ + 1; k <= upto; ++k) {
    Round r;
    r.index = k;
    if (auto it = accepted_.find(k); it != accepted_.end()) {
      r.accepted = it->second;
      accepted_.erase(it);
    }
    if (auto it = accept_times_.find(k); it != accept_times_.end()) {
      r.when = std::move(it->second);
      accept_times_.erase(it);
    }
    out.push_back(r);
  }
  taken_ = std::max(taken_, upto);
  return out;
}

std::optional<Clock::time_point> Prober::LastAccepted(int node) const {
  MutexLock lock(mu_);
  return last_accepted_[static_cast<size_t>(node)];
}

// ---------------------------------------------------------------------------
// Loss and windows

std::string WriteLoss::ToString() const {
  return "lost " + std::to_string(acked_lost) + "/" + std::to_string(acked) + " acknowledged, " +
         std::to_string(wait_acked_lost) + "/" + std::to_string(wait_acked) + " WAIT-acknowledged writes" +
         (first_lost > 0 ? " (first lost: " + std::to_string(first_lost) + ")" : "");
}

WriteLoss CountLoss(const Writer& writer, const std::vector<int64_t>& present) {
  std::vector<int64_t> sorted = present;
  std::sort(sorted.begin(), sorted.end());
  WriteLoss loss;
  for (int64_t seq = 1; seq <= writer.last_seq(); ++seq) {
    const Writer::Write w = writer.Get(seq);
    if (!w.acked) continue;
    const bool kept = std::binary_search(sorted.begin(), sorted.end(), seq);
    ++loss.acked;
    if (w.wait_acked) ++loss.wait_acked;
    if (kept) continue;
    ++loss.acked_lost;
    if (w.wait_acked) ++loss.wait_acked_lost;
    if (loss.first_lost == 0) loss.first_lost = seq;
  }
  return loss;
}

std::vector<MultiWriterWindow> MultiWriterWindows(const std::vector<Prober::Round>& rounds) {
  std::vector<MultiWriterWindow> out;
  for (const Prober::Round& r : rounds) {
    if (std::popcount(r.accepted) < 2) continue;
    if (!out.empty() && out.back().first_round + out.back().rounds == r.index) {
      ++out.back().rounds;
      out.back().nodes |= r.accepted;
    } else {
      out.push_back({.first_round = r.index, .rounds = 1, .nodes = r.accepted});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// PassingProbe

PassingProbe::PassingProbe(std::vector<Endpoint> consul, std::string service, milliseconds interval)
    : consul_(std::move(consul)), service_(std::move(service)), interval_(interval) {}

PassingProbe::~PassingProbe() = default;  // thread_ is the last member: it stops and joins first

void PassingProbe::Start() {
  thread_ = std::jthread([this](std::stop_token s) { Loop(s); });
}

// Assigning over a jthread asks the old thread to stop and joins it.
void PassingProbe::Stop() { thread_ = std::jthread(); }

void PassingProbe::Loop(std::stop_token stop) {
  ConsulRotation servers(consul_);
  Clock::time_point next = Clock::now();
  while (!stop.stop_requested()) {
    SleepUntil(stop, next);
    next += interval_;
    const Endpoint* consul = servers.Current();
    if (consul == nullptr) return;
    const auto at = Clock::now();
    // A live agent answers within milliseconds; a slow answer only makes a
    // sample late (it is stamped with its send time).
    auto r = HttpCall("GET", consul->host, consul->port, "/v1/health/service/" + service_ + "?passing", "", {},
                      milliseconds(1000));
    auto j = r.ok() && r->status == 200 ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
    if (!j.is_array()) {
      servers.Next();  // down or leaderless: ask the next, as a client would
      continue;
    }
    Sample s{.at = at, .nodes = {}};
    for (const auto& e : j) {
      s.nodes.push_back(e.is_object() && e.contains("Node") ? e["Node"].value("Node", "?") : "?");
    }
    MutexLock lock(mu_);
    samples_.push_back(std::move(s));
  }
}

std::vector<PassingProbe::Sample> PassingProbe::Samples() const {
  MutexLock lock(mu_);
  return samples_;
}

milliseconds PassingProbe::LongestAtLeast(size_t n, std::string* nodes) const {
  MutexLock lock(mu_);
  milliseconds best{0};
  for (size_t i = 0; i < samples_.size(); ++i) {
    if (samples_[i].nodes.size() < n) continue;
    size_t j = i;
    std::set<std::string> seen;
    while (j < samples_.size() && samples_[j].nodes.size() >= n) {
      seen.insert(samples_[j].nodes.begin(), samples_[j].nodes.end());
      ++j;
    }
    const auto end = j < samples_.size() ? samples_[j].at : samples_[j - 1].at;
    const auto len = std::max(std::chrono::duration_cast<milliseconds>(end - samples_[i].at), interval_);
    if (len > best) {
      best = len;
      if (nodes != nullptr) {
        nodes->clear();
        for (const std::string& s : seen) *nodes += (nodes->empty() ? "" : ",") + s;
      }
    }
    i = j;
  }
  return best;
}

// ---------------------------------------------------------------------------
// LockWatcher

LockWatcher::LockWatcher(std::vector<Endpoint> consul, std::string key, std::vector<std::string> node_names)
    : consul_(std::move(consul)), key_(std::move(key)), node_names_(std::move(node_names)) {}

LockWatcher::~LockWatcher() { Stop(); }

void LockWatcher::Start() {
  thread_ = std::jthread([this](std::stop_token s) { Loop(s); });
}

// Assigning over a jthread asks the old thread to stop and joins it.
void LockWatcher::Stop() { thread_ = std::jthread(); }

void LockWatcher::Loop(std::stop_token stop) {
  ConsulRotation servers(consul_);
  uint64_t index = 0;
  // A session's node never changes: each is looked up once.
  std::map<std::string, int> node_of_session;
  while (!stop.stop_requested()) {
    const Endpoint* consul = servers.Current();
    if (consul == nullptr) return;
    std::string path = "/v1/kv/" + key_;
    if (index > 0) path += "?index=" + std::to_string(index) + "&wait=1s";
    auto r = testing::HttpCall("GET", consul->host, consul->port, path, "", {}, milliseconds(2500));
    if (!r.ok() || (r->status != 200 && r->status != 404)) {
      servers.Next();
      index = 0;
      SleepUntil(stop, Clock::now() + milliseconds(20));
      continue;
    }
    const auto now = Clock::now();
    uint64_t next = 0;
    if (auto it = r->headers.find("X-Consul-Index"); it != r->headers.end()) {
      next = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    int holder = -1;
    std::string session;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (r->status == 200 && j.is_array() && !j.empty() && j[0].is_object() && j[0].contains("Session") &&
        j[0]["Session"].is_string()) {
      session = j[0]["Session"].get<std::string>();
      auto known = node_of_session.find(session);
      if (known == node_of_session.end()) {
        auto info = testing::HttpCall("GET", consul->host, consul->port, "/v1/session/info/" + session, "", {},
                                      milliseconds(1000));
        auto ij = info.ok() && info->status == 200 ? nlohmann::json::parse(info->body, nullptr, false)
                                                   : nlohmann::json();
        if (ij.is_array() && !ij.empty() && ij[0].is_object()) {
          const std::string node = ij[0].value("Node", "");
          int found = -1;
          for (size_t i = 0; i < node_names_.size(); ++i) {
            if (node_names_[i] == node) found = static_cast<int>(i);
          }
          known = node_of_session.emplace(session, found).first;
        }
      }
      // A session that could not be looked up (its server just failed) is
      // retried with the next answer; until then the holder is unknown.
      if (known == node_of_session.end()) {
        servers.Next();
        index = 0;
        continue;
      }
      holder = known->second;
    }
    {
      MutexLock lock(mu_);
      if (changes_.empty() || changes_.back().session != session) changes_.push_back({now, holder, session});
    }
    const bool same = next == index;
    index = next < index ? 0 : next;
    if (same) SleepUntil(stop, Clock::now() + milliseconds(10));
  }
}

std::optional<int> LockWatcher::HolderAt(Clock::time_point t) const {
  MutexLock lock(mu_);
  std::optional<int> out;
  for (const Change& c : changes_) {
    if (c.at > t) break;
    out = c.holder;
  }
  return out;
}

std::optional<Clock::time_point> LockWatcher::HeldSince(Clock::time_point t) const {
  MutexLock lock(mu_);
  std::optional<Clock::time_point> out;
  for (const Change& c : changes_) {
    if (c.at > t) break;
    out = c.session.empty() ? std::nullopt : std::optional<Clock::time_point>(c.at);
  }
  return out;
}

}  // namespace resec::testing
