#include "resec/consul/watcher.h"

#include <unistd.h>

#include <algorithm>
#include <string_view>

#include <spdlog/spdlog.h>

#include "resec/consul/json_codec.h"
#include "resec/consul/records.h"

namespace resec::consul {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Blocking queries: Consul holds the request up to this long (plus up to
// wait/16 jitter) when nothing changes. Under Consul's 5 minute default so
// idle connections through NATs and proxies stay alive.
constexpr milliseconds kBlockingWait{55'000};
// After a failed acquire on a free key (lock-delay active, or a race), the key
// does not change when the delay ends, so poll instead of blocking.
constexpr milliseconds kAcquireRetry{250};
// A blocking query that returns faster than this without a new index did not
// block (a proxy or cache in front of Consul, an endpoint without
// X-Consul-Index): it is told nothing new, so such answers back off like
// errors instead of being polled at this pace.
constexpr milliseconds kMinQueryInterval{50};
constexpr milliseconds kBackoffStart{100};
constexpr milliseconds kBackoffMax{2000};
// A failed check refresh is retried this soon: well inside the check TTL
// (3 x HEALTHCHECK_TIMEOUT by default), which a session bound to the check
// must not outlive.
constexpr milliseconds kCheckRetry{500};
// Peer reports carry offsets that move with every write; writing each change
// would be a Raft write per INFO poll. Identity changes go out at once.
constexpr milliseconds kReportOffsetInterval{1000};
// The lock holder's lease: how long one confirmed renewal lets its Redis take
// writes (fenced a third before the end, so after 1 s without confirmation),
// and how often it renews. Short because after a partition the servers may
// drop the session as soon as Serf declares the node failed (a few seconds),
// plus lock-delay; three renewals per lease so one slow answer does not fence.
constexpr milliseconds kConfirmedLease{1500};
constexpr milliseconds kHolderRenewPeriod{500};

milliseconds NextBackoff(milliseconds current) {
  return current.count() == 0 ? kBackoffStart : std::min(current * 2, kBackoffMax);
}

// Consul answers a write through a session it has invalidated with a 500;
// that is news about the session, not about Consul's health.
bool IsInvalidSession(const Status& s) { return s.message().find("invalid session") != std::string::npos; }

// For the lock monitor: whether a failed read leaves the lock's fate unknown
// (no answer, or Consul unable to answer: 429, 5xx), as opposed to Consul
// refusing the request itself.
bool IsTransport(const Status& s) {
  if (IsInvalidSession(s)) return false;
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded ||
         s.code() == StatusCode::kInternal;
}

// Lock records compare on who and what, not on the offset, which moves.
bool SameHolder(const std::string& written, const LockRecord& wanted) {
  auto r = DecodeLockRecord(written);
  return r.ok() && r->holder_id == wanted.holder_id && r->address == wanted.address &&
         r->port == wanted.port && r->replid == wanted.replid && r->run_id == wanted.run_id;
}

bool SameIdentity(const std::string& written, const PeerReport& wanted) {
  auto r = DecodePeerReport(written);
  if (!r.ok()) return false;
  PeerReport a = *r, b = wanted;
  a.offset = b.offset = 0;
  return a == b;
}

}  // namespace

bool IsConnectionFailure(const Status& status) {
  if (status.code() == StatusCode::kDeadlineExceeded) return true;
  // The client reports both a failed exchange and a 429/5xx answer as
  // unavailable (retry later); only the answer carries an HTTP status.
  return status.code() == StatusCode::kUnavailable && status.http_status() == 0;
}

Watcher::Watcher(const Config& config, ClientFactory make_client, const Clock& clock,
                 BoundedQueue<ConsulIntent>& intents, PublishConsulState publish)
    : config_(config),
      make_client_(std::move(make_client)),
      clock_(clock),
      intents_(intents),
      publish_(std::move(publish)) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Start() {
  control_ = std::jthread([this](std::stop_token st) { ControlLoop(st); });
  lock_ = std::jthread([this](std::stop_token st) { LockLoop(st); });
  masters_ = std::jthread([this](std::stop_token st) { MasterLoop(st); });
  peers_ = std::jthread([this](std::stop_token st) { PeersLoop(st); });
}

void Watcher::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto* t : {&control_, &lock_, &masters_, &peers_}) t->request_stop();
  {
    std::lock_guard lock(clients_mu_);
    for (Client* c : live_clients_) c->Cancel();
  }
  sleep_cv_.notify_all();
  for (auto* t : {&control_, &lock_, &masters_, &peers_}) {
    if (t->joinable()) t->join();
  }
}

