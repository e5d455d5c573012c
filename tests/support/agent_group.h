// Group: N redis-servers, N resec agents and one Consul dev agent, all real
// processes on loopback, for end-to-end tests and benchmarks.
//
// ResecAgent runs the built `resec` binary beside one RedisServer with the
// original's environment variables, its state server on a free port and debug
// logs in the test's directory (printed when the test fails). The benchmarks
// also run the original Go resec through it ($RESEC_BIN pointed at it), which
// has no state server: see GroupOptions::agent_ready_log_line.
//
// Thread-safety: none; one test thread drives a group.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resec/status.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/consul_agent.h"
#include "support/redis_server.h"
#include "support/temp_dir.h"
#include "support/test_logs.h"

namespace resec::testing {

std::string ResecBinary();

class ResecAgent {
 public:
  // `env` is the agent's whole resec environment (REDIS_ADDR, CONSUL_HTTP_ADDR,
  // ...); STATE_SERVER and STATE_LISTEN_ADDR are added unless present.
  // With a `ready_log_line` the agent has no state server: nothing is added,
  // and Start() waits for that line in its log instead.
  ResecAgent(std::string name, std::map<std::string, std::string> env, std::vector<std::string> args = {},
             std::string ready_log_line = {});
  ~ResecAgent() = default;
  ResecAgent(ResecAgent&&) noexcept = default;

  // Starts and waits until the state server answers (or the ready log line
  // appears, written by this start, with the process still running).
  Status Start();
  ExitStatus Stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));  // SIGTERM
  ExitStatus Kill();
  bool Pause();
  bool Resume();
  bool Signal(int sig);
  bool Running();
  std::optional<ExitStatus> Wait(std::chrono::milliseconds timeout);

  int state_port() const { return state_port_; }  // 0 without a state server
  pid_t pid() const { return process_.pid(); }
  StatusOr<HttpReply> Get(const std::string& path) const;
  std::string ReadLog() const;
  const std::filesystem::path& log_path() const { return process_.log_path(); }
  std::map<std::string, std::string>& env() { return env_; }
  std::vector<std::string>& args() { return args_; }  // flags, for the next Start()

 private:
  std::string name_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> args_;
  std::string ready_log_line_;
  TempDir dir_;
  TestLogs logs_;
  int state_port_ = 0;
  ChildProcess process_;  // last: destroyed first
};

struct GroupOptions {
  int size = 3;
  // Tag mode (CONSUL_SERVICE_NAME + MASTER_TAGS/SLAVE_TAGS) instead of prefix mode.
  bool tag_mode = false;
  std::string redis_password;
  ConsulAgent::Options consul;
  std::string consul_token;  // CONSUL_HTTP_TOKEN for the agents
  std::map<std::string, std::string> env;  // extra settings for every agent
  std::vector<std::string> redis_args;     // extra redis-server arguments for every node
  bool start_agents = true;
  // For an agent binary without a state server (the original Go resec, which
  // the benchmarks run): a line it logs once it is up, which Start() waits
  // for instead of GET /state; no STATE_* variables are set. Empty: ours.
  std::string agent_ready_log_line;
};

// What Consul's catalog says about the group.
struct CatalogView {
  std::vector<int> passing_master_ports;
  std::vector<int> passing_slave_ports;
};

class Group {
 public:
  explicit Group(GroupOptions options);
  ~Group();

  Status Start();
  Status StartAgent(int i);

  int size() const { return static_cast<int>(redis_.size()); }
  ConsulAgent& consul() { return *consul_; }
  RedisServer& redis(int i) { return *redis_.at(i); }
  ResecAgent& agent(int i) { return *agents_.at(i); }
  const GroupOptions& options() const { return options_; }

  // Indexes of the Redis servers whose INFO says role:master.
  std::vector<int> RedisMasters();
  StatusOr<CatalogView> Catalog();
  // One Redis master, every other live Redis replicating it with its link up,
  // exactly one passing master in Consul pointing at it and one passing slave
  // per live replica. Returns the master's index.
  std::optional<int> Converged();
  // Waits for Converged(); on timeout describes what it last saw in *why.
  std::optional<int> WaitConverged(std::chrono::milliseconds timeout, std::string* why = nullptr);
  // Waits until Consul shows exactly one passing master, not `old`, whose
  // Redis says it is master. Returns its index.
  std::optional<int> WaitForNewMaster(int old, std::chrono::milliseconds timeout);
  std::string Describe();
  int IndexOfPort(int port) const;

 private:
  GroupOptions options_;
  std::unique_ptr<ConsulAgent> consul_;
  std::vector<std::unique_ptr<RedisServer>> redis_;
  std::vector<std::unique_ptr<ResecAgent>> agents_;
};

}  // namespace resec::testing
