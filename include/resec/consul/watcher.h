// consul::Watcher: the actor that owns every conversation with Consul.
//
// One thread, the actor, owns the control client (one kept-alive connection
// to the local Consul agent) and all Consul-side state: the session, the
// lock, the service registration and its TTL check, our peer report. It
// converges Consul on the reconciler's newest ConsulIntent and publishes a
// complete ConsulState (facts only, see state.h) after every change.
//
// Two BlockingWatch helpers keep Consul's long polls going, each on its own
// client, and only post their answers to the actor's mailbox:
//   "consul-kv"       the lock key and everything under it (one blocking read
//                     of the prefix covers the lock, the members' reports and
//                     a switchover request);
//   "consul-masters"  the passing instances of the master service.
// The actor acquires the lock the moment an answer shows it free while the
// intent wants it; it renews the session (the holder every
// kHolderRenewPeriod, others every TTL/2) and refreshes the check well inside
// its TTL. Every operation backs off on failure and logs its error once per
// change, not per retry.
//
// ConsulState::reachable means "the Consul agent answers at all": only failed
// exchanges (refused, reset, timed out, TLS) of two different operations
// clear it; an HTTP error status is an answer and keeps it.
//
// Start-up makes Consul's view true before anything else: the first call
// deregisters whatever a previous run of this agent left registered (a
// restarted host's Consul agent restores it, check state included), so this
// node never advertises a stale master.
//
// Thread-safety: SetIntent() from any thread; Start()/Stop() from the owner.
// The publish callback runs on the actor's thread and must not block.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "resec/clock.h"
#include "resec/config.h"
#include "resec/consul/blocking_watch.h"
#include "resec/consul/client.h"
#include "resec/mailbox.h"
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
  Watcher(const Config& config, ClientFactory make_client, const Clock& clock, PublishConsulState publish);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  void Start();
  // Ends the actor and its helpers (aborting blocking queries). Idempotent.
  // What the intent did not get done (a shutdown in progress) is left to
  // Consul's TTLs.
  void Stop();
  // The newest intent replaces any not yet seen.
  void SetIntent(ConsulIntent intent) { inbox_.Post(std::move(intent)); }

 private:
  // What the helpers post: one answer of their blocking read.
  struct KvAnswer {
    StatusOr<WithMeta<std::vector<KvPair>>> result;
  };
  struct MastersAnswer {
    StatusOr<WithMeta<std::vector<ServiceInstance>>> result;
  };
  using Inbox = Mailbox<std::variant<ConsulIntent, KvAnswer, MastersAnswer>>;

  void Run(std::stop_token stop);
  // One round: bring Consul in line with the intent. Returns when to run
  // again at the latest.
  TimePoint Converge();
  // Takes in what the mailbox handed over; true once it is closed.
  bool Absorb(Inbox::Batch batch);
  void Absorb(KvAnswer answer);
  void Absorb(MastersAnswer answer);

  bool LearnNodeName();  // false: failed, to be retried
  void CorrectGuessedNodeName(const std::string& session);
  bool CleanStaleRegistration();  // false: failed, to be retried
  void ReleaseIfUnwanted();
  void DestroyVotedOut();
  void RetireStaleMasters();
  void EnsureRegistration();
  void EnsureSession();
  void TryAcquire();
  void EnsureLockRecord();
  void RefreshCheck();
  void EnsureReport();
  void DoShutdown();
  // Drops a session Consul no longer knows; a new one is made at once.
  void ForgetSession(const std::string& session);
  // Ends a session we no longer want (not one holding the lock).
  void DropSession(const std::string& session);

  ServiceRegistration RegistrationFor(RedisRole role) const;
  // Records the outcome of a call: reachability (logged when it changes) and
  // a once-per-change error line per operation.
  void Note(const char* operation, const Status& status);
  void Publish();
  std::string MemberKeyPath() const;  // <lock key>/members/<node>/<service ID>

  const Config config_;
  const ClientFactory make_client_;
  const Clock& clock_;
  const PublishConsulState publish_;
  Inbox inbox_;
  std::unique_ptr<Client> client_;  // the actor's control connection
  BlockingWatch kv_watch_;
  BlockingWatch masters_watch_;

  // Actor thread only.
  ConsulState state_;
  std::optional<ConsulState> last_published_;
  ConsulIntent intent_;
  bool have_intent_ = false;
  bool closed_ = false;  // the mailbox was closed: Run() ends
  // Something arrived since the last round that a round acts on: an answer
  // of a watch, or a wish that differs in more than the check's text and
  // the report's offset (which a round only uses when its timer is due).
  bool round_wanted_ = true;
  bool have_node_name_ = false;
  // The node name is the host name standing in for one Consul refused to
  // tell: corrected from our first session Consul grants (LearnNodeName).
  bool node_name_guessed_ = false;
  bool cleaned_stale_registration_ = false;
  int startup_failures_ = 0;  // the two steps above, retried with backoff
  TimePoint next_startup_try_{};
  bool kv_ready_ = false, masters_ready_ = false;
  TimePoint next_acquire_at_{};   // a refused acquire of a free key is retried then
  std::string written_record_;    // lock value we last wrote (to rewrite on change)
  // The lock key's ModifyIndex as we last saw it before our own acquire or
  // release: an answer of the watch at or below it was read before that
  // write landed, and says nothing about the lock now (Absorb(KvAnswer)).
  uint64_t acquired_over_index_ = 0;
  uint64_t released_over_index_ = 0;
  std::string written_report_;
  TimePoint next_renew_{}, next_session_try_{}, next_check_{};
  std::string last_check_status_;  // the status last sent, accepted or not
  std::string check_output_;       // the output last sent (repeated between refreshes)
  TimePoint check_output_sent_at_{};
  int session_failures_ = 0;
  // Registration (and deregistration) retries back off like session creation:
  // an endpoint answering 500 must not get ten calls a second.
  int register_failures_ = 0;
  TimePoint next_register_try_{};
  int report_failures_ = 0;
  TimePoint next_report_try_{};
  TimePoint lock_read_failing_since_{};
  // Operations whose exchange failed since the last answer (any operation's).
  std::set<std::string> unanswered_;
  // Set when failed exchanges cleared state_.reachable, so "reachable again"
  // is logged only after a real outage (not for the first answer at start).
  bool lost_contact_ = false;
  std::map<std::string, std::string> last_errors_;  // operation -> last error logged
  std::string last_error_op_;
  bool shutdown_done_ = false;
  std::string destroyed_session_;  // the last voted-out session we ended
  std::string session_node_;       // peer mode: the server node our sessions live on
  uint64_t retired_term_ = 0;      // the lock term whose stale masters were retired
  TimePoint next_retire_at_{};

  std::jthread thread_;  // last: joined before the members it uses go
};

}  // namespace resec::consul