void Watcher::Shutdown(milliseconds deadline) {
  Stop();
  if (shut_down_) return;
  shut_down_ = true;
  const TimePoint end = clock_.Now() + deadline;
  auto in_time = [&] { return clock_.Now() < end; };
  ConsulState s;
  std::string report, record;
  {
    std::lock_guard lock(mu_);
    s = state_;
    report = written_report_;
    record = written_record_;
  }
  // Short per-call timeouts: a frozen Consul must not hold the exit for long.
  auto client = make_client_(std::min(config_.healthcheck_timeout, milliseconds(1000)));
  if (s.lock_held && in_time()) {
    auto r = client->ReleaseKey(config_.lock_key, s.session_id, record);
    if (r.ok() && *r) {
      spdlog::info("consul: released lock {}", config_.lock_key);
    } else {
      spdlog::warn("consul: could not release lock {}: {}", config_.lock_key,
                   r.ok() ? "refused" : r.status().ToString());
    }
  }
  if (!report.empty() && in_time()) {
    (void)client->DeleteKey(MemberKeyPath());
  }
  if (in_time()) {
    Status st = client->DeregisterService(config_.ServiceId());
    if (st.ok()) {
      spdlog::info("consul: deregistered service {}", config_.ServiceId());
    } else {
      spdlog::warn("consul: could not deregister service {}: {}", config_.ServiceId(), st.ToString());
    }
  }
  if (!s.session_id.empty() && in_time()) (void)client->DestroySession(s.session_id);
  std::lock_guard lock(mu_);
  state_.lock_held = false;
  state_.registered = false;
  state_.session_id.clear();
}

bool Watcher::Sleep(std::stop_token& stop, milliseconds d) {
  std::unique_lock lock(sleep_mu_);
  sleep_cv_.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

void Watcher::Note(const char* operation, const Status& status) {
  if (status.code() == StatusCode::kCancelled) return;
  std::lock_guard lock(mu_);
  // Reachable means the agent answers at all: any answer, even an error
  // status, proves it. Failed exchanges disprove it once two different
  // operations fail with no answer in between: a dead or cut-off agent fails
  // every loop at once, while one endpoint that hangs is a broken endpoint.
  // (Flipping on every failed call made one broken endpoint read as an
  // outage of Consul, and freeze the reconciler, once per retry.)
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
      last_error_.clear();
      state_.error.clear();
    }
    PublishLocked();
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
  last_error_ = text;
  state_.error = std::string(operation) + ": " + text;
  PublishLocked();
}

std::string Watcher::MemberKeyPath() const {
  std::lock_guard lock(mu_);
  return MembersPrefix(config_.lock_key) + MemberKey(state_.node_name, config_.ServiceId());
}

void Watcher::PublishLocked() {
  state_.ready = lock_ready_ && masters_ready_ && have_node_name_;
  if (published_once_ && state_ == last_published_) return;
  last_published_ = state_;
  published_once_ = true;
  publish_(state_);
}

void Watcher::Publish() {
  std::lock_guard lock(mu_);
  PublishLocked();
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
  check.status = "warning";
  check.deregister_critical_after = config_.deregister_service_after;
  r.check = check;
  return r;
}

// ------------------------------------------------------------------ control

