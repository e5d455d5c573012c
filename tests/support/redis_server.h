// RedisServer: a real redis-server on 127.0.0.1 for one test.
//
//   RedisServer redis;                    // picks a port and a directory
//   ASSERT_OK(redis.Start());             // starts it and waits for PING
//   ASSERT_OK(redis.Call({"SET", "k", "v"}));
//   redis.Kill(); ASSERT_OK(redis.Start());  // same port and dir, empty again
//
// The binary is `redis-server` from PATH (then /usr/bin/redis-server). It runs
// in the foreground with `--save "" --appendonly no` (no persistence; a
// leftover dump.rdb, e.g. one written by a replica's full sync, is deleted
// before each start so a restart always comes back empty), `--dir` in its own
// TempDir, `--protected-mode no`, and `--requirepass` + `--masterauth` set to
// Options::password when one is given (every server of a replication group is
// expected to share one password, as resec deployments do), and
// `--repl-diskless-sync-delay 0` so a full sync starts at once (Redis 7
// otherwise waits 5s for more replicas; extra_args can restore it). With
// Options::persistence it runs `--appendonly yes --appendfsync always` and
// keeps its files, so even a Kill() loses nothing acknowledged.
//
// The log is "redis.log" in dir(); it is printed if the test fails, and the
// directory is kept. The destructor kills the server.
//
// Thread-safety: one owner thread. Call()/Role()/InfoField() open their own
// connections and may be used from other threads while the owner does not
// start or stop the server.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "resec/status.h"
#include "support/child_process.h"
#include "support/temp_dir.h"
#include "support/test_logs.h"

namespace resec::testing {

class RedisServer {
 public:
  struct Options {
    std::string password = {};  // requirepass + masterauth; empty: no auth
    bool persistence = false;
    std::vector<std::string> extra_args = {};  // appended last, e.g. {"--maxmemory", "10mb"}
  };

  // Chooses the port and creates the directory; starts nothing.
  explicit RedisServer(Options options);
  RedisServer() : RedisServer(Options{}) {}
  ~RedisServer() = default;  // members: the process is killed before the logs print
  // Movable (e.g. into a vector); not move-assignable, because assigning over
  // a running server would remove its directory before killing it.
  RedisServer(RedisServer&&) noexcept = default;
  RedisServer& operator=(RedisServer&&) = delete;
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server (same port and dir every time) and waits until PING
  // answers, up to 10s. kFailedPrecondition if it is already running; the
  // status carries the log tail when it exits or never answers. The very first
  // start moves to a fresh port if another process took ours meanwhile.
  Status Start();
  // Stop() if running, then Start().
  Status Restart();
  // SIGTERM, SIGKILL after `timeout`; a persistent server saves first.
  ExitStatus Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGKILL: a crash.
  ExitStatus Kill();
  // SIGSTOP / SIGCONT: a hung server (the port accepts, nothing answers).
  bool Pause();
  bool Resume();
  bool Running();

  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& password() const { return options_.password; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path log_path() const { return dir_.path() / "redis.log"; }
  ChildProcess& process() { return process_; }

  // RedisCall with this server's port and password.
  StatusOr<std::string> Call(const std::vector<std::string>& argv,
                             std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;
  // REPLICAOF 127.0.0.1 <master port> / REPLICAOF NO ONE.
  Status ReplicaOf(const RedisServer& master) const;
  Status ReplicaOfNoOne() const;
  // "master" or "slave" from INFO replication; "" if the server does not answer.
  std::string Role() const;
  // A field of INFO <section> ("master_link_status" in "replication"); "" if
  // absent or the server does not answer.
  std::string InfoField(const std::string& section, const std::string& field) const;

 private:
  Status StartOnce();

  Options options_;
  TempDir dir_;
  TestLogs logs_;
  int port_ = 0;
  bool started_before_ = false;
  ChildProcess process_;  // last: destroyed first
};

}  // namespace resec::testing
