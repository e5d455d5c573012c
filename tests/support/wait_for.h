// WaitFor: poll a condition until it holds or a deadline passes. Tests wait on
// conditions, never on fixed sleeps.
//
// Thread-safety: stateless; `cond` runs on the calling thread.
#pragma once

#include <chrono>
#include <functional>

namespace resec::testing {

// True as soon as cond() returns true (checked at once, then every `poll`);
// false if it is still false when `timeout` has passed (cond() is evaluated
// one last time at the deadline).
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(20));

}  // namespace resec::testing
