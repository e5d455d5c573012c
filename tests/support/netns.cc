#include "support/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "support/child_process.h"

namespace resec::testing {
namespace {

// `ip` and `nft` finish in milliseconds; 10 s only bounds a wedged netlink call.
constexpr std::chrono::seconds kCommandTimeout{10};

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

struct PipeClose {
  void operator()(FILE* f) const { ::pclose(f); }
};

}  // namespace

Status RunCommand(const std::vector<std::string>& argv, const std::filesystem::path& log_dir,
                  const std::string& log_name) {
  auto child = ChildProcess::Start({.argv = argv, .log_dir = log_dir, .log_name = log_name});
  if (!child.ok()) return child.status();
  std::optional<ExitStatus> exit = child->Wait(kCommandTimeout);
  if (!exit) {
    child->Kill();
    return DeadlineExceeded("`" + Join(argv) + "` did not finish in 10 s");
  }
  if (!exit->Exited() || exit->code != 0) {
    return FailedPrecondition("`" + Join(argv) + "` failed (" + exit->ToString() + "), see " +
                              (log_dir / log_name).string() + ":\n" + TailFile(log_dir / log_name, 5));
  }
  return Status::Ok();
}

void RunQuietly(const std::string& command_line) {
  // Absent already is the usual case: failures are expected and ignored.
  if (std::system((command_line + " >/dev/null 2>&1").c_str()) != 0) return;
}

std::vector<pid_t> PidsInNetns(const std::string& ns) {
  std::vector<pid_t> out;
  std::unique_ptr<FILE, PipeClose> p(::popen(("ip netns pids " + ns + " 2>/dev/null").c_str(), "r"));
  if (p == nullptr) return out;
  long pid = 0;
  while (std::fscanf(p.get(), "%ld", &pid) == 1) out.push_back(static_cast<pid_t>(pid));
  return out;
}

Status EnterNetns(const std::string& ns) {
  const std::string path = "/run/netns/" + ns;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable("cannot open " + path + ": " + std::strerror(errno));
  const int r = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  if (r != 0) return Unavailable("setns(" + path + "): " + std::strerror(err));
  return Status::Ok();
}

std::string NetnsUnavailableReason() {
  if (::geteuid() != 0) return "network namespaces need root (`ip netns add` and setns); run as root";
  const std::string probe = "resec-probe-" + std::to_string(::getpid());
  const bool made = std::system(("ip netns add " + probe + " >/dev/null 2>&1").c_str()) == 0;
  RunQuietly("ip netns del " + probe);
  if (!made) return "`ip netns add` fails here (no CAP_SYS_ADMIN, or a kernel without network namespaces)";
  return "";
}

}  // namespace resec::testing
