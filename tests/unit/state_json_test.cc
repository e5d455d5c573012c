// What the state's JSON (ToJson: /state, the SIGUSR1/SIGUSR2 dumps and the
// LOG_LEVEL=debug field diffs all use it) may carry.
#include <gtest/gtest.h>

#include <string>

#include "resec/state.h"

namespace resec {
namespace {

// Issue 16, item 5: a Consul session ID lets whoever knows it release the
// lock (PUT /v1/kv/<key>?release=<session>), and the state server listens on
// 0.0.0.0 by default. Today the state server and the log sink mask every
// UUID on the way out (resec/redact.h), so no channel shows one (proven end
// to end by Security.NoSecretOrLockSessionInAnyChannel); this asks the
// source to stop handing them out. DISABLED until the rewritten core's
// ToJson(ConsulState) drops `session_id` and `lock_holder_session` (a
// `session` boolean and "held by us / another / nobody" say what an operator
// needs); then enable it.
TEST(StateJson, DISABLED_CarriesNoLockSessionId) {
  ConsulState s;
  s.session_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
  s.lock_holder_session = "6fa459ea-ee8a-3ca4-894e-db77e160355e";
  s.lock_held = false;
  const std::string json = ToJson(s).dump();
  EXPECT_EQ(json.find(s.session_id), std::string::npos) << json;
  EXPECT_EQ(json.find(s.lock_holder_session), std::string::npos) << json;
  EXPECT_EQ(json.find("1b4e28ba"), std::string::npos) << json;
}

}  // namespace
}  // namespace resec
