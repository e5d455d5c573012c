// DeploymentExample: what examples/systemd and examples/docker-compose tell a
// user to run, read from those files themselves, so the production-topology
// rig runs exactly what a user copies (and a change to an example changes
// what the rig tests).
//
//   systemd: the agent's environment is examples/systemd/resec.env (the
//     EnvironmentFile; KEY=VALUE lines, comments and blank lines ignored);
//     Redis runs with its defaults (the example adds no redis setting).
//   compose: the agent's environment is the `environment` of service
//     resec<k> in examples/docker-compose/docker-compose.yml and Redis' extra
//     arguments are the `command` of service redis<k> after the program name.
//     The example has three of each; host k > 3 takes service 1's settings
//     with redis1 renamed redis<k>, as a user growing the file would.
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
};

// KEY=VALUE lines of an environment file (systemd's EnvironmentFile syntax:
// '#' comments, blank lines, optional quotes around the value).
StatusOr<std::map<std::string, std::string>> ReadEnvFile(const std::filesystem::path& path);

// Host k's (1-based) settings in the given style, from the examples under
// `source_dir` (the repository root).
StatusOr<DeploymentExample> ReadDeploymentExample(DeploymentStyle style, int k,
                                                  const std::filesystem::path& source_dir);

}  // namespace resec::testing
