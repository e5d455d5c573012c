// consul::Watcher: see include/resec/consul/watcher.h.
#include "resec/consul/watcher.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <string_view>

#include <spdlog/spdlog.h>

#include "resec/consul/json_codec.h"
#include "resec/consul/records.h"

namespace resec::consul {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// After a refused acquire of a free key (lock-delay active, or a race) the key
// does not change when the delay ends, so the acquire is retried on a timer.
// A refused acquire costs Consul no Raft write (the leader checks lock-delay
// before applying).
constexpr milliseconds kAcquireRetry{250};
constexpr milliseconds kBackoffStart{100};
constexpr milliseconds kBackoffMax{2000};
// A failed check refresh is retried this soon: well inside the check TTL
// (3 x HEALTHCHECK_TIMEOUT by default), which a session bound to the check
// must not outlive.
constexpr milliseconds kCheckRetry{500};
// A check's output that changes (the INFO text: offsets, uptime) makes the
// local Consul agent sync the check to the servers, a Raft write, once per
// its check_update_interval (5 minutes by default) per agent: a cost per
// group that grows with the fleet for nothing a decision needs. The output
// is therefore sent anew only when the status changes or it is this old; in
// between, refreshes repeat the text last sent, which Consul does not sync.
constexpr std::chrono::minutes kCheckOutputRefresh{15};
// The lock holder renews this often: its lease (see Step) counts only what
// the servers confirm, and three renewals per lease keep one slow answer from
// fencing the master.
constexpr milliseconds kHolderRenewPeriod{500};
// Calls made while shutting down: a frozen Consul must not hold the exit.
constexpr milliseconds kShutdownCallTimeout{1000};

// A failed report write is retried after 100, 200, 400, then every 500 ms.
constexpr milliseconds kReportRetryStart{50};
constexpr milliseconds kReportRetryMax{500};

milliseconds Backoff(int failures) {
  return std::min(kBackoffMax, kBackoffStart * (1 << std::min(failures, 5)));
}

// Consul answers a write through a session it has invalidated with a 500;
// that is news about the session, not about Consul's health.
bool IsInvalidSession(const Status& s) { return s.message().find("invalid session") != std::string::npos; }

// Lock records compare on who and what, not on the offset, which moves.
bool SameHolder(const std::string& written, const LockRecord& wanted) {
  auto r = DecodeLockRecord(written);
  return r.ok() && r->holder_id == wanted.holder_id && r->address == wanted.address &&
         r->port == wanted.port && r->replid == wanted.replid && r->run_id == wanted.run_id &&
         r->successor == wanted.successor && r->node == wanted.node;
}

bool SameIdentity(const std::string& written, const PeerReport& wanted) {
  auto r = DecodePeerReport(written);
  if (!r.ok()) return false;
  PeerReport a = *r, b = wanted;
  a.offset = b.offset = 0;
  return a == b;
}

// What a round does differs only with more than these: the check's text is
// sent when the status changes or the check is refreshed, and the report is
// rewritten only when more than its offset changed (SameIdentity).
bool SameBesidesTextAndOffset(const ConsulIntent& a, const ConsulIntent& b) {
  ConsulIntent x = b;  // compared whole, so a field added later counts
  x.check_output = a.check_output;
  if (x.report && a.report) x.report->offset = a.report->offset;
  return x == a;
}

}  // namespace

bool IsConnectionFailure(const Status& status) {
  if (status.code() == StatusCode::kDeadlineExceeded) return true;
  // The client reports both a failed exchange and a 429/5xx answer as
  // unavailable (retry later); only the answer carries an HTTP status.
  return status.code() == StatusCode::kUnavailable && status.http_status() == 0;
}

Watcher::Watcher(const Config& config, ClientFactory make_client, const Clock& clock, PublishConsulState publish)
    : config_(config),
      make_client_(std::move(make_client)),
      clock_(clock),
      publish_(std::move(publish)),
      client_(make_client_(config_.healthcheck_timeout)),
      kv_watch_("consul-kv", make_client_(config_.healthcheck_timeout),
                [this, prefix = config_.lock_key](Client& client, const QueryOptions& q) -> StatusOr<uint64_t> {
                  auto r = client.ListKeys(prefix, q);
                  if (!r.ok() && r.status().code() == StatusCode::kCancelled) return r.status();
                  const StatusOr<uint64_t> index = r.ok() ? StatusOr<uint64_t>(r->meta.index) : r.status();
                  inbox_.Post(KvAnswer{std::move(r)});
                  return index;
                }),
      masters_watch_("consul-masters", make_client_(config_.healthcheck_timeout),
                     [this](Client& client, const QueryOptions& q) -> StatusOr<uint64_t> {
                       const std::string tag = config_.tag_mode() && !config_.master_tags.empty()
                                                   ? config_.master_tags.front()
                                                   : "";
                       auto r = client.HealthyInstances(config_.MasterServiceName(), tag, q);
                       if (!r.ok() && r.status().code() == StatusCode::kCancelled) return r.status();
                       const StatusOr<uint64_t> index = r.ok() ? StatusOr<uint64_t>(r->meta.index) : r.status();
                       inbox_.Post(MastersAnswer{std::move(r)});
                       return index;
                     }) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) {
    pthread_setname_np(pthread_self(), "consul");
    Run(std::move(stop));
  });
  kv_watch_.Start();
  masters_watch_.Start();
}

