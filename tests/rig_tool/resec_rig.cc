// resec_rig: brings the production-topology rig (tests/support/rig.h) up for
// poking at, or removes what a crashed rig left behind. scripts/rig.sh drives
// it; the scenarios themselves are the rig tests (tests/rig/).
//
//   resec_rig up [--hosts N] [--style systemd|compose]
//                [--redis-addr example|loopback|ip|hostname] [--announce]
//                [--resec-bin PATH] [--no-agents] [--keys N --value-bytes B]
//   resec_rig cleanup ID
//
// `up` prints every member's address and how to reach it, then waits for
// SIGINT or SIGTERM and tears everything down. Exit status: 0, 2 for a bad
// command line, 3 when the rig cannot be made (the reason on one line).
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "support/rig.h"

namespace {

using resec::testing::DeploymentStyle;
using resec::testing::RedisAddrForm;
using resec::testing::Rig;
using resec::testing::RigOptions;

int Usage() {
  std::fprintf(stderr,
               "usage: resec_rig up [--hosts N] [--style systemd|compose] "
               "[--redis-addr example|loopback|ip|hostname] [--announce] [--resec-bin PATH] [--no-agents] "
               "[--keys N] [--value-bytes B]\n"
               "       resec_rig cleanup ID\n");
  return 2;
}

bool ToInt(const std::string& s, long long* out) {
  return std::from_chars(s.data(), s.data() + s.size(), *out).ec == std::errc() && *out >= 0;
}

int Up(const std::vector<std::string>& args) {
  RigOptions o;
  long long keys = 0, value_bytes = 100, n = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--hosts" && has_value && ToInt(args[++i], &n)) {
      o.hosts = static_cast<int>(n);
    } else if (a == "--style" && has_value) {
      const std::string v = args[++i];
      if (v != "systemd" && v != "compose") return Usage();
      o.style = v == "compose" ? DeploymentStyle::kCompose : DeploymentStyle::kSystemd;
    } else if (a == "--redis-addr" && has_value) {
      const std::string v = args[++i];
      if (v == "example") o.redis_addr = RedisAddrForm::kExample;
      else if (v == "loopback") o.redis_addr = RedisAddrForm::kLoopback;
      else if (v == "ip") o.redis_addr = RedisAddrForm::kHostIp;
      else if (v == "hostname") o.redis_addr = RedisAddrForm::kHostname;
      else return Usage();
    } else if (a == "--announce") {
      o.announce_addr = true;
    } else if (a == "--resec-bin" && has_value) {
      o.resec_bin = args[++i];
    } else if (a == "--no-agents") {
      o.start_agents = false;
    } else if (a == "--keys" && has_value && ToInt(args[++i], &keys)) {
    } else if (a == "--value-bytes" && has_value && ToInt(args[++i], &value_bytes)) {
    } else {
      return Usage();
    }
  }
  // Taken by sigwait below, before any thread exists.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Rig rig(o);
  rig.KeepDir();
  if (resec::Status st = rig.Start(); !st.ok()) {
    std::fprintf(stderr, "resec_rig: %s\n", st.message().c_str());
    return 3;
  }
  std::string why;
  std::optional<int> master;
  if (o.start_agents) {
    // Three servers, a Consul client per host and the agents' first election.
    master = rig.WaitConverged(std::chrono::seconds(60), &why);
    if (master && keys > 0) {
      if (resec::Status st = rig.LoadKeys(*master, keys, static_cast<size_t>(value_bytes)); !st.ok()) {
        std::fprintf(stderr, "resec_rig: loading keys: %s\n", st.message().c_str());
      }
    }
  }
  std::printf("%s", rig.Describe().c_str());
  if (master) std::printf("converged: master %s (%s)\n", rig.host(*master).name.c_str(), rig.redis_addr(*master).c_str());
  else if (o.start_agents) std::printf("not converged: %s\n", why.c_str());
  std::printf("e.g.  ip netns exec %s redis-cli info replication\n", rig.host(0).ns.c_str());
  // `resec status` with h1's agent settings, as an operator on h1 runs it.
  std::string env;
  for (const auto& [key, value] : rig.agent_env(0)) env += key + "=" + value + " ";
  std::printf("      ip netns exec %s env %s%s status\n", rig.host(0).ns.c_str(), env.c_str(),
              rig.options().resec_bin.c_str());
  std::printf("      curl -s http://%s:8500/v1/health/service/redis-master?passing\n", rig.server(0).ip.c_str());
  std::printf("Ctrl-C tears it down.\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  std::printf("resec_rig: tearing down rig %d\n", rig.network().id());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage();
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "up") return Up(args);
  long long id = 0;
  if (cmd == "cleanup" && args.size() == 1 && ToInt(args[0], &id)) {
    resec::Status st = resec::testing::RigNetwork::RemoveLeftovers(static_cast<int>(id));
    if (!st.ok()) std::fprintf(stderr, "resec_rig: %s\n", st.message().c_str());
    return st.ok() ? 0 : 3;
  }
  return Usage();
}
