// Clang's thread-safety annotations, so the compiler checks which mutex
// guards which member and which functions expect it held
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html). Under clang they
// become attributes, checked when built with -Wthread-safety (CMake option
// RESEC_THREAD_SAFETY); under gcc they expand to nothing.
//
// The annotations need an annotated mutex: libstdc++'s std::mutex is not
// one, so annotated code locks resec::Mutex (resec/mutex.h).
//
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_);          // read or written only with mu_ held
//   void Bump() REQUIRES(mu_);           // the caller holds mu_
//   void Flush() EXCLUDES(mu_);          // the caller must not hold mu_ (it locks it)
//   [&]() REQUIRES(mu_) { return count_ > 0; }   // a predicate run with mu_ held
//
// Thread-safety: macros only.
#pragma once

#if defined(__clang__)
#define RESEC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define RESEC_THREAD_ANNOTATION(x)
#endif

// A type that is a lock (Mutex) or an RAII holder of one (MutexLock).
#define CAPABILITY(name) RESEC_THREAD_ANNOTATION(capability(name))
#define SCOPED_CAPABILITY RESEC_THREAD_ANNOTATION(scoped_lockable)

// Data: read and written only with the capability held (PT_: the pointee).
#define GUARDED_BY(x) RESEC_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) RESEC_THREAD_ANNOTATION(pt_guarded_by(x))

// Lock order between capabilities.
#define ACQUIRED_BEFORE(...) RESEC_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) RESEC_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

// Functions: what the caller must (not) hold, and what a call takes or gives back.
#define REQUIRES(...) RESEC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) RESEC_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) RESEC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) RESEC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) RESEC_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) RESEC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) RESEC_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) RESEC_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) RESEC_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) RESEC_THREAD_ANNOTATION(lock_returned(x))

// Turns the analysis off for one function; say why next to it.
#define NO_THREAD_SAFETY_ANALYSIS RESEC_THREAD_ANNOTATION(no_thread_safety_analysis)
