// What the peer protocol's facts mean (docs/failure-detection.md): the
// lease a master holds from its group, and each member's vote on whether the
// lock holder is gone. Pure; Step calls it on every event.
//
// Definitions, for a group of n members (us plus the members whose reports
// carry a live Consul session) and quorum = n/2 + 1:
//   - a grant: member R acked our heartbeat sent at t; R promised not to vote
//     us gone before it has heard nothing from us for `lease` (measured on
//     its clock from when it received that heartbeat, so from after t);
//   - our lease as holder: until the (quorum-1)-th latest of t + lease x
//     master_share over the other members' grants (we count for ourselves;
//     master_share < 1 is the margin for clock rate error and for the pause
//     to take effect);
//   - our `gone` vote on the holder H of term T: H stepped down from T, or
//     we have heard nothing from H for `lease` (and we have been up that
//     long: a promise we gave before a restart is not forgotten by voting);
//   - our `crashed` vote: H's Redis closed our connection and refuses new
//     ones while H's agent has been silent for `silence`: that Redis takes
//     no writes, so no lease has to run out;
//   - a quorum of gone votes (or of crashed votes; in a group of two, one)
//     lets a member destroy H's session and lets a new holder be elected.
// Only votes heard within kVoteFreshness count, and a holder that never
// spoke the protocol is never voted gone (a group in the middle of a rolling
// upgrade keeps Consul's rules).
//
// Thread-safety: pure.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "resec/clock.h"
#include "resec/state.h"

namespace resec::peer {

struct Options {
  bool enabled = false;
  std::chrono::milliseconds interval{100};  // heartbeat period
  std::chrono::milliseconds lease{1000};    // how long one grant holds at the granting member
  double master_share = 0.8;                // the share of it the master counts on
  std::chrono::milliseconds silence{250};   // agent silence that, with a dead Redis, is a crash
};

struct Votes {
  int members = 1;  // n, us included
  int quorum = 1;
  std::string holder;  // member key of the term's holder ("" when unknown)
  uint64_t term = 0;
  bool holder_speaks = false;  // it takes part in the protocol
  bool holder_is_us = false;
  // Our votes, and the counts (ours included) from fresh heartbeats.
  bool gone = false;
  bool crashed = false;
  int gone_votes = 0;
  int crashed_votes = 0;
  // As holder with n >= 3: until when our group lets us take writes
  // (nullopt: not enough grants).
  std::optional<TimePoint> lease_until;
  // The holder may be replaced: a quorum says it is gone or crashed.
  bool holder_replaceable = false;
  // The next moment these answers change with time alone, no news heard:
  // our lease runs out, or the holder's silence turns into our vote. The
  // reconciler must look again by then: an isolated holder hears nothing
  // that would wake it, and must stop taking writes when its lease ends.
  std::optional<TimePoint> changes_at;
};

// `self`: our member key; `master`: the address our Redis follows or would
// follow for the holder (to match the crash evidence), if any; `up_since`:
// when this agent started.
Votes Count(const ConsulState& consul, const RedisState& redis, const PeerView& view, const std::string& self,
            const std::optional<std::pair<std::string, int>>& master, TimePoint up_since, TimePoint now,
            const Options& options);

}  // namespace resec::peer