void Watcher::ControlLoop(std::stop_token stop) {
  auto client = make_client_(config_.healthcheck_timeout);
  {
    std::lock_guard lock(clients_mu_);
    live_clients_.push_back(client.get());
  }
  while (!stop.stop_requested()) {
    ConsulIntent intent;
    bool have = false;
    {
      std::lock_guard lock(mu_);
      intent = intent_;
      have = have_intent_;
    }
    if (!have_node_name_) {
      // Service IDs repeat across nodes (every node's redis@:6379), so a
      // member is its node plus its service ID. Consul's default node name
      // is the host name: the fallback when /v1/agent/self is not allowed.
      auto r = client->NodeName();
      std::string name;
      if (!r.ok() && r.status().code() == StatusCode::kPermissionDenied) {
        // No agent:read: a short-lived session tells the node with the
        // session rights the agent needs anyway.
        SessionOptions probe;
        probe.name = config_.lock_session_name + "-node-probe";
        probe.ttl = std::chrono::seconds(10);
        probe.lock_delay = std::chrono::seconds(0);
        auto s = client->CreateSession(probe);
        if (s.ok()) {
          r = client->SessionNode(*s);
          (void)client->DestroySession(*s);
        }
      }
      if (r.ok()) {
        name = *r;
      } else if (r.status().code() != StatusCode::kUnavailable) {
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) == 0) name = host;
        spdlog::info("consul: node name from the host name ({}): {}", name, r.status().ToString());
      } else {
        Note("read node name", r.status());
      }
      if (!name.empty()) {
        std::lock_guard lock(mu_);
        have_node_name_ = true;
        state_.node_name = name;
        PublishLocked();
      }
    }
    if (!cleaned_stale_registration_) {
      // A previous run of this agent may have left its registration behind
      // (kill -9); until we decide what we are, nothing stale is advertised.
      Status st = client->DeregisterService(config_.ServiceId());
      if (st.code() == StatusCode::kNotFound) st = Status::Ok();  // nothing stale: fine
      Note("deregister stale service", st);
      if (st.ok()) cleaned_stale_registration_ = true;
    }
    if (have) {
      ReleaseIfUnwanted(*client, intent);
      EnsureRegistration(*client, intent);
      EnsureSession(*client, intent);
      if (intent.hold_lock) TryAcquire(*client);
      EnsureLockRecord(*client, intent);
      RefreshCheck(*client, intent);
      EnsureReport(*client, intent);
    }

    // Sleep until the next timer, or until a new intent arrives.
    const TimePoint now = clock_.Now();
    TimePoint next = now + seconds(1);
    {
      std::lock_guard lock(mu_);
      if (!state_.session_id.empty()) next = std::min(next, next_renew_);
      if (state_.registered) next = std::min(next, next_check_);
      // A registration that has to be repaired goes round again quickly, but
      // not before its backoff allows another try.
      if (have && intent.register_as.has_value() != state_.registered) {
        next = std::min(next, std::max(now + kBackoffStart, next_register_try_));
      }
    }
    const auto wait = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(next - now));
    std::optional<ConsulIntent> got = intents_.TryPopFor(wait);
    // Coalesce: only the newest intent matters.
    while (got) {
      std::lock_guard lock(mu_);
      intent_ = std::move(*got);
      have_intent_ = true;
      got = intents_.TryPop();
    }
  }
  std::lock_guard lock(clients_mu_);
  std::erase(live_clients_, client.get());
}

void Watcher::ReleaseIfUnwanted(Client& client, const ConsulIntent& intent) {
  std::string session, record;
  {
    std::lock_guard lock(mu_);
    if (intent.hold_lock || !state_.lock_held) return;
    session = state_.session_id;
    // A handover names the successor in the record it leaves behind.
    record = intent.lock_record ? EncodeLockRecord(*intent.lock_record) : written_record_;
  }
  std::lock_guard ops(lock_ops_mu_);
  // The record stays in the key: the next election checks lineage against it.
  auto r = client.ReleaseKey(config_.lock_key, session, record);
  Note("release lock", r.status());
  if (r.ok()) {
    spdlog::info("consul: released lock {}", config_.lock_key);
    std::lock_guard lock(mu_);
    state_.lock_held = false;
    state_.lock_free = true;
    state_.lock_holder_session.clear();
    written_record_.clear();
    PublishLocked();
  }
}