void Watcher::Stop() {
  inbox_.Close();
  kv_watch_.Stop();
  masters_watch_.Stop();
  if (thread_.joinable()) {
    thread_.request_stop();
    client_->Cancel();
    thread_.join();
  }
}

void Watcher::Run(std::stop_token stop) {
  try {
    TimePoint next = clock_.Now();
    while (!stop.stop_requested()) {
      auto batch = inbox_.Wait(next - clock_.Now());
      // An empty batch: the round's time has come.
      const bool due = batch.states.empty() && !batch.closed;
      if (Absorb(std::move(batch))) break;
      // Under writes the reconciler hands over a new wish with every INFO
      // it reads, differing only in the check's text and our offset: a
      // round for each cost a busy agent a tenth of its CPU and did nothing.
      if (!due && !round_wanted_) continue;
      next = Converge();
    }
  } catch (const std::exception& e) {
    // The reconciler sees Consul as unreachable and the lock as not ours:
    // Consul's TTLs settle the rest.
    spdlog::error("consul: watcher stopped by an unexpected error: {}", e.what());
    state_.reachable = false;
    state_.lock_held = false;
    state_.error = std::string("consul watcher failed: ") + e.what();
    publish_(state_);
  }
}

bool Watcher::Absorb(Inbox::Batch batch) {
  for (auto& s : batch.states) {
    if (auto* intent = std::get_if<ConsulIntent>(&s)) {
      round_wanted_ = round_wanted_ || !have_intent_ || !SameBesidesTextAndOffset(intent_, *intent);
      intent_ = std::move(*intent);
      have_intent_ = true;
    } else if (auto* kv = std::get_if<KvAnswer>(&s)) {
      Absorb(std::move(*kv));
      round_wanted_ = true;
    } else if (auto* masters = std::get_if<MastersAnswer>(&s)) {
      Absorb(std::move(*masters));
      round_wanted_ = true;
    }
  }
  closed_ = closed_ || batch.closed;
  return closed_;
}

TimePoint Watcher::Converge() {
  const TimePoint now = clock_.Now();
  round_wanted_ = false;  // what arrives during the round asks for another
  if (shutdown_done_) return now + std::chrono::hours(1);
  // First things first: nothing a previous run left is advertised.
  if ((!cleaned_stale_registration_ || !have_node_name_) && now >= next_startup_try_) {
    bool failed = false;
    if (!cleaned_stale_registration_) failed = !CleanStaleRegistration();
    if (!have_node_name_) failed = !LearnNodeName() || failed;
    // An endpoint that keeps failing (a 500, an oversized answer) gets the
    // same growing backoff as the session, not a call per wake-up.
    startup_failures_ = failed ? startup_failures_ + 1 : 0;
    next_startup_try_ = failed ? clock_.Now() + Backoff(startup_failures_) : TimePoint{};
  }
  if (have_intent_ && intent_.shutdown) {
    DoShutdown();
    Publish();
    return now + std::chrono::hours(1);
  }
  if (have_intent_ && cleaned_stale_registration_) {
    const bool held_at_start = state_.lock_held;
    ReleaseIfUnwanted();
    // A release reaches the reconciler at once: it tells the group it
    // stepped down (its peers wait for that before they elect) without
    // waiting for the deregistration and the report this round still writes.
    if (held_at_start && !state_.lock_held) Publish();
    DestroyVotedOut();
    EnsureRegistration();
    EnsureSession();
    const bool held_before = state_.lock_held;
    TryAcquire();
    // The reconciler promotes and asks for the master registration the
    // moment it knows, not after this round's other writes (a Raft write
    // each: on a busy cluster they held a failover up by up to 100 ms).
    if (state_.lock_held && !held_before) Publish();
    EnsureLockRecord();
    // Taking the lock makes the reconciler ask for the master registration
    // within a millisecond or two, and clients find the new master through
    // it: between the steps that cost a round trip or a Raft write each
    // (the check, the report, the catalog clean-up), a changed wish is taken
    // in and the registration brought up to it first.
    for (auto step : {&Watcher::RefreshCheck, &Watcher::EnsureReport, &Watcher::RetireStaleMasters}) {
      if (Absorb(inbox_.TakeAll())) return now;
      if (intent_.shutdown) return now;  // the next round, at once, shuts down in its order
      EnsureRegistration();
      (this->*step)();
    }
  }
  Publish();

  const TimePoint after = clock_.Now();
  TimePoint next = after + seconds(1);
  if (!state_.session_id.empty()) next = std::min(next, next_renew_);
  if (state_.registered) next = std::min(next, next_check_);
  if (have_intent_ && intent_.register_as.has_value() != state_.registered) {
    // A registration that has to be repaired goes round again quickly, but
    // not before its backoff allows another try.
    next = std::min(next, std::max(after + kBackoffStart, next_register_try_));
  }
  if (have_intent_ && (intent_.hold_lock || intent_.report) && state_.session_id.empty()) {
    next = std::min(next, std::max(after + milliseconds(1), next_session_try_));
  }
  if (have_intent_ && intent_.hold_lock && state_.lock_free && !state_.lock_held) {
    next = std::min(next, next_acquire_at_);
  }
  if (report_failures_ > 0) next = std::min(next, next_report_try_);
  if (!cleaned_stale_registration_ || !have_node_name_) {
    next = std::min(next, std::max(after + kBackoffStart, next_startup_try_));
  }
  return std::max(next, after + milliseconds(1));
}

