#include "support/agent_group.h"

#include <signal.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "support/free_port.h"
#include "support/wait_for.h"

namespace resec::testing {

using std::chrono::milliseconds;

std::string ResecBinary() {
  if (const char* env = std::getenv("RESEC_BIN"); env && *env) return env;
  return std::string(RESEC_BINARY_DIR) + "/resec";
}

ResecAgent::ResecAgent(std::string name, std::map<std::string, std::string> env, std::vector<std::string> args,
                       std::string ready_log_line)
    : name_(std::move(name)),
      env_(std::move(env)),
      args_(std::move(args)),
      ready_log_line_(std::move(ready_log_line)),
      dir_(name_) {
  logs_.Add(name_, dir_.path() / (name_ + ".log"));
  if (!ready_log_line_.empty()) return;  // no state server
  if (!env_.contains("STATE_SERVER")) env_["STATE_SERVER"] = "true";
  if (!env_.contains("STATE_LISTEN_ADDR")) env_["STATE_LISTEN_ADDR"] = "127.0.0.1:" + std::to_string(FreePort());
  const auto colon = env_["STATE_LISTEN_ADDR"].rfind(':');
  state_port_ = std::stoi(env_["STATE_LISTEN_ADDR"].substr(colon + 1));
}

Status ResecAgent::Start() {
  ChildProcess::Options o;
  o.argv = {ResecBinary()};
  o.argv.insert(o.argv.end(), args_.begin(), args_.end());
  o.env = env_;
  o.log_dir = dir_.path();
  o.log_name = name_ + ".log";
  // The log is appended to across restarts: only what this start writes counts.
  std::error_code ec;  // no log yet: the first start
  const auto size = std::filesystem::file_size(dir_.path() / o.log_name, ec);
  const size_t log_offset = ec ? 0 : static_cast<size_t>(size);
  auto p = ChildProcess::Start(o);
  if (!p.ok()) return p.status();
  process_ = std::move(*p);
  if (!ready_log_line_.empty()) {
    const bool logged = WaitFor(
        [&] {
          return !process_.Running() || process_.ReadLog().find(ready_log_line_, log_offset) != std::string::npos;
        },
        std::chrono::seconds(10));
    if (!logged || !process_.Running()) {
      return Unavailable(name_ + ": did not log '" + ready_log_line_ + "' while running; log:\n" +
                         TailFile(process_.log_path(), 30));
    }
    return Status::Ok();
  }
  const bool up = WaitFor(
      [&] {
        auto r = HttpCall("GET", "127.0.0.1", state_port_, "/state", "", {}, milliseconds(500));
        return r.ok() && r->status == 200;
      },
      std::chrono::seconds(10));
  if (!up) return Unavailable(name_ + ": state server did not come up; log:\n" + TailFile(process_.log_path(), 30));
  return Status::Ok();
}

ExitStatus ResecAgent::Stop(milliseconds timeout) { return process_.Stop(timeout); }
ExitStatus ResecAgent::Kill() { return process_.Kill(); }
bool ResecAgent::Pause() { return process_.Pause(); }
bool ResecAgent::Resume() { return process_.Resume(); }
bool ResecAgent::Signal(int sig) { return process_.Signal(sig); }
bool ResecAgent::Running() { return process_.Running(); }
std::optional<ExitStatus> ResecAgent::Wait(milliseconds timeout) { return process_.Wait(timeout); }
std::string ResecAgent::ReadLog() const { return process_.ReadLog(); }

StatusOr<HttpReply> ResecAgent::Get(const std::string& path) const {
  return HttpCall("GET", "127.0.0.1", state_port_, path, "", {}, milliseconds(2000));
}

Group::Group(GroupOptions options) : options_(std::move(options)) {}

Group::~Group() {
  // Agents first, so they do not react to their Redis or Consul going away.
  for (auto& a : agents_) a->Kill();
}

Status Group::Start() {
  consul_ = std::make_unique<ConsulAgent>(options_.consul);
  if (Status st = consul_->Start(); !st.ok()) return st;
  for (int i = 0; i < options_.size; ++i) {
    RedisServer::Options ro;
    ro.password = options_.redis_password;
    ro.extra_args = options_.redis_args;
    redis_.push_back(std::make_unique<RedisServer>(ro));
    if (Status st = redis_.back()->Start(); !st.ok()) return st;
  }
  for (int i = 0; i < options_.size; ++i) {
    std::map<std::string, std::string> env = {
        {"REDIS_ADDR", redis_[i]->addr()},
        {"CONSUL_HTTP_ADDR", consul_->http_addr()},
        {"LOG_LEVEL", "debug"},
        // Fast settings for tests; each still within what operators may set.
        {"HEALTHCHECK_INTERVAL", "1s"},
        {"HEALTHCHECK_TIMEOUT", "1s"},
    };
    if (consul_->https()) env["CONSUL_CACERT"] = consul_->ca_file();
    if (!options_.consul_token.empty()) env["CONSUL_HTTP_TOKEN"] = options_.consul_token;
    if (!options_.redis_password.empty()) env["REDIS_PASSWORD"] = options_.redis_password;
    if (options_.tag_mode) {
      env["CONSUL_SERVICE_NAME"] = "redis";
      env["MASTER_TAGS"] = "master,primary";
      env["SLAVE_TAGS"] = "slave,replica";
    }
    for (const auto& [k, v] : options_.env) env[k] = v;
    agents_.push_back(
        std::make_unique<ResecAgent>("resec" + std::to_string(i), env, std::vector<std::string>{},
                                     options_.agent_ready_log_line));
  }
  if (options_.start_agents) {
    for (int i = 0; i < options_.size; ++i) {
      if (Status st = StartAgent(i); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

Status Group::StartAgent(int i) { return agents_.at(i)->Start(); }

std::vector<int> Group::RedisMasters() {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i) {
    if (redis_[i]->Running() && redis_[i]->Role() == "master") out.push_back(i);
  }
  return out;
}

StatusOr<CatalogView> Group::Catalog() {
  CatalogView view;
  auto ports = [&](const std::string& path, std::vector<int>& out) -> Status {
    auto r = consul_->Get(path);
    if (!r.ok()) return r.status();
    if (r->status != 200) return Unavailable(path + ": HTTP " + std::to_string(r->status));
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_array()) return Internal(path + ": not an array");
    for (const auto& e : j) out.push_back(e["Service"]["Port"].get<int>());
    return Status::Ok();
  };
  const bool tags = options_.tag_mode;
  if (Status st = ports(tags ? "/v1/health/service/redis?passing&tag=master" : "/v1/health/service/redis-master?passing",
                        view.passing_master_ports);
      !st.ok()) {
    return st;
  }
  if (Status st = ports(tags ? "/v1/health/service/redis?passing&tag=slave" : "/v1/health/service/redis-slave?passing",
                        view.passing_slave_ports);
      !st.ok()) {
    return st;
  }
  return view;
}

int Group::IndexOfPort(int port) const {
  for (int i = 0; i < static_cast<int>(redis_.size()); ++i) {
    if (redis_[i]->port() == port) return i;
  }
  return -1;
}

std::optional<int> Group::Converged() {
  const std::vector<int> masters = RedisMasters();
  if (masters.size() != 1) return std::nullopt;
  const int m = masters.front();
  int live_replicas = 0;
  for (int i = 0; i < size(); ++i) {
    if (i == m || !redis_[i]->Running()) continue;
    if (redis_[i]->Role() != "slave") return std::nullopt;
    if (redis_[i]->InfoField("replication", "master_port") != std::to_string(redis_[m]->port())) return std::nullopt;
    if (redis_[i]->InfoField("replication", "master_link_status") != "up") return std::nullopt;
    ++live_replicas;
  }
  auto catalog = Catalog();
  if (!catalog.ok()) return std::nullopt;
  if (catalog->passing_master_ports != std::vector<int>{redis_[m]->port()}) return std::nullopt;
  if (static_cast<int>(catalog->passing_slave_ports.size()) != live_replicas) return std::nullopt;
  return m;
}

std::optional<int> Group::WaitConverged(milliseconds timeout, std::string* why) {
  std::optional<int> m;
  WaitFor([&] { return (m = Converged()).has_value(); }, timeout, milliseconds(50));
  if (!m && why) *why = Describe();
  return m;
}

std::optional<int> Group::WaitForNewMaster(int old, milliseconds timeout) {
  std::optional<int> found;
  WaitFor(
      [&] {
        auto c = Catalog();
        if (!c.ok() || c->passing_master_ports.size() != 1) return false;
        const int idx = IndexOfPort(c->passing_master_ports[0]);
        if (idx < 0 || idx == old || redis_[idx]->Role() != "master") return false;
        found = idx;
        return true;
      },
      timeout, milliseconds(20));
  return found;
}

std::string Group::Describe() {
  std::ostringstream o;
  for (int i = 0; i < size(); ++i) {
    o << "redis" << i << " :" << redis_[i]->port() << " ";
    if (!redis_[i]->Running()) {
      o << "down\n";
      continue;
    }
    o << redis_[i]->Role() << " master_port=" << redis_[i]->InfoField("replication", "master_port")
      << " link=" << redis_[i]->InfoField("replication", "master_link_status") << "\n";
  }
  auto c = Catalog();
  if (c.ok()) {
    o << "consul passing masters:";
    for (int p : c->passing_master_ports) o << ' ' << p;
    o << "; passing slaves:";
    for (int p : c->passing_slave_ports) o << ' ' << p;
    o << '\n';
  } else {
    o << "consul: " << c.status().ToString() << '\n';
  }
  return o.str();
}

}  // namespace resec::testing
