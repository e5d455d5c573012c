// ChildProcess: an RAII handle on a server process a test starts (redis-server,
// consul, resec itself, openssl).
//
// stdin is /dev/null; stdout and stderr are appended to one log file, so a
// process restarted with the same log name continues the same file (each start
// writes a "=== start ..." marker line). The child gets
// PR_SET_PDEATHSIG=SIGKILL, so it dies with the test process even when the
// test is killed by a timeout and no destructor runs. Linux delivers that
// signal when the *thread* that forked exits: start long-lived children from
// the test's main thread (or a thread that outlives them).
//
// The child starts with an empty signal mask and default signal dispositions,
// whatever the test process blocks or ignores, so SIGTERM works as in
// production.
//
// The destructor kills (SIGCONT first if paused, then SIGKILL) and reaps a
// child that is still running; nothing is left behind, zombies included.
//
// Thread-safety: a handle owned by one thread. Move-only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "resec/status.h"

namespace resec::testing {

// How a child ended.
struct ExitStatus {
  int code = -1;   // exit code when it exited normally, else -1
  int signal = 0;  // the terminating signal, else 0

  bool Exited() const { return signal == 0 && code >= 0; }
  bool Signaled() const { return signal != 0; }
  std::string ToString() const;  // "exit 0", "signal 9 (Killed)"
  bool operator==(const ExitStatus&) const = default;
};

class ChildProcess {
 public:
  struct Options {
    // argv[0] is a path or a name looked up in PATH.
    std::vector<std::string> argv = {};
    // Added to (or overriding) the test process's environment.
    std::map<std::string, std::string> env = {};
    // stdout+stderr are appended to log_dir / log_name. log_dir must exist.
    std::filesystem::path log_dir = {};
    // Every member has an initializer so designated initializers
    // ({.argv = ..., .log_dir = ...}) compile under -Wextra.
    std::string log_name = {};  // default: basename(argv[0]) + ".log"
  };

  // Forks and execs. Fails (without leaving a child) if the binary cannot be
  // executed or the log file cannot be opened.
  static StatusOr<ChildProcess> Start(const Options& options);

  ChildProcess() = default;  // an empty handle: no process
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // -1 for an empty handle. Stays valid for reporting after the child exits.
  pid_t pid() const { return pid_; }
  const std::filesystem::path& log_path() const { return log_path_; }

  // True while the child has not exited (a paused child is running). Reaps it
  // if it has exited.
  bool Running();
  bool paused() const { return paused_; }

  // SIGTERM, then SIGKILL if it has not exited after `timeout`. Returns how it
  // ended; an already-ended child just returns its status.
  ExitStatus Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGKILL and reap.
  ExitStatus Kill();
  // SIGSTOP / SIGCONT: the process keeps its sockets but answers nothing, as a
  // hung server or a long GC pause would. Pause() returns once every thread
  // has stopped (waitpid WUNTRACED, bounded by 5s). false if the child is gone.
  bool Pause();
  bool Resume();
  // Any signal; false if the child is gone (never signals a reaped pid).
  bool Signal(int sig);
  // The exit status once the child has exited, nullopt if it is still running
  // after `timeout` (or the handle is empty).
  std::optional<ExitStatus> Wait(std::chrono::milliseconds timeout);
  // The whole log file ("" if unreadable).
  std::string ReadLog() const;

 private:
  bool TryReap();
  void Release();

  pid_t pid_ = -1;
  bool paused_ = false;
  std::optional<ExitStatus> exit_;  // set once reaped
  std::filesystem::path log_path_;
};

// The last `lines` lines of a file ("" if unreadable).
std::string TailFile(const std::filesystem::path& path, int lines);

}  // namespace resec::testing