// ------------------------------------------------------------------ answers

void Watcher::Absorb(KvAnswer answer) {
  const TimePoint now = clock_.Now();
  if (!answer.result.ok()) {
    Note("watch lock", answer.result.status());
    if (state_.lock_read_failures++ == 0) state_.lock_read_failing_since = now;
    return;
  }
  Note("watch lock", Status::Ok());
  state_.lock_read_failures = 0;
  state_.lock_read_failing_since = TimePoint{};
  const std::string members = MembersPrefix(config_.lock_key);
  const std::string switchover_key = SwitchoverKey(config_.lock_key);
  const std::string self = config_.ServiceId();
  std::optional<KvPair> lock;
  std::vector<PeerReport> peers;
  std::optional<SwitchoverRequest> request;
  for (KvPair& kv : answer.result->value) {
    if (kv.key == config_.lock_key) {
      lock = std::move(kv);
    } else if (kv.key == switchover_key) {
      if (auto req = DecodeSwitchoverRequest(kv.value); req.ok()) request = *req;
    } else if (kv.key.rfind(members, 0) == 0 && !kv.session.empty()) {
      // A report without a session belongs to an agent that is gone.
      auto p = DecodePeerReport(kv.value);
      if (!p.ok() || (p->id == self && p->node == state_.node_name)) continue;
      peers.push_back(*p);
    }
    // Anything else under the prefix (another group whose lock key starts
    // with ours, e.g. resec/.lock2) is not ours.
  }
  // A blocking read that was answered before our own acquire (or release)
  // landed shows the lock as it was: free, or still ours. Taken as news, it
  // made a new holder drop the lock it had just taken and take it again a
  // round later, and once the lock is published as soon as it is taken, the
  // reconciler saw a loss between two acquisitions. The key's ModifyIndex
  // tells: our write moved it past what we had seen.
  const bool shows_ours = lock && !state_.session_id.empty() && lock->session == state_.session_id;
  const bool before_our_acquire =
      state_.lock_held && lock && !shows_ours && lock->modify_index <= acquired_over_index_;
  const bool before_our_release = !state_.lock_held && shows_ours && lock->modify_index <= released_over_index_;
  if (before_our_acquire || before_our_release) return;
  std::sort(peers.begin(), peers.end(), [](const PeerReport& a, const PeerReport& b) {
    return MemberKey(a.node, a.id) < MemberKey(b.node, b.id);
  });
  const std::string holder = lock ? lock->session : "";
  state_.lock_free = holder.empty();
  state_.lock_holder_session = holder;
  state_.lock_held = !holder.empty() && holder == state_.session_id;
  state_.lock_index = lock ? lock->lock_index : 0;
  state_.lock_modify_index = lock ? lock->modify_index : 0;
  state_.lock_record.reset();
  if (lock && !lock->value.empty()) {
    if (auto rec = DecodeLockRecord(lock->value); rec.ok()) state_.lock_record = *rec;
  }
  state_.peers = std::move(peers);
  state_.switchover_request = request;
  kv_ready_ = true;
  if (!state_.lock_free) next_acquire_at_ = TimePoint{};
}

void Watcher::Absorb(MastersAnswer answer) {
  if (!answer.result.ok()) {
    Note("watch masters", answer.result.status());
    return;
  }
  Note("watch masters", Status::Ok());
  state_.masters = std::move(answer.result->value);
  std::sort(state_.masters.begin(), state_.masters.end(),
            [](const ServiceInstance& a, const ServiceInstance& b) {
              return std::tie(a.node, a.id) < std::tie(b.node, b.id);
            });
  state_.masters_known = true;
  masters_ready_ = true;
}

// ------------------------------------------------------------------ start-up

