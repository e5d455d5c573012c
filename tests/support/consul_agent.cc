#include "support/consul_agent.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "support/free_port.h"
#include "support/test_certs.h"
#include "support/wait_for.h"

#ifndef RESEC_SOURCE_DIR
#define RESEC_SOURCE_DIR "."
#endif

namespace resec::testing {
namespace {

using nlohmann::json;

// A dev agent elects itself and registers its node within 1-3s; 30s covers a
// starved CI machine (and the first start of a freshly built binary).
constexpr std::chrono::seconds kReadyTimeout{30};
// Per-request bound while polling readiness: a live agent answers these reads
// in milliseconds.
constexpr std::chrono::seconds kProbeTimeout{2};
// Retries when another process took one of our fresh ports before Consul bound it.
constexpr int kPortAttempts = 3;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool Executable(const std::string& path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }

struct PipeClose {
  void operator()(FILE* f) const { ::pclose(f); }
};

StatusOr<std::string> ResolveConsulBinary() {
  if (const char* env = std::getenv("CONSUL_BIN"); env != nullptr && *env != '\0') {
    if (Executable(env)) return std::string(env);
    return FailedPrecondition(std::string("CONSUL_BIN=") + env + " is not an executable file");
  }
  std::string tried;
  const std::string script = std::string(RESEC_SOURCE_DIR) + "/scripts/build-consul.sh";
  if (Executable(script)) {
    // stdout is the path (last line); the script's progress goes to our stderr.
    std::unique_ptr<FILE, PipeClose> pipe(::popen(("'" + script + "'").c_str(), "r"));
    std::string out;
    if (pipe != nullptr) {
      std::array<char, 512> buf;
      size_t n;
      while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
    }
    out = Trim(out);
    if (size_t nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
    if (Executable(out)) return out;
    tried += script + " printed no executable path (\"" + out + "\"); ";
  } else {
    tried += script + " not found; ";
  }
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  std::string cache = (xdg != nullptr && *xdg != '\0') ? xdg : std::string(home ? home : "") + "/.cache";
  std::string cached = cache + "/resec/consul-1.14.11/consul";
  if (Executable(cached)) return cached;
  tried += cached + " not found";
  return FailedPrecondition("no consul binary: set CONSUL_BIN or run scripts/build-consul.sh (" +
                            tried + ")");
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const StatusOr<std::string>& ConsulBinary() {
  // Immutable once resolved: the build script is slow to run even when cached.
  static const StatusOr<std::string> binary = ResolveConsulBinary();
  return binary;
}

ConsulAgent::ConsulAgent(Options options) : options_(std::move(options)), dir_("consul") {
  if (options_.acl) {
    management_token_ =
        options_.management_token.empty() ? kDefaultManagementToken : options_.management_token;
  }
  PickPorts();
  logs_.Add("consul " + options_.node_name, log_path());
}

void ConsulAgent::PickPorts() {
  http_port_ = FreePort();
  server_port_ = FreePort();
  serf_lan_port_ = FreePort();
}

std::string ConsulAgent::http_addr() const {
  return std::string(options_.https ? "https://" : "") + "127.0.0.1:" + std::to_string(http_port_);
}

std::string ConsulAgent::ca_file() const {
  return options_.https ? (dir_.path() / "ca.pem").string() : "";
}

ConsulClientConfig ConsulAgent::client_config(const std::string& token) const {
  ConsulClientConfig config;
  config.scheme = options_.https ? "https" : "http";
  config.host = "127.0.0.1";
  config.port = http_port_;
  config.token = token;
  if (options_.https) {
    config.tls_verify = true;
    config.ca_file = ca_file();
  }
  return config;
}

StatusOr<HttpReply> ConsulAgent::Call(const std::string& method, const std::string& path,
                                      const std::string& body,
                                      const std::optional<std::string>& token,
                                      std::chrono::milliseconds timeout) const {
  std::map<std::string, std::string> headers;
  const std::string& t = token.has_value() ? *token : management_token_;
  if (!t.empty()) headers["X-Consul-Token"] = t;
  if (options_.https) {
    return HttpsCall(method, "127.0.0.1", http_port_, path, ca_file(), body, headers, timeout);
  }
  return HttpCall(method, "127.0.0.1", http_port_, path, body, headers, timeout);
}

StatusOr<std::string> ConsulAgent::Leader() const {
  StatusOr<HttpReply> reply = Call("GET", "/v1/status/leader", "", std::nullopt, kProbeTimeout);
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) {
    return Unavailable("GET /v1/status/leader: HTTP " + std::to_string(reply->status));
  }
  json j = json::parse(reply->body, nullptr, false);
  if (j.is_discarded() || !j.is_string()) return Internal("GET /v1/status/leader: " + reply->body);
  return j.get<std::string>();
}

Status ConsulAgent::Start() {
  Status status = StartOnce();
  for (int attempt = 1; !started_before_ && !status.ok() && attempt < kPortAttempts; ++attempt) {
    if (Lower(process_.ReadLog()).find("address already in use") == std::string::npos) break;
    PickPorts();
    status = StartOnce();
  }
  if (status.ok()) started_before_ = true;
  return status;
}

Status ConsulAgent::StartOnce() {
  if (process_.Running()) return FailedPrecondition("consul " + http_addr() + " already running");
  if (dir_.path().empty()) return Internal("consul has no directory");
  const StatusOr<std::string>& binary = ConsulBinary();
  if (!binary.ok()) return binary.status();

  std::vector<std::string> argv = {*binary,
                                   "agent",
                                   "-dev",
                                   "-node=" + options_.node_name,
                                   "-bind=127.0.0.1",
                                   "-client=127.0.0.1",
                                   "-server-port=" + std::to_string(server_port_),
                                   "-serf-lan-port=" + std::to_string(serf_lan_port_),
                                   "-serf-wan-port=-1",
                                   "-dns-port=-1",
                                   "-grpc-port=-1",
                                   "-grpc-tls-port=-1",
                                   "-log-level=" + options_.log_level};
  if (options_.https) {
    if (!certs_made_) {
      StatusOr<TestCertificates> certs = MakeTestCertificates(dir_.path());
      if (!certs.ok()) return certs.status();
      certs_made_ = true;
    }
    const std::filesystem::path& d = dir_.path();
    argv.push_back("-hcl=ports { https = " + std::to_string(http_port_) + " http = -1 }");
    argv.push_back("-hcl=tls { defaults { ca_file = \"" + (d / "ca.pem").string() +
                   "\" cert_file = \"" + (d / "server.pem").string() + "\" key_file = \"" +
                   (d / "server.key").string() + "\" } }");
  } else {
    argv.push_back("-http-port=" + std::to_string(http_port_));
  }
  if (options_.acl) {
    argv.push_back(
        "-hcl=acl { enabled = true default_policy = \"deny\" tokens { initial_management = \"" +
        management_token_ + "\" agent = \"" + management_token_ + "\" } }");
  }
  for (const std::string& hcl : options_.extra_hcl) argv.push_back("-hcl=" + hcl);

  ChildProcess::Options child;
  child.argv = std::move(argv);
  child.log_dir = dir_.path();
  child.log_name = "consul.log";
  StatusOr<ChildProcess> started = ChildProcess::Start(child);
  if (!started.ok()) return started.status();
  process_ = std::move(started).value();

  const std::string health_path = "/v1/health/node/" + options_.node_name;
  auto ready = [&] {
    StatusOr<std::string> leader = Leader();
    if (!leader.ok() || leader->empty()) return false;
    StatusOr<HttpReply> reply = Call("GET", health_path, "", std::nullopt, kProbeTimeout);
    if (!reply.ok() || reply->status != 200) return false;
    json checks = json::parse(reply->body, nullptr, false);
    if (checks.is_discarded() || !checks.is_array()) return false;
    for (const json& c : checks) {
      if (c.is_object() && c.value("CheckID", "") == "serfHealth" &&
          c.value("Status", "") == "passing") {
        return true;
      }
    }
    return false;
  };
  bool ok = WaitFor([&] { return !process_.Running() || ready(); }, kReadyTimeout,
                    std::chrono::milliseconds(50));
  if (!process_.Running()) {
    ExitStatus exit = process_.Kill();
    return Unavailable("consul " + http_addr() + " exited during start (" + exit.ToString() +
                       "); log tail:\n" + TailFile(log_path(), 30));
  }
  if (!ok) {
    process_.Kill();
    return DeadlineExceeded("consul " + http_addr() +
                            " not ready (leader + serfHealth) within 30s; log tail:\n" +
                            TailFile(log_path(), 30));
  }
  return Status::Ok();
}

Status ConsulAgent::Restart() {
  if (process_.Running()) Stop();
  return Start();
}

ExitStatus ConsulAgent::Stop(std::chrono::milliseconds timeout) { return process_.Stop(timeout); }
ExitStatus ConsulAgent::Kill() { return process_.Kill(); }
bool ConsulAgent::Pause() { return process_.Pause(); }
bool ConsulAgent::Resume() { return process_.Resume(); }
bool ConsulAgent::Running() { return process_.Running(); }

StatusOr<std::string> ConsulAgent::CreateToken(const std::string& rules_hcl) {
  if (!options_.acl) return FailedPrecondition("CreateToken: the agent runs without ACLs");
  const std::string name = "resec-test-policy-" + std::to_string(++policy_counter_);
  json policy = {{"Name", name}, {"Rules", rules_hcl}};
  StatusOr<HttpReply> reply = Put("/v1/acl/policy", policy.dump());
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) {
    return FailedPrecondition("PUT /v1/acl/policy: HTTP " + std::to_string(reply->status) + ": " +
                              reply->body);
  }
  json created = json::parse(reply->body, nullptr, false);
  if (created.is_discarded() || !created.is_object() || !created.contains("ID")) {
    return Internal("PUT /v1/acl/policy: unexpected body " + reply->body);
  }
  json token = {{"Description", name},
                {"Policies", json::array({{{"ID", created["ID"]}}})}};
  reply = Put("/v1/acl/token", token.dump());
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) {
    return FailedPrecondition("PUT /v1/acl/token: HTTP " + std::to_string(reply->status) + ": " +
                              reply->body);
  }
  json t = json::parse(reply->body, nullptr, false);
  if (t.is_discarded() || !t.is_object() || !t.contains("SecretID") || !t["SecretID"].is_string()) {
    return Internal("PUT /v1/acl/token: no SecretID in the reply");
  }
  return t["SecretID"].get<std::string>();
}

}  // namespace resec::testing
