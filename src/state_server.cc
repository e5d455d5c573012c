#include "resec/state_server.h"

#include <pthread.h>

#include <httplib.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

namespace resec {
namespace {

// httplib's task queue, run inline on the listening thread (see Start).
// httplib takes ownership of the queue through the raw pointer its factory
// returns: the one place its API needs a release().
class InlineTaskQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

}  // namespace

namespace {

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Prometheus label values escape backslash, quote and newline.
std::string LabelValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string RenderStateJson(const BoardSnapshot& snap, const Config& config) {
  nlohmann::json j = {
      {"service_id", config.ServiceId()},
      {"consul", ToJson(snap.consul)},
      {"redis", ToJson(snap.redis)},
      {"decision",
       {{"rule", RuleName(snap.decision.rule)},
        {"reason", snap.decision.reason},
        {"master", snap.decision.master ? snap.decision.master->id : ""}}},
      {"health", RedisCanServe(snap.redis) ? "ok" : "fail"},
  };
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string RenderOverviewHtml(const BoardSnapshot& snap, const Config& config) {
  std::ostringstream o;
  o << "<!doctype html><html><head><meta charset=\"utf-8\"><title>resec " << HtmlEscape(config.ServiceId())
    << "</title></head><body><h1>resec " << HtmlEscape(config.ServiceId()) << "</h1><table>"
    << "<tr><th align=left>Redis</th><td>" << HtmlEscape(config.redis_addr.ToString()) << " ("
    << RoleName(snap.redis.role) << ", " << (snap.redis.healthy ? "healthy" : "unhealthy: " + HtmlEscape(snap.redis.error))
    << ")</td></tr>"
    << "<tr><th align=left>Lock</th><td>" << HtmlEscape(config.lock_key) << ": "
    << (snap.consul.lock_held ? "held by us" : snap.consul.lock_free ? "free" : "held by another agent")
    << "</td></tr>"
    << "<tr><th align=left>Master</th><td>"
    << HtmlEscape(snap.decision.master ? snap.decision.master->id : (snap.consul.lock_held ? "us" : "-"))
    << "</td></tr>"
    << "<tr><th align=left>Decision</th><td>" << RuleName(snap.decision.rule) << ": "
    << HtmlEscape(snap.decision.reason) << "</td></tr>"
    << "<tr><th align=left>Health</th><td>" << (RedisCanServe(snap.redis) ? "ok" : "fail") << "</td></tr>"
    << "</table><p><a href=\"/state\">/state</a> <a href=\"/info\">/info</a> <a href=\"/health\">/health</a> "
       "<a href=\"/metrics\">/metrics</a></p></body></html>\n";
  return o.str();
}

std::string RenderMetrics(const BoardSnapshot& snap, const Config& config) {
  std::ostringstream o;
  auto gauge = [&](const char* name, const char* help, double value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << value << '\n';
  };
  auto counter = [&](const char* name, const char* help, uint64_t value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n" << name << ' ' << value << '\n';
  };
  o << "# HELP resec_build_info Build information.\n# TYPE resec_build_info gauge\n"
    << "resec_build_info{version=\"" << LabelValue(kResecVersion) << "\",service_id=\""
    << LabelValue(config.ServiceId()) << "\"} 1\n";
  o << "# HELP resec_role Role of the managed Redis (1 for the current role).\n# TYPE resec_role gauge\n";
  for (RedisRole r : {RedisRole::kMaster, RedisRole::kReplica, RedisRole::kUnknown}) {
    o << "resec_role{role=\"" << RoleName(r) << "\"} " << (snap.redis.role == r ? 1 : 0) << '\n';
  }
  gauge("resec_lock_held", "1 while this agent holds the Consul lock.", snap.consul.lock_held ? 1 : 0);
  gauge("resec_redis_healthy", "1 while the managed Redis answers and is not loading.", snap.redis.healthy ? 1 : 0);
  gauge("resec_consul_reachable", "1 while the Consul agent answers (error statuses included).", snap.consul.reachable ? 1 : 0);
  gauge("resec_master_link_up", "1 while the replica's link to its master is up.", snap.redis.master_link_up ? 1 : 0);
  gauge("resec_registered", "1 while our service is registered in Consul.", snap.consul.registered ? 1 : 0);
  gauge("resec_replication_offset", "Replication offset of the managed Redis.",
        static_cast<double>(snap.redis.DataOffset()));
  // Lag in bytes, on a replica: how far behind the master's last offset
  // report in Consul we are (absent while the master is unknown); on a
  // master, 0. Per replica, on the master: its own, exact view below.
  std::optional<int64_t> lag;
  if (snap.redis.role == RedisRole::kMaster) {
    lag = 0;
  } else if (snap.redis.role == RedisRole::kReplica && snap.decision.master) {
    for (const PeerReport& p : snap.consul.peers) {
      if (p.id == snap.decision.master->id && p.node == snap.decision.master->node &&
          p.role == RoleName(RedisRole::kMaster)) {
        lag = std::max<int64_t>(0, p.offset - snap.redis.DataOffset());
      }
    }
  }
  if (lag) {
    gauge("resec_replication_lag_bytes", "Bytes this Redis is behind its master (0 on the master).",
          static_cast<double>(*lag));
  }
  if (!snap.redis.replicas.empty()) {
    o << "# HELP resec_replica_lag_bytes On a master: bytes each replica has not acknowledged yet.\n"
      << "# TYPE resec_replica_lag_bytes gauge\n";
    for (const auto& r : snap.redis.replicas) {
      o << "resec_replica_lag_bytes{replica=\"" << LabelValue(r.ip + ":" + std::to_string(r.port)) << "\"} "
        << std::max<int64_t>(0, snap.redis.master_repl_offset - r.offset) << '\n';
    }
  }
  gauge("resec_passing_masters", "Passing instances of the master service seen in Consul.",
        static_cast<double>(snap.consul.masters.size()));
  gauge("resec_serving", "1 when /health answers ok.", RedisCanServe(snap.redis) ? 1 : 0);
  counter("resec_reconciles_total", "Decisions made.", snap.counters.reconciles);
  counter("resec_promote_commands_total", "REPLICAOF NO ONE commands sent.", snap.counters.promotions);
  counter("resec_demotions_total", "Times our master was told to replicate another.", snap.counters.demotions);
  counter("resec_replicate_commands_total", "REPLICAOF host port commands sent.", snap.counters.replicate_commands);
  counter("resec_hold_commands_total", "Holds sent: REPLICAOF to no server, keeping the data off a master.",
          snap.counters.hold_commands);
  counter("resec_lock_acquisitions_total", "Times this agent acquired the lock.", snap.counters.lock_acquisitions);
  counter("resec_lock_losses_total", "Times this agent lost or released the lock.", snap.counters.lock_losses);
  counter("resec_loop_stalls_total", "Times the reconciler loop was found stalled.", snap.counters.stalls);
  gauge("resec_last_reconcile_seconds", "Duration of the last decision.", snap.counters.last_reconcile_seconds);
  o << "# HELP resec_reconcile_duration_seconds Time one decision took.\n"
    << "# TYPE resec_reconcile_duration_seconds histogram\n";
  for (size_t i = 0; i < std::size(Counters::kBuckets); ++i) {
    o << "resec_reconcile_duration_seconds_bucket{le=\"" << Counters::kBuckets[i] << "\"} "
      << snap.counters.duration_buckets[i] << '\n';
  }
  o << "resec_reconcile_duration_seconds_bucket{le=\"+Inf\"} " << snap.counters.duration_count << '\n'
    << "resec_reconcile_duration_seconds_sum " << snap.counters.duration_sum << '\n'
    << "resec_reconcile_duration_seconds_count " << snap.counters.duration_count << '\n';
  auto errors = [&](const char* name, const char* help, const std::map<std::string, uint64_t>& by_op) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [op, n] : by_op) o << name << "{operation=\"" << LabelValue(op) << "\"} " << n << '\n';
  };
  errors("resec_consul_errors_total", "Failed Consul calls, by operation.", snap.consul.errors);
  errors("resec_redis_errors_total", "Failed Redis operations, by operation.", snap.redis.errors);
  return o.str();
}

StateServer::StateServer(HostPort listen, const Config& config, const StateBoard& board)
    : listen_(std::move(listen)), config_(config), board_(board) {}

StateServer::~StateServer() { Stop(); }

Status StateServer::Start() {
  server_ = std::make_unique<httplib::Server>();
  // Requests are served on the listening thread itself: the endpoints only
  // copy the board and render it, and a pool of workers (httplib's default is
  // eight threads) would be most of an idle agent's threads. Kept-alive
  // connections would hold that one thread, so each connection serves one
  // request, and a slow client is cut off quickly.
  server_->new_task_queue = [] { return std::make_unique<InlineTaskQueue>().release(); };
  server_->set_keep_alive_max_count(1);
  server_->set_read_timeout(2, 0);
  server_->set_write_timeout(2, 0);
  server_->Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderOverviewHtml(board_.Get(), config_), "text/html; charset=utf-8");
  });
  server_->Get("/state", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderStateJson(board_.Get(), config_), "application/json");
  });
  server_->Get("/info", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(board_.Get().redis.info, "text/plain; charset=utf-8");
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const bool ok = RedisCanServe(board_.Get().redis);
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ok" : "fail", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(board_.Get(), config_), "text/plain; version=0.0.4");
  });
  const std::string host = listen_.host.empty() ? "0.0.0.0" : listen_.host;
  if (listen_.port == 0) {
    bound_port_ = server_->bind_to_any_port(host);
  } else {
    bound_port_ = server_->bind_to_port(host, listen_.port) ? listen_.port : -1;
  }
  if (bound_port_ <= 0) {
    return Unavailable("state server cannot listen on " + listen_.ToString());
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "http");
    server_->listen_after_bind();
  });
  return Status::Ok();
}

void StateServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace resec
