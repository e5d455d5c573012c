// The answer of Consul's health API (GET /v1/health/service/<name>) as the
// harnesses read it: which instances, where, and how their checks stand.
// Parsed independently of the agent's own codec, so a test does not trust
// the code under test to tell it what Consul said.
//
// Thread-safety: value types and a stateless function.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "resec/status.h"
#include "support/calls.h"

namespace resec::testing {

struct HealthInstance {
  std::string id;
  std::string node;
  std::string address;  // Service.Address, else the node's (Consul's rule)
  int port = 0;
  std::vector<std::pair<std::string, std::string>> checks;  // CheckID, Status (node checks included)

  // Every check passing: what `?passing` returns.
  bool Passing() const;
  // The worst of the checks in Consul's order, naming the ones not passing:
  // "passing", "critical (serfHealth)".
  std::string WorstStatus() const;
};

// kUnavailable for a non-200 answer, kInternal for a body that is not the
// health API's array; `what` names the request in the message.
StatusOr<std::vector<HealthInstance>> ParseHealthReply(const HttpReply& reply, const std::string& what);

}  // namespace resec::testing
