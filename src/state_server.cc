#include "resec/state_server.h"

#include <pthread.h>

#include <httplib.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "resec/metrics_view.h"

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

StateServer::StateServer(HostPort listen, const Config& config, const StateBoard& board, Metrics& metrics)
    : listen_(std::move(listen)), config_(config), board_(board), redact_(config.Secrets()), metrics_(metrics) {}

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
    res.set_content(redact_(RenderOverviewHtml(board_.Get(), config_)), "text/html; charset=utf-8");
  });
  server_->Get("/state", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(redact_(RenderStateJson(board_.Get(), config_)), "application/json");
  });
  server_->Get("/info", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(redact_(board_.Get().redis.info), "text/plain; charset=utf-8");
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const bool ok = RedisCanServe(board_.Get().redis);
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ok" : "fail", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(MakeMetricsView(board_.Get())), "text/plain; version=0.0.4; charset=utf-8");
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
