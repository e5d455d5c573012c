// `resec status`: merging Consul's answers into the group view, the table and
// the JSON, from plain structs.
#include "resec/cli/status.h"

#include <functional>
#include <tuple>

#include <gtest/gtest.h>

#include "resec/consul/json_codec.h"
#include "resec/consul/records.h"

namespace resec::cli {
namespace {

using consul::CheckResult;
using consul::KvPair;
using consul::ServiceHealth;

constexpr char kLock[] = "resec/.lock";

// `node` empty: a record as agents wrote it before it carried the node.
KvPair Lock(const std::string& holder, int port, bool held, uint64_t lock_index = 3, const std::string& node = "") {
  KvPair kv;
  kv.key = kLock;
  LockRecord record;
  record.holder_id = holder;
  record.node = node;
  record.port = port;
  record.replid = "replid-1";
  record.offset = 100;
  kv.value = consul::EncodeLockRecord(record);
  kv.session = held ? "sess-" + holder : "";
  kv.lock_index = lock_index;
  return kv;
}

// `node` empty: a report as agents filed it before reports carried the node
// (under <members>/<ID>); otherwise as they do now (<members>/<node>/<ID>).
KvPair Report(const std::string& id, int port, const std::string& role, int64_t offset, bool live = true,
              bool healthy = true, const std::string& node = "") {
  KvPair kv;
  kv.key = consul::MembersPrefix(kLock) + (node.empty() ? id : MemberKey(node, id));
  PeerReport report;
  report.id = id;
  report.node = node;
  report.port = port;
  report.healthy = healthy;
  report.role = role;
  report.replid = "replid-1";
  report.offset = offset;
  report.priority = 100;
  kv.value = consul::EncodePeerReport(report);
  kv.session = live ? "sess-" + node + id : "";
  return kv;
}

std::string ReplicaInfo(bool link_up) {
  return std::string("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6380\r\nmaster_link_status:") +
         (link_up ? "up" : "down") + "\r\n";
}

ServiceHealth Instance(const std::string& id, const std::string& service, int port, const std::string& status,
                       const std::string& output = "", std::vector<std::string> tags = {},
                       const std::string& node = "node1", const std::string& address = "10.0.0.1") {
  ServiceHealth h;
  h.instance = ServiceInstance{id, node, address, port, std::move(tags)};
  h.service_name = service;
  h.checks.push_back(CheckResult{"serfHealth", "Serf Health Status", "passing", "Agent alive and reachable", ""});
  h.checks.push_back(CheckResult{id + ":replication-status-check", "Resec: replication status", status, output, id});
  return h;
}

// A converged prefix-mode group: :6380 master, :6381 and :6382 replicas.
StatusInputs Healthy() {
  StatusInputs in;
  in.lock = Lock("redis@:6380", 6380, true);
  in.reports = {Report("redis@:6380", 6380, "master", 1000), Report("redis@:6381", 6381, "slave", 990),
                Report("redis@:6382", 6382, "slave", 1000)};
  in.instances = {Instance("redis@:6380", "redis-master", 6380, "passing", "# Replication\r\nrole:master\r\n"),
                  Instance("redis@:6381", "redis-slave", 6381, "passing", ReplicaInfo(true)),
                  Instance("redis@:6382", "redis-slave", 6382, "passing", ReplicaInfo(true))};
  return in;
}

// A converged production-shaped group: hosts h1 (master), h2 and h3, Redis on
// 6379 with REDIS_ADDR=127.0.0.1:6379 on each, so every agent registers
// redis@:6379 without an address and Consul shows the node's.
StatusInputs SamePort() {
  const std::string id = "redis@:6379";
  StatusInputs in;
  in.lock = Lock(id, 6379, true, 5, "h1");
  in.reports = {Report(id, 6379, "master", 1000, true, true, "h1"), Report(id, 6379, "slave", 990, true, true, "h2"),
                Report(id, 6379, "slave", 1000, true, true, "h3")};
  in.instances = {
      Instance(id, "redis-master", 6379, "passing", "# Replication\r\nrole:master\r\n", {}, "h1", "10.0.1.1"),
      Instance(id, "redis-slave", 6379, "passing", ReplicaInfo(true), {}, "h2", "10.0.1.2"),
      Instance(id, "redis-slave", 6379, "passing", ReplicaInfo(true), {}, "h3", "10.0.1.3")};
  return in;
}

// The member with this ID (on this node, when given).
const MemberStatus* Member(const GroupStatus& g, const std::string& id, const std::string& node = "") {
  for (const auto& m : g.members) {
    if (m.id == id && (node.empty() || m.node == node)) return &m;
  }
  return nullptr;
}

bool HasWarning(const GroupStatus& g, const std::string& fragment) {
  for (const auto& w : g.warnings) {
    if (w.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(BuildGroupStatus, HealthyGroupMarksTheHolderAndComputesLag) {
  const GroupStatus g = BuildGroupStatus(Healthy(), GroupScope{});
  ASSERT_EQ(g.members.size(), 3u);
  EXPECT_TRUE(g.lock_held);
  EXPECT_EQ(g.holder_id, "redis@:6380");
  EXPECT_EQ(g.lock_index, 3u);
  EXPECT_EQ(g.passing_masters, 1);
  EXPECT_TRUE(g.warnings.empty()) << g.warnings.front();
  EXPECT_EQ(g.members[0].id, "redis@:6380");  // holder first
  EXPECT_TRUE(g.members[0].holder);
  EXPECT_EQ(g.members[0].role, "master");
  EXPECT_EQ(g.members[0].lag, 0);
  EXPECT_EQ(g.members[0].master_link, "");
  const MemberStatus* r1 = Member(g, "redis@:6381");
  ASSERT_NE(r1, nullptr);
  EXPECT_FALSE(r1->holder);
  EXPECT_EQ(r1->role, "slave");
  EXPECT_EQ(r1->health, "healthy");
  EXPECT_EQ(r1->offset, 990);
  EXPECT_EQ(r1->lag, 10);
  EXPECT_EQ(r1->master_link, "up");
  EXPECT_EQ(r1->check_status, "passing");
  EXPECT_EQ(r1->registered_as, "slave");
  EXPECT_EQ(r1->service, "redis-slave");
  EXPECT_EQ(r1->address, "10.0.0.1:6381");  // the instance's (node) address, not the report's ":6381"
}

// Reports carry an offset only as fresh as the last change of identity; the
// master's INFO, which the command reads, is the source when it has it.
TEST(BuildGroupStatus, OffsetsComeFromTheMastersInfo) {
  StatusInputs in = SamePort();
  RedisState info;
  info.role = RedisRole::kMaster;
  info.master_repl_offset = 5000;
  info.replicas = {RedisState::Replica{.ip = "10.0.1.2", .port = 6379, .state = "online", .offset = 4990},
                   RedisState::Replica{.ip = "10.0.1.3", .port = 6379, .state = "online", .offset = 5000}};
  in.master_info = info;
  const GroupStatus g = BuildGroupStatus(in, GroupScope{});
  const std::string id = "redis@:6379";
  ASSERT_NE(Member(g, id, "h1"), nullptr);
  EXPECT_EQ(Member(g, id, "h1")->offset, 5000);
  EXPECT_EQ(Member(g, id, "h2")->offset, 4990);
  EXPECT_EQ(Member(g, id, "h2")->lag, 10);
  EXPECT_EQ(Member(g, id, "h3")->offset, 5000);
  EXPECT_EQ(Member(g, id, "h3")->lag, 0);

  // A replica the master does not list has no offset to show.
  in.master_info->replicas.pop_back();
  const GroupStatus partial = BuildGroupStatus(in, GroupScope{});
  EXPECT_FALSE(Member(partial, id, "h3")->offset);
  EXPECT_FALSE(Member(partial, id, "h3")->lag);

  // Unreadable: the reports' offsets, and a warning that they may be old.
  StatusInputs unread = SamePort();
  unread.master_info_error = "cannot read INFO of the master at 10.0.1.1:6379: refused";
  const GroupStatus old = BuildGroupStatus(unread, GroupScope{});
  EXPECT_EQ(Member(old, id, "h2")->offset, 990);
  EXPECT_TRUE(HasWarning(old, "may be old")) << ::testing::PrintToString(old.warnings);
}

// One row per situation an operator must be able to read off the view.
TEST(BuildGroupStatus, Situations) {
  struct Case {
    std::string name;
    std::function<void(StatusInputs&, GroupScope&)> change;
    std::function<void(const GroupStatus&)> check;
  };
  const std::vector<Case> cases = {
      {"lock free keeps the last record but marks no holder",
       [](StatusInputs& in, GroupScope&) { in.lock = Lock("redis@:6380", 6380, false); },
       [](const GroupStatus& g) {
         EXPECT_FALSE(g.lock_held);
         EXPECT_EQ(g.holder_id, "");
         ASSERT_TRUE(g.lock_record);
         EXPECT_EQ(g.lock_record->holder_id, "redis@:6380");
         for (const auto& m : g.members) EXPECT_FALSE(m.holder) << m.id;
         for (const auto& m : g.members) EXPECT_FALSE(m.lag) << m.id;
         EXPECT_TRUE(HasWarning(g, "nobody holds the lock"));
       }},
      {"no lock key at all",
       [](StatusInputs& in, GroupScope&) { in.lock.reset(); },
       [](const GroupStatus& g) {
         EXPECT_FALSE(g.lock_held);
         EXPECT_FALSE(g.lock_record);
         EXPECT_TRUE(HasWarning(g, "nobody holds the lock"));
       }},
      {"a report without a session is an agent that is gone",
       [](StatusInputs& in, GroupScope&) {
         in.reports[2] = Report("redis@:6382", 6382, "slave", 10, /*live=*/false);
         in.instances[2].checks[1].status = "critical";
       },
       [](const GroupStatus& g) {
         const MemberStatus* m = Member(g, "redis@:6382");
         ASSERT_NE(m, nullptr);
         EXPECT_EQ(m->health, "gone");
         EXPECT_FALSE(m->report_live);
         EXPECT_EQ(m->role, "slave");  // from the registration, not the stale report
         EXPECT_FALSE(m->lag);
         EXPECT_EQ(m->check_status, "critical");
       }},
      {"an unhealthy Redis as its agent reports it",
       [](StatusInputs& in, GroupScope&) {
         in.reports[1] = Report("redis@:6381", 6381, "unknown", 0, true, /*healthy=*/false);
       },
       [](const GroupStatus& g) { EXPECT_EQ(Member(g, "redis@:6381")->health, "unhealthy"); }},
      {"a member that only reports (not registered: syncing, or deregistered)",
       [](StatusInputs& in, GroupScope&) { in.instances.pop_back(); },
       [](const GroupStatus& g) {
         const MemberStatus* m = Member(g, "redis@:6382");
         ASSERT_NE(m, nullptr);
         EXPECT_EQ(m->registered_as, "");
         EXPECT_EQ(m->check_status, "");
         EXPECT_EQ(m->address, ":6382");  // the report's announce address
         EXPECT_EQ(m->lag, 0);
       }},
      {"two passing masters",
       [](StatusInputs& in, GroupScope&) {
         in.instances[1] = Instance("redis@:6381", "redis-master", 6381, "passing");
         in.reports[1] = Report("redis@:6381", 6381, "master", 990);
       },
       [](const GroupStatus& g) {
         EXPECT_EQ(g.passing_masters, 2);
         EXPECT_TRUE(HasWarning(g, "2 passing masters"));
         EXPECT_TRUE(HasWarning(g, "redis@:6381: Redis is a master but does not hold the lock"));
       }},
      {"a replica that looks ahead of its master has no negative lag",
       [](StatusInputs& in, GroupScope&) { in.reports[1] = Report("redis@:6381", 6381, "slave", 1200); },
       [](const GroupStatus& g) { EXPECT_EQ(Member(g, "redis@:6381")->lag, 0); }},
      {"a passing replica's link is up, whatever stale INFO its output holds",
       [](StatusInputs& in, GroupScope&) { in.instances[1].checks[1].output = ReplicaInfo(false); },
       [](const GroupStatus& g) { EXPECT_EQ(Member(g, "redis@:6381")->master_link, "up"); }},
      {"a replica not passing: the link as its check output's INFO says",
       [](StatusInputs& in, GroupScope&) {
         in.instances[1].checks[1].status = "warning";
         in.instances[1].checks[1].output = ReplicaInfo(false);
         in.instances[2].checks[1].status = "warning";
         in.instances[2].checks[1].output = "";
       },
       [](const GroupStatus& g) {
         EXPECT_EQ(Member(g, "redis@:6381")->master_link, "down");
         EXPECT_EQ(Member(g, "redis@:6382")->master_link, "down");
       }},
      {"a replica held off every master (docs/failover.md) shows as held",
       [](StatusInputs& in, GroupScope&) {
         in.instances[1].checks[1].status = "warning";
         in.instances[1].checks[1].output =
             "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:0\r\nmaster_link_status:down\r\n";
       },
       [](const GroupStatus& g) { EXPECT_EQ(Member(g, "redis@:6381")->master_link, "held"); }},
      {"the worst check wins (a failing node fails the instance)",
       [](StatusInputs& in, GroupScope&) { in.instances[0].checks[0].status = "critical"; },
       [](const GroupStatus& g) {
         EXPECT_EQ(g.members[0].check_status, "critical");
         EXPECT_EQ(g.passing_masters, 0);
         EXPECT_TRUE(HasWarning(g, "lock holder redis@:6380 is not a passing master"));
       }},
      {"instances of other programs or groups are ignored",
       [](StatusInputs& in, GroupScope&) { in.instances.push_back(Instance("cache@:7000", "redis-slave", 7000, "passing")); },
       [](const GroupStatus& g) {
         EXPECT_EQ(g.members.size(), 3u);
         EXPECT_EQ(Member(g, "cache@:7000"), nullptr);
       }},
      {"an undecodable report is a warning",
       [](StatusInputs& in, GroupScope&) { in.reports[2].value = "{not json"; },
       [](const GroupStatus& g) { EXPECT_TRUE(HasWarning(g, "resec/.lock/members/redis@:6382")); }},
      {"an undecodable lock record is a warning, not a crash",
       [](StatusInputs& in, GroupScope&) { in.lock->value = "\xff"; },
       [](const GroupStatus& g) {
         EXPECT_TRUE(g.lock_held);
         EXPECT_EQ(g.holder_id, "");
         EXPECT_TRUE(HasWarning(g, "holder is unknown"));
       }},
      {"the same loopback ID on another node is another member, not a misconfiguration",
       [](StatusInputs& in, GroupScope&) {
         in.reports[1] = Report("redis@:6381", 6381, "slave", 990, true, true, "node1");
         in.reports.push_back(Report("redis@:6381", 6381, "slave", 400, true, true, "node2"));
         in.instances.push_back(
             Instance("redis@:6381", "redis-slave", 6381, "passing", "", {}, "node2", "10.0.0.2"));
       },
       [](const GroupStatus& g) {
         EXPECT_EQ(g.members.size(), 4u);
         const MemberStatus* here = Member(g, "redis@:6381", "node1");
         const MemberStatus* there = Member(g, "redis@:6381", "node2");
         ASSERT_NE(here, nullptr);
         ASSERT_NE(there, nullptr);
         EXPECT_EQ(here->offset, 990);
         EXPECT_EQ(here->address, "10.0.0.1:6381");
         EXPECT_EQ(there->offset, 400);
         EXPECT_EQ(there->lag, 600);
         EXPECT_EQ(there->address, "10.0.0.2:6381");
         EXPECT_TRUE(g.warnings.empty()) << g.warnings.front();
       }},
      {"a pending switchover request",
       [](StatusInputs& in, GroupScope&) {
         KvPair kv;
         kv.key = consul::SwitchoverKey(kLock);
         kv.value = R"({"to":"redis@:6381","requested_at":1,"nonce":"n1"})";
         in.switchover = kv;
       },
       [](const GroupStatus& g) {
         ASSERT_TRUE(g.switchover);
         EXPECT_EQ(g.switchover->to, "redis@:6381");
         EXPECT_EQ(g.switchover->nonce, "n1");
       }},
      {"tag mode: the role comes from the first master tag",
       [](StatusInputs& in, GroupScope& scope) {
         scope.tag_mode = true;
         scope.master_service = scope.slave_service = "redis";
         scope.master_tag = "master";
         scope.slave_tag = "slave";
         in.instances = {
             Instance("redis@:6380", "redis", 6380, "passing", "", {"master", "primary"}),
             Instance("redis@:6381", "redis", 6381, "passing", ReplicaInfo(true), {"slave"}),
             Instance("redis@:6382", "redis", 6382, "passing", ReplicaInfo(true), {}),
         };
       },
       [](const GroupStatus& g) {
         EXPECT_EQ(g.passing_masters, 1);
         EXPECT_EQ(Member(g, "redis@:6380")->registered_as, "master");
         EXPECT_EQ(Member(g, "redis@:6381")->registered_as, "slave");
         EXPECT_EQ(Member(g, "redis@:6382")->registered_as, "slave");
         EXPECT_TRUE(g.warnings.empty());
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusInputs in = Healthy();
    GroupScope scope;
    c.change(in, scope);
    c.check(BuildGroupStatus(in, scope));
  }
}

// Issue #13: with redis@:6379 on every host, members are told apart by node,
// never collapsed or mislabelled.
TEST(BuildGroupStatus, SamePortGroupKeysMembersByNode) {
  const GroupStatus g = BuildGroupStatus(SamePort(), GroupScope{});
  ASSERT_EQ(g.members.size(), 3u);
  EXPECT_EQ(g.holder_id, "redis@:6379");
  EXPECT_EQ(g.holder_node, "h1");
  EXPECT_EQ(HolderRef(g), "h1/redis@:6379");
  EXPECT_EQ(g.passing_masters, 1);
  EXPECT_TRUE(g.warnings.empty()) << g.warnings.front();
  const std::vector<std::tuple<std::string, bool, std::string, int64_t, int64_t, std::string, std::string>> want = {
      // node, holder, role, offset, lag, address, registered as
      {"h1", true, "master", 1000, 0, "10.0.1.1:6379", "master"},
      {"h2", false, "slave", 990, 10, "10.0.1.2:6379", "slave"},
      {"h3", false, "slave", 1000, 0, "10.0.1.3:6379", "slave"},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& [node, holder, role, offset, lag, address, registered_as] = want[i];
    SCOPED_TRACE(node);
    const MemberStatus& m = g.members[i];  // holder first, then by node
    EXPECT_EQ(m.id, "redis@:6379");
    EXPECT_EQ(m.node, node);
    EXPECT_EQ(m.holder, holder);
    EXPECT_EQ(m.role, role);
    EXPECT_EQ(m.health, "healthy");
    EXPECT_EQ(m.offset, offset);
    EXPECT_EQ(m.lag, lag);
    EXPECT_EQ(m.address, address);
    EXPECT_EQ(m.registered_as, registered_as);
    EXPECT_EQ(m.check_status, "passing");
    EXPECT_EQ(MemberName(g, m.node, m.id), node + "/redis@:6379");
  }
}

TEST(BuildGroupStatus, SamePortSituations) {
  const std::string id = "redis@:6379";
  struct Case {
    std::string name;
    std::function<void(StatusInputs&)> change;
    std::function<void(const GroupStatus&)> check;
  };
  const std::vector<Case> cases = {
      {"the holder is the member on the record's node, whatever the order of the reports",
       [&](StatusInputs& in) {
         in.lock = Lock(id, 6379, true, 6, "h3");
         in.reports = {Report(id, 6379, "slave", 1000, true, true, "h1"),
                       Report(id, 6379, "slave", 990, true, true, "h2"),
                       Report(id, 6379, "master", 1200, true, true, "h3")};
         in.instances[0] = Instance(id, "redis-slave", 6379, "passing", ReplicaInfo(true), {}, "h1", "10.0.1.1");
         in.instances[2] = Instance(id, "redis-master", 6379, "passing", "", {}, "h3", "10.0.1.3");
       },
       [&](const GroupStatus& g) {
         ASSERT_EQ(g.members.size(), 3u);
         EXPECT_EQ(g.members[0].node, "h3");
         EXPECT_TRUE(g.members[0].holder);
         EXPECT_FALSE(Member(g, id, "h1")->holder);
         EXPECT_EQ(Member(g, id, "h1")->lag, 200);
         EXPECT_EQ(Member(g, id, "h2")->lag, 210);
         EXPECT_TRUE(g.warnings.empty()) << g.warnings.front();
       }},
      {"a Redis master off the lock is named with its node",
       [&](StatusInputs& in) { in.reports[1] = Report(id, 6379, "master", 990, true, true, "h2"); },
       [&](const GroupStatus& g) {
         EXPECT_TRUE(HasWarning(g, "h2/redis@:6379: Redis is a master but does not hold the lock"));
         EXPECT_FALSE(HasWarning(g, "h1/"));
       }},
      {"the holder not passing is named with its node",
       [&](StatusInputs& in) { in.instances[0].checks[1].status = "critical"; },
       [&](const GroupStatus& g) { EXPECT_TRUE(HasWarning(g, "lock holder h1/redis@:6379 is not a passing master")); }},
      {"a gone agent's report is its own node's only",
       [&](StatusInputs& in) {
         in.reports[2] = Report(id, 6379, "slave", 10, /*live=*/false, true, "h3");
         in.instances[2].checks[1].status = "critical";
       },
       [&](const GroupStatus& g) {
         EXPECT_EQ(Member(g, id, "h3")->health, "gone");
         EXPECT_EQ(Member(g, id, "h2")->health, "healthy");
         EXPECT_EQ(Member(g, id, "h1")->health, "healthy");
       }},
      {"a report that names no node but is filed under one belongs to that node",
       [&](StatusInputs& in) {
         auto report = consul::DecodePeerReport(in.reports[1].value);
         ASSERT_TRUE(report.ok());
         report->node.clear();
         report->offset = 555;
         in.reports[1].value = consul::EncodePeerReport(*report);
       },
       [&](const GroupStatus& g) {
         EXPECT_EQ(g.members.size(), 3u);
         EXPECT_EQ(Member(g, id, "h2")->offset, 555);
       }},
      {"an older agent's report (no node anywhere) is not pinned on a guessed node",
       [&](StatusInputs& in) { in.reports[2] = Report(id, 6379, "slave", 7, true, true, ""); },
       [&](const GroupStatus& g) {
         ASSERT_EQ(g.members.size(), 4u);
         EXPECT_FALSE(Member(g, id, "h3")->offset);  // h3 has no report now
         EXPECT_TRUE(HasWarning(g, "the report names no node and redis@:6379 is registered on nodes h1, h2, h3"));
       }},
      {"a stale report does not hide the live one of the same member",
       [&](StatusInputs& in) {
         // An older agent's key (no node, no session) next to the member's own.
         KvPair old = Report(id, 6379, "slave", 3, /*live=*/false, true, "");
         auto report = consul::DecodePeerReport(old.value);
         ASSERT_TRUE(report.ok());
         report->node = "h2";
         old.value = consul::EncodePeerReport(*report);
         in.reports.push_back(old);
       },
       [&](const GroupStatus& g) {
         EXPECT_EQ(g.members.size(), 3u);
         EXPECT_EQ(Member(g, id, "h2")->health, "healthy");
         EXPECT_EQ(Member(g, id, "h2")->offset, 990);
       }},
      {"a record without the node (an older holder) marks nobody when the ID is on several nodes",
       [&](StatusInputs& in) { in.lock = Lock(id, 6379, true, 5, ""); },
       [&](const GroupStatus& g) {
         EXPECT_TRUE(g.lock_held);
         EXPECT_EQ(g.holder_id, id);
         EXPECT_EQ(g.holder_node, "");
         for (const auto& m : g.members) EXPECT_FALSE(m.holder) << m.node;
         for (const auto& m : g.members) EXPECT_FALSE(m.lag) << m.node;
         EXPECT_TRUE(HasWarning(g, "cannot tell which one holds the lock"));
         // Its Redis may well hold the lock: no claim either way.
         EXPECT_FALSE(HasWarning(g, "Redis is a master but does not hold the lock"));
       }},
      {"a free lock handed over names the successor by node",
       [&](StatusInputs& in) {
         LockRecord record;
         record.holder_id = id;
         record.node = "h1";
         record.successor = "h2/redis@:6379";
         in.lock->value = consul::EncodeLockRecord(record);
         in.lock->session.clear();
       },
       [&](const GroupStatus& g) {
         EXPECT_FALSE(g.lock_held);
         EXPECT_EQ(HolderRef(g), "");
         ASSERT_TRUE(g.lock_record);
         EXPECT_EQ(g.lock_record->successor, "h2/redis@:6379");
         EXPECT_NE(RenderStatusTable(g).find(
                       "LOCK resec/.lock free (last holder h1/redis@:6379, handing over to h2/redis@:6379)\n"),
                   std::string::npos)
             << RenderStatusTable(g);
       }},
      {"two members announcing one address are called out (an ANNOUNCE_ADDR copied between hosts)",
       [&](StatusInputs& in) {
         const std::string copied = "redis@10.0.1.1:6379";
         in.lock = Lock(copied, 6379, true, 5, "h1");
         in.reports = {Report(copied, 6379, "master", 1000, true, true, "h1"),
                       Report(copied, 6379, "slave", 1000, true, true, "h2")};
         in.instances = {Instance(copied, "redis-master", 6379, "passing", "", {}, "h1", "10.0.1.1"),
                         Instance(copied, "redis-slave", 6379, "passing", ReplicaInfo(true), {}, "h2", "10.0.1.1")};
       },
       [&](const GroupStatus& g) {
         EXPECT_EQ(g.members.size(), 2u);
         EXPECT_TRUE(HasWarning(g, "members h1/redis@10.0.1.1:6379, h2/redis@10.0.1.1:6379 all announce 10.0.1.1:6379"));
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusInputs in = SamePort();
    c.change(in);
    c.check(BuildGroupStatus(in, GroupScope{}));
  }
}

// Distinct ports and a shared one in one group: names stay short where the ID
// says it all and carry the node where it does not.
TEST(MemberName, QualifiesOnlyRepeatedIds) {
  StatusInputs in = Healthy();
  in.reports[1] = Report("redis@:6381", 6381, "slave", 990, true, true, "node1");
  in.reports.push_back(Report("redis@:6381", 6381, "slave", 900, true, true, "node2"));
  in.instances.push_back(Instance("redis@:6381", "redis-slave", 6381, "passing", "", {}, "node2", "10.0.0.2"));
  const GroupStatus g = BuildGroupStatus(in, GroupScope{});
  ASSERT_EQ(g.members.size(), 4u);
  EXPECT_EQ(MemberName(g, "node1", "redis@:6380"), "redis@:6380");
  EXPECT_EQ(MemberName(g, "node1", "redis@:6381"), "node1/redis@:6381");
  EXPECT_EQ(MemberName(g, "node2", "redis@:6381"), "node2/redis@:6381");
  EXPECT_EQ(MemberName(g, "node9", "redis@:6381"), "node9/redis@:6381");  // not a member: still told apart
  EXPECT_EQ(MemberName(g, "", "redis@:6382"), "redis@:6382");
  EXPECT_EQ(MemberRef("node1", "redis@:6381"), "node1/redis@:6381");
  EXPECT_EQ(MemberRef("", "redis@:6381"), "redis@:6381");
  EXPECT_EQ(HolderRef(g), "node1/redis@:6380");
}

TEST(RenderStatusTable, AlignsColumnsAndMarksTheHolder) {
  const std::string table = RenderStatusTable(BuildGroupStatus(Healthy(), GroupScope{}));
  EXPECT_EQ(table,
            "LOCK resec/.lock held by redis@:6380 (lock index 3)\n"
            "  ID           NODE   ADDRESS        ROLE    HEALTH   OFFSET  LAG  LINK  CHECK\n"
            "* redis@:6380  node1  10.0.0.1:6380  master  healthy  1000    0    -     passing\n"
            "  redis@:6381  node1  10.0.0.1:6381  slave   healthy  990     10   up    passing\n"
            "  redis@:6382  node1  10.0.0.1:6382  slave   healthy  1000    0    up    passing\n");
}

TEST(RenderStatusTable, SamePortGroupShowsTheNode) {
  const std::string table = RenderStatusTable(BuildGroupStatus(SamePort(), GroupScope{}));
  EXPECT_EQ(table,
            "LOCK resec/.lock held by h1/redis@:6379 (lock index 5)\n"
            "  ID           NODE  ADDRESS        ROLE    HEALTH   OFFSET  LAG  LINK  CHECK\n"
            "* redis@:6379  h1    10.0.1.1:6379  master  healthy  1000    0    -     passing\n"
            "  redis@:6379  h2    10.0.1.2:6379  slave   healthy  990     10   up    passing\n"
            "  redis@:6379  h3    10.0.1.3:6379  slave   healthy  1000    0    up    passing\n");
}

TEST(RenderStatusTable, FreeLockUnknownsAndWarnings) {
  StatusInputs in = Healthy();
  in.lock = Lock("redis@:6380", 6380, false);
  in.reports.pop_back();
  const std::string table = RenderStatusTable(BuildGroupStatus(in, GroupScope{}));
  EXPECT_EQ(table,
            "LOCK resec/.lock free (last holder redis@:6380)\n"
            "  ID           NODE   ADDRESS        ROLE    HEALTH   OFFSET  LAG  LINK  CHECK\n"
            "  redis@:6380  node1  10.0.0.1:6380  master  healthy  1000    -    -     passing\n"
            "  redis@:6381  node1  10.0.0.1:6381  slave   healthy  990     -    up    passing\n"
            "  redis@:6382  node1  10.0.0.1:6382  slave   -        -       -    up    passing\n"
            "warning: nobody holds the lock resec/.lock: the group has no master\n"
            "warning: redis@:6380: Redis is a master but does not hold the lock\n");
}

TEST(RenderStatusTable, EmptyGroupSaysWhereItLooked) {
  const std::string table = RenderStatusTable(BuildGroupStatus(StatusInputs{}, GroupScope{}));
  EXPECT_NE(table.find("(no members: no report under resec/.lock/members/ and no instance of redis-master or "
                       "redis-slave)"),
            std::string::npos)
      << table;
}

TEST(StatusToJson, CarriesEveryColumnWithNullForUnknown) {
  StatusInputs in = Healthy();
  in.reports.pop_back();
  const nlohmann::json j = StatusToJson(BuildGroupStatus(in, GroupScope{}));
  EXPECT_EQ(j["lock"]["key"], "resec/.lock");
  EXPECT_EQ(j["lock"]["held"], true);
  EXPECT_EQ(j["lock"]["holder"], "redis@:6380");
  EXPECT_EQ(j["lock"]["record"]["replid"], "replid-1");
  EXPECT_EQ(j["passing_masters"], 1);
  EXPECT_TRUE(j["switchover"].is_null());
  ASSERT_EQ(j["members"].size(), 3u);
  const auto& master = j["members"][0];
  EXPECT_EQ(master["id"], "redis@:6380");
  EXPECT_EQ(master["holder"], true);
  EXPECT_EQ(master["role"], "master");
  EXPECT_EQ(master["lag"], 0);
  EXPECT_TRUE(master["master_link"].is_null());
  EXPECT_EQ(master["check"], "passing");
  EXPECT_EQ(master["service"], "redis-master");
  const auto& unreported = j["members"][2];
  EXPECT_EQ(unreported["id"], "redis@:6382");
  EXPECT_TRUE(unreported["health"].is_null());
  EXPECT_TRUE(unreported["offset"].is_null());
  EXPECT_TRUE(unreported["lag"].is_null());
  EXPECT_EQ(unreported["master_link"], "up");
  EXPECT_TRUE(j["warnings"].is_array());
}

TEST(StatusToJson, SamePortGroupCarriesTheNodes) {
  const nlohmann::json j = StatusToJson(BuildGroupStatus(SamePort(), GroupScope{}));
  EXPECT_EQ(j["lock"]["holder"], "redis@:6379");
  EXPECT_EQ(j["lock"]["holder_node"], "h1");
  EXPECT_EQ(j["lock"]["record"]["node"], "h1");
  EXPECT_TRUE(j["lock"]["record"]["successor"].is_null());
  ASSERT_EQ(j["members"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(j["members"][i]["id"], "redis@:6379");
    EXPECT_EQ(j["members"][i]["node"], "h" + std::to_string(i + 1));
    EXPECT_EQ(j["members"][i]["holder"], i == 0);
  }
}

TEST(ScopeFromConfig, FollowsTheAgentsSettings) {
  Config prefix;
  prefix.service_prefix = "cache";
  prefix.lock_key = "groups/a/.lock";
  GroupScope s = ScopeFromConfig(prefix);
  EXPECT_FALSE(s.tag_mode);
  EXPECT_EQ(s.master_service, "cache-master");
  EXPECT_EQ(s.slave_service, "cache-slave");
  EXPECT_EQ(s.id_prefix, "cache@");
  EXPECT_EQ(s.lock_key, "groups/a/.lock");

  Config tags;
  tags.service_name = "redis";
  tags.master_tags = {"primary", "rw"};
  tags.slave_tags = {"replica"};
  s = ScopeFromConfig(tags);
  EXPECT_TRUE(s.tag_mode);
  EXPECT_EQ(s.master_service, "redis");
  EXPECT_EQ(s.slave_service, "redis");
  EXPECT_EQ(s.master_tag, "primary");
  EXPECT_EQ(s.slave_tag, "replica");
  EXPECT_EQ(s.id_prefix, "redis@");
}

// The decoder `resec status` relies on for failing members' checks.
TEST(DecodeServiceHealth, KeepsEveryCheckWithStatusAndOutput) {
  const std::string body = R"([{
    "Node": {"Node": "n1", "Address": "10.0.0.9"},
    "Service": {"ID": "redis@:6381", "Service": "redis-slave", "Tags": [], "Address": "", "Port": 6381},
    "Checks": [
      {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing", "Output": "ok", "ServiceID": ""},
      {"CheckID": "redis@:6381:replication-status-check", "Name": "Resec: slave replication status",
       "Status": "critical", "Output": "# Replication", "ServiceID": "redis@:6381"}
    ]}])";
  auto r = consul::DecodeServiceHealth(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const ServiceHealth& h = r->front();
  EXPECT_EQ(h.service_name, "redis-slave");
  EXPECT_EQ(h.instance.id, "redis@:6381");
  EXPECT_EQ(h.instance.address, "10.0.0.9");  // the node's, as the service has none
  ASSERT_EQ(h.checks.size(), 2u);
  EXPECT_EQ(h.checks[1].status, "critical");
  EXPECT_EQ(h.checks[1].output, "# Replication");
  EXPECT_EQ(h.checks[1].service_id, "redis@:6381");

  for (const char* bad : {"", "{}", "[{\"Node\":{},\"Service\":{},\"Checks\":5}]", "[{\"Node\":{},\"Service\":{},\"Checks\":[1]}]",
                          "[{\"Node\":{},\"Service\":{},\"Checks\":[{\"Status\":7}]}]"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(consul::DecodeServiceHealth(bad).ok());
  }
  auto empty = consul::DecodeServiceHealth("null");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace resec::cli