void Watcher::EnsureRegistration(Client& client, const ConsulIntent& intent) {
  bool registered;
  RedisRole role;
  TimePoint next_try;
  {
    std::lock_guard lock(mu_);
    registered = state_.registered;
    role = state_.registered_role;
    next_try = next_register_try_;
  }
  const TimePoint now = clock_.Now();
  // The session's rule: after a failure, wait 0.2, 0.4, ... up to 2 s.
  auto note_outcome = [&](const Status& st) {
    std::lock_guard lock(mu_);
    if (st.ok()) {
      register_failures_ = 0;
      next_register_try_ = TimePoint{};
      return;
    }
    register_failures_++;
    next_register_try_ = now + std::min(kBackoffMax, kBackoffStart * (1 << std::min(register_failures_, 5)));
  };
  if (intent.register_as) {
    if (registered && role == *intent.register_as) return;
    if (now < next_try) return;
    Status st = client.RegisterService(RegistrationFor(*intent.register_as));
    Note("register service", st);
    note_outcome(st);
    if (!st.ok()) return;
    // Registered checks start as "warning" (the original's choice); pass the
    // real status at once so a healthy instance is discoverable immediately.
    Status check = client.UpdateTtlCheck(config_.CheckId(), intent.check_status,
                                         TruncateUtf8(intent.check_output, kMaxCheckOutputBytes));
    Note("update check", check);
    spdlog::info("consul: registered {} as {} ({})", config_.ServiceId(), RoleName(*intent.register_as),
                 intent.register_as == RedisRole::kMaster ? config_.MasterServiceName()
                                                          : config_.SlaveServiceName());
    std::lock_guard lock(mu_);
    state_.registered = true;
    state_.registered_role = *intent.register_as;
    last_check_status_ = intent.check_status;
    next_check_ = clock_.Now() + (check.ok() ? std::min(config_.healthcheck_interval, config_.EffectiveCheckTtl() / 3)
                                             : kCheckRetry);
    PublishLocked();
  } else if (registered) {
    if (now < next_try) return;
    // Consul invalidates a session bound to a check that goes away, and then
    // holds our report key under lock-delay: release and destroy it first.
    std::string session;
    {
      std::lock_guard lock(mu_);
      if (session_has_check_ && !state_.lock_held) session = state_.session_id;
    }
    if (!session.empty()) DropSession(client, session);
    Status st = client.DeregisterService(config_.ServiceId());
    Note("deregister service", st);
    note_outcome(st);
    if (!st.ok()) return;
    spdlog::info("consul: deregistered {}", config_.ServiceId());
    std::lock_guard lock(mu_);
    state_.registered = false;
    state_.registered_role = RedisRole::kUnknown;
    PublishLocked();
  }
}

void Watcher::RefreshCheck(Client& client, const ConsulIntent& intent) {
  {
    std::lock_guard lock(mu_);
    if (!state_.registered) return;
    // A new status goes out at once; the same one (even one that failed) waits
    // for its timer, or a failing endpoint gets a call per loop wake-up.
    if (clock_.Now() < next_check_ && intent.check_status == last_check_status_) return;
  }
  Status st = client.UpdateTtlCheck(config_.CheckId(), intent.check_status,
                                    TruncateUtf8(intent.check_output, kMaxCheckOutputBytes));
  if (st.code() == StatusCode::kNotFound) {
    // Consul forgot the service (an agent restart in dev mode): register again.
    spdlog::warn("consul: check {} unknown to the agent; registering again", config_.CheckId());
    std::lock_guard lock(mu_);
    state_.registered = false;
    state_.registered_role = RedisRole::kUnknown;
    PublishLocked();
    return;
  }
  Note("update check", st);
  // Refresh well inside the TTL: with session checks, one missed refresh
  // must not cost the lock.
  const milliseconds period = std::min(config_.healthcheck_interval, config_.EffectiveCheckTtl() / 3);
  std::lock_guard lock(mu_);
  next_check_ = clock_.Now() + (st.ok() ? period : kCheckRetry);
  last_check_status_ = intent.check_status;
  if (st.ok()) {
    last_check_ok_ = clock_.Now();
    UpdateLeaseLocked();
    PublishLocked();
  }
}

