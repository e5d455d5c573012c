#include "replication_watch.h"

#include <charconv>

#include "support/netns.h"
#include "support/redis_conn.h"
#include "support/rig.h"

namespace resec::chaos {

using std::chrono::milliseconds;
using testing::Clock;

namespace {

// A live Redis answers INFO within a millisecond; 200 ms bounds what a
// frozen or busy one costs a round (the round is then skipped).
constexpr milliseconds kInfoTimeout{200};

int64_t ToInt(const std::string& s) {
  int64_t v = -1;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

RedisSample ParseSample(const std::string& text, Clock::time_point at) {
  const std::map<std::string, std::string> info = testing::ParseInfoText(text);
  auto field = [&](const std::string& key) {
    auto it = info.find(key);
    return it == info.end() ? std::string() : it->second;
  };
  RedisSample s;
  s.at = at;
  s.run_id = field("run_id");
  s.role = field("role");
  s.link = field("master_link_status");
  s.syncing = field("master_sync_in_progress") == "1";
  s.loading = field("loading") == "1";
  s.offset = ToInt(field(s.role == "slave" ? "slave_repl_offset" : "master_repl_offset"));
  return s;
}

}  // namespace

ReplicationWatch::ReplicationWatch(std::vector<std::string> netns, milliseconds interval)
    : netns_(std::move(netns)), interval_(interval), runs_(netns_.size()) {}

ReplicationWatch::~ReplicationWatch() { Stop(); }

void ReplicationWatch::Start() {
  for (size_t k = 0; k < netns_.size(); ++k) {
    threads_.emplace_back([this, k](std::stop_token s) { Loop(s, static_cast<int>(k)); });
  }
}

void ReplicationWatch::Stop() {
  for (auto& t : threads_) t.request_stop();
  threads_.clear();  // jthread joins
}

void ReplicationWatch::Loop(std::stop_token stop, int k) {
  // Sockets made from here on live in the host's namespace (netns.h).
  if (!testing::EnterNetns(netns_[static_cast<size_t>(k)]).ok()) return;
  std::unique_ptr<testing::RedisConn> conn;
  Clock::time_point next = Clock::now();
  while (!stop.stop_requested()) {
    std::this_thread::sleep_until(next);
    next += interval_;
    if (const auto now = Clock::now(); next < now) next = now;
    if (conn == nullptr) conn = testing::RedisConn::Connect("127.0.0.1", 6379, kInfoTimeout, kInfoTimeout);
    if (conn == nullptr) continue;
    const Clock::time_point at = Clock::now();
    testing::ReplyPtr r = conn->Command({"INFO", "server", "replication", "persistence"});
    if (r == nullptr) {
      conn.reset();
      continue;
    }
    if (r->type != REDIS_REPLY_STRING) continue;  // an error reply: nothing to learn
    const RedisSample s = ParseSample(testing::RenderReply(r.get()), at);
    if (s.run_id.empty()) continue;
    std::lock_guard lock(mu_);
    std::optional<Run>& run = runs_[static_cast<size_t>(k)];
    if (!run || run->run_id != s.run_id) {
      run = Run{.run_id = s.run_id, .first_seen = at, .last_replica = std::nullopt, .latest = s};
    } else if (run->latest.role == "slave" && s.role == "master") {
      promotions_.push_back({.host = k, .before = run->latest, .after = s});
    }
    if (s.role == "slave") run->last_replica = s;
    run->latest = s;
  }
}

std::vector<Promotion> ReplicationWatch::TakePromotions() {
  std::lock_guard lock(mu_);
  std::vector<Promotion> out;
  out.swap(promotions_);
  return out;
}

std::optional<ReplicationWatch::Run> ReplicationWatch::CurrentRun(int k) const {
  std::lock_guard lock(mu_);
  return runs_.at(static_cast<size_t>(k));
}

}  // namespace resec::chaos