bool Watcher::CleanStaleRegistration() {
  // A previous run of this agent may have left its registration behind
  // (kill -9, or a restarted host whose Consul agent restored it with its
  // last check state, passing): until we decide what we are, nothing stale
  // is advertised.
  Status st = client_->DeregisterService(config_.ServiceId());
  if (st.code() == StatusCode::kNotFound) st = Status::Ok();  // nothing stale: fine
  Note("deregister stale service", st);
  if (st.ok()) cleaned_stale_registration_ = true;
  return st.ok();
}

bool Watcher::LearnNodeName() {
  // Service IDs repeat across nodes (every node's redis@:6379), so a member
  // is its node plus its service ID, and a master registration is ours only
  // on our node: a wrong name makes us retire our own registration as a
  // stale master (its check is our session's: the lock falls, we take it
  // again, and round it goes). So the host name, Consul's default node
  // name, stands in only when Consul refuses to tell; any other failure
  // (a 500, an oversized or garbled answer) is retried.
  auto r = client_->NodeName();
  if (!r.ok() && r.status().code() == StatusCode::kPermissionDenied) {
    // No agent:read: a short-lived session tells the node with the session
    // rights the agent needs anyway.
    SessionOptions probe;
    probe.name = config_.lock_session_name + "-node-probe";
    probe.ttl = seconds(10);
    probe.lock_delay = seconds(0);
    auto s = client_->CreateSession(probe);
    if (s.ok()) {
      r = client_->SessionNode(*s);
      (void)client_->DestroySession(*s);
    } else {
      r = s.status();
    }
  }
  std::string name;
  if (r.ok()) {
    name = *r;
  } else if (r.status().code() == StatusCode::kPermissionDenied ||
             r.status().code() == StatusCode::kFailedPrecondition) {
    // Refused (or a client that cannot ask): the host name is the best guess.
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) name = host;
    spdlog::info("consul: node name from the host name ({}): {}", name, r.status().ToString());
  } else {
    Note("read node name", r.status());
    return false;
  }
  if (name.empty()) return false;
  Note("read node name", Status::Ok());
  have_node_name_ = true;
  node_name_guessed_ = !r.ok();
  state_.node_name = name;
  // Where peers reach this host (peer protocol): best effort, an agent
  // without agent:read falls back to its announce address.
  if (auto address = client_->NodeAddress(); address.ok()) state_.node_address = *address;
  return true;
}

void Watcher::CorrectGuessedNodeName(const std::string& session) {
  auto node = client_->SessionNode(session);
  Note("read node name", node.status());
  if (!node.ok() || node->empty()) return;
  node_name_guessed_ = false;
  if (*node == state_.node_name) return;
  spdlog::warn("consul: node name is {}, not the host name {} that stood in for it", *node, state_.node_name);
  state_.node_name = *node;
  // Everything written under the guessed name is written again.
  written_report_.clear();
  written_record_.clear();
}

// ------------------------------------------------------------------ converging

void Watcher::ReleaseIfUnwanted() {
  if (intent_.hold_lock || !state_.lock_held) return;
  // A hand-over names the successor in the record it leaves behind; the
  // record stays in the key either way: the next election checks lineage
  // against it.
  const std::string record = intent_.lock_record ? EncodeLockRecord(*intent_.lock_record) : written_record_;
  auto r = client_->ReleaseKey(config_.lock_key, state_.session_id, record);
  Note("release lock", r.status());
  if (r.ok()) {
    spdlog::info("consul: released lock {}", config_.lock_key);
    released_over_index_ = state_.lock_modify_index;
    state_.lock_held = false;
    state_.lock_free = true;
    state_.lock_holder_session.clear();
    written_record_.clear();
  }
}

ServiceRegistration Watcher::RegistrationFor(RedisRole role) const {
  const bool master = role == RedisRole::kMaster;
  ServiceRegistration r;
  r.id = config_.ServiceId();
  r.name = master ? config_.MasterServiceName() : config_.SlaveServiceName();
  r.tags = master ? config_.master_tags : config_.slave_tags;
  r.address = config_.announce_addr.host;
  r.port = config_.announce_addr.port;
  CheckDefinition check;
  check.check_id = config_.CheckId();
  check.name = std::string("Resec: ") + (master ? "master" : "slave") + " replication status";
  check.ttl = config_.EffectiveCheckTtl();
  // Registered in the status we are about to report (the original starts
  // every check as "warning" and passes it a round later): the catalog then
  // takes one write, not two, before clients can find a new master, which
  // on a busy cluster was the longest step of a failover.
  check.status = intent_.check_status;
  check.deregister_critical_after = config_.deregister_service_after;
  r.check = check;
  return r;
}

