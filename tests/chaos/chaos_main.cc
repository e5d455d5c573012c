// resec_chaos: the chaos runner on the production-topology rig (see runner.h
// for what it checks and docs/chaos.md for how to run it and read its
// output). Usually started by scripts/chaos.sh, which builds it first.
//
//   resec_chaos [--faults N] [--seed S] [--overlap P] [--fault-ms MIN:MAX] [--kinds K1,K2,...]
//               [--hosts 2..5] [--style systemd|compose] [--redis-addr example|loopback|ip|hostname]
//               [--announce] [--keys N] [--value-bytes B] [--slow-us US]
//               [--agent-env KEY=VALUE]... [--agent-log-level L] [--converge-timeout MS]
//               [--resec-bin PATH] [--consul-bin PATH] [--out FILE.json] [--keep]
//
// SIGINT/SIGTERM stop the run: every process is killed and the rig's
// namespaces are deleted before it exits (130). A runner killed outright
// leaves its namespaces until the next rig takes the same id, or
// `scripts/rig.sh cleanup ID` (docs/rig.md).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "runner.h"
#include "support/agent_group.h"
#include "support/consul_agent.h"
#include "support/netns.h"

namespace {

using resec::chaos::RunnerOptions;
using resec::testing::DeploymentStyle;
using resec::testing::RedisAddrForm;

void Usage() {
  std::fprintf(stderr,
               "usage: resec_chaos [--faults N] [--seed S] [--overlap P] [--fault-ms MIN:MAX] [--kinds K1,K2,...]\n"
               "                   [--hosts 2..5] [--style systemd|compose]\n"
               "                   [--redis-addr example|loopback|ip|hostname] [--announce]\n"
               "                   [--keys N] [--value-bytes B] [--slow-us US]\n"
               "                   [--agent-env KEY=VALUE]... [--agent-log-level L] [--converge-timeout MS]\n"
               "                   [--resec-bin PATH] [--consul-bin PATH] [--out FILE.json] [--keep]\n"
               "kinds:");
  for (auto k : resec::chaos::kAllKinds) std::fprintf(stderr, " %s", std::string(resec::chaos::KindName(k)).c_str());
  std::fprintf(stderr, "\n");
}

template <typename T>
bool ParseNumber(const std::string& s, T* out) {
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

}  // namespace

int main(int argc, char** argv) {
  RunnerOptions o;
  bool seed_given = false;
  // The replay command repeats every option that changes what runs.
  std::vector<std::string> replay = {"scripts/chaos.sh"};
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    bool ok = true;
    bool replayed = true;  // the option and its value go into the replay command
    if (a == "--faults") {
      ok = value(&v) && ParseNumber(v, &o.faults) && o.faults >= 0;
      replayed = false;  // added last, with the seed
    } else if (a == "--seed") {
      ok = value(&v) && ParseNumber(v, &o.seed);
      seed_given = true;
      replayed = false;
    } else if (a == "--overlap") {
      ok = value(&v);
      if (ok) {
        char* end = nullptr;
        o.overlap = std::strtod(v.c_str(), &end);
        ok = end != nullptr && *end == '\0' && o.overlap >= 0 && o.overlap <= 1;
      }
    } else if (a == "--fault-ms") {
      int64_t lo = 0, hi = 0;
      ok = value(&v);
      const auto colon = v.find(':');
      ok = ok && colon != std::string::npos && ParseNumber(v.substr(0, colon), &lo) &&
           ParseNumber(v.substr(colon + 1), &hi) && lo > 0 && hi >= lo;
      o.min_fault = std::chrono::milliseconds(lo);
      o.max_fault = std::chrono::milliseconds(hi);
    } else if (a == "--kinds") {
      ok = value(&v);
      size_t start = 0;
      while (ok && start <= v.size()) {
        const size_t comma = std::min(v.find(',', start), v.size());
        auto k = resec::chaos::ParseKind(v.substr(start, comma - start));
        if (!k) {
          std::fprintf(stderr, "resec_chaos: unknown fault kind '%s'\n", v.substr(start, comma - start).c_str());
          ok = false;
        } else {
          o.kinds.push_back(*k);
        }
        start = comma + 1;
      }
    } else if (a == "--hosts") {
      ok = value(&v) && ParseNumber(v, &o.hosts) && o.hosts >= 2 && o.hosts <= 5;
    } else if (a == "--style") {
      ok = value(&v) && (v == "systemd" || v == "compose");
      o.style = v == "compose" ? DeploymentStyle::kCompose : DeploymentStyle::kSystemd;
    } else if (a == "--redis-addr") {
      ok = value(&v);
      if (v == "example") o.redis_addr = RedisAddrForm::kExample;
      else if (v == "loopback") o.redis_addr = RedisAddrForm::kLoopback;
      else if (v == "ip") o.redis_addr = RedisAddrForm::kHostIp;
      else if (v == "hostname") o.redis_addr = RedisAddrForm::kHostname;
      else ok = false;
    } else if (a == "--announce") {
      o.announce = true;
    } else if (a == "--keys") {
      ok = value(&v) && ParseNumber(v, &o.keys) && o.keys >= 0;
    } else if (a == "--value-bytes") {
      ok = value(&v) && ParseNumber(v, &o.value_bytes) && o.value_bytes > 0;
    } else if (a == "--slow-us") {
      ok = value(&v) && ParseNumber(v, &o.slow_us) && o.slow_us >= 0;
    } else if (a == "--agent-env") {
      ok = value(&v);
      const auto eq = v.find('=');
      ok = ok && eq != std::string::npos && eq > 0;
      if (ok) o.agent_env[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (a == "--agent-log-level") {
      ok = value(&v);
      o.agent_env["LOG_LEVEL"] = v;
    } else if (a == "--converge-timeout") {
      int64_t ms = 0;
      ok = value(&v) && ParseNumber(v, &ms) && ms > 0;
      o.converge_timeout = std::chrono::milliseconds(ms);
    } else if (a == "--resec-bin") {
      ok = value(&o.resec_bin);
      v = o.resec_bin;
    } else if (a == "--consul-bin") {
      ok = value(&v);
      if (ok) ::setenv("CONSUL_BIN", v.c_str(), 1);  // where the rig looks (ConsulBinary())
      replayed = false;
    } else if (a == "--out") {
      ok = value(&v);
      o.out_json = v;
      replayed = false;
    } else if (a == "--keep") {
      o.keep_dir = true;
      replayed = false;
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "resec_chaos: bad argument %s%s%s\n", a.c_str(), v.empty() ? "" : " ", v.c_str());
      Usage();
      return 2;
    }
    if (replayed) {
      replay.push_back(a);
      if (!v.empty()) replay.push_back(v);
    }
  }
  if (!seed_given) o.seed = static_cast<uint64_t>(std::time(nullptr));
  if (o.resec_bin.empty()) o.resec_bin = resec::testing::ResecBinary();
  if (::access(o.resec_bin.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "resec_chaos: no resec binary at %s (--resec-bin)\n", o.resec_bin.c_str());
    return 3;
  }
  if (const auto& consul = resec::testing::ConsulBinary(); !consul.ok()) {
    std::fprintf(stderr, "resec_chaos: %s\n", consul.status().ToString().c_str());
    return 3;
  }
  if (const std::string why = resec::testing::NetnsUnavailableReason(); !why.empty()) {
    std::fprintf(stderr, "resec_chaos: the rig needs network namespaces: %s\n", why.c_str());
    return 3;
  }
  replay.insert(replay.end(), {"--faults", std::to_string(o.faults), "--seed", std::to_string(o.seed)});
  for (const std::string& r : replay) o.replay_command += (o.replay_command.empty() ? "" : " ") + r;

  // A peer closing a connection mid-write is an error value, not a death.
  ::signal(SIGPIPE, SIG_IGN);
  // SIGINT/SIGTERM/SIGHUP are taken by one thread with sigtimedwait, which
  // only sets `stop`: the main thread unwinds normally and its destructors
  // kill every process and delete the namespaces. Blocked before any thread
  // starts, so every thread inherits the mask (children get an empty one).
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::atomic<bool> stop{false};
  std::jthread signals([&](std::stop_token st) {
    const timespec poll{0, 200 * 1000 * 1000};
    while (!st.stop_requested()) {
      const int sig = sigtimedwait(&set, nullptr, &poll);
      if (sig > 0) {
        std::fprintf(stderr, "resec_chaos: %s, stopping and cleaning up\n", strsignal(sig));
        stop.store(true);
      }
    }
  });
  return resec::chaos::RunChaos(o, stop);
}