void Watcher::UpdateLeaseLocked() {
  // Only what the Consul servers confirmed counts: a renewal or an
  // acquisition proves the session alive when it was sent. A check update
  // proves nothing (the local agent accepts it even when cut off from the
  // servers), and the servers may drop the session at any moment after we
  // lose them (serfHealth), so the lease is short and renewed often; Consul's
  // lock-delay then covers the fencing reaction.
  TimePoint deadline = last_renew_ok_ + std::min<Duration>(session_ttl_, kConfirmedLease);
  Duration ttl = std::min<Duration>(session_ttl_, kConfirmedLease);
  if (session_has_check_) {
    const TimePoint by_check = last_check_ok_ + config_.EffectiveCheckTtl();
    if (by_check < deadline) {
      deadline = by_check;
      ttl = config_.EffectiveCheckTtl();
    }
  }
  state_.lease_deadline = deadline;
  state_.lease_ttl = ttl;
}

void Watcher::EnsureSession(Client& client, const ConsulIntent& intent) {
  const bool need = intent.hold_lock || intent.report.has_value();
  std::string session;
  bool registered, held, has_check;
  TimePoint next_renew, next_try;
  {
    std::lock_guard lock(mu_);
    session = state_.session_id;
    registered = state_.registered;
    held = state_.lock_held;
    has_check = session_has_check_;
    next_renew = next_renew_;
    next_try = next_session_try_;
  }
  const TimePoint now = clock_.Now();

  if (!need) {
    if (session.empty() || held) return;  // a held lock is released first
    DropSession(client, session);
    return;
  }

  // A session made before our check existed cannot invalidate on agent death;
  // swap it for one that can while we do not hold the lock.
  const bool want_check = config_.session_checks && registered;
  if (!session.empty() && want_check && !has_check && !held) {
    DropSession(client, session);
    session.clear();
    next_try = now;
  }

  if (session.empty()) {
    if (now < next_try) return;
    SessionOptions options;
    options.name = config_.lock_session_name;
    options.ttl = std::chrono::ceil<seconds>(config_.lock_ttl);
    options.lock_delay = std::chrono::ceil<seconds>(config_.lock_delay);
    if (want_check) options.service_checks = {config_.CheckId()};
    auto r = client.CreateSession(options);
    Note("create session", r.status());
    std::lock_guard lock(mu_);
    if (!r.ok()) {
      session_failures_++;
      next_session_try_ = now + std::min(kBackoffMax, kBackoffStart * (1 << std::min(session_failures_, 5)));
      return;
    }
    session_failures_ = 0;
    spdlog::info("consul: created session {} (ttl {}s{})", *r, options.ttl.count(),
                 want_check ? ", bound to our check" : "");
    state_.session_id = *r;
    session_has_check_ = want_check;
    written_report_.clear();
    last_renew_ok_ = now;
    last_check_ok_ = now;  // the check passed moments ago or Consul refused the session
    session_ttl_ = config_.lock_ttl;
    next_renew_ = now + config_.lock_ttl / 2;
    UpdateLeaseLocked();
    // The lock key may already name this session (it cannot: new ID), but
    // lock_held is recomputed by the lock loop on its next read.
    PublishLocked();
    return;
  }

  if (now < next_renew) return;
  auto r = client.RenewSession(session);
  if (r.status().code() == StatusCode::kNotFound) {
    Note("renew session", Status::Ok());
    ForgetSession(session);
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (r.ok()) {
      last_renew_ok_ = now;
      // Consul may answer with a different TTL than we asked for; follow it.
      const milliseconds ttl = r->count() > 0 ? milliseconds(*r) : config_.lock_ttl;
      session_ttl_ = ttl;
      next_renew_ = now + (state_.lock_held ? kHolderRenewPeriod : ttl / 2);
      UpdateLeaseLocked();
    } else {
      // The Go client's rule: retry every second until a whole TTL has passed
      // (a holder keeps its own pace: its lease runs out sooner).
      next_renew_ = now + (state_.lock_held ? kHolderRenewPeriod : seconds(1));
    }
  }
  // Publishes, with the extended lease: the reconciler fences on its deadline
  // and must see every extension.
  Note("renew session", r.status());
}

