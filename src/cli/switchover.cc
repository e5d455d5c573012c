#include "resec/cli/switchover.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <iomanip>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "resec/consul/records.h"

namespace resec::cli {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

std::string RandomNonce() {
  std::random_device rd;
  std::ostringstream o;
  for (int i = 0; i < 4; ++i) o << std::hex << std::setw(8) << std::setfill('0') << rd();
  return o.str();
}

int64_t UnixMillis() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The member a MemberRef names (see MemberRef in status.h).
const MemberStatus* FindRef(const GroupStatus& g, const std::string& ref) {
  for (const MemberStatus& m : g.members) {
    if (MemberRef(m.node, m.id) == ref) return &m;
  }
  return nullptr;
}

// Whether `ref` (a MemberRef) may name the member (node, id). A record from an
// agent older than the node field leaves `node` empty: then the ID is all
// there is to compare, and the caller must read a match as "maybe".
bool MayName(const std::string& ref, const std::string& node, const std::string& id) {
  if (!node.empty()) return ref == MemberKey(node, id);
  return ref == id || ref.ends_with("/" + id);
}

// How progress lines name the member `ref` designates.
std::string NameOf(const GroupStatus& g, const std::string& ref) {
  const MemberStatus* m = FindRef(g, ref);
  return m != nullptr ? MemberName(g, m->node, m->id) : ref;
}

std::string Seconds(Steady::duration d) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(2) << std::chrono::duration<double>(d).count() << 's';
  return o.str();
}

// Withdraws our request unless someone replaced it meanwhile (its nonce differs).
void Withdraw(consul::Client& client, const std::string& key, const std::string& nonce, std::ostream& err) {
  auto current = client.GetKey(key, {});
  if (!current.ok()) {
    err << "resec switchover: could not read " << key << " to withdraw the request: " << current.status().message()
        << '\n';
    return;
  }
  if (!current->value) return;
  auto request = consul::DecodeSwitchoverRequest(current->value->value);
  if (request.ok() && request->nonce != nonce) return;
  if (Status st = client.DeleteKey(key); !st.ok()) {
    err << "resec switchover: could not delete " << key << ": " << st.message() << '\n';
  }
}

// SIGINT/SIGTERM while waiting withdraw the request instead of leaving a
// switchover armed that nobody watches; the mask is restored on every path.
class InterruptGuard {
 public:
  InterruptGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~InterruptGuard() {
    // Drop a signal that arrived meanwhile rather than dying of it after the
    // request was already withdrawn.
    timespec zero{};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  // Waits up to `d` for SIGINT/SIGTERM; true if one came.
  bool Interrupted(milliseconds d) {
    timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>((d.count() % 1000) * 1000000)};
    return sigtimedwait(&set_, nullptr, &ts) > 0;
  }

 private:
  sigset_t set_;
  sigset_t old_;
};

}  // namespace

