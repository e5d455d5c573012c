// `resec status`: the group as Consul sees it, for an operator's terminal.
//
// Reads Consul only (never Redis, never an agent's state server), so it works
// from any host that has the agents' Consul settings and a token with read on
// the lock prefix and the services. Three sources are merged per member.
//
// A member is its Consul node plus its service ID, as the agents tell members
// apart (MemberKey, "<node>/<service ID>"): the service ID alone,
// `<name or prefix>@<announce addr>`, repeats across nodes in the most common
// deployment (a loopback REDIS_ADDR announces only `:port`, so every host
// registers `redis@:6379`; Consul service IDs are per node). The sources:
//   - the peer reports under <lock key>/members/ (Redis role, health, offset;
//     a report without a Session belongs to an agent that is gone),
//   - every instance of the master and slave services with its checks
//     (/v1/health/service without ?passing, so failing members show too; the
//     check output is the member's INFO text, which gives the master link),
//   - the lock record in <lock key> (who holds the lock: marked with '*').
//
// BuildGroupStatus, RenderStatusTable and StatusToJson are pure, so the table
// is unit-tested from plain structs; FetchGroupStatus does the I/O.
//
// Thread-safety: pure functions and value types, except FetchGroupStatus,
// which uses the given client from the calling thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "resec/config.h"
#include "resec/consul/client.h"
#include "resec/state.h"
#include "resec/status.h"

namespace resec::cli {

// Which services and keys make up one group: derived from the agents' settings.
struct GroupScope {
  std::string lock_key = "resec/.lock";
  bool tag_mode = false;
  std::string master_service = "redis-master";  // tag mode: the one service name
  std::string slave_service = "redis-slave";
  std::string master_tag;  // tag mode: first of MASTER_TAGS
  std::string slave_tag;   // tag mode: first of SLAVE_TAGS (may be empty)
  std::string id_prefix = "redis@";  // our agents' service IDs start with it

  bool operator==(const GroupScope&) const = default;
};
GroupScope ScopeFromConfig(const Config& config);

// What Consul answered, unprocessed.
struct StatusInputs {
  std::optional<consul::KvPair> lock;    // the lock key (value: the lock record)
  std::vector<consul::KvPair> reports;   // keys under <lock key>/members/
  std::vector<consul::ServiceHealth> instances;  // master and slave services, all instances
  std::optional<consul::KvPair> switchover;  // <lock key>/switchover, if pending
  // The lock holder's Redis, read by the command (ReadMasterInfo): where
  // the offsets come from. Agents write their reports to Consul only when
  // something other than an offset changes, so a report's offset is old.
  std::optional<RedisState> master_info;
  std::string master_info_error;  // why it could not be read ("" if not tried)
};

struct MemberStatus {
  std::string id;                 // service ID, as the agent registers it
  std::string node;               // Consul node; "" only for a report of an older agent that could not be placed
  std::string address;            // host:port (the node's address when registered without one)
  std::string role;               // Redis' role from the report ("master", "slave"), else the registration's, else "-"
  std::string health;             // "healthy", "unhealthy" (agent reports Redis down), "gone" (agent's session gone), "-"
  std::string registered_as;      // "master", "slave" or "" (not registered)
  std::string service;            // service name it is registered under, "" if none
  std::string check_status;       // worst of its checks: passing, warning, critical, maintenance; "" if unregistered
  std::optional<int64_t> offset;  // replication offset: the master's INFO, else the (old) report
  std::optional<int64_t> lag;     // holder's offset - ours (0 for the holder, never negative)
  std::string master_link;        // "up" / "down" for replicas, "" when unknown or master
  std::optional<int> priority;
  bool holder = false;            // holds the lock
  bool report_live = false;       // its report carries a live session

  bool operator==(const MemberStatus&) const = default;
};

struct GroupStatus {
  GroupScope scope;
  bool lock_held = false;       // the lock key has a session
  std::string lock_session;
  uint64_t lock_index = 0;
  std::optional<LockRecord> lock_record;  // last written record (kept after release)
  std::string holder_id;        // record's holder (service ID) while the lock is held, else ""
  // The holder's node: the record's, or (a record from an older agent) the
  // node of the only member with holder_id. "" when that cannot be told.
  std::string holder_node;
  int passing_masters = 0;      // instances registered as master with every check passing
  std::optional<SwitchoverRequest> switchover;  // a pending request
  std::vector<MemberStatus> members;  // holder first, then by ID, then by node
  std::vector<std::string> warnings;  // things an operator must look at

  bool operator==(const GroupStatus&) const = default;
};

// Pure: merges the inputs. Reports and instances that are not of this group
// (ID not starting with scope.id_prefix) are ignored; undecodable values
// become warnings, not errors.
GroupStatus BuildGroupStatus(const StatusInputs& inputs, const GroupScope& scope);

// How a switchover request and the lock record's successor name a member:
// MemberKey(node, id), or the bare ID when the node is unknown.
std::string MemberRef(const std::string& node, const std::string& id);
// The holder's MemberRef, "" when nobody (known) holds the lock.
std::string HolderRef(const GroupStatus& status);
// How messages and the lock line name a member: its service ID when no other
// member of the group has it, else "<node>/<service ID>", which is also what
// `resec switchover --to` accepts.
std::string MemberName(const GroupStatus& status, const std::string& node, const std::string& id);

// The table: a header line about the lock, one row per member, warnings last.
//   LOCK resec/.lock held by h1/redis@:6379 (lock index 3)
//     ID           NODE  ADDRESS        ROLE    HEALTH   OFFSET  LAG  LINK  CHECK
//   * redis@:6379  h1    10.0.0.1:6379  master  healthy  1234    0    -     passing
//     redis@:6379  h2    10.0.0.2:6379  slave   healthy  1234    0    up    passing
std::string RenderStatusTable(const GroupStatus& status);
nlohmann::json StatusToJson(const GroupStatus& status);

// Reads everything BuildGroupStatus needs. kUnavailable etc. from the client;
// a missing key or service is simply empty.
StatusOr<StatusInputs> FetchStatusInputs(consul::Client& client, const GroupScope& scope);

// Reads INFO replication of the lock holder's Redis (the lock record's
// address) into inputs.master_info, with the agent's Redis credentials;
// on failure sets inputs.master_info_error and leaves the reports' offsets.
void ReadMasterInfo(StatusInputs& inputs, const Config& config);

}  // namespace resec::cli
