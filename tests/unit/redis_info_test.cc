// ParseInfo: one row per INFO shape the agent meets (samples taken from
// redis-server 7.0), plus the malformed inputs it must survive.
#include "resec/redis/info.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace resec::redis {
namespace {

constexpr const char* kMaster =
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:standalone\r\n"
    "\r\n"
    "# Persistence\r\n"
    "loading:0\r\n"
    "async_loading:0\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:1\r\n"
    "slave0:ip=127.0.0.1,port=27102,state=online,offset=50,lag=0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:d503fc165a7146baabc16609e913bf7ef4ff9053\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:50\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:50\r\n";

constexpr const char* kReplicaLinked =
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:27101\r\n"
    "master_link_status:up\r\n"
    "master_last_io_seconds_ago:3\r\n"
    "master_sync_in_progress:0\r\n"
    "slave_read_repl_offset:50\r\n"
    "slave_repl_offset:50\r\n"
    "slave_priority:100\r\n"
    "slave_read_only:1\r\n"
    "replica_announced:1\r\n"
    "connected_slaves:0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:d503fc165a7146baabc16609e913bf7ef4ff9053\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:50\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n";

constexpr const char* kReplicaSyncing =
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:10.0.0.5\r\n"
    "master_port:6379\r\n"
    "master_link_status:down\r\n"
    "master_last_io_seconds_ago:-1\r\n"
    "master_sync_in_progress:1\r\n"
    "slave_read_repl_offset:0\r\n"
    "slave_repl_offset:0\r\n"
    "master_sync_total_bytes:-1\r\n"
    "master_sync_read_bytes:0\r\n"
    "master_sync_left_bytes:-1\r\n"
    "master_sync_perc:-0.00\r\n"
    "master_sync_last_io_seconds_ago:0\r\n"
    "master_link_down_since_seconds:-1\r\n"
    "connected_slaves:0\r\n"
    "master_replid:fe8b176ff40a2301d0ed1229ae03dd7a38f4d714\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:0\r\n"
    "second_repl_offset:-1\r\n";

constexpr const char* kReplicaLinkDown =
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:27101\r\n"
    "master_link_status:down\r\n"
    "master_last_io_seconds_ago:-1\r\n"
    "master_sync_in_progress:0\r\n"
    "slave_read_repl_offset:50\r\n"
    "slave_repl_offset:50\r\n"
    "master_link_down_since_seconds:12\r\n"
    "slave_priority:100\r\n"
    "connected_slaves:0\r\n"
    "master_replid:d503fc165a7146baabc16609e913bf7ef4ff9053\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:50\r\n"
    "second_repl_offset:-1\r\n";

constexpr const char* kLoading =
    "# Persistence\r\n"
    "loading:1\r\n"
    "async_loading:0\r\n"
    "loading_start_time:1795810020\r\n"
    "loading_total_bytes:104857600\r\n"
    "loading_rdb_used_mem:0\r\n"
    "loading_loaded_bytes:1048576\r\n"
    "loading_loaded_perc:1.00\r\n"
    "loading_eta_seconds:12\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:0\r\n"
    "master_replid:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:0\r\n"
    "second_repl_offset:-1\r\n";

// A master promoted from replica: it keeps the old history as replid2.
constexpr const char* kPromotedMaster =
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:2\r\n"
    "master_replid:1111111111111111111111111111111111111111\r\n"
    "master_replid2:d503fc165a7146baabc16609e913bf7ef4ff9053\r\n"
    "master_repl_offset:9000\r\n"
    "second_repl_offset:8001\r\n";

struct Row {
  std::string name;
  std::string text;
  std::function<void(RedisState&)> expect;  // edits a default RedisState into the expected one
};

std::vector<Row> Rows() {
  return {
      {"empty input", "", [](RedisState&) {}},
      {"master", kMaster,
       [](RedisState& s) {
         s.role = RedisRole::kMaster;
         s.connected_slaves = 1;
         s.replicas = {{"127.0.0.1", 27102, "online", 50}};
         s.master_replid = "d503fc165a7146baabc16609e913bf7ef4ff9053";
         s.master_replid2 = "0000000000000000000000000000000000000000";
         s.master_repl_offset = 50;
         s.second_repl_offset = -1;
         s.repl_backlog_active = true;
       }},
      {"master without a backlog yet", "role:master\r\nrepl_backlog_active:0\r\n",
       [](RedisState& s) { s.role = RedisRole::kMaster; }},
      {"replica linked", kReplicaLinked,
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_host = "127.0.0.1";
         s.master_port = 27101;
         s.master_link_up = true;
         s.slave_repl_offset = 50;
         s.master_replid = "d503fc165a7146baabc16609e913bf7ef4ff9053";
         s.master_replid2 = "0000000000000000000000000000000000000000";
         s.master_repl_offset = 50;
         s.repl_backlog_active = true;
       }},
      {"replica syncing", kReplicaSyncing,
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_host = "10.0.0.5";
         s.master_port = 6379;
         s.master_sync_in_progress = true;
         s.master_link_down_since_seconds = -1;
         s.master_replid = "fe8b176ff40a2301d0ed1229ae03dd7a38f4d714";
         s.master_replid2 = "0000000000000000000000000000000000000000";
       }},
      {"replica link down", kReplicaLinkDown,
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_host = "127.0.0.1";
         s.master_port = 27101;
         s.master_link_down_since_seconds = 12;
         s.slave_repl_offset = 50;
         s.master_replid = "d503fc165a7146baabc16609e913bf7ef4ff9053";
         s.master_replid2 = "0000000000000000000000000000000000000000";
         s.master_repl_offset = 50;
       }},
      {"loading", kLoading,
       [](RedisState& s) {
         s.role = RedisRole::kMaster;
         s.loading = true;
         s.master_replid = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
         s.master_replid2 = "0000000000000000000000000000000000000000";
       }},
      {"promoted master keeps replid2", kPromotedMaster,
       [](RedisState& s) {
         s.role = RedisRole::kMaster;
         s.connected_slaves = 2;
         s.master_replid = "1111111111111111111111111111111111111111";
         s.master_replid2 = "d503fc165a7146baabc16609e913bf7ef4ff9053";
         s.master_repl_offset = 9000;
         s.second_repl_offset = 8001;
       }},
      {"LF line endings", "role:slave\nmaster_host:h\nmaster_port:7000\nmaster_link_status:up\n",
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_host = "h";
         s.master_port = 7000;
         s.master_link_up = true;
       }},
      {"no trailing newline", "role:master\r\nmaster_repl_offset:77",
       [](RedisState& s) {
         s.role = RedisRole::kMaster;
         s.master_repl_offset = 77;
       }},
      {"truncated mid-line", "role:slave\r\nmaster_host:10.0.0.9\r\nmaster_po",
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_host = "10.0.0.9";
       }},
      {"truncated mid-value", "role:master\r\nmaster_repl_offset:12",
       [](RedisState& s) {
         s.role = RedisRole::kMaster;
         s.master_repl_offset = 12;
       }},
      {"garbage lines skipped", "\x01\x02garbage\r\n:::\r\nno colon here\r\n:value-without-key\r\nrole:master\r\n",
       [](RedisState& s) { s.role = RedisRole::kMaster; }},
      {"binary garbage only", std::string("\0\xff\xfe\n\n\r\n", 7), [](RedisState&) {}},
      {"comments and unknown fields", "# Keyspace\r\ndb0:keys=1,expires=0\r\nfuture_field:42\r\n#role:slave\r\n",
       [](RedisState&) {}},
      {"huge offset ignored, not saturated",
       "role:master\r\nmaster_repl_offset:99999999999999999999999\r\nconnected_slaves:3\r\n",
       [](RedisState& s) {
         s.role = RedisRole::kMaster;
         s.connected_slaves = 3;
       }},
      {"huge port ignored", "role:slave\r\nmaster_port:4294967296\r\n",
       [](RedisState& s) { s.role = RedisRole::kReplica; }},
      {"non-numeric numbers ignored", "role:slave\r\nmaster_port:abc\r\nslave_repl_offset:12x\r\nmaster_port: 1\r\n",
       [](RedisState& s) { s.role = RedisRole::kReplica; }},
      {"unknown role stays unknown", "role:sentinel\r\n", [](RedisState&) {}},
      {"link status other than up is down", "role:slave\r\nmaster_link_status:UP\r\n",
       [](RedisState& s) { s.role = RedisRole::kReplica; }},
      {"flags other than 0/1 ignored", "loading:yes\r\nmaster_sync_in_progress:2\r\n", [](RedisState&) {}},
      {"negative link-down seconds", "role:slave\r\nmaster_link_down_since_seconds:-1\r\n",
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_link_down_since_seconds = -1;
       }},
      {"value with colons kept whole", "role:slave\r\nmaster_host:fe80::1\r\n",
       [](RedisState& s) {
         s.role = RedisRole::kReplica;
         s.master_host = "fe80::1";
       }},
      {"later line wins", "role:slave\r\nrole:master\r\n", [](RedisState& s) { s.role = RedisRole::kMaster; }},
  };
}

