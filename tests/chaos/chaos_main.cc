// resec_chaos: the chaos runner (see runner.h for what it checks and
// docs/chaos.md for how to run it and read its output). Usually started by
// scripts/chaos.sh, which builds it first.
//
//   resec_chaos [--faults N] [--seed S] [--overlap P] [--net-id ID] [--loopback]
//               [--fault-ms MIN:MAX] [--kinds K1,K2,...] [--converge-timeout MS]
//               [--resec-bin PATH] [--consul-bin PATH] [--agent-log-level L]
//               [--redis-unfenced-boot] [--out FILE.json] [--dir DIR] [--keep]
//   resec_chaos --cleanup --net-id ID     remove what a crashed run left behind
//
// SIGINT/SIGTERM stop the run: every process is killed and the namespaces are
// deleted before it exits (130).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "network.h"
#include "runner.h"
#include "support/agent_group.h"
#include "support/consul_agent.h"

namespace {

using resec::chaos::RunnerOptions;

void Usage() {
  std::fprintf(stderr,
               "usage: resec_chaos [--faults N] [--seed S] [--overlap P] [--net-id ID] [--loopback]\n"
               "                   [--fault-ms MIN:MAX] [--kinds K1,K2,...] [--converge-timeout MS]\n"
               "                   [--resec-bin PATH] [--consul-bin PATH] [--agent-log-level L]\n"
               "                   [--redis-unfenced-boot] [--out FILE.json] [--dir DIR] [--keep]\n"
               "       resec_chaos --cleanup --net-id ID\n"
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

std::filesystem::path DefaultBase() {
  // tmpfs: Redis' appendfsync always costs nothing there, and a SIGKILL of a
  // process (the only crash simulated) loses nothing written to it.
  if (std::filesystem::is_directory("/dev/shm") && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

}  // namespace

int main(int argc, char** argv) {
  RunnerOptions o;
  bool seed_given = false, net_id_given = false, cleanup = false;
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
    if (a == "--faults") {
      ok = value(&v) && ParseNumber(v, &o.faults) && o.faults >= 0;
    } else if (a == "--seed") {
      ok = value(&v) && ParseNumber(v, &o.seed);
      seed_given = true;
    } else if (a == "--overlap") {
      ok = value(&v);
      if (ok) {
        char* end = nullptr;
        o.overlap = std::strtod(v.c_str(), &end);
        ok = end != nullptr && *end == '\0' && o.overlap >= 0 && o.overlap <= 1;
      }
      if (ok) replay.insert(replay.end(), {"--overlap", v});
    } else if (a == "--net-id") {
      ok = value(&v) && ParseNumber(v, &o.net_id) && o.net_id >= 1 && o.net_id <= 254;
      net_id_given = true;
    } else if (a == "--loopback") {
      o.loopback = true;
      replay.push_back(a);
    } else if (a == "--fault-ms") {
      int64_t lo = 0, hi = 0;
      ok = value(&v);
      const auto colon = v.find(':');
      ok = ok && colon != std::string::npos && ParseNumber(v.substr(0, colon), &lo) &&
           ParseNumber(v.substr(colon + 1), &hi) && lo > 0 && hi >= lo;
      o.min_fault = std::chrono::milliseconds(lo);
      o.max_fault = std::chrono::milliseconds(hi);
      if (ok) replay.insert(replay.end(), {"--fault-ms", v});
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
      if (ok) replay.insert(replay.end(), {"--kinds", v});
    } else if (a == "--converge-timeout") {
      int64_t ms = 0;
      ok = value(&v) && ParseNumber(v, &ms) && ms > 0;
      o.converge_timeout = std::chrono::milliseconds(ms);
      if (ok) replay.insert(replay.end(), {"--converge-timeout", v});
    } else if (a == "--resec-bin") {
      ok = value(&o.resec_bin);
      if (ok) replay.insert(replay.end(), {"--resec-bin", o.resec_bin});
    } else if (a == "--consul-bin") {
      ok = value(&o.consul_bin);
    } else if (a == "--agent-log-level") {
      ok = value(&o.agent_log_level);
      if (ok) replay.insert(replay.end(), {"--agent-log-level", o.agent_log_level});
    } else if (a == "--out") {
      ok = value(&v);
      o.out_json = v;
    } else if (a == "--dir") {
      ok = value(&v);
      o.dir = v;
    } else if (a == "--redis-unfenced-boot") {
      o.redis_boot_fenced = false;
      replay.push_back(a);
    } else if (a == "--keep") {
      o.keep_dir = true;
    } else if (a == "--cleanup") {
      cleanup = true;
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
  }
  if (!net_id_given) o.net_id = static_cast<int>(::getpid() % 200) + 20;
  if (!seed_given) o.seed = static_cast<uint64_t>(std::time(nullptr));
  if (o.dir.empty()) o.dir = DefaultBase() / ("resec-chaos-" + std::to_string(o.net_id));
  if (cleanup) {
    if (!net_id_given) {
      std::fprintf(stderr, "resec_chaos: --cleanup needs --net-id\n");
      return 2;
    }
    resec::chaos::Network::RemoveLeftovers(o.net_id, o.dir);
    return 0;
  }
  if (o.resec_bin.empty()) o.resec_bin = resec::testing::ResecBinary();
  if (::access(o.resec_bin.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "resec_chaos: no resec binary at %s (--resec-bin)\n", o.resec_bin.c_str());
    return 3;
  }
  if (o.consul_bin.empty()) {
    const auto& consul = resec::testing::ConsulBinary();
    if (!consul.ok()) {
      std::fprintf(stderr, "resec_chaos: %s\n", consul.status().ToString().c_str());
      return 3;
    }
    o.consul_bin = *consul;
  }
  replay.insert(replay.end(), {"--faults", std::to_string(o.faults), "--seed", std::to_string(o.seed)});
  for (const std::string& r : replay) o.replay_command += (o.replay_command.empty() ? "" : " ") + r;

  // A leftover directory of a crashed run with this id: its data would
  // otherwise be loaded by the new Redis and Consul servers.
  std::error_code ec;
  std::filesystem::remove_all(o.dir, ec);

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