void Watcher::EnsureRegistration() {
  const TimePoint now = clock_.Now();
  auto note_outcome = [&](const Status& st) {
    if (st.ok()) {
      register_failures_ = 0;
      next_register_try_ = TimePoint{};
      return;
    }
    register_failures_++;
    next_register_try_ = now + Backoff(register_failures_);
  };
  if (intent_.register_as) {
    if (state_.registered && state_.registered_role == *intent_.register_as) return;
    if (now < next_register_try_) return;
    Status st = client_->RegisterService(RegistrationFor(*intent_.register_as));
    Note("register service", st);
    note_outcome(st);
    if (!st.ok()) return;
    // The check's text, which a registration cannot carry: sent with the
    // status it was registered in, it is an output-only change, which the
    // local agent does not hurry to the catalog.
    check_output_ = TruncateUtf8(intent_.check_output, kMaxCheckOutputBytes);
    check_output_sent_at_ = clock_.Now();
    Status check = client_->UpdateTtlCheck(config_.CheckId(), intent_.check_status, check_output_);
    Note("update check", check);
    spdlog::info("consul: registered {} as {} ({})", config_.ServiceId(), RoleName(*intent_.register_as),
                 intent_.register_as == RedisRole::kMaster ? config_.MasterServiceName()
                                                           : config_.SlaveServiceName());
    state_.registered = true;
    state_.registered_role = *intent_.register_as;
    last_check_status_ = intent_.check_status;
    const TimePoint after = clock_.Now();
    if (check.ok()) state_.check_confirmed_at = after;
    next_check_ = after + (check.ok() ? std::min(config_.healthcheck_interval, config_.EffectiveCheckTtl() / 3)
                                      : kCheckRetry);
  } else if (state_.registered) {
    if (now < next_register_try_) return;
    // Consul invalidates a session bound to a check that goes away, and then
    // holds our report key under lock-delay: release and destroy it first.
    if (state_.session_has_check && !state_.lock_held && !state_.session_id.empty()) {
      DropSession(state_.session_id);
    }
    Status st = client_->DeregisterService(config_.ServiceId());
    Note("deregister service", st);
    note_outcome(st);
    if (!st.ok()) return;
    spdlog::info("consul: deregistered {}", config_.ServiceId());
    state_.registered = false;
    state_.registered_role = RedisRole::kUnknown;
  }
}

void Watcher::RefreshCheck() {
  if (!state_.registered) return;
  // A new status goes out at once; the same one (even one that failed) waits
  // for its timer, or a failing endpoint gets a call per wake-up.
  if (clock_.Now() < next_check_ && intent_.check_status == last_check_status_) return;
  if (intent_.check_status != last_check_status_ || clock_.Now() - check_output_sent_at_ >= kCheckOutputRefresh) {
    check_output_ = TruncateUtf8(intent_.check_output, kMaxCheckOutputBytes);
    check_output_sent_at_ = clock_.Now();
  }
  Status st = client_->UpdateTtlCheck(config_.CheckId(), intent_.check_status, check_output_);
  if (st.code() == StatusCode::kNotFound) {
    // Consul forgot the service (an agent restart in dev mode): register again.
    spdlog::warn("consul: check {} unknown to the agent; registering again", config_.CheckId());
    state_.registered = false;
    state_.registered_role = RedisRole::kUnknown;
    return;
  }
  Note("update check", st);
  // Refresh well inside the TTL: with session checks, one missed refresh
  // must not cost the lock.
  const milliseconds period = std::min(config_.healthcheck_interval, config_.EffectiveCheckTtl() / 3);
  const TimePoint now = clock_.Now();
  next_check_ = now + (st.ok() ? period : kCheckRetry);
  last_check_status_ = intent_.check_status;
  if (st.ok()) state_.check_confirmed_at = now;
}

