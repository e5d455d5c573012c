#include "resec/consul/records.h"

#include <gtest/gtest.h>

namespace resec::consul {
namespace {

TEST(LockRecord, RoundTrips) {
  LockRecord r{"redis@:6379", "10.0.0.5", 6379, "abc", 12345, "redis@:6380"};
  r.node = "node-a";
  r.run_id = "0123456789abcdef0123456789abcdef01234567";
  auto back = DecodeLockRecord(EncodeLockRecord(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
}

TEST(PeerReport, RoundTrips) {
  PeerReport p{"redis@:6380", "", 6380, true, "slave", "r1", "r0", 99, 100, 42};
  p.cooling = true;
  auto back = DecodePeerReport(EncodePeerReport(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

TEST(Records, HostileInputIsAnErrorNotACrash) {
  const char* inputs[] = {"", "null", "[]", "{", "\"x\"", "{\"holder_id\":5}", "{\"port\":\"x\"}",
                          "{\"holder_id\":\"a\",\"offset\":1e999}", "\xff\xfe", "{}"};
  for (const char* in : inputs) {
    SCOPED_TRACE(in);
    EXPECT_FALSE(DecodeLockRecord(in).ok());
    EXPECT_FALSE(DecodePeerReport(in).ok());
  }
}

TEST(Records, InvalidUtf8IsReplacedNotThrown) {
  LockRecord r{"id\xff", "", 1, "", 0, ""};
  EXPECT_FALSE(EncodeLockRecord(r).empty());
}

TEST(Records, MembersLiveBesideTheLockKey) { EXPECT_EQ(MembersPrefix("resec/.lock"), "resec/.lock/members/"); }

}  // namespace
}  // namespace resec::consul
