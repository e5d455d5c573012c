// `resec switchover`: its preconditions, the progress it reports and the
// request it writes; and the commands' argument splitting.
#include "resec/cli/switchover.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "resec/cli/commands.h"
#include "resec/consul/records.h"

namespace resec::cli {
namespace {

MemberStatus Member(const std::string& id, bool holder, const std::string& health = "healthy",
                    const std::string& registered_as = "slave", const std::string& check = "passing") {
  MemberStatus m;
  m.id = id;
  m.address = "10.0.0.1:" + id.substr(id.rfind(':') + 1);
  m.holder = holder;
  m.health = health;
  m.report_live = health != "gone";
  m.registered_as = registered_as;
  m.check_status = check;
  return m;
}

GroupStatus Group(const std::string& holder, std::vector<MemberStatus> members) {
  GroupStatus g;
  g.lock_held = !holder.empty();
  g.holder_id = holder;
  g.members = std::move(members);
  return g;
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
    const Status st = CheckSwitchoverPreconditions(c.group, c.to);
    EXPECT_EQ(st.ok(), c.ok) << st.ToString();
    if (!c.ok) {
      EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
    }
  }
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