void Watcher::DropSession(Client& client, const std::string& session) {
  // Released explicitly, our report key is free for the next session at once
  // (lock-delay applies only to keys of an invalidated session).
  std::string report;
  {
    std::lock_guard lock(mu_);
    report = written_report_;
  }
  if (!report.empty()) {
    (void)client.ReleaseKey(MemberKeyPath(), session, report);
  }
  Status st = client.DestroySession(session);
  if (st.code() != StatusCode::kNotFound) Note("destroy session", st);
  std::lock_guard lock(mu_);
  if (state_.session_id != session) return;
  state_.session_id.clear();
  written_report_.clear();
  session_has_check_ = false;
  next_session_try_ = clock_.Now();
  PublishLocked();
}

void Watcher::ForgetSession(const std::string& session) {
  std::lock_guard lock(mu_);
  if (state_.session_id != session) return;
  spdlog::warn("consul: session {} expired or was invalidated", session);
  state_.session_id.clear();
  state_.lock_held = false;
  written_report_.clear();
  written_record_.clear();
  next_session_try_ = clock_.Now();
  PublishLocked();
}

bool Watcher::TryAcquire(Client& client) {
  std::lock_guard ops(lock_ops_mu_);
  std::string session, value;
  {
    std::lock_guard lock(mu_);
    if (!intent_.hold_lock || state_.session_id.empty() || state_.lock_held || !state_.lock_free) return false;
    session = state_.session_id;
    value = intent_.lock_record ? EncodeLockRecord(*intent_.lock_record) : std::string();
  }
  const TimePoint sent = clock_.Now();
  auto r = client.AcquireKey(config_.lock_key, session, value);
  Note("acquire lock", r.status());
  if (IsInvalidSession(r.status())) ForgetSession(session);
  if (!r.ok() || !*r) return false;
  spdlog::info("consul: acquired lock {} with session {}", config_.lock_key, session);
  std::lock_guard lock(mu_);
  if (state_.session_id == session) {
    state_.lock_held = true;
    state_.lock_free = false;
    state_.lock_holder_session = session;
    written_record_ = value;
    // The servers just accepted our session: the lease starts now, and from
    // now on it is renewed at the holder's pace.
    last_renew_ok_ = std::max(last_renew_ok_, sent);
    next_renew_ = std::min(next_renew_, sent + kHolderRenewPeriod);
    UpdateLeaseLocked();
    PublishLocked();
  }
  return true;
}

void Watcher::EnsureLockRecord(Client& client, const ConsulIntent& intent) {
  std::string session;
  {
    std::lock_guard lock(mu_);
    if (!state_.lock_held || !intent.lock_record || SameHolder(written_record_, *intent.lock_record)) return;
    session = state_.session_id;
  }
  // Re-acquiring a key we hold only rewrites its value; after a promotion the
  // record must carry the new replication ID, the lineage peers check.
  std::lock_guard ops(lock_ops_mu_);
  const std::string value = EncodeLockRecord(*intent.lock_record);
  auto r = client.AcquireKey(config_.lock_key, session, value);
  Note("write lock record", r.status());
  if (r.ok() && *r) {
    std::lock_guard lock(mu_);
    written_record_ = value;
  }
}