void Watcher::EnsureSession() {
  const bool need = intent_.hold_lock || intent_.report.has_value();
  const TimePoint now = clock_.Now();
  if (!need) {
    if (state_.session_id.empty() || state_.lock_held) return;  // a held lock is released first
    DropSession(state_.session_id);
    return;
  }
  // A session made before our check existed cannot invalidate on agent death;
  // swap it for one that can while we do not hold the lock. In peer mode the
  // session has no checks at all: the group decides when its holder is
  // gone, and a routine restart of our Consul agent (Serf leave) must not.
  const bool ttl_only = intent_.ttl_only_session;
  const bool want_check = !ttl_only && config_.session_checks && state_.registered;
  if (!state_.session_id.empty() && want_check && !state_.session_has_check && !state_.lock_held) {
    DropSession(state_.session_id);
    next_session_try_ = now;
  }
  if (state_.session_id.empty()) {
    if (now < next_session_try_) return;
    SessionOptions options;
    options.name = config_.lock_session_name;
    options.ttl = std::chrono::ceil<seconds>(config_.lock_ttl);
    options.lock_delay = std::chrono::ceil<seconds>(config_.lock_delay);
    if (want_check) options.service_checks = {config_.CheckId()};
    if (ttl_only) {
      // On a server's node: a graceful leave of our own Consul agent (a
      // routine restart) deregisters our node, and with it every session
      // the node holds. Servers do not leave on a restart.
      if (session_node_.empty()) {
        auto servers = client_->ServerNodes();
        Note("list the Consul servers", servers.status());
        if (!servers.ok() || servers->empty()) {
          session_failures_++;
          next_session_try_ = now + Backoff(session_failures_);
          return;
        }
        session_node_ = servers->front();
      }
      options.node = session_node_;
      options.node_checks.clear();
      // Lock-delay covers a holder that may still write after losing its
      // session; in peer mode the quorum that ends a session has already
      // waited out the holder's lease (or seen its Redis die).
      options.lock_delay = seconds(0);
    }
    auto r = client_->CreateSession(options);
    Note("create session", r.status());
    if (!r.ok()) {
      session_node_.clear();  // that server may have left: pick again
      session_failures_++;
      next_session_try_ = now + Backoff(session_failures_);
      return;
    }
    session_failures_ = 0;
    spdlog::info("consul: created a session (ttl {}s{})", options.ttl.count(),
                 want_check ? ", bound to our check" : ttl_only ? ", TTL only, on node " + options.node : "");
    state_.session_id = *r;
    state_.session_has_check = want_check;
    state_.session_ttl_only = ttl_only;
    state_.session_confirmed_at = now;
    state_.session_ttl = config_.lock_ttl;
    state_.check_ttl = config_.EffectiveCheckTtl();
    // The check passed moments ago, or Consul would have refused the session.
    if (want_check) state_.check_confirmed_at = now;
    written_report_.clear();
    next_renew_ = now + (ttl_only && !intent_.relaxed_renewal ? config_.lock_ttl / 3 : config_.lock_ttl / 2);
    // Refused at start, granted now (an ACL fixed, a proxy in front of
    // Consul recovered): our session is on our node and tells its name.
    if (node_name_guessed_ && !ttl_only) CorrectGuessedNodeName(state_.session_id);
    return;
  }
  if (now < next_renew_) return;
  const std::string session = state_.session_id;
  auto r = client_->RenewSession(session);
  if (r.status().code() == StatusCode::kNotFound) {
    Note("renew session", Status::Ok());
    ForgetSession(session);
    return;
  }
  Note("renew session", r.status());
  if (r.ok()) {
    state_.session_confirmed_at = now;
    // Consul may answer with a different TTL than we asked for; follow it.
    const milliseconds ttl = r->count() > 0 ? milliseconds(*r) : config_.lock_ttl;
    state_.session_ttl = ttl;
    // A TTL-only session (peer mode) is renewed three times a TTL, holder or
    // not (a group of two leases from it), twice when the group's lease
    // gates the master's writes.
    next_renew_ = now + (state_.session_ttl_only ? (intent_.relaxed_renewal ? ttl / 2 : ttl / 3)
                         : state_.lock_held    ? kHolderRenewPeriod
                                               : ttl / 2);
  } else {
    // The Go client's rule: retry every second until a whole TTL has passed
    // (a holder keeps its own pace: its lease runs out sooner).
    next_renew_ = now + (state_.lock_held && !state_.session_ttl_only ? kHolderRenewPeriod : seconds(1));
  }
}

void Watcher::DropSession(const std::string& session) {
  // Released explicitly, our report key is free for the next session at once
  // (lock-delay applies only to keys of an invalidated session).
  if (!written_report_.empty()) (void)client_->ReleaseKey(MemberKeyPath(), session, written_report_);
  Status st = client_->DestroySession(session);
  if (st.code() != StatusCode::kNotFound) Note("destroy session", st);
  if (state_.session_id != session) return;
  state_.session_id.clear();
  state_.session_has_check = false;
  written_report_.clear();
  next_session_try_ = clock_.Now();
}

void Watcher::ForgetSession(const std::string& session) {
  if (state_.session_id != session) return;
  spdlog::warn("consul: our session expired or was invalidated");
  state_.session_id.clear();
  state_.session_has_check = false;
  state_.lock_held = false;
  written_report_.clear();
  written_record_.clear();
  next_session_try_ = clock_.Now();
}

void Watcher::TryAcquire() {
  const TimePoint now = clock_.Now();
  if (!intent_.hold_lock || state_.session_id.empty() || state_.lock_held || !state_.lock_free ||
      now < next_acquire_at_) {
    return;
  }
  const std::string session = state_.session_id;
  const std::string value = intent_.lock_record ? EncodeLockRecord(*intent_.lock_record) : std::string();
  auto r = client_->AcquireKey(config_.lock_key, session, value);
  Note("acquire lock", r.status());
  if (IsInvalidSession(r.status())) ForgetSession(session);
  if (!r.ok() || !*r) {
    next_acquire_at_ = clock_.Now() + kAcquireRetry;
    return;
  }
  spdlog::info("consul: acquired lock {}", config_.lock_key);
  if (state_.session_id != session) return;
  acquired_over_index_ = state_.lock_modify_index;
  state_.lock_held = true;
  state_.lock_free = false;
  state_.lock_holder_session = session;
  written_record_ = value;
  // The servers just accepted our session: the lease starts from the send
  // time, and from now on it is renewed at the holder's pace.
  state_.session_confirmed_at = std::max(state_.session_confirmed_at, now);
  if (!state_.session_ttl_only) next_renew_ = std::min(next_renew_, now + kHolderRenewPeriod);
}