std::string EncodeSwitchoverBody(const std::string& to, int64_t requested_at_ms, const std::string& nonce) {
  return nlohmann::json{{"to", to}, {"requested_at", requested_at_ms}, {"nonce", nonce}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

StatusOr<MemberStatus> ResolveMember(const GroupStatus& group, const std::string& name) {
  std::vector<const MemberStatus*> candidates;
  for (const MemberStatus& m : group.members) {
    if (name == MemberRef(m.node, m.id) || name == m.id || (!m.node.empty() && name == m.node)) {
      candidates.push_back(&m);
    }
  }
  if (candidates.empty()) {
    return InvalidArgument("no member " + QuoteForDisplay(name) + " in this group (see resec status)");
  }
  if (candidates.size() > 1) {
    // Never pick one: with the same ID on every node, a guess could hand the
    // master role to a host the operator did not mean.
    std::string list;
    for (const MemberStatus* m : candidates) list += (list.empty() ? "" : ", ") + MemberRef(m->node, m->id);
    return InvalidArgument(QuoteForDisplay(name) + " names " + std::to_string(candidates.size()) +
                           " members: " + list + "; name one as NODE/ID");
  }
  return *candidates.front();
}

StatusOr<std::string> CheckSwitchoverPreconditions(const GroupStatus& group, const std::string& to) {
  if (!group.lock_held || group.holder_id.empty()) {
    return FailedPrecondition("nobody holds the lock " + group.scope.lock_key +
                              ": there is no master to switch over from");
  }
  const bool holder_placed = std::any_of(group.members.begin(), group.members.end(),
                                         [](const MemberStatus& m) { return m.holder; });
  const bool id_repeats = std::count_if(group.members.begin(), group.members.end(), [&](const MemberStatus& m) {
                            return m.id == group.holder_id;
                          }) > 1;
  if (!holder_placed && group.holder_node.empty() && id_repeats) {
    // The record of an agent older than the node field, in a group whose
    // members share its ID: "already the master" could not be checked, and
    // the new holder could not be told from the old.
    return FailedPrecondition("cannot tell which member " + group.holder_id +
                              " holds the lock (its record names no node): see resec status");
  }
  if (!to.empty()) {
    auto target = ResolveMember(group, to);
    if (!target.ok()) return target.status();
    const std::string name = MemberName(group, target->node, target->id);
    if (target->holder) return InvalidArgument(name + " is already the master");
    if (!target->report_live || target->health != "healthy") {
      return FailedPrecondition(name + " cannot take over: its agent reports " + target->health);
    }
    // The agent matches the node/ID form, so the request names this member
    // and no other with the same ID.
    return MemberRef(target->node, target->id);
  }
  for (const MemberStatus& m : group.members) {
    if (!m.holder && m.report_live && m.health == "healthy") return std::string();
  }
  return FailedPrecondition("no healthy replica to hand over to");
}

std::string_view SwitchoverPhaseName(SwitchoverPhase phase) {
  switch (phase) {
    case SwitchoverPhase::kRequested: return "requested";
    case SwitchoverPhase::kLockReleased: return "lock released";
    case SwitchoverPhase::kNewHolder: return "new holder";
    case SwitchoverPhase::kWrongHolder: return "wrong holder";
    case SwitchoverPhase::kDone: return "done";
  }
  return "unknown";
}

SwitchoverProgress EvaluateSwitchover(const GroupStatus& now, const std::string& old_holder, const std::string& to) {
  SwitchoverProgress p;
  p.holder = HolderRef(now);
  const std::string old_name = NameOf(now, old_holder);
  if (!now.lock_held) {
    p.phase = SwitchoverPhase::kLockReleased;
    // The record the old holder left names whom it handed over to.
    const std::string successor = now.lock_record ? now.lock_record->successor : "";
    p.detail = old_name + " released the lock; waiting for " +
               (!successor.empty() ? NameOf(now, successor) : to.empty() ? "a replica" : NameOf(now, to)) +
               " to take it";
    return p;
  }
  // Compared as node/ID: on a host group with redis@:6379 everywhere, the
  // old and the new holder have the same ID and only the node differs.
  if (p.holder.empty() || MayName(old_holder, now.holder_node, now.holder_id)) {
    p.phase = SwitchoverPhase::kRequested;
    p.detail = "waiting for " + old_name + " to hand over";
    return p;
  }
  const std::string holder_name = MemberName(now, now.holder_node, now.holder_id);
  if (!to.empty() && !MayName(to, now.holder_node, now.holder_id)) {
    p.phase = SwitchoverPhase::kWrongHolder;
    p.detail = holder_name + " took the lock instead of " + NameOf(now, to);
    return p;
  }
  const MemberStatus* m = FindRef(now, p.holder);
  if (m != nullptr && m->registered_as == "master" && m->check_status == "passing") {
    p.phase = SwitchoverPhase::kDone;
    p.detail = holder_name + " is master at " + m->address;
    return p;
  }
  p.phase = SwitchoverPhase::kNewHolder;
  p.detail = holder_name + " holds the lock; waiting for its master registration to pass";
  return p;
}

int RunSwitchover(consul::Client& client, const GroupScope& scope, const SwitchoverOptions& options,
                  std::ostream& out, std::ostream& err) {
  auto inputs = FetchStatusInputs(client, scope);
  if (!inputs.ok()) {
    err << "resec switchover: cannot read the group from Consul: " << inputs.status().message() << '\n';
    return 1;
  }
  const GroupStatus before = BuildGroupStatus(*inputs, scope);
  const StatusOr<std::string> to = CheckSwitchoverPreconditions(before, options.to);
  if (!to.ok()) {
    err << "resec switchover: " << to.status().message() << '\n';
    return 1;
  }
  if (before.switchover) {
    err << "resec switchover: a switchover is already pending (" << consul::SwitchoverKey(scope.lock_key)
        << "); delete that key if it is stale\n";
    return 1;
  }
  const std::string old_holder = HolderRef(before);
  const std::string key = consul::SwitchoverKey(scope.lock_key);
  const std::string nonce = RandomNonce();

  InterruptGuard interrupts;
  const Steady::time_point started = Steady::now();
  if (Status st = client.PutKey(key, EncodeSwitchoverBody(*to, UnixMillis(), nonce)); !st.ok()) {
    err << "resec switchover: cannot write " << key << ": " << st.message() << '\n';
    return 1;
  }
  out << "switchover requested: " << NameOf(before, old_holder) << " -> "
      << (to->empty() ? "best replica" : NameOf(before, *to))
      << " (timeout " << FormatGoDuration(options.timeout) << ")" << std::endl;

  const Steady::time_point deadline = started + options.timeout;
  SwitchoverPhase last = SwitchoverPhase::kRequested;
  std::string last_error;
  while (true) {
    auto now_inputs = FetchStatusInputs(client, scope);
    if (!now_inputs.ok()) {
      // Consul may be briefly unavailable (a leader election); keep waiting.
      if (now_inputs.status().message() != last_error) {
        out << "  [" << Seconds(Steady::now() - started) << "] cannot read Consul: " << now_inputs.status().message()
            << std::endl;
        last_error = now_inputs.status().message();
      }
    } else {
      last_error.clear();
      const SwitchoverProgress p = EvaluateSwitchover(BuildGroupStatus(*now_inputs, scope), old_holder, *to);
      if (p.phase != last) {
        out << "  [" << Seconds(Steady::now() - started) << "] " << p.detail << std::endl;
        last = p.phase;
      }
      if (p.phase == SwitchoverPhase::kDone) {
        Withdraw(client, key, nonce, err);
        out << "switchover done in " << Seconds(Steady::now() - started) << ": " << p.detail << std::endl;
        return 0;
      }
      if (p.phase == SwitchoverPhase::kWrongHolder) {
        Withdraw(client, key, nonce, err);
        err << "resec switchover: failed: " << p.detail << '\n';
        return 1;
      }
    }
    if (Steady::now() >= deadline) break;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Steady::now());
    if (interrupts.Interrupted(std::min(options.poll, std::max(left, milliseconds(1))))) {
      Withdraw(client, key, nonce, err);
      err << "resec switchover: interrupted; request withdrawn\n";
      return 1;
    }
  }
  Withdraw(client, key, nonce, err);
  err << "resec switchover: timed out after " << FormatGoDuration(options.timeout) << " ("
      << SwitchoverPhaseName(last) << "); request withdrawn. "
      << (last == SwitchoverPhase::kRequested
              // The agent hands over only to a replica its Redis sees online
              // with every write (decide.cc, SwitchoverTarget), and otherwise
              // waits; an agent without switchover support never reads the key.
              ? "The master's agent did not hand over: the target was not a replica caught up with it (a full "
                "sync, a restart), or the agent does not support switchover; its log says which."
              : "Check `resec status`.")
      << '\n';
  return 1;
}

}  // namespace resec::cli