void Watcher::EnsureReport(Client& client, const ConsulIntent& intent) {
  const std::string key = MemberKeyPath();
  std::string session, written;
  TimePoint written_at;
  {
    std::lock_guard lock(mu_);
    session = state_.session_id;
    written = written_report_;
    written_at = report_written_at_;
  }
  if (!intent.report) {
    if (written.empty()) return;
    Status st = client.DeleteKey(key);
    Note("withdraw report", st);
    if (st.ok()) {
      std::lock_guard lock(mu_);
      written_report_.clear();
    }
    return;
  }
  if (session.empty()) return;
  const std::string value = EncodePeerReport(*intent.report);
  if (value == written) return;
  if (SameIdentity(written, *intent.report) && clock_.Now() - written_at < kReportOffsetInterval) return;
  // Written through our session so the key shows a live owner only while we
  // are alive; a dead agent's report loses its Session and is ignored.
  auto r = client.AcquireKey(key, session, value);
  Note("publish report", r.status());
  if (IsInvalidSession(r.status())) ForgetSession(session);
  if (r.ok() && *r) {
    std::lock_guard lock(mu_);
    written_report_ = value;
    report_written_at_ = clock_.Now();
  }
}

// ------------------------------------------------------------------ lock

void Watcher::LockLoop(std::stop_token stop) {
  auto client = make_client_(config_.healthcheck_timeout);
  {
    std::lock_guard lock(clients_mu_);
    live_clients_.push_back(client.get());
  }
  uint64_t index = 0;
  int failures = 0;
  milliseconds backoff{0};
  milliseconds quick{0};  // backoff for answers that did not block
  bool retry_acquire = false;
  while (!stop.stop_requested()) {
    bool held;
    {
      std::lock_guard lock(mu_);
      held = state_.lock_held;
    }
    QueryOptions q;
    q.index = retry_acquire ? 0 : index;
    q.wait = kBlockingWait;
    // While we hold the lock, read through the leader: a stale read could hide
    // that the lock is gone.
    q.consistent = held;
    const TimePoint started = clock_.Now();
    auto r = client->GetKey(config_.lock_key, q);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kCancelled) break;
      Note("watch lock", r.status());
      // A Consul that restarted has a smaller index: a stale one would park
      // the next query for the whole wait. Start over with a plain read.
      index = 0;
      if (held && IsTransport(r.status())) {
        // The original's monitor: a few retries before the lock counts as lost.
        if (++failures > config_.lock_monitor_retries) {
          spdlog::warn("consul: lost track of lock {} after {} failed reads", config_.lock_key, failures);
          std::lock_guard lock(mu_);
          state_.lock_held = false;
          PublishLocked();
        }
        Sleep(stop, config_.lock_monitor_retry_interval);
      } else {
        backoff = NextBackoff(backoff);
        Sleep(stop, backoff);
      }
      continue;
    }
    // A blocking read (index given) that came back at once unchanged did
    // not block; a plain read (index 0, after an error or to retry an
    // acquire) is meant to come back at once.
    const bool did_not_block =
        q.index != 0 && r->meta.index == index && clock_.Now() - started < kMinQueryInterval;
    failures = 0;
    backoff = milliseconds(0);
    Note("watch lock", Status::Ok());
    const uint64_t new_index = r->meta.index;
    // Consul's rules: an index that goes backwards (a restarted or new
    // leader's store) resets to 0; never block on an index below 1.
    index = new_index < index ? 0 : std::max<uint64_t>(new_index, 1);

    bool want = false;
    {
      std::lock_guard lock(mu_);
      const auto& pair = r->value;
      const std::string holder = pair ? pair->session : "";
      state_.lock_free = holder.empty();
      state_.lock_holder_session = holder;
      state_.lock_held = !holder.empty() && holder == state_.session_id;
      state_.lock_index = pair ? pair->lock_index : 0;
      state_.lock_modify_index = pair ? pair->modify_index : 0;
      state_.lock_record.reset();
      if (pair && !pair->value.empty()) {
        auto rec = DecodeLockRecord(pair->value);
        if (rec.ok()) state_.lock_record = *rec;
      }
      lock_ready_ = true;
      PublishLocked();
      want = intent_.hold_lock && state_.lock_free && !state_.session_id.empty();
    }
    // A real blocking answer or a change resets the pace.
    quick = did_not_block ? NextBackoff(quick) : milliseconds(0);
    retry_acquire = false;
    if (want && !TryAcquire(*client)) retry_acquire = true;
    if (retry_acquire) {
      Sleep(stop, kAcquireRetry);
    } else if (quick.count() > 0) {
      Sleep(stop, quick);
    }
  }
  std::lock_guard lock(clients_mu_);
  std::erase(live_clients_, client.get());
}

