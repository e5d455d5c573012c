// The JSON values resec keeps in Consul's KV store: the lock record (who is
// master, at which replication ID and offset) and each agent's peer report.
//
// Pure; decoding takes untrusted bytes (anyone with KV write can put anything
// there) and returns a Status instead of throwing.
#pragma once

#include <string>
#include <string_view>

#include "resec/state.h"
#include "resec/status.h"

namespace resec::consul {

std::string EncodeLockRecord(const LockRecord& record);
StatusOr<LockRecord> DecodeLockRecord(std::string_view text);

std::string EncodePeerReport(const PeerReport& report);
StatusOr<PeerReport> DecodePeerReport(std::string_view text);

// Where peer reports live: beside the lock key, so one ACL rule on the lock's
// prefix covers both and each group (one lock key) has its own members.
std::string MembersPrefix(const std::string& lock_key);  // "<lock_key>/members/"
// Where `resec switchover` asks the master to hand over: "<lock_key>/switchover".
std::string SwitchoverKey(const std::string& lock_key);

// {"to": "<member id or empty>", "nonce": "..."}; extra fields are ignored.
std::string EncodeSwitchoverRequest(const SwitchoverRequest& request);
StatusOr<SwitchoverRequest> DecodeSwitchoverRequest(std::string_view text);

}  // namespace resec::consul
