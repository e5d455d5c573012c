// consul::Watcher: the actor that owns every conversation with Consul.
//
// It converges Consul on the reconciler's latest ConsulIntent (session, lock,
// service registration, TTL check, peer report) and publishes a complete
// ConsulState after every change it sees. Blocking queries need their own
// connections, so the actor runs four loops, each with its own Client:
//   control  - session create/renew/destroy, release, registration, check
//              refresh, peer report; applies new intents at once;
//   lock     - blocking reads of the lock key (consistent while we hold it),
//              acquires the moment the key turns free and we want it;
//   masters  - blocking health query of the passing master instances;
//   peers    - blocking read of the members' reports.
// Every loop backs off on errors and is rate-limited (answers that come back
// at once without a new index back off too), so a misbehaving Consul is never
// hammered; an error is logged once per change, not per retry.
// ConsulState::reachable means "the Consul agent answers at all": only failed
// exchanges (refused, reset, timed out, TLS) of two different operations
// clear it; an HTTP error status is an answer and keeps it.
//
// Thread-safety: Start/Stop/Shutdown from one owner thread. The publish
// callback is invoked from the actor's threads with the internal lock held
// (so snapshots are published in order); it must not block or call back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "resec/clock.h"
#include "resec/config.h"
#include "resec/consul/client.h"
#include "resec/queue.h"
#include "resec/state.h"

namespace resec::consul {

// Whether a failed call never got an answer from Consul's HTTP API at all
// (connection refused or reset, timeout, TLS, name resolution), as opposed to
// an answer carrying an error status (403, 429, 500 "No cluster leader", ...;
// Status::http_status, set by StatusFromHttp).
bool IsConnectionFailure(const Status& status);

// Makes a client whose plain (non-blocking) calls time out after `timeout`.
using ClientFactory = std::function<std::unique_ptr<Client>(std::chrono::milliseconds timeout)>;
using PublishConsulState = std::function<void(const ConsulState&)>;

class Watcher {
 public:
  Watcher(const Config& config, ClientFactory make_client, const Clock& clock,
          BoundedQueue<ConsulIntent>& intents, PublishConsulState publish);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  void Start();
  // Stops the loops (aborting blocking queries) and joins them. Idempotent.
  void Stop();
  // Stop(), then release the lock, withdraw the report, deregister and destroy
  // the session, all within `deadline`. What cannot be done in time is left to
  // Consul's TTLs. Idempotent.
  void Shutdown(std::chrono::milliseconds deadline);

 private:
  void ControlLoop(std::stop_token stop);
  void LockLoop(std::stop_token stop);
  void MasterLoop(std::stop_token stop);
  void PeersLoop(std::stop_token stop);
  // A blocking-read loop: `read` queries with the given index and returns
  // the answer's index (after recording what it read); errors back off and
  // reset the index; quiet answers are rate-limited.
  void WatchLoop(std::stop_token stop, const char* operation,
                 const std::function<StatusOr<uint64_t>(Client&, const QueryOptions&)>& read);

  void EnsureSession(Client& client, const ConsulIntent& intent);
  void EnsureRegistration(Client& client, const ConsulIntent& intent);
  void RefreshCheck(Client& client, const ConsulIntent& intent);
  void EnsureReport(Client& client, const ConsulIntent& intent);
  void EnsureLockRecord(Client& client, const ConsulIntent& intent);
  void ReleaseIfUnwanted(Client& client, const ConsulIntent& intent);
  bool TryAcquire(Client& client);
  // Drops a session Consul no longer knows; a new one is made at once.
  void ForgetSession(const std::string& session);
  // Ends a session we no longer want (not one holding the lock).
  void DropSession(Client& client, const std::string& session);

  ServiceRegistration RegistrationFor(RedisRole role) const;
  // Records the outcome of a call: reachability (logged when it changes) and
  // a once-per-change error line per operation.
  void Note(const char* operation, const Status& status);
  // REQUIRES: mu_ held.
  void PublishLocked();
  // <lock key>/members/<node>/<service ID>. Locks mu_.
  std::string MemberKeyPath() const;
  // REQUIRES: mu_ held. Recomputes state_.lease_deadline.
  void UpdateLeaseLocked();
  void Publish();
  bool Sleep(std::stop_token& stop, std::chrono::milliseconds d);

  const Config config_;
  ClientFactory make_client_;
  const Clock& clock_;
  BoundedQueue<ConsulIntent>& intents_;
  PublishConsulState publish_;

  mutable std::mutex mu_;  // guards everything below
  ConsulState state_;
  ConsulState last_published_;
  bool published_once_ = false;
  ConsulIntent intent_;
  bool have_intent_ = false;
  std::string written_record_;  // lock value we last wrote (to rewrite on change)
  std::string written_report_;
  TimePoint report_written_at_{};
  bool session_has_check_ = false;
  TimePoint next_renew_{}, last_renew_ok_{}, next_session_try_{}, next_check_{}, last_check_ok_{};
  std::chrono::milliseconds session_ttl_{0};
  std::string last_check_status_;  // the status last sent, accepted or not
  int session_failures_ = 0;
  // Registration (and deregistration) retries back off like session creation:
  // an endpoint answering 500 must not get ten calls a second.
  int register_failures_ = 0;
  TimePoint next_register_try_{};
  // Operations whose exchange failed since the last answer (any operation's).
  std::set<std::string> unanswered_;
  // Set when failed exchanges cleared state_.reachable, so "reachable again"
  // is logged only after a real outage (not for the first answer at start).
  bool lost_contact_ = false;
  bool cleaned_stale_registration_ = false;
  bool have_node_name_ = false;  // GUARDED_BY(mu_)
  std::map<std::string, std::string> last_errors_;  // operation -> last error logged
  std::string last_error_op_;
  std::string last_error_;
  bool control_ready_ = false, lock_ready_ = false, masters_ready_ = false;

  std::mutex lock_ops_mu_;  // serialises acquire and release between loops

  // Blocking loops' clients, cancelled by Stop() from another thread.
  std::mutex clients_mu_;
  std::vector<Client*> live_clients_;

  std::mutex sleep_mu_;
  std::condition_variable_any sleep_cv_;

  std::jthread control_, lock_, masters_, peers_;
  std::atomic<bool> stopped_{false};
  bool shut_down_ = false;
};

}  // namespace resec::consul