void Watcher::RetireStaleMasters() {
  // Under a guessed node name our own registration looks like another node's.
  if (!intent_.retire_stale_masters || !state_.lock_held || !state_.registered ||
      state_.registered_role != RedisRole::kMaster || node_name_guessed_) {
    retired_term_ = 0;
    return;
  }
  // Once when we take over (a dead master's registration still passes in the
  // servers' copy, and counts again the moment its node rejoins), and again
  // whenever the watch shows another passing master (a rejoined node's agent
  // restored a passing check), at most once a second.
  const bool foreign_passing = std::any_of(state_.masters.begin(), state_.masters.end(), [&](const ServiceInstance& m) {
    return !(m.id == config_.ServiceId() && m.node == state_.node_name);
  });
  const TimePoint now = clock_.Now();
  if (retired_term_ == state_.lock_index && (!foreign_passing || now < next_retire_at_)) return;
  next_retire_at_ = now + seconds(1);
  auto instances = client_->InstancesWithChecks(config_.MasterServiceName(), QueryOptions{});
  if (!instances.ok()) {
    Note("read master registrations", instances.status());
    return;
  }
  const std::string master_tag =
      config_.tag_mode() && !config_.master_tags.empty() ? config_.master_tags.front() : "";
  bool all_done = true;
  for (const ServiceHealth& h : instances->value) {
    const ServiceInstance& m = h.instance;
    if (m.id == config_.ServiceId() && m.node == state_.node_name) continue;
    if (!master_tag.empty() && std::find(m.tags.begin(), m.tags.end(), master_tag) == m.tags.end()) continue;
    const std::string check_id = m.id + ":replication-status-check";
    for (const CheckResult& c : h.checks) {
      if (c.check_id != check_id || c.status == "critical") continue;
      Status st = client_->SetCatalogCheck(CatalogCheck{
          .node = m.node,
          .address = m.address,
          .service_id = m.id,
          .check_id = check_id,
          .name = "Resec: master replication status",
          .status = "critical",
          .output = "resec: no longer the master; " + MemberKey(state_.node_name, config_.ServiceId()) +
                    " holds the lock (lock index " + std::to_string(state_.lock_index) + ")",
          // We may be the stale one (frozen while the group replaced us):
          // only a holder Consul still knows as one retires anybody.
          .guard_key = config_.lock_key,
          .guard_session = state_.session_id});
      if (st.code() == StatusCode::kFailedPrecondition) {
        spdlog::warn("consul: not retiring the master registration {} on node {}: {}", m.id, m.node, st.message());
        return;
      }
      Note("retire a stale master registration", st);
      if (st.ok()) {
        spdlog::info("consul: marked the stale master registration {} on node {} critical", m.id, m.node);
      } else if (st.code() != StatusCode::kPermissionDenied) {
        // A token without node:write never will: not retried this term
        // (logged once above; docs/operations.md, ACL policy).
        all_done = false;
      }
    }
  }
  if (all_done) retired_term_ = state_.lock_index;
}

void Watcher::DestroyVotedOut() {
  const std::string& victim = intent_.destroy_session;
  if (victim.empty() || victim == state_.session_id || victim == destroyed_session_) return;
  // The group's quorum voted this holder gone; Consul frees its lock at once
  // (under the session's lock-delay, which peer mode sets to 0).
  Status st = client_->DestroySession(victim);
  if (st.code() == StatusCode::kNotFound) st = Status::Ok();  // already gone
  Note("destroy a voted-out session", st);
  if (st.ok()) {
    spdlog::warn("consul: ended the lock holder's session (the group voted it gone)");
    destroyed_session_ = victim;
  }
}

void Watcher::EnsureLockRecord() {
  if (!state_.lock_held || !intent_.lock_record || !intent_.hold_lock ||
      SameHolder(written_record_, *intent_.lock_record)) {
    return;
  }
  // Re-acquiring a key we hold only rewrites its value; after a promotion the
  // record must carry the new replication ID, the lineage peers check.
  const std::string value = EncodeLockRecord(*intent_.lock_record);
  auto r = client_->AcquireKey(config_.lock_key, state_.session_id, value);
  Note("write lock record", r.status());
  if (r.ok() && *r) written_record_ = value;
}

