// `resec switchover`: ask the current master to hand over, and wait until a
// new master serves.
//
// The request is a plain KV write of <lock key>/switchover
//   {"to": "<node>/<service ID> or empty", "requested_at": <unix ms>, "nonce": "<random>"}
// which the master's agent watches; it hands the lock to the named member (or
// the best replica) and the command follows the lock record and the catalog:
// done once the lock record names a new holder (the --to one when given) while
// the lock is held and that member is registered as master with every check
// passing. The request key is removed afterwards, on timeout and on Ctrl-C.
//
// Members are told apart by node and service ID (see status.h): the same
// service ID on another node is another member, for the target and for the
// old and new holders alike.
//
// Why Consul KV and not the master's state server: the agents' ACL policy
// already allows it (write on the lock prefix), it needs no network path from
// the operator to the master's host nor an open state server, and the request
// survives the master's agent restarting mid-way.
//
// Thread-safety: EvaluateSwitchover and the codec are pure; RunSwitchover is
// called from main() before other threads exist.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "resec/cli/status.h"
#include "resec/status.h"

namespace resec::cli {

// The request body as written. The agent's decoder (consul::DecodeSwitchoverRequest)
// reads "to" and "nonce" and ignores the rest.
std::string EncodeSwitchoverBody(const std::string& to, int64_t requested_at_ms, const std::string& nonce);

// The member `name` designates: "<node>/<service ID>", a service ID no other
// member has, or a node name with exactly one member of the group. Not found
// and ambiguous (the message lists the candidates as node/ID) are
// kInvalidArgument.
StatusOr<MemberStatus> ResolveMember(const GroupStatus& group, const std::string& name);

// Whether a switchover to `to` (as the operator typed it, empty for the best
// replica) may be asked for now; the message says why not. On success, what
// the request's "to" must say: the target's MemberRef (node/ID), or "".
StatusOr<std::string> CheckSwitchoverPreconditions(const GroupStatus& group, const std::string& to);

enum class SwitchoverPhase {
  kRequested,     // the old master still holds the lock
  kLockReleased,  // nobody holds it
  kNewHolder,     // a new member holds it, not yet a passing master
  kWrongHolder,   // a member other than --to took it (the request failed)
  kDone,          // the new holder is a passing master
};
std::string_view SwitchoverPhaseName(SwitchoverPhase phase);

struct SwitchoverProgress {
  SwitchoverPhase phase = SwitchoverPhase::kRequested;
  std::string holder;  // current holder's MemberRef, if any
  std::string detail;  // one line for the operator
};
// Pure: where the switchover away from `old_holder` (towards `to`, if set)
// stands. Both are MemberRefs: HolderRef before the request, and what
// CheckSwitchoverPreconditions returned.
SwitchoverProgress EvaluateSwitchover(const GroupStatus& now, const std::string& old_holder, const std::string& to);

struct SwitchoverOptions {
  std::string to;
  // Long enough for a handover with a replica catching up (the agent's own
  // SWITCHOVER_TIMEOUT, 5s by default) plus an election and a check refresh.
  std::chrono::milliseconds timeout{30000};
  // How often Consul is read while waiting: quick enough to report the
  // switch within a fraction of a second, four small reads per poll.
  std::chrono::milliseconds poll{200};
};

// Requests the switchover and waits. 0 done, 1 failed or timed out.
int RunSwitchover(consul::Client& client, const GroupScope& scope, const SwitchoverOptions& options,
                  std::ostream& out, std::ostream& err);

}  // namespace resec::cli