TEST(RedisInfoTest, ParsesEveryRow) {
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    RedisState expected;
    row.expect(expected);
    expected.info = row.text;
    const RedisState got = ParseInfo(row.text);
    EXPECT_EQ(got, expected);
    // ParseInfo never decides health: that is the watcher's job.
    EXPECT_FALSE(got.ready);
    EXPECT_FALSE(got.healthy);
    EXPECT_TRUE(got.error.empty());
  }
}

TEST(RedisInfoTest, RowsAreNamedUniquely) {
  std::vector<std::string> names;
  for (const Row& row : Rows()) names.push_back(row.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_GE(names.size(), 15u);
}

TEST(RedisInfoTest, DataOffsetFollowsRole) {
  EXPECT_EQ(ParseInfo(kReplicaLinkDown).DataOffset(), 50);
  EXPECT_EQ(ParseInfo(kPromotedMaster).DataOffset(), 9000);
}

}  // namespace
}  // namespace resec::redis

namespace resec::redis {
namespace {

TEST(ParseInfo, ReadsTheMastersReplicas) {
  const RedisState s = ParseInfo(
      "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
      "slave0:ip=127.0.0.1,port=6380,state=online,offset=1234,lag=0\r\n"
      "slave1:ip=10.0.0.2,port=6381,state=wait_bgsave,offset=0,lag=1\r\n"
      "slave2:garbage\r\nslaveX:ip=1,port=2\r\n");
  ASSERT_EQ(s.replicas.size(), 2u);
  EXPECT_EQ(s.replicas[0].ip, "127.0.0.1");
  EXPECT_EQ(s.replicas[0].port, 6380);
  EXPECT_EQ(s.replicas[0].state, "online");
  EXPECT_EQ(s.replicas[0].offset, 1234);
  EXPECT_EQ(s.replicas[1].state, "wait_bgsave");
}

}  // namespace
}  // namespace resec::redis