void Watcher::EnsureReport() {
  const std::string key = MemberKeyPath();
  if (!intent_.report) {
    if (written_report_.empty()) return;
    Status st = client_->DeleteKey(key);
    Note("withdraw report", st);
    if (st.ok()) written_report_.clear();
    return;
  }
  if (state_.session_id.empty() || !have_node_name_) return;
  const std::string value = EncodePeerReport(*intent_.report);
  // Only what a decision needs goes to Consul (a Raft write each): who we
  // are, our role, lineage and health, and our offset when it is final (the
  // lock freed: free_index). An offset that moves with every write travels
  // with the peer protocol's heartbeats, or not at all.
  if (value == written_report_ || SameIdentity(written_report_, *intent_.report)) return;
  // The actor wakes for every answer of its watches; a failing write waits
  // for its backoff, not for the next wake (Consul without a leader answered
  // every ~2 ms on the rig).
  const TimePoint now = clock_.Now();
  if (now < next_report_try_) return;
  // Written through our session so the key shows a live owner only while we
  // are alive; a dead agent's report loses its Session and is ignored.
  const std::string session = state_.session_id;
  auto r = client_->AcquireKey(key, session, value);
  Note("publish report", r.status());
  if (IsInvalidSession(r.status())) ForgetSession(session);
  if (!r.ok()) {
    // Short: an election may wait for this report once Consul answers again.
    report_failures_++;
    next_report_try_ = now + std::min(kReportRetryMax, kReportRetryStart * (1 << std::min(report_failures_, 4)));
    return;
  }
  report_failures_ = 0;
  next_report_try_ = TimePoint{};
  if (*r) written_report_ = value;
}

void Watcher::DoShutdown() {
  // Short per-call timeouts: a frozen Consul must not hold the exit for long.
  auto client = make_client_(std::min(config_.healthcheck_timeout, kShutdownCallTimeout));
  if (state_.lock_held) {
    const std::string record = intent_.lock_record ? EncodeLockRecord(*intent_.lock_record) : written_record_;
    auto r = client->ReleaseKey(config_.lock_key, state_.session_id, record);
    if (r.ok() && *r) {
      spdlog::info("consul: released lock {}", config_.lock_key);
    } else {
      spdlog::warn("consul: could not release lock {}: {}", config_.lock_key,
                   r.ok() ? "refused" : r.status().ToString());
    }
  }
  if (!written_report_.empty()) (void)client->DeleteKey(MemberKeyPath());
  if (state_.registered || !cleaned_stale_registration_) {
    Status st = client->DeregisterService(config_.ServiceId());
    if (st.ok() || st.code() == StatusCode::kNotFound) {
      spdlog::info("consul: deregistered service {}", config_.ServiceId());
    } else {
      spdlog::warn("consul: could not deregister service {}: {}", config_.ServiceId(), st.ToString());
    }
  }
  if (!state_.session_id.empty()) (void)client->DestroySession(state_.session_id);
  state_.lock_held = false;
  state_.registered = false;
  state_.registered_role = RedisRole::kUnknown;
  state_.session_id.clear();
  written_report_.clear();
  shutdown_done_ = true;
  state_.shut_down = true;
}

// ------------------------------------------------------------------ bookkeeping

void Watcher::Note(const char* operation, const Status& status) {
  if (status.code() == StatusCode::kCancelled) return;
  // Reachable means the agent answers at all: any answer, even an error
  // status, proves it. Failed exchanges disprove it once two different
  // operations fail with no answer in between: a dead or cut-off agent fails
  // every call at once, while one endpoint that hangs is a broken endpoint.
  if (status.ok() || !IsConnectionFailure(status)) {
    if (lost_contact_) spdlog::info("consul: reachable again ({})", operation);
    lost_contact_ = false;
    unanswered_.clear();
    state_.reachable = true;
  } else {
    unanswered_.insert(operation);
    if (unanswered_.size() >= 2) {
      lost_contact_ = true;
      state_.reachable = false;
    }
  }
  if (status.ok()) {
    last_errors_.erase(operation);
    if (last_error_op_ == operation) {
      last_error_op_.clear();
      state_.error.clear();
    }
    return;
  }
  state_.errors[operation]++;
  const std::string text = status.ToString();
  // Once per change of each operation's error, not once per retry.
  std::string& last = last_errors_[operation];
  if (last != text) {
    spdlog::warn("consul: {} failed: {}", operation, text);
    last = text;
  }
  last_error_op_ = operation;
  state_.error = std::string(operation) + ": " + text;
}

std::string Watcher::MemberKeyPath() const {
  return MembersPrefix(config_.lock_key) + MemberKey(state_.node_name, config_.ServiceId());
}

void Watcher::Publish() {
  state_.ready = kv_ready_ && masters_ready_ && have_node_name_;
  if (last_published_ && state_ == *last_published_) return;
  last_published_ = state_;
  publish_(state_);
}

}  // namespace resec::consul
