#include "support/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace resec::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string ErrnoText(int err) { return std::strerror(err); }

// Resolves argv[0] against PATH in the parent: execve in the child is
// async-signal-safe, execvp's PATH walk is not guaranteed to be.
std::string ResolveBinary(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;  // execve fails with ENOENT and we report it
}

std::vector<std::string> BuildEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry = *e;
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) merged[k] = v;
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

ExitStatus FromWaitStatus(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void ExecChild(pid_t parent, int log_fd, int err_fd, const char* binary,
                            char* const* argv, char* const* envp) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) {
    // The parent already died (or we cannot tie our life to it): do not run
    // an orphan server nobody will clean up.
    ::_exit(127);
  }
  // Own process group: a Ctrl-C on the test's terminal reaches the test
  // process, whose destructors stop us in order.
  ::setpgid(0, 0);
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &dfl, nullptr);  // fails harmlessly for reserved signals
  }
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  ::execve(binary, argv, envp);
  int err = errno;
  ssize_t n = ::write(err_fd, &err, sizeof(err));
  (void)n;
  ::_exit(127);
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (signal != 0) {
    const char* name = ::strsignal(signal);
    return "signal " + std::to_string(signal) + " (" + (name != nullptr ? name : "?") + ")";
  }
  if (code >= 0) return "exit " + std::to_string(code);
  return "unknown";
}

StatusOr<ChildProcess> ChildProcess::Start(const Options& options) {
  if (options.argv.empty()) return InvalidArgument("ChildProcess: empty argv");
  std::string log_name = options.log_name;
  if (log_name.empty()) {
    log_name = std::filesystem::path(options.argv[0]).filename().string() + ".log";
  }
  std::filesystem::path log_path = options.log_dir / log_name;
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return FailedPrecondition("ChildProcess: cannot open log " + log_path.string() + ": " +
                              ErrnoText(errno));
  }
  // A marker per start, so restarts are visible in the log. argv[0] only:
  // other arguments may carry a password or a token.
  std::string marker = "=== start " + options.argv[0] + " at unix time " +
                       std::to_string(std::time(nullptr)) + " ===\n";
  ssize_t written = ::write(log_fd, marker.data(), marker.size());
  (void)written;

  std::string binary = ResolveBinary(options.argv[0]);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings = BuildEnv(options.env);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(log_fd);
    return Internal("ChildProcess: pipe2: " + ErrnoText(err));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(log_fd);
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return Unavailable("ChildProcess: fork: " + ErrnoText(err));
  }
  if (pid == 0) {
    ExecChild(parent, log_fd, err_pipe[1], binary.c_str(), argv.data(), envp.data());
  }
  ::close(log_fd);
  ::close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n > 0) {
    // execve failed: the child is exiting with 127; reap it.
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return FailedPrecondition("ChildProcess: cannot execute " + binary + ": " +
                              ErrnoText(child_errno));
  }
  ChildProcess child;
  child.pid_ = pid;
  child.log_path_ = std::move(log_path);
  return child;
}

ChildProcess::~ChildProcess() { Release(); }

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      paused_(std::exchange(other.paused_, false)),
      exit_(std::exchange(other.exit_, std::nullopt)),
      log_path_(std::move(other.log_path_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Release();
    pid_ = std::exchange(other.pid_, -1);
    paused_ = std::exchange(other.paused_, false);
    exit_ = std::exchange(other.exit_, std::nullopt);
    log_path_ = std::move(other.log_path_);
  }
  return *this;
}

void ChildProcess::Release() {
  if (pid_ > 0 && !exit_.has_value()) Kill();
}

bool ChildProcess::TryReap() {
  if (exit_.has_value()) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_ = FromWaitStatus(status);
    paused_ = false;
    return true;
  }
  if (r < 0) {
    // ECHILD: somebody else reaped it (should not happen); treat it as gone
    // so we never signal a pid that may have been reused.
    exit_ = ExitStatus{};
    paused_ = false;
    return true;
  }
  return false;
}

bool ChildProcess::Running() { return pid_ > 0 && !TryReap(); }

bool ChildProcess::Signal(int sig) {
  if (!Running()) return false;
  return ::kill(pid_, sig) == 0;
}

bool ChildProcess::Pause() {
  if (!Signal(SIGSTOP)) return false;
  // kill() returns before every thread has stopped: a multi-threaded server
  // (Consul) can still answer a request or two. The stop report (WUNTRACED)
  // arrives only once the whole thread group has stopped. A stop takes
  // microseconds unless a thread sits in uninterruptible sleep; 5s bounds that.
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG | WUNTRACED);
    if (r == pid_ && WIFSTOPPED(status)) break;
    if (r == pid_) {  // it exited instead of stopping
      exit_ = FromWaitStatus(status);
      paused_ = false;
      return false;
    }
    if (r < 0 && errno != EINTR) return false;
    if (steady_clock::now() >= deadline) break;  // signalled; treat as paused
    std::this_thread::sleep_for(milliseconds(1));
  }
  paused_ = true;
  return true;
}

bool ChildProcess::Resume() {
  if (!Signal(SIGCONT)) return false;
  paused_ = false;
  return true;
}

std::optional<ExitStatus> ChildProcess::Wait(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = steady_clock::now() + timeout;
  // A pidfd becomes readable when the child exits: no polling latency. It is
  // safe to open by pid because our unreaped child keeps its pid reserved.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  std::optional<ExitStatus> result;
  while (true) {
    if (TryReap()) {
      result = exit_;
      break;
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left <= milliseconds(0)) break;
    if (pidfd >= 0) {
      pollfd pfd{pidfd, POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(left.count()));
    } else {
      // Old kernel without pidfd_open: poll the pid instead.
      std::this_thread::sleep_for(std::min(left, milliseconds(5)));
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return result;
}

ExitStatus ChildProcess::Stop(milliseconds timeout) {
  if (Signal(SIGTERM)) {
    // A stopped process keeps SIGTERM pending until it is continued.
    if (paused_) Resume();
    if (auto status = Wait(timeout)) return *status;
  }
  return Kill();
}

ExitStatus ChildProcess::Kill() {
  if (pid_ <= 0) return ExitStatus{};
  if (Running()) {
    // SIGKILL ends a stopped process too; the SIGCONT only spares the
    // kernel a stopped-then-killed transition some tools report oddly.
    if (paused_) ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    exit_ = r == pid_ ? FromWaitStatus(status) : ExitStatus{};
    paused_ = false;
  }
  return *exit_;
}

std::string ChildProcess::ReadLog() const {
  std::ifstream in(log_path_, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TailFile(const std::filesystem::path& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += l + "\n";
  return out;
}

}  // namespace resec::testing
