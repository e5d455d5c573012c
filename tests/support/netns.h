// Network namespaces for the harnesses that put processes on addresses of
// their own (the chaos runner, the production-topology rig): running `ip` and
// `nft`, listing what still runs in a namespace, and doing network I/O from
// inside a namespace without a path from the root namespace into it.
//
// A thread can join a network namespace on its own (setns(CLONE_NEWNET)
// changes only the calling thread), and a socket keeps the namespace it was
// created in. So an observer that must not depend on the data path a fault
// cuts creates its sockets from a thread inside the namespace and talks to
// 127.0.0.1 there, as a local operator's tool would.
//
// Thread-safety: stateless functions. EnterNetns changes the calling thread
// only; InNetns runs its function on a thread of its own.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "resec/status.h"

namespace resec::testing {

// Runs a command (ip, nft, ...) to completion, its output appended to
// log_dir/log_name; an error names the command when it fails or takes longer
// than 10 s.
Status RunCommand(const std::vector<std::string>& argv, const std::filesystem::path& log_dir,
                  const std::string& log_name = "net.log");

// Runs a shell command line whose failure is expected and uninteresting
// (deleting what may not exist): output discarded, result ignored.
void RunQuietly(const std::string& command_line);

// Pids of the processes running in network namespace `ns` (`ip netns pids`).
std::vector<pid_t> PidsInNetns(const std::string& ns);

// Moves the calling thread into network namespace `ns` (/run/netns/<ns>).
Status EnterNetns(const std::string& ns);

// Runs fn() on a short-lived thread inside namespace `ns` ("" = the caller's
// own) and returns what it returns. fn returns Status or StatusOr<T>; failing
// to enter the namespace returns that failure instead.
template <typename F>
std::invoke_result_t<F> InNetns(const std::string& ns, F&& fn) {
  using Result = std::invoke_result_t<F>;
  if (ns.empty()) return fn();
  std::optional<Result> out;
  std::thread([&] {
    if (Status st = EnterNetns(ns); !st.ok()) {
      out.emplace(std::move(st));
      return;
    }
    out.emplace(fn());
  }).join();
  return std::move(*out);
}

// Why network namespaces cannot be used here ("" when they can): not root,
// or `ip netns add` fails (no CAP_SYS_ADMIN, a kernel without them).
std::string NetnsUnavailableReason();

}  // namespace resec::testing
