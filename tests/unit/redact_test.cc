// Redaction of session IDs and URL passwords (RedactSecrets itself is
// covered in logging_test.cc, where it started).
#include "resec/redact.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace resec {
namespace {

struct Row {
  const char* name;
  std::string text;
  std::string want;
};

TEST(MaskUuids, KeepsTheFirstEightDigits) {
  const std::vector<Row> rows = {
      {"none", "no session here", "no session here"},
      {"alone", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
      {"in a URL", "PUT /v1/session/renew/1b4e28ba-2fa1-11d2-883f-0016d3cca427: 500",
       "PUT /v1/session/renew/1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx: 500"},
      {"in a query", "release=1B4E28BA-2FA1-11D2-883F-0016D3CCA427&x", "release=1B4E28BA-xxxx-xxxx-xxxx-xxxxxxxxxxxx&x"},
      {"in JSON", "{\"session_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}",
       "{\"session_id\":\"1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx\"}"},
      {"two", "a 00000000-0000-0000-0000-000000000000 b ffffffff-ffff-ffff-ffff-ffffffffffff",
       "a 00000000-xxxx-xxxx-xxxx-xxxxxxxxxxxx b ffffffff-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
      // Not UUIDs: part of a longer token, wrong shape, not hex.
      {"longer run before", "a1b4e28ba-2fa1-11d2-883f-0016d3cca427", "a1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
      {"longer run after", "1b4e28ba-2fa1-11d2-883f-0016d3cca4270", "1b4e28ba-2fa1-11d2-883f-0016d3cca4270"},
      {"short", "1b4e28ba-2fa1-11d2-883f-0016d3cca42", "1b4e28ba-2fa1-11d2-883f-0016d3cca42"},
      {"not hex", "1b4e28ba-2fa1-11d2-883f-0016d3cca42g", "1b4e28ba-2fa1-11d2-883f-0016d3cca42g"},
      // Redis run IDs and replication IDs: 40 hex digits, no dashes.
      {"run id", "run_id:4f2d8c1e0b9a7d6c5e4f3a2b1c0d9e8f7a6b5c4d", "run_id:4f2d8c1e0b9a7d6c5e4f3a2b1c0d9e8f7a6b5c4d"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(MaskUuids(row.text), row.want);
    EXPECT_EQ(MaskUuids(MaskUuids(row.text)), row.want) << "idempotent";
  }
}

TEST(RedactUrlPasswords, KeepsTheUserName) {
  const std::vector<Row> rows = {
      {"none", "redis at 127.0.0.1:6379", "redis at 127.0.0.1:6379"},
      {"no user-info", "http://127.0.0.1:8500/v1/kv/x?a=b@c", "http://127.0.0.1:8500/v1/kv/x?a=b@c"},
      {"user and password", "redis://resec:s3cret@10.0.0.1:6379/0", "redis://resec:[redacted]@10.0.0.1:6379/0"},
      {"password only", "redis://:s3cret@host:6379", "redis://:[redacted]@host:6379"},
      {"a bare token", "https://abc123token@consul:8501", "https://[redacted]@consul:8501"},
      {"password with a colon", "redis://u:a:b@h", "redis://u:[redacted]@h"},
      {"two, in JSON", "{\"a\":\"redis://u:p1@h\",\"b\":\"rediss://v:p2@k:1\"}",
       "{\"a\":\"redis://u:[redacted]@h\",\"b\":\"rediss://v:[redacted]@k:1\"}"},
      {"IPv6 host", "redis://u:p@[::1]:6379", "redis://u:[redacted]@[::1]:6379"},
      {"no scheme", "://u:p@h", "://u:p@h"},
      {"an @ after the path", "http://h/x@y", "http://h/x@y"},
      {"text after", "REDIS_ADDR: \"redis://:pw@h:6379\" is not host:port",
       "REDIS_ADDR: \"redis://:[redacted]@h:6379\" is not host:port"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(RedactUrlPasswords(row.text), row.want);
  }
}

TEST(Redactor, SecretsFirstThenUrlsThenSessions) {
  const std::string token = "0b7e2f1c-aaaa-4bbb-8ccc-0123456789ab";  // Consul tokens are UUIDs too
  const Redactor redact({"hunter2", token, ""});
  EXPECT_EQ(redact("auth hunter2 token " + token + " session 1b4e28ba-2fa1-11d2-883f-0016d3cca427 url "
                   "redis://u:other@h"),
            "auth [redacted] token [redacted] session 1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx url "
            "redis://u:[redacted]@h");
  EXPECT_EQ(Redactor({})("nothing to hide"), "nothing to hide");
}

}  // namespace
}  // namespace resec
