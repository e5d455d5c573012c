// The process's side of ParseConfig: its environment and the token file.
// main() injects both, so ParseConfig itself stays pure.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <system_error>

#include "resec/config/parse.h"

extern char** environ;  // POSIX: the process environment

namespace resec {

Environment CurrentEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  // Closes the descriptor on every path out.
  struct ScopedFd {
    int fd;
    ~ScopedFd() {
      if (fd >= 0) ::close(fd);
    }
  };
  const ScopedFd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    const int err = errno;
    const std::string why = std::generic_category().message(err);
    if (err == ENOENT) return NotFound(why);
    if (err == EACCES || err == EPERM) return PermissionDenied(why);
    return FailedPrecondition(why);
  }
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n > 0) {
      contents.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      return contents;
    } else if (errno != EINTR) {
      return FailedPrecondition(std::generic_category().message(errno));
    }
  }
}

}  // namespace resec
