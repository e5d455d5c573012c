// ConsulAgent: a real Consul dev agent (single server, in-memory, its own
// leader) on 127.0.0.1 for one test.
//
//   ConsulAgent consul;                 // picks ports and a directory
//   ASSERT_OK(consul.Start());          // starts it, waits for leader + serfHealth
//   auto client = consul::MakeHttpClient(consul.client_config(), 5s);
//
// The binary is ConsulBinary() (below). The agent runs
//   consul agent -dev -node=<node_name> -bind=127.0.0.1 -client=127.0.0.1
//     -http-port=P -server-port=P2 -serf-lan-port=P3 -serf-wan-port=-1
//     -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 -log-level=<log_level>
// with every port from FreePort(), so agents of parallel tests never meet.
// Options::acl adds `acl { enabled = true default_policy = "deny" tokens {
// initial_management = T agent = T } }` with T = management_token().
// Options::https makes a test CA and server certificate (MakeTestCertificates)
// in dir() and serves HTTPS only: `ports { https = P http = -1 }` plus
// `tls { defaults { ca_file cert_file key_file } }` (no client certificates
// required); ca_file() is what clients must trust.
//
// Start() returns once GET /v1/status/leader is non-empty AND the node's
// serfHealth check is passing (read with the management token under ACLs, so
// the token is usable too): typically 1-3s. Dev mode keeps everything in
// memory: Restart()/Kill()+Start() keep the ports and lose all state.
//
// The log is "consul.log" in dir(); it is printed if the test fails, and the
// directory is kept. The destructor kills the agent.
//
// Thread-safety: one owner thread. Call()/Get()/Put()/Delete()/Leader() open
// their own connections and may be used from other threads while the owner does
// not start or stop the agent.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "resec/config.h"
#include "resec/status.h"
#include "support/calls.h"
#include "support/child_process.h"
#include "support/temp_dir.h"
#include "support/test_logs.h"

namespace resec::testing {

// The consul binary, resolved once per process: $CONSUL_BIN if set (it must
// be executable, else this fails), else the path printed by
// scripts/build-consul.sh (which may build Consul the first time), else
// ${XDG_CACHE_HOME:-$HOME/.cache}/resec/consul-1.14.11/consul. A failure
// explains what was tried; fixtures turn it into a test failure, never a skip.
const StatusOr<std::string>& ConsulBinary();

class ConsulAgent {
 public:
  // A fixed, well-formed UUID, so logs and kept directories of a failed run
  // can be poked at by hand.
  static constexpr char kDefaultManagementToken[] = "00000000-7e57-4000-8000-00000000c0de";

  struct Options {
    bool acl = false;
    std::string management_token = {};  // empty: kDefaultManagementToken (when acl)
    bool https = false;
    std::string node_name = "resec-test";
    std::string log_level = "warn";
    std::vector<std::string> extra_hcl = {};  // more -hcl snippets, appended last
  };

  // Chooses the ports and creates the directory; starts nothing.
  explicit ConsulAgent(Options options);
  ConsulAgent() : ConsulAgent(Options{}) {}
  ~ConsulAgent() = default;  // members: the process is killed before the logs print
  // Movable (e.g. into a vector); not move-assignable (see RedisServer).
  ConsulAgent(ConsulAgent&&) noexcept = default;
  ConsulAgent& operator=(ConsulAgent&&) = delete;

  // Starts the agent (same ports every time) and waits until it is ready, up
  // to 30s. kFailedPrecondition if it is already running or no consul binary
  // is found; the status carries the log tail when the agent exits or never
  // becomes ready. The very first start moves to fresh ports if another
  // process took one meanwhile.
  Status Start();
  // Stop() if running, then Start().
  Status Restart();
  // SIGTERM (graceful leave of a dev server), SIGKILL after `timeout`.
  ExitStatus Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ExitStatus Kill();
  // SIGSTOP / SIGCONT: a hung agent (connections accepted, nothing answered).
  bool Pause();
  bool Resume();
  bool Running();

  // The HTTP port, or the HTTPS port in https mode.
  int http_port() const { return http_port_; }
  // "127.0.0.1:P", or "https://127.0.0.1:P" in https mode.
  std::string http_addr() const;
  int server_port() const { return server_port_; }
  int serf_lan_port() const { return serf_lan_port_; }
  const std::string& node_name() const { return options_.node_name; }
  bool https() const { return options_.https; }
  bool acl() const { return options_.acl; }
  // "" unless ACLs are on.
  const std::string& management_token() const { return management_token_; }
  // The CA to trust in https mode ("" otherwise).
  std::string ca_file() const;
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path log_path() const { return dir_.path() / "consul.log"; }
  ChildProcess& process() { return process_; }

  // A client configuration for this agent (scheme, host, port, CA in https
  // mode) with `token` (may be empty) as the ACL token.
  ConsulClientConfig client_config(const std::string& token = "") const;

  // One raw request, over HTTPS with ca_file() in https mode. `token`:
  // nullopt sends the management token when ACLs are on (nothing otherwise),
  // "" sends no token (anonymous), anything else is sent as X-Consul-Token.
  // `timeout` is the read timeout: keep blocking queries' ?wait= below it.
  StatusOr<HttpReply> Call(const std::string& method, const std::string& path,
                           const std::string& body = "",
                           const std::optional<std::string>& token = std::nullopt,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  StatusOr<HttpReply> Get(const std::string& path) const { return Call("GET", path); }
  StatusOr<HttpReply> Put(const std::string& path, const std::string& body = "") const {
    return Call("PUT", path, body);
  }
  StatusOr<HttpReply> Delete(const std::string& path) const { return Call("DELETE", path); }

  // GET /v1/status/leader, decoded: "" while there is no leader. Bounded by
  // 2s: a live agent answers at once.
  StatusOr<std::string> Leader() const;

  // Creates a policy with `rules_hcl` and a token holding it, with the
  // management token; returns the token's SecretID. Requires Options::acl.
  StatusOr<std::string> CreateToken(const std::string& rules_hcl);

 private:
  Status StartOnce();
  void PickPorts();

  Options options_;
  std::string management_token_;
  TempDir dir_;
  TestLogs logs_;
  int http_port_ = 0;
  int server_port_ = 0;
  int serf_lan_port_ = 0;
  int policy_counter_ = 0;
  bool started_before_ = false;
  bool certs_made_ = false;
  ChildProcess process_;  // last: destroyed first
};

}  // namespace resec::testing
