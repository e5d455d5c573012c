// Proof that the thread-safety analysis is on and that resec's annotations
// mean what they say: clang's -verify mode compiles this file and succeeds
// only if it reports exactly the warnings each marked line expects, no more
// and no fewer. Built by the RESEC_THREAD_SAFETY configuration (the
// `thread_safety_verify` target), never linked.
//
// Thread-safety: not code that runs.
#include "resec/clock.h"
#include "resec/mutex.h"
#include "resec/mailbox.h"

#include <variant>

namespace resec {
namespace {

class Counter {
 public:
  void Locked() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    ++count_;
  }
  void Unlocked() {
    ++count_;  // expected-warning {{writing variable 'count_' requires holding mutex 'mu_' exclusively}}
  }
  int Read() const {
    return count_;  // expected-warning {{reading variable 'count_' requires holding mutex 'mu_'}}
  }
  void BumpLocked() REQUIRES(mu_) { ++count_; }
  void CallsWithoutLock() {
    BumpLocked();  // expected-warning {{calling function 'BumpLocked' requires holding mutex 'mu_' exclusively}}
  }
  void LocksTwice() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    Locked();  // expected-warning {{cannot call function 'Locked' while mutex 'mu_' is held}}
  }
  void LeavesLocked() {
    mu_.Lock();  // expected-note {{mutex acquired here}}
  }  // expected-warning {{mutex 'mu_' is still held at the end of function}}

  void WaitAnnotated() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    cv_.Wait(mu_, [&]() REQUIRES(mu_) { return count_ > 0; });
  }
  void WaitUnannotatedPredicate() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    cv_.Wait(mu_, [&] {
      return count_ > 0;  // expected-warning {{reading variable 'count_' requires holding mutex 'mu_'}}
    });
  }
  void WaitWithoutLock() {
    cv_.Wait(mu_, [&]() REQUIRES(mu_) { return count_ > 0; });  // expected-warning {{calling function 'Wait<(lambda at}}
  }

 private:
  mutable Mutex mu_;
  CondVar cv_;
  int count_ GUARDED_BY(mu_) = 0;
};

// The annotated library types compile cleanly when used as documented.
[[maybe_unused]] int UseLibraryTypes() {
  Mailbox<std::variant<int>, int> mailbox;
  (void)mailbox.Post(std::variant<int>(1));
  (void)mailbox.Send(2);
  FakeClock clock;
  clock.Advance(std::chrono::seconds(1));
  const auto batch = mailbox.TakeAll();
  return static_cast<int>(batch.states.size() + batch.commands.size()) +
         static_cast<int>(clock.Now().time_since_epoch().count() > 0);
}

}  // namespace
}  // namespace resec
