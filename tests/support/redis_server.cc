#include "support/redis_server.h"

#include <unistd.h>

#include <sstream>
#include <system_error>

#include "support/calls.h"
#include "support/free_port.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

// redis-server answers PING within milliseconds of starting; 10s covers a
// loaded CI machine and replaying an append-only file.
constexpr std::chrono::seconds kReadyTimeout{10};
// Retries when another process took our fresh port between probe and bind.
constexpr int kPortAttempts = 3;

std::string RedisBinary() {
  // Prefer PATH (ChildProcess resolves it); fall back to the Debian location.
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "/usr/bin/redis-server";
}

}  // namespace

RedisServer::RedisServer(Options options)
    : options_(std::move(options)), dir_("redis"), port_(FreePort()) {
  logs_.Add("redis-server", log_path());
}

Status RedisServer::Start() {
  Status status = StartOnce();
  // Only a fresh server may move: after the first start tests rely on the port.
  for (int attempt = 1; !started_before_ && !status.ok() && attempt < kPortAttempts; ++attempt) {
    if (process_.ReadLog().find("Address already in use") == std::string::npos) break;
    port_ = FreePort();
    status = StartOnce();
  }
  if (status.ok()) started_before_ = true;
  return status;
}

Status RedisServer::StartOnce() {
  if (process_.Running()) return FailedPrecondition("redis-server " + addr() + " already running");
  if (dir_.path().empty()) return Internal("redis-server has no directory");
  if (!options_.persistence) {
    // A replica's full sync writes dump.rdb even with `save ""`; without
    // persistence a restarted server must come back empty.
    std::error_code ec;
    std::filesystem::remove(dir_.path() / "dump.rdb", ec);
    std::filesystem::remove_all(dir_.path() / "appendonlydir", ec);
  }
  std::vector<std::string> argv = {RedisBinary(), "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1", "--dir", dir_.path().string(),
                                   "--daemonize", "no", "--protected-mode", "no",
                                   // Redis 7 waits 5s for more replicas before a diskless
                                   // full sync; tests attach replicas one at a time.
                                   "--repl-diskless-sync-delay", "0"};
  if (options_.persistence) {
    argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always"});
  } else {
    argv.insert(argv.end(), {"--save", "", "--appendonly", "no"});
  }
  if (!options_.password.empty()) {
    argv.insert(argv.end(),
                {"--requirepass", options_.password, "--masterauth", options_.password});
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());

  ChildProcess::Options child;
  child.argv = std::move(argv);
  child.log_dir = dir_.path();
  child.log_name = "redis.log";
  StatusOr<ChildProcess> started = ChildProcess::Start(child);
  if (!started.ok()) return started.status();
  process_ = std::move(started).value();

  bool ready = WaitFor(
      [&] { return !process_.Running() || Call({"PING"}, std::chrono::milliseconds(500)).ok(); },
      kReadyTimeout);
  if (!process_.Running()) {
    ExitStatus exit = process_.Kill();
    return Unavailable("redis-server " + addr() + " exited during start (" + exit.ToString() +
                       "); log tail:\n" + TailFile(log_path(), 20));
  }
  if (!ready) {
    process_.Kill();
    return DeadlineExceeded("redis-server " + addr() + " did not answer PING within 10s; log tail:\n" +
                            TailFile(log_path(), 20));
  }
  return Status::Ok();
}

Status RedisServer::Restart() {
  if (process_.Running()) Stop();
  return Start();
}

ExitStatus RedisServer::Stop(std::chrono::milliseconds timeout) { return process_.Stop(timeout); }
ExitStatus RedisServer::Kill() { return process_.Kill(); }
bool RedisServer::Pause() { return process_.Pause(); }
bool RedisServer::Resume() { return process_.Resume(); }
bool RedisServer::Running() { return process_.Running(); }

StatusOr<std::string> RedisServer::Call(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout) const {
  return RedisCall(port_, argv, options_.password, "", timeout);
}

Status RedisServer::ReplicaOf(const RedisServer& master) const {
  StatusOr<std::string> r = Call({"REPLICAOF", "127.0.0.1", std::to_string(master.port())});
  return r.ok() ? Status::Ok() : r.status();
}

Status RedisServer::ReplicaOfNoOne() const {
  StatusOr<std::string> r = Call({"REPLICAOF", "NO", "ONE"});
  return r.ok() ? Status::Ok() : r.status();
}

std::string RedisServer::Role() const { return InfoField("replication", "role"); }

std::string RedisServer::InfoField(const std::string& section, const std::string& field) const {
  StatusOr<std::string> info = Call({"INFO", section});
  if (!info.ok()) return "";
  std::istringstream in(*info);
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.compare(0, prefix.size(), prefix) == 0) return line.substr(prefix.size());
  }
  return "";
}

}  // namespace resec::testing
