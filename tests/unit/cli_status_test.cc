// `resec status`: merging Consul's answers into the group view, the table and
// the JSON, from plain structs.
#include "resec/cli/status.h"

#include <gtest/gtest.h>

#include "resec/consul/json_codec.h"
#include "resec/consul/records.h"

namespace resec::cli {
namespace {

using consul::CheckResult;
using consul::KvPair;
using consul::ServiceHealth;

constexpr char kLock[] = "resec/.lock";

KvPair Lock(const std::string& holder, int port, bool held, uint64_t lock_index = 3) {
  KvPair kv;
  kv.key = kLock;
  LockRecord record;
  record.holder_id = holder;
  record.port = port;
  record.replid = "replid-1";
  record.offset = 100;
  kv.value = consul::EncodeLockRecord(record);
  kv.session = held ? "sess-" + holder : "";
  kv.lock_index = lock_index;
  return kv;
}

KvPair Report(const std::string& id, int port, const std::string& role, int64_t offset, bool live = true,
              bool healthy = true) {
  KvPair kv;
  kv.key = consul::MembersPrefix(kLock) + id;
  PeerReport report;
  report.id = id;
  report.port = port;
  report.healthy = healthy;
  report.role = role;
  report.replid = "replid-1";
  report.offset = offset;
  report.priority = 100;
  kv.value = consul::EncodePeerReport(report);
  kv.session = live ? "sess-" + id : "";
  return kv;
}

std::string ReplicaInfo(bool link_up) {
  return std::string("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6380\r\nmaster_link_status:") +
         (link_up ? "up" : "down") + "\r\n";
}

ServiceHealth Instance(const std::string& id, const std::string& service, int port, const std::string& status,
                       const std::string& output = "", std::vector<std::string> tags = {},
                       const std::string& node = "node1") {
  ServiceHealth h;
  h.instance = ServiceInstance{id, node, "10.0.0.1", port, std::move(tags)};
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

const MemberStatus* Member(const GroupStatus& g, const std::string& id) {
  for (const auto& m : g.members) {
    if (m.id == id) return &m;
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
      {"the same loopback ID on two nodes is called out",
       [](StatusInputs& in, GroupScope&) {
         in.instances.push_back(Instance("redis@:6381", "redis-slave", 6381, "passing", "", {}, "node2"));
       },
       [](const GroupStatus& g) {
         EXPECT_EQ(g.members.size(), 4u);
         EXPECT_NE(Member(g, "redis@:6381 (node2)"), nullptr);
         EXPECT_TRUE(HasWarning(g, "set ANNOUNCE_ADDR"));
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

TEST(RenderStatusTable, AlignsColumnsAndMarksTheHolder) {
  const std::string table = RenderStatusTable(BuildGroupStatus(Healthy(), GroupScope{}));
  EXPECT_EQ(table,
            "LOCK resec/.lock held by redis@:6380 (lock index 3)\n"
            "  ID           ADDRESS        ROLE    HEALTH   OFFSET  LAG  LINK  CHECK\n"
            "* redis@:6380  10.0.0.1:6380  master  healthy  1000    0    -     passing\n"
            "  redis@:6381  10.0.0.1:6381  slave   healthy  990     10   up    passing\n"
            "  redis@:6382  10.0.0.1:6382  slave   healthy  1000    0    up    passing\n");
}

TEST(RenderStatusTable, FreeLockUnknownsAndWarnings) {
  StatusInputs in = Healthy();
  in.lock = Lock("redis@:6380", 6380, false);
  in.reports.pop_back();
  const std::string table = RenderStatusTable(BuildGroupStatus(in, GroupScope{}));
  EXPECT_EQ(table,
            "LOCK resec/.lock free (last holder redis@:6380)\n"
            "  ID           ADDRESS        ROLE    HEALTH   OFFSET  LAG  LINK  CHECK\n"
            "  redis@:6380  10.0.0.1:6380  master  healthy  1000    -    -     passing\n"
            "  redis@:6381  10.0.0.1:6381  slave   healthy  990     -    up    passing\n"
            "  redis@:6382  10.0.0.1:6382  slave   -        -       -    up    passing\n"
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
