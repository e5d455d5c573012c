#include "support/deployment_example.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace resec::testing {
namespace {

using nlohmann::json;

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Debian's interpreter first: it is the one python3-yaml installs into (a
// python3 earlier on PATH, e.g. pyenv's, may lack the module).
std::string Python() { return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

// The compose file as JSON.
StatusOr<json> ReadYaml(const std::filesystem::path& path) {
  TempDir dir("yaml");
  const std::filesystem::path out = dir.path() / "compose.json";
  static constexpr char kScript[] =
      "import json, sys, yaml\n"
      "json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], 'w'))\n";
  auto child = ChildProcess::Start(
      {.argv = {Python(), "-c", kScript, path.string(), out.string()}, .log_dir = dir.path(), .log_name = "py.log"});
  if (!child.ok()) return child.status();
  // python3 with yaml reads a page of YAML in well under a second.
  std::optional<ExitStatus> exit = child->Wait(std::chrono::seconds(30));
  if (!exit || !exit->Exited() || exit->code != 0) {
    child->Kill();
    return FailedPrecondition("cannot read " + path.string() + " with python3-yaml: " +
                              TailFile(dir.path() / "py.log", 5));
  }
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return FailedPrecondition(path.string() + ": not a YAML mapping");
  return j;
}

StatusOr<DeploymentExample> ReadCompose(int k, const std::filesystem::path& source_dir) {
  const std::filesystem::path path = source_dir / "examples/docker-compose/docker-compose.yml";
  auto doc = ReadYaml(path);
  if (!doc.ok()) return doc.status();
  const json services = doc->value("services", json::object());
  std::string n = std::to_string(k);
  if (!services.contains("resec" + n) || !services.contains("redis" + n)) n = "1";
  const json agent = services.value("resec" + n, json::object());
  const json redis = services.value("redis" + n, json::object());
  if (!agent.contains("environment") || !redis.contains("command")) {
    return FailedPrecondition(path.string() + ": no resec" + n + ".environment or redis" + n + ".command");
  }
  DeploymentExample ex;
  const std::string from = "redis" + n;
  const std::string to = "redis" + std::to_string(k);
  for (const auto& [key, value] : agent["environment"].items()) {
    ex.agent_env[key] = ReplaceAll(value.is_string() ? value.get<std::string>() : value.dump(), from, to);
  }
  const json& command = redis["command"];
  if (!command.is_array() || command.empty()) return FailedPrecondition(path.string() + ": redis command not a list");
  for (size_t i = 1; i < command.size(); ++i) {  // [0] is redis-server
    ex.redis_args.push_back(command[i].is_string() ? command[i].get<std::string>() : command[i].dump());
  }
  for (const json& dep : agent.value("depends_on", json::array())) {
    if (!dep.is_string()) continue;
    ex.agent_after_consul |= dep.get<std::string>() == "consul";
    ex.agent_after_redis |= dep.get<std::string>() == "redis" + n;
  }
  return ex;
}

}  // namespace

StatusOr<std::map<std::string, std::string>> ReadEnvFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read " + path.string());
  std::map<std::string, std::string> env;
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument(path.string() + ": not KEY=VALUE: " + line);
    std::string value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    env[Trim(line.substr(0, eq))] = value;
  }
  return env;
}

StatusOr<DeploymentExample> ReadDeploymentExample(DeploymentStyle style, int k,
                                                  const std::filesystem::path& source_dir) {
  if (style == DeploymentStyle::kCompose) return ReadCompose(k, source_dir);
  auto env = ReadEnvFile(source_dir / "examples/systemd/resec.env");
  if (!env.ok()) return env.status();
  DeploymentExample ex{.agent_env = std::move(*env), .redis_args = {}, .wait_until_ready = true};
  // Redis' configuration fragment: each `directive value...` line becomes
  // `--directive value...`, as redis-server takes on its command line.
  const std::filesystem::path conf = source_dir / "examples/systemd/redis-resec.conf";
  std::ifstream conf_in(conf);
  if (!conf_in) return NotFound("cannot read " + conf.string());
  for (std::string line; std::getline(conf_in, line);) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string directive;
    words >> directive;
    ex.redis_args.push_back("--" + directive);
    for (std::string w; words >> w;) ex.redis_args.push_back(w);
  }
  const std::filesystem::path unit = source_dir / "examples/systemd/resec.service";
  std::ifstream in(unit);
  if (!in) return NotFound("cannot read " + unit.string());
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.rfind("After=", 0) != 0) continue;
    std::istringstream words(line.substr(6));
    for (std::string w; words >> w;) {
      ex.agent_after_consul |= w == "consul.service";
      ex.agent_after_redis |= w == "redis-server.service" || w == "redis.service";
    }
  }
  return ex;
}

}  // namespace resec::testing
