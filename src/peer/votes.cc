// Leases and votes of the peer protocol: see include/resec/peer/votes.h.
#include "resec/peer/votes.h"

#include <algorithm>
#include <vector>

namespace resec::peer {
namespace {

// A vote counts only while it is this fresh: a member that has not been
// heard for longer may have changed its mind (heard from the holder again).
// Three heartbeats' worth, so one lost datagram does not drop a vote.
std::chrono::milliseconds VoteFreshness(const Options& o) { return 3 * o.interval; }

const PeerMember* Find(const PeerView& view, const std::string& member) {
  auto it = view.members.find(member);
  return it == view.members.end() ? nullptr : &it->second;
}

}  // namespace

Votes Count(const ConsulState& consul, const RedisState& redis, const PeerView& view, const std::string& self,
            const std::optional<std::pair<std::string, int>>& master, TimePoint up_since, TimePoint now,
            const Options& o) {
  Votes v;
  v.members = 1 + static_cast<int>(consul.peers.size());
  v.quorum = v.members / 2 + 1;
  v.term = consul.lock_index;
  if (consul.lock_held) {
    v.holder = self;
    v.holder_is_us = true;
  } else if (consul.lock_record) {
    v.holder = MemberKey(consul.lock_record->node, consul.lock_record->holder_id);
  }
  if (v.holder.empty() || v.term == 0) return v;

  const PeerMember* h = v.holder_is_us ? nullptr : Find(view, v.holder);
  bool holder_reported = false;
  for (const PeerReport& p : consul.peers) {
    if (MemberKey(p.node, p.id) == v.holder && !p.peer.empty()) holder_reported = true;
  }
  v.holder_speaks = v.holder_is_us || h != nullptr || holder_reported;

  if (v.holder_is_us) {
    // Our lease: the grants of the other members, best first. What we know
    // of the lock may be stale (we were cut off, or frozen, while the group
    // replaced us): an ack renews a lease only from a member that still sees
    // our term and has not voted us gone in it, and a member that holds a
    // newer term means we have none at all.
    if (v.members >= 3) {
      const bool superseded = std::any_of(view.members.begin(), view.members.end(), [&](const auto& entry) {
        const Heartbeat& last = entry.second.last;
        return last.seen_term > v.term || (last.holder && last.term > v.term);
      });
      std::vector<TimePoint> grants;
      if (!superseded) {
        for (const PeerReport& p : consul.peers) {
          const PeerMember* m = Find(view, MemberKey(p.node, p.id));
          if (m == nullptr || !m->acked_sent_at) continue;
          if (m->last.gone_term >= v.term || m->last.crashed_term >= v.term) continue;
          grants.push_back(*m->acked_sent_at + std::chrono::duration_cast<Duration>(o.lease * o.master_share));
        }
      }
      std::sort(grants.begin(), grants.end(), std::greater<>());
      const size_t needed = static_cast<size_t>(v.quorum - 1);
      if (grants.size() >= needed) v.lease_until = needed == 0 ? TimePoint::max() : grants[needed - 1];
      if (v.lease_until && *v.lease_until != TimePoint::max() && *v.lease_until > now) v.changes_at = v.lease_until;
    }
    return v;
  }
  if (!v.holder_speaks) return v;

  // Our own votes.
  const bool stepped_down = h != nullptr && h->last.stepped_down_term >= v.term;
  const bool silent_for_lease = h == nullptr ? now - up_since >= o.lease : now - h->received_at >= o.lease;
  v.gone = stepped_down || (silent_for_lease && now - up_since >= o.lease);
  const bool agent_silent = h == nullptr || now - h->received_at >= o.silence;
  const auto& up = redis.upstream;
  const bool redis_refuses = master && up && up->host == master->first && up->port == master->second &&
                             !up->reachable && up->refused;
  v.crashed = agent_silent && redis_refuses;
  auto later = [&](TimePoint at) {
    if (at > now && (!v.changes_at || at < *v.changes_at)) v.changes_at = at;
  };
  if (!v.gone) later(std::max(h == nullptr ? up_since : h->received_at, up_since) + o.lease);
  // The silence half of a crash vote matters once its Redis refuses us (news
  // of its own); looking every 250 ms for nothing would cost more wake-ups
  // than the heartbeats.
  if (!agent_silent && redis_refuses) later(h->received_at + o.silence);

  v.gone_votes = v.gone ? 1 : 0;
  v.crashed_votes = v.crashed ? 1 : 0;
  for (const PeerReport& p : consul.peers) {
    const std::string member = MemberKey(p.node, p.id);
    if (member == v.holder) continue;
    const PeerMember* m = Find(view, member);
    if (m == nullptr || now - m->received_at > VoteFreshness(o)) continue;
    if (m->last.gone_term >= v.term) v.gone_votes++;
    if (m->last.crashed_term >= v.term) v.crashed_votes++;
  }
  // A holder that stepped down lets anyone go on at once.
  if (stepped_down) v.gone_votes = std::max(v.gone_votes, v.quorum);
  const int crash_quorum = v.members <= 2 ? 1 : v.quorum;
  v.holder_replaceable = (v.members >= 3 && v.gone_votes >= v.quorum) || v.crashed_votes >= crash_quorum;
  return v;
}

}  // namespace resec::peer
