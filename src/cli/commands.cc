#include "resec/cli/commands.h"

#include <algorithm>
#include <thread>

#include <httplib.h>

#include "resec/cli/status.h"
#include "resec/cli/switchover.h"
#include "resec/consul/client.h"

namespace resec::cli {
namespace {

using std::chrono::milliseconds;

// An operator waits at a terminal: a Consul that does not answer a plain read
// within this is reported as unreachable instead of hanging the command.
constexpr milliseconds kConsulTimeout{5000};
// The state server answers /health from memory; anything slower than this is
// as unhealthy as no answer (Docker's HEALTHCHECK default timeout is 30s).
constexpr milliseconds kHealthTimeout{2000};
// `status --watch` refresh: a human's glance, cheap for Consul (four reads).
constexpr milliseconds kWatchInterval{1000};

const char kStatusUsage[] =
    "Usage: resec status [--json] [--watch] [agent flags]\n\n"
    "Prints the group (lock holder marked with *) as Consul sees it: each member's\n"
    "service ID, Consul node, address, Redis role, health, replication offset, lag\n"
    "behind the master, master link and Consul check status. A member is its node\n"
    "plus its ID (with a loopback REDIS_ADDR every host registers redis@:6379).\n"
    "Reads Consul only, with the agent's settings (CONSUL_HTTP_ADDR,\n"
    "CONSUL_HTTP_TOKEN, CONSUL_LOCK_KEY, CONSUL_SERVICE_PREFIX /\n"
    "CONSUL_SERVICE_NAME + MASTER_TAGS, ...).\n\n"
    "  --json    print JSON instead of the table\n"
    "  --watch   redraw every second until interrupted\n";

const char kSwitchoverUsage[] =
    "Usage: resec switchover [--to MEMBER] [--timeout 30s] [agent flags]\n\n"
    "Asks the current master's agent to hand over (through the Consul KV key\n"
    "<CONSUL_LOCK_KEY>/switchover) and waits until the new master is serving:\n"
    "it holds the lock and its master registration passes. Exit 0 when done,\n"
    "1 on failure or timeout (the request is then withdrawn).\n\n"
    "  --to MEMBER     the member to promote, as resec status shows it: NODE/ID,\n"
    "                  a service ID no other member has, or a node with one\n"
    "                  member; default: the agents pick the best replica\n"
    "  --timeout DUR   how long to wait (Go duration, default 30s)\n";

const char kHealthUsage[] =
    "Usage: resec health [--addr HOST:PORT] [agent flags]\n\n"
    "Asks the local agent's state server for /health (STATE_SERVER must be on).\n"
    "Exit 0 when it answers 200 ok, 1 otherwise. For container health checks.\n\n"
    "  --addr HOST:PORT   state server address (default: STATE_LISTEN_ADDR, with\n"
    "                     an unspecified host such as 0.0.0.0 read as loopback)\n";

// Parses the remaining (agent) settings; prints errors, returns nullopt on failure.
std::optional<Config> AgentSettings(const std::string& command, const std::vector<std::string>& rest,
                                    const Environment& env, std::ostream& err) {
  ParseResult parsed = ParseConfig(env, rest, ReadWholeFile);
  if (auto* errors = std::get_if<ConfigErrors>(&parsed)) {
    for (const auto& line : errors->lines) err << line << '\n';
    return std::nullopt;
  }
  if (!std::holds_alternative<Config>(parsed)) {
    err << "resec " << command << ": unexpected --help or --version among the agent flags\n";
    return std::nullopt;
  }
  return std::get<Config>(std::move(parsed));
}

std::optional<std::string> Own(const CommandArgs& a, const std::string& name) {
  std::optional<std::string> value;
  for (const auto& [k, v] : a.own) {
    if (k == name) value = v;  // the last one wins, as for agent flags
  }
  return value;
}

int RunStatusCommand(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
                     std::ostream& err) {
  const CommandArgs a = SplitCommandArgs(args, {}, {"json", "watch"});
  if (a.help) {
    out << kStatusUsage;
    return 0;
  }
  for (const auto& e : a.errors) err << "resec status: " << e << '\n';
  if (!a.errors.empty()) return 2;
  const auto config = AgentSettings("status", a.rest, env, err);
  if (!config) return 2;
  const bool json = Own(a, "json").has_value();
  const bool watch = Own(a, "watch").has_value();
  const GroupScope scope = ScopeFromConfig(*config);
  auto client = consul::MakeHttpClient(config->consul, kConsulTimeout);
  while (true) {
    auto inputs = FetchStatusInputs(*client, scope);
    if (inputs.ok()) ReadMasterInfo(*inputs, *config);
    if (watch && !json) out << "\033[H\033[2J";  // home + clear: a redraw, like watch(1)
    if (!inputs.ok()) {
      err << "resec status: cannot read from Consul at " << config->consul.Address() << ": "
          << inputs.status().message() << '\n';
      if (!watch) return 1;
    } else {
      const GroupStatus group = BuildGroupStatus(*inputs, scope);
      if (json) {
        out << StatusToJson(group).dump(watch ? -1 : 2, ' ', false, nlohmann::json::error_handler_t::replace)
            << '\n';
      } else {
        out << RenderStatusTable(group);
      }
      out.flush();
      if (!watch) return 0;
    }
    std::this_thread::sleep_for(kWatchInterval);
  }
}

int RunSwitchoverCommand(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
                         std::ostream& err) {
  CommandArgs a = SplitCommandArgs(args, {"to", "timeout"}, {});
  if (a.help) {
    out << kSwitchoverUsage;
    return 0;
  }
  SwitchoverOptions options;
  if (auto to = Own(a, "to")) options.to = *to;
  if (auto timeout = Own(a, "timeout")) {
    auto d = ParseGoDuration(*timeout);
    if (!d.ok() || d->count() <= 0) {
      a.errors.push_back("--timeout " + QuoteForDisplay(*timeout) + " is not a positive duration");
    } else {
      options.timeout = std::chrono::duration_cast<milliseconds>(*d);
    }
  }
  for (const auto& e : a.errors) err << "resec switchover: " << e << '\n';
  if (!a.errors.empty()) return 2;
  const auto config = AgentSettings("switchover", a.rest, env, err);
  if (!config) return 2;
  auto client = consul::MakeHttpClient(config->consul, kConsulTimeout);
  return RunSwitchover(*client, ScopeFromConfig(*config), options, out, err);
}

int RunHealthCommand(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
                     std::ostream& err) {
  const CommandArgs a = SplitCommandArgs(args, {"addr"}, {});
  if (a.help) {
    out << kHealthUsage;
    return 0;
  }
  for (const auto& e : a.errors) err << "resec health: " << e << '\n';
  if (!a.errors.empty()) return 2;
  const auto config = AgentSettings("health", a.rest, env, err);
  if (!config) return 2;
  HostPort addr = config->state_listen_addr;
  if (auto given = Own(a, "addr")) {
    auto parsed = ParseHostPort(*given, /*require_host=*/false);
    if (!parsed.ok()) {
      err << "resec health: --addr " << QuoteForDisplay(*given) << ": " << parsed.status().message() << '\n';
      return 2;
    }
    addr = *parsed;
  }
  // The agent listens on all interfaces by default; we ask it over loopback.
  if (addr.host.empty() || addr.host == "0.0.0.0") addr.host = "127.0.0.1";
  if (addr.host == "::") addr.host = "::1";
  httplib::Client http(addr.host, addr.port);
  http.set_connection_timeout(kHealthTimeout);
  http.set_read_timeout(kHealthTimeout);
  auto res = http.Get("/health");
  if (!res) {
    err << "resec health: " << addr.ToString() << ": " << httplib::to_string(res.error()) << '\n';
    return 1;
  }
  out << res->body << (res->body.ends_with('\n') ? "" : "\n");
  return res->status == 200 ? 0 : 1;
}

}  // namespace

CommandArgs SplitCommandArgs(const std::vector<std::string>& args, const std::vector<std::string>& value_flags,
                             const std::vector<std::string>& bool_flags) {
  CommandArgs out;
  const auto is = [](const std::vector<std::string>& names, std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "--") {
      out.rest.push_back(arg);
      continue;
    }
    std::string_view body = arg;
    body.remove_prefix(body.starts_with("--") ? 2 : 1);
    const size_t eq = body.find('=');
    const std::string name(body.substr(0, eq));
    if (name == "h" || name == "help") {
      out.help = true;
      continue;
    }
    if (is(bool_flags, name)) {
      if (eq != std::string_view::npos) {
        out.errors.push_back("--" + name + " takes no value");
      } else {
        out.own.emplace_back(name, "");
      }
    } else if (is(value_flags, name)) {
      if (eq != std::string_view::npos) {
        out.own.emplace_back(name, std::string(body.substr(eq + 1)));
      } else if (i + 1 < args.size()) {
        out.own.emplace_back(name, args[++i]);
      } else {
        out.errors.push_back("--" + name + " needs a value");
      }
    } else {
      // An agent flag; its value (if separate) follows it through unchanged.
      out.rest.push_back(arg);
    }
  }
  return out;
}

std::string CommandsHelp() {
  return "\nCommands (same settings as the agent; `resec COMMAND --help` for details):\n"
         "  resec status [--json] [--watch]                 the group as Consul sees it, lock holder marked *\n"
         "  resec switchover [--to MEMBER] [--timeout 30s]  planned switchover, waits until the new master serves\n"
         "  resec health [--addr HOST:PORT]                 exit 0 when the local state server's /health is ok\n";
}

std::optional<int> RunCommand(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
                              std::ostream& err) {
  if (args.empty()) return std::nullopt;
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "status") return RunStatusCommand(rest, env, out, err);
  if (args[0] == "switchover") return RunSwitchoverCommand(rest, env, out, err);
  if (args[0] == "health") return RunHealthCommand(rest, env, out, err);
  return std::nullopt;
}

}  // namespace resec::cli
