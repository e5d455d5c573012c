// DeploymentExample: what examples/systemd and examples/docker-compose tell a
// user to run, read from those files themselves, so the production-topology
// rig runs exactly what a user copies (and a change to an example changes
// what the rig tests).
//
//   systemd: the agent's environment is examples/systemd/resec.env (the
//     EnvironmentFile; KEY=VALUE lines, comments and blank lines ignored);
//     Redis runs with its defaults plus examples/systemd/redis-resec.conf
//     (the fragment the example has redis.conf include), each line passed
//     as command-line arguments. The
//     start order is resec.service's After= line: the agent starts once the
//     units it names are ready (consul.service and redis-server.service are
//     Type=notify: Consul is ready once it has joined the cluster, Redis once
//     it has loaded its data); units it does not name start beside it.
//   compose: the agent's environment is the `environment` of service
//     resec<k> in examples/docker-compose/docker-compose.yml and Redis' extra
//     arguments are the `command` of service redis<k> after the program name.
//     The example has three of each; host k > 3 takes service 1's settings
//     with redis1 renamed redis<k>, as a user growing the file would. The
//     agent starts once the services in its depends_on have *started*
//     (compose does not wait for readiness without a condition).
//
// The YAML is read by python3's yaml module (python3-yaml, installed by
// scripts/install-deps.sh) and handed over as JSON.
//
// Thread-safety: stateless functions.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "resec/status.h"

namespace resec::testing {

enum class DeploymentStyle { kSystemd, kCompose };

struct DeploymentExample {
  std::map<std::string, std::string> agent_env;
  std::vector<std::string> redis_args;
  // What the agent's start waits for.
  bool agent_after_consul = false;
  bool agent_after_redis = false;
  bool wait_until_ready = false;  // ready (systemd notify), not just started (compose)
};

// KEY=VALUE lines of an environment file (systemd's EnvironmentFile syntax:
// '#' comments, blank lines, optional quotes around the value).
StatusOr<std::map<std::string, std::string>> ReadEnvFile(const std::filesystem::path& path);

// Host k's (1-based) settings in the given style, from the examples under
// `source_dir` (the repository root).
StatusOr<DeploymentExample> ReadDeploymentExample(DeploymentStyle style, int k,
                                                  const std::filesystem::path& source_dir);

}  // namespace resec::testing
