// `resec switchover`: its preconditions, the progress it reports and the
// request it writes; and the commands' argument splitting.
#include "resec/cli/switchover.h"

#include <chrono>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "resec/cli/commands.h"
#include "resec/consul/records.h"

namespace resec::cli {
namespace {

MemberStatus Member(const std::string& id, bool holder, const std::string& health = "healthy",
                    const std::string& registered_as = "slave", const std::string& check = "passing",
                    const std::string& node = "") {
  MemberStatus m;
  m.id = id;
  m.node = node;
  m.address = "10.0.0.1:" + id.substr(id.rfind(':') + 1);
  m.holder = holder;
  m.health = health;
  m.report_live = health != "gone";
  m.registered_as = registered_as;
  m.check_status = check;
  return m;
}

GroupStatus Group(const std::string& holder, std::vector<MemberStatus> members, const std::string& holder_node = "") {
  GroupStatus g;
  g.lock_held = !holder.empty();
  g.holder_id = holder;
  g.holder_node = holder_node;
  g.members = std::move(members);
  return g;
}

// A member of the production-shaped group: redis@:6379 on host `node`.
MemberStatus Host(const std::string& node, bool holder, const std::string& health = "healthy",
                  const std::string& registered_as = "slave", const std::string& check = "passing") {
  return Member("redis@:6379", holder, health, registered_as, check, node);
}

// The group as `resec status` sees it with `holder` (a node, or "" for a free
// lock) holding the lock and registered as master.
GroupStatus Hosts(const std::string& holder, std::vector<MemberStatus> members) {
  return Group(holder.empty() ? "" : "redis@:6379", std::move(members), holder);
}

TEST(SwitchoverRequest, BodyIsWhatTheAgentDecodes) {
  const std::string body = EncodeSwitchoverBody("redis@:6381", 1700000000123, "abc");
  const auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["to"], "redis@:6381");
  EXPECT_EQ(j["requested_at"], 1700000000123);
  EXPECT_EQ(j["nonce"], "abc");
  auto decoded = consul::DecodeSwitchoverRequest(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->to, "redis@:6381");
  EXPECT_EQ(decoded->nonce, "abc");
  EXPECT_EQ(consul::SwitchoverKey("resec/.lock"), "resec/.lock/switchover");
}

TEST(SwitchoverPreconditions, Table) {
  const GroupStatus healthy =
      Group("redis@:1", {Member("redis@:1", true, "healthy", "master"), Member("redis@:2", false),
                         Member("redis@:3", false)});
  struct Case {
    std::string name;
    GroupStatus group;
    std::string to;
    bool ok;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"to the best replica", healthy, "", true, ""},
      {"to a named healthy replica", healthy, "redis@:2", true, ""},
      {"no master", Group("", healthy.members), "", false, "nobody holds the lock"},
      {"to the master itself", healthy, "redis@:1", false, "already the master"},
      {"to an unknown member", healthy, "redis@:9", false, "no member \"redis@:9\""},
      {"to a member whose agent is gone",
       Group("redis@:1", {Member("redis@:1", true, "healthy", "master"), Member("redis@:2", false, "gone")}),
       "redis@:2", false, "its agent reports gone"},
      {"no healthy replica at all",
       Group("redis@:1", {Member("redis@:1", true, "healthy", "master"), Member("redis@:2", false, "unhealthy")}),
       "", false, "no healthy replica"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const StatusOr<std::string> to = CheckSwitchoverPreconditions(c.group, c.to);
    EXPECT_EQ(to.ok(), c.ok) << to.status().ToString();
    if (!c.ok) {
      EXPECT_NE(to.status().message().find(c.message), std::string::npos) << to.status().message();
    } else {
      // Members without a node (as here): the bare ID is all there is.
      EXPECT_EQ(*to, c.to);
    }
  }
}

// Issue #13: three hosts with redis@:6379 each, h1 the master. --to takes
// NODE/ID, a unique ID or a node with one member; the request names the
// member as NODE/ID, which the master's agent matches; anything ambiguous is
// refused with the candidates.
TEST(SwitchoverPreconditions, SamePortAndMixedGroups) {
  const GroupStatus same_port = Hosts("h1", {Host("h1", true, "healthy", "master"), Host("h2", false), Host("h3", false)});
  // Host h1 runs two members of the group (6379 and 6380), h2 one.
  const GroupStatus mixed = Group("redis@:6379",
                                  {Member("redis@:6379", true, "healthy", "master", "passing", "h1"),
                                   Member("redis@:6380", false, "healthy", "slave", "passing", "h1"),
                                   Member("redis@:6379", false, "healthy", "slave", "passing", "h2")},
                                  "h1");
  struct Case {
    std::string name;
    GroupStatus group;
    std::string to;
    bool ok;
    std::string want;  // the request's "to", or a fragment of the refusal
  };
  const std::vector<Case> cases = {
      {"to the best replica", same_port, "", true, ""},
      {"NODE/ID", same_port, "h2/redis@:6379", true, "h2/redis@:6379"},
      {"a node name with one member", same_port, "h3", true, "h3/redis@:6379"},
      {"the shared ID is ambiguous", same_port, "redis@:6379", false,
       "\"redis@:6379\" names 3 members: h1/redis@:6379, h2/redis@:6379, h3/redis@:6379; name one as NODE/ID"},
      {"the master's node", same_port, "h1", false, "h1/redis@:6379 is already the master"},
      {"the master as NODE/ID", same_port, "h1/redis@:6379", false, "h1/redis@:6379 is already the master"},
      {"an unknown node", same_port, "h9", false, "no member \"h9\""},
      {"an ID on an unknown node", same_port, "h9/redis@:6379", false, "no member \"h9/redis@:6379\""},
      {"a replica whose agent is gone, named by node",
       Hosts("h1", {Host("h1", true, "healthy", "master"), Host("h2", false, "gone"), Host("h3", false)}), "h2",
       false, "h2/redis@:6379 cannot take over: its agent reports gone"},
      {"the other node's replica is not mistaken for the master",
       Hosts("h2", {Host("h1", false), Host("h2", true, "healthy", "master"), Host("h3", false)}), "h1", true,
       "h1/redis@:6379"},
      {"mixed: a unique ID", mixed, "redis@:6380", true, "h1/redis@:6380"},
      {"mixed: a node with one member", mixed, "h2", true, "h2/redis@:6379"},
      {"mixed: a node with two members is ambiguous", mixed, "h1", false,
       "\"h1\" names 2 members: h1/redis@:6379, h1/redis@:6380"},
      {"mixed: a repeated ID is ambiguous", mixed, "redis@:6379", false, "h1/redis@:6379, h2/redis@:6379"},
      {"a record without the node, in a group sharing its ID: refused",
       Group("redis@:6379", {Host("h1", false, "healthy", "master"), Host("h2", false), Host("h3", false)}), "h2",
       false, "cannot tell which member redis@:6379 holds the lock"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const StatusOr<std::string> to = CheckSwitchoverPreconditions(c.group, c.to);
    ASSERT_EQ(to.ok(), c.ok) << to.status().ToString();
    if (c.ok) {
      EXPECT_EQ(*to, c.want);
    } else {
      EXPECT_NE(to.status().message().find(c.want), std::string::npos) << to.status().message();
    }
  }
}

TEST(ResolveMember, NamesExactlyOneMember) {
  const GroupStatus g = Hosts("h1", {Host("h1", true, "healthy", "master"), Host("h2", false), Host("h3", false)});
  auto m = ResolveMember(g, "h2");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->node, "h2");
  EXPECT_EQ(m->id, "redis@:6379");
  m = ResolveMember(g, "redis@:6379");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
}

TEST(EvaluateSwitchover, FollowsTheHandover) {
  const std::string old = "redis@:1";
  struct Case {
    std::string name;
    GroupStatus now;
    std::string to;
    SwitchoverPhase phase;
  };
  const std::vector<Case> cases = {
      {"old master still holds", Group(old, {Member(old, true, "healthy", "master")}), "", SwitchoverPhase::kRequested},
      {"lock released", Group("", {Member(old, false)}), "", SwitchoverPhase::kLockReleased},
      {"new holder not yet registered as master",
       Group("redis@:2", {Member("redis@:2", true, "healthy", "slave")}), "", SwitchoverPhase::kNewHolder},
      {"new holder registered but its check still warning",
       Group("redis@:2", {Member("redis@:2", true, "healthy", "master", "warning")}), "",
       SwitchoverPhase::kNewHolder},
      {"new holder is a passing master", Group("redis@:2", {Member("redis@:2", true, "healthy", "master")}), "",
       SwitchoverPhase::kDone},
      {"the named member is a passing master",
       Group("redis@:2", {Member("redis@:2", true, "healthy", "master")}), "redis@:2", SwitchoverPhase::kDone},
      {"another member took the lock than the one named",
       Group("redis@:3", {Member("redis@:3", true, "healthy", "master")}), "redis@:2",
       SwitchoverPhase::kWrongHolder},
      {"nobody holds the lock (yet)", Group("", {}), "", SwitchoverPhase::kLockReleased},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const SwitchoverProgress p = EvaluateSwitchover(c.now, old, c.to);
    EXPECT_EQ(SwitchoverPhaseName(p.phase), SwitchoverPhaseName(c.phase)) << p.detail;
    EXPECT_FALSE(p.detail.empty());
  }
}

// Issue #13: the old and the new holder share the ID redis@:6379; only the
// node tells the hand-over happened, and who took it.
TEST(EvaluateSwitchover, SamePortGroupTellsHoldersByNode) {
  const std::string old = "h1/redis@:6379";
  const auto released = [](const std::string& successor) {
    GroupStatus g = Hosts("", {Host("h1", false, "healthy", "master"), Host("h2", false), Host("h3", false)});
    g.lock_record = LockRecord{.holder_id = "redis@:6379", .successor = successor, .node = "h1"};
    return g;
  };
  struct Case {
    std::string name;
    GroupStatus now;
    std::string to;
    SwitchoverPhase phase;
    std::string detail;  // a fragment
  };
  const std::vector<Case> cases = {
      {"h1 still holds", Hosts("h1", {Host("h1", true, "healthy", "master"), Host("h2", false), Host("h3", false)}),
       "", SwitchoverPhase::kRequested, "waiting for h1/redis@:6379 to hand over"},
      {"released to a named successor", released("h2/redis@:6379"), "h2/redis@:6379",
       SwitchoverPhase::kLockReleased, "h1/redis@:6379 released the lock; waiting for h2/redis@:6379 to take it"},
      {"released to the best replica, which the record names", released("h3/redis@:6379"), "",
       SwitchoverPhase::kLockReleased, "waiting for h3/redis@:6379 to take it"},
      {"h2 took it while h1 is still registered as master: h2's registration decides",
       Hosts("h2", {Host("h1", false, "healthy", "master"), Host("h2", true, "healthy", "slave"), Host("h3", false)}),
       "h2/redis@:6379", SwitchoverPhase::kNewHolder, "h2/redis@:6379 holds the lock"},
      {"h2 is a passing master", Hosts("h2", {Host("h1", false), Host("h2", true, "healthy", "master"), Host("h3", false)}),
       "h2/redis@:6379", SwitchoverPhase::kDone, "h2/redis@:6379 is master at"},
      {"the best replica h3 is a passing master",
       Hosts("h3", {Host("h1", false), Host("h2", false), Host("h3", true, "healthy", "master")}), "",
       SwitchoverPhase::kDone, "h3/redis@:6379 is master"},
      {"h3 took it instead of h2",
       Hosts("h3", {Host("h1", false), Host("h2", false), Host("h3", true, "healthy", "master")}), "h2/redis@:6379",
       SwitchoverPhase::kWrongHolder, "h3/redis@:6379 took the lock instead of h2/redis@:6379"},
      {"h1 took it back", Hosts("h1", {Host("h1", true, "healthy", "master"), Host("h2", false), Host("h3", false)}),
       "h2/redis@:6379", SwitchoverPhase::kRequested, "waiting for h1/redis@:6379"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const SwitchoverProgress p = EvaluateSwitchover(c.now, old, c.to);
    EXPECT_EQ(SwitchoverPhaseName(p.phase), SwitchoverPhaseName(c.phase)) << p.detail;
    EXPECT_NE(p.detail.find(c.detail), std::string::npos) << p.detail;
  }
}

// A Consul that shows a same-port group with h1 the master until a switchover
// request is written, then with `new_holder` the master: enough for
// RunSwitchover's reads and writes.
class ScriptedConsul final : public consul::Client {
 public:
  explicit ScriptedConsul(std::string new_holder) : new_holder_(std::move(new_holder)) {}

  std::string request;  // the body RunSwitchover wrote, if any
  bool deleted = false;

  StatusOr<std::string> CreateSession(const consul::SessionOptions&) override { return Unsupported(); }
  StatusOr<std::chrono::seconds> RenewSession(const std::string&) override { return Unsupported(); }
  Status DestroySession(const std::string&) override { return Unsupported(); }
  StatusOr<consul::WithMeta<std::optional<consul::KvPair>>> GetKey(const std::string& key,
                                                                   const consul::QueryOptions&) override {
    consul::WithMeta<std::optional<consul::KvPair>> out;
    if (key == "resec/.lock") {
      LockRecord record{.holder_id = kId, .port = 6379, .node = Holder()};
      out.value = consul::KvPair{.key = key, .value = consul::EncodeLockRecord(record), .session = "s-" + Holder()};
    } else if (key == "resec/.lock/switchover" && !request.empty() && !deleted) {
      out.value = consul::KvPair{.key = key, .value = request};
    }
    return out;
  }
  StatusOr<consul::WithMeta<std::vector<consul::KvPair>>> ListKeys(const std::string& prefix,
                                                                   const consul::QueryOptions&) override {
    consul::WithMeta<std::vector<consul::KvPair>> out;
    for (const char* node : {"h1", "h2", "h3"}) {
      PeerReport report{.id = kId, .port = 6379, .healthy = true, .role = node == Holder() ? "master" : "slave",
                        .offset = 100, .priority = 100, .node = node};
      out.value.push_back(consul::KvPair{.key = prefix + MemberKey(node, kId),
                                         .value = consul::EncodePeerReport(report), .session = "s"});
    }
    return out;
  }
  StatusOr<bool> AcquireKey(const std::string&, const std::string&, const std::string&) override {
    return Unsupported();
  }
  StatusOr<bool> ReleaseKey(const std::string&, const std::string&, const std::string&) override {
    return Unsupported();
  }
  Status PutKey(const std::string& key, const std::string& value) override {
    if (key != "resec/.lock/switchover") return Unsupported();
    request = value;
    return Status::Ok();
  }
  Status DeleteKey(const std::string& key) override {
    deleted = deleted || key == "resec/.lock/switchover";
    return Status::Ok();
  }
  Status RegisterService(const consul::ServiceRegistration&) override { return Unsupported(); }
  Status DeregisterService(const std::string&) override { return Unsupported(); }
  Status UpdateTtlCheck(const std::string&, const std::string&, const std::string&) override {
    return Unsupported();
  }
  StatusOr<consul::WithMeta<std::vector<ServiceInstance>>> HealthyInstances(const std::string&, const std::string&,
                                                                            const consul::QueryOptions&) override {
    return Unsupported();
  }
  StatusOr<consul::WithMeta<std::vector<consul::ServiceHealth>>> InstancesWithChecks(
      const std::string& service, const consul::QueryOptions&) override {
    consul::WithMeta<std::vector<consul::ServiceHealth>> out;
    int host = 0;
    for (const std::string node : {"h1", "h2", "h3"}) {
      ++host;
      if (service != (node == Holder() ? "redis-master" : "redis-slave")) continue;
      consul::ServiceHealth h;
      h.instance = ServiceInstance{kId, node, "10.0.1." + std::to_string(host), 6379, {}};
      h.service_name = service;
      h.checks.push_back(consul::CheckResult{kId + std::string(":replication-status-check"), "", "passing", "", kId});
      out.value.push_back(h);
    }
    return out;
  }
  StatusOr<std::string> Leader() override { return std::string("127.0.0.1:8300"); }
  void Cancel() override {}

 private:
  static constexpr char kId[] = "redis@:6379";
  static Status Unsupported() { return FailedPrecondition("not used by resec switchover"); }
  // The master's agent hands over as soon as the request is there.
  std::string Holder() const { return request.empty() ? "h1" : new_holder_; }

  std::string new_holder_;
};

TEST(RunSwitchover, SamePortGroupRequestsAndRecognisesTheMemberByNode) {
  struct Case {
    std::string name;
    std::string to;           // as typed
    std::string new_holder;   // the node whose agent takes the lock
    int exit;
    std::string request_to;   // what the request must say
    std::string in_output;
  };
  const std::vector<Case> cases = {
      {"by node name", "h2", "h2", 0, "h2/redis@:6379", "switchover done in"},
      {"by NODE/ID", "h3/redis@:6379", "h3", 0, "h3/redis@:6379", "h3/redis@:6379 is master at 10.0.1.3:6379"},
      {"the best replica", "", "h3", 0, "", "h1/redis@:6379 -> best replica"},
      {"another node took it", "h2", "h3", 1, "h2/redis@:6379", "h3/redis@:6379 took the lock instead of h2/redis@:6379"},
      {"the shared ID is refused before anything is written", "redis@:6379", "h2", 1, "", "names 3 members"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ScriptedConsul consul(c.new_holder);
    std::ostringstream out, err;
    SwitchoverOptions options;
    options.to = c.to;
    options.timeout = std::chrono::milliseconds(2000);
    options.poll = std::chrono::milliseconds(1);
    EXPECT_EQ(RunSwitchover(consul, GroupScope{}, options, out, err), c.exit) << out.str() << err.str();
    EXPECT_NE((out.str() + err.str()).find(c.in_output), std::string::npos) << out.str() << err.str();
    if (consul.request.empty()) {
      EXPECT_EQ(c.exit, 1);
      continue;
    }
    auto request = consul::DecodeSwitchoverRequest(consul.request);
    ASSERT_TRUE(request.ok()) << consul.request;
    EXPECT_EQ(request->to, c.request_to);
    EXPECT_TRUE(consul.deleted) << "the request is withdrawn once settled";
  }
}

TEST(SplitCommandArgs, OwnFlagsAndAgentFlags) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::vector<std::pair<std::string, std::string>> own;
    std::vector<std::string> rest;
    bool help;
    size_t errors;
  };
  const std::vector<Case> cases = {
      {"nothing", {}, {}, {}, false, 0},
      {"bool flag", {"--json"}, {{"json", ""}}, {}, false, 0},
      {"single dash works like Go's flag package", {"-json"}, {{"json", ""}}, {}, false, 0},
      {"value flag, separate", {"--to", "redis@:1"}, {{"to", "redis@:1"}}, {}, false, 0},
      {"value flag, joined", {"--timeout=5s"}, {{"timeout", "5s"}}, {}, false, 0},
      {"agent flags pass through with their values",
       {"--consul-lock-key", "k", "--json", "--redis-addr=h:1"},
       {{"json", ""}},
       {"--consul-lock-key", "k", "--redis-addr=h:1"},
       false,
       0},
      {"help", {"-h"}, {}, {}, true, 0},
      {"value flag without a value", {"--to"}, {}, {}, false, 1},
      {"bool flag with a value", {"--json=yes"}, {}, {}, false, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const CommandArgs a = SplitCommandArgs(c.args, {"to", "timeout"}, {"json", "watch"});
    EXPECT_EQ(a.own, c.own);
    EXPECT_EQ(a.rest, c.rest);
    EXPECT_EQ(a.help, c.help);
    EXPECT_EQ(a.errors.size(), c.errors);
  }
}

TEST(RunCommand, NotACommandRunsTheAgent) {
  std::ostringstream out, err;
  EXPECT_FALSE(RunCommand({}, {}, out, err));
  EXPECT_FALSE(RunCommand({"--redis-addr", "h:1"}, {}, out, err));
  EXPECT_FALSE(RunCommand({"-s"}, {}, out, err));
}

TEST(RunCommand, UsageAndConfigurationErrorsExitTwo) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    Environment env;
    int code;
    std::string in_out;
    std::string in_err;
  };
  const std::vector<Case> cases = {
      {"status help", {"status", "--help"}, {}, 0, "Usage: resec status", ""},
      {"switchover help", {"switchover", "-h"}, {}, 0, "Usage: resec switchover", ""},
      {"health help", {"health", "--help"}, {}, 0, "Usage: resec health", ""},
      {"unknown flag goes to the agent's parser", {"status", "--bogus"}, {}, 2, "", "--bogus: unknown flag"},
      {"bad agent setting", {"status"}, {{"CONSUL_LOCK_KEY", ""}, {"LOG_FORMAT", "xml"}}, 2, "", "LOG_FORMAT"},
      {"bad timeout", {"switchover", "--timeout", "soon"}, {}, 2, "", "--timeout \"soon\""},
      {"zero timeout", {"switchover", "--timeout=0s"}, {}, 2, "", "not a positive duration"},
      {"bad --addr", {"health", "--addr", "nope"}, {}, 2, "", "--addr \"nope\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::ostringstream out, err;
    const auto code = RunCommand(c.args, c.env, out, err);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, c.code) << out.str() << err.str();
    EXPECT_NE(out.str().find(c.in_out), std::string::npos) << out.str();
    EXPECT_NE(err.str().find(c.in_err), std::string::npos) << err.str();
  }
}

TEST(CommandsHelp, NamesEveryCommand) {
  const std::string help = CommandsHelp();
  for (const char* c : {"resec status", "resec switchover", "resec health"}) {
    EXPECT_NE(help.find(c), std::string::npos) << c;
  }
}

}  // namespace
}  // namespace resec::cli
