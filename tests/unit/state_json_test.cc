// What the state's JSON (ToJson: /state, the SIGUSR1/SIGUSR2 dumps and the
// LOG_LEVEL=debug field diffs all use it) may carry.
#include <gtest/gtest.h>

#include <string>

#include "resec/state.h"

namespace resec {
namespace {

// Issue 16, item 5: whoever knows the holder's session ID can release its
// lock (PUT /v1/kv/<key>?release=<session>), and the state server listens on
// 0.0.0.0 by default. The JSON that /state, the dumps and the debug field
// diffs show carries session IDs masked at the source (redact.h), the first
// 8 digits telling two sessions apart, never the whole ID; the state server
// and the log sink mask every UUID on the way out as well
// (Security.NoSecretOrLockSessionInAnyChannel).
TEST(StateJson, CarriesNoLockSessionId) {
  ConsulState s;
  s.session_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
  s.lock_holder_session = "6fa459ea-ee8a-3ca4-894e-db77e160355e";
  s.lock_held = false;
  const nlohmann::json j = ToJson(s);
  const std::string json = j.dump();
  EXPECT_EQ(json.find(s.session_id), std::string::npos) << json;
  EXPECT_EQ(json.find(s.lock_holder_session), std::string::npos) << json;
  EXPECT_EQ(json.find("2fa1-11d2-883f-0016d3cca427"), std::string::npos) << json;
  EXPECT_EQ(j["session_id"], "1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
  EXPECT_EQ(j["lock_holder_session"], "6fa459ea-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
}

}  // namespace
}  // namespace resec