// ------------------------------------------------------------------ masters

void Watcher::WatchLoop(std::stop_token stop, const char* operation,
                        const std::function<StatusOr<uint64_t>(Client&, const QueryOptions&)>& read) {
  auto client = make_client_(config_.healthcheck_timeout);
  {
    std::lock_guard lock(clients_mu_);
    live_clients_.push_back(client.get());
  }
  uint64_t index = 0;
  milliseconds backoff{0};
  milliseconds quick{0};  // backoff for answers that did not block
  while (!stop.stop_requested()) {
    QueryOptions q;
    q.index = index;
    q.wait = kBlockingWait;
    const TimePoint started = clock_.Now();
    StatusOr<uint64_t> r = read(*client, q);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kCancelled) break;
      Note(operation, r.status());
      // A Consul that restarted has a smaller index: a stale one would park
      // the next query for the whole wait. Start over with a plain read.
      index = 0;
      backoff = NextBackoff(backoff);
      Sleep(stop, backoff);
      continue;
    }
    backoff = milliseconds(0);
    Note(operation, Status::Ok());
    const bool did_not_block = q.index != 0 && *r == index && clock_.Now() - started < kMinQueryInterval;
    index = *r < index ? 0 : std::max<uint64_t>(*r, 1);
    // A real blocking answer or a change resets the pace.
    quick = did_not_block ? NextBackoff(quick) : milliseconds(0);
    if (quick.count() > 0) Sleep(stop, quick);
  }
  std::lock_guard lock(clients_mu_);
  std::erase(live_clients_, client.get());
}

void Watcher::MasterLoop(std::stop_token stop) {
  const std::string service = config_.MasterServiceName();
  const std::string tag = config_.tag_mode() && !config_.master_tags.empty() ? config_.master_tags.front() : "";
  WatchLoop(stop, "watch masters", [&](Client& client, const QueryOptions& q) -> StatusOr<uint64_t> {
    auto r = client.HealthyInstances(service, tag, q);
    if (!r.ok()) return r.status();
    std::lock_guard lock(mu_);
    state_.masters = r->value;
    std::sort(state_.masters.begin(), state_.masters.end(),
              [](const ServiceInstance& a, const ServiceInstance& b) { return a.id < b.id; });
    state_.masters_known = true;
    masters_ready_ = true;
    PublishLocked();
    return r->meta.index;
  });
}

// ------------------------------------------------------------------ peers

void Watcher::PeersLoop(std::stop_token stop) {
  // One blocking read covers the members' reports and a switchover request.
  const std::string prefix = config_.lock_key + "/";
  const std::string members = MembersPrefix(config_.lock_key);
  const std::string switchover_key = SwitchoverKey(config_.lock_key);
  const std::string self = config_.ServiceId();
  WatchLoop(stop, "watch peers", [&](Client& client, const QueryOptions& q) -> StatusOr<uint64_t> {
    auto r = client.ListKeys(prefix, q);
    if (!r.ok()) return r.status();
    std::vector<PeerReport> peers;
    std::optional<SwitchoverRequest> request;
    std::lock_guard lock(mu_);
    for (const KvPair& kv : r->value) {
      if (kv.key == switchover_key) {
        auto req = DecodeSwitchoverRequest(kv.value);
        if (req.ok()) request = *req;
        continue;
      }
      if (kv.key.rfind(members, 0) != 0) continue;
      if (kv.session.empty()) continue;  // its agent's session is gone
      auto p = DecodePeerReport(kv.value);
      if (!p.ok() || (p->id == self && p->node == state_.node_name)) continue;
      peers.push_back(*p);
    }
    std::sort(peers.begin(), peers.end(), [](const PeerReport& a, const PeerReport& b) { return a.id < b.id; });
    state_.peers = std::move(peers);
    state_.switchover_request = request;
    PublishLocked();
    return r->meta.index;
  });
}

}  // namespace resec::consul
