// The pure half of the Consul client: bodies, base64, escaping, the status table.
#include "resec/consul/json_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/status_matchers.h"

namespace resec::consul {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- base64

TEST(ConsulCodec, Base64Decode) {
  struct Row {
    const char* name;
    std::string text;
    bool ok;
    std::string want;
  };
  const Row rows[] = {
      {"empty", "", true, ""},
      {"two pad", "YQ==", true, "a"},
      {"one pad", "YWI=", true, "ab"},
      {"no pad needed", "YWJj", true, "abc"},
      {"unpadded two", "YQ", true, "a"},
      {"unpadded three", "YWI", true, "ab"},
      {"long", "cmVzZWMgaXMgaGVyZQ==", true, "resec is here"},
      {"line breaks ignored", "YWJj\r\nZGVm\n", true, "abcdef"},
      {"binary", "AP8Q", true, std::string("\x00\xff\x10", 3)},
      {"one sextet", "Y", false, ""},
      {"five sextets", "YWJjZ", false, ""},
      {"short padding", "YQ=", false, ""},
      {"too much padding", "YQ===", false, ""},
      {"padding only", "==", false, ""},
      {"padding first", "=YQ", false, ""},
      {"data after padding", "YQ==YQ==", false, ""},
      {"space", "YW Jj", false, ""},
      {"url alphabet", "YW-_", false, ""},
      {"non ascii", "YW\xc3\xa9", false, ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    StatusOr<std::string> got = DecodeBase64(row.text);
    EXPECT_EQ(got.ok(), row.ok) << got.status().ToString();
    if (got.ok() && row.ok) {
      EXPECT_EQ(*got, row.want);
    }
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kInternal);
      EXPECT_EQ(got.status().message().rfind("decode base64: ", 0), 0u) << got.status().message();
    }
  }
}

TEST(ConsulCodec, Base64RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    SCOPED_TRACE(i);
    std::string encoded = EncodeBase64(data);
    EXPECT_EQ(encoded.size() % 4, 0u);
    StatusOr<std::string> decoded = DecodeBase64(encoded);
    ASSERT_OK(decoded);
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<char>((i * 37) & 0xFF));
  }
  EXPECT_EQ(EncodeBase64("a"), "YQ==");
  EXPECT_EQ(EncodeBase64("ab"), "YWI=");
  EXPECT_EQ(EncodeBase64("abc"), "YWJj");
}

// ---------------------------------------------------------------- text helpers

TEST(ConsulCodec, Escaping) {
  EXPECT_EQ(EscapePath("resec/.lock"), "resec/.lock");
  EXPECT_EQ(EscapePath("a b/c?d#e%f"), "a%20b/c%3Fd%23e%25f");
  EXPECT_EQ(EscapePath("k\xc3\xa9y"), "k%C3%A9y");
  EXPECT_EQ(EscapeComponent("redis@10.0.0.1:6379:replication-status-check"),
            "redis%4010.0.0.1%3A6379%3Areplication-status-check");
  EXPECT_EQ(EscapeComponent("a/b&c=d+e"), "a%2Fb%26c%3Dd%2Be");
  EXPECT_EQ(EscapeComponent("Az09-._~"), "Az09-._~");
}

TEST(ConsulCodec, FormatDuration) {
  EXPECT_EQ(FormatDuration(15s), "15s");
  EXPECT_EQ(FormatDuration(0ms), "0s");
  EXPECT_EQ(FormatDuration(1500ms), "1500ms");
  EXPECT_EQ(FormatDuration(72h), "259200s");
}

TEST(ConsulCodec, TruncateUtf8) {
  struct Row {
    const char* name;
    std::string text;
    size_t max;
    std::string want;
  };
  const Row rows[] = {
      {"short", "abc", 5, "abc"},
      {"exact", "abc", 3, "abc"},
      {"ascii cut", "abcdef", 4, "abcd"},
      {"before two-byte", "ab\xc3\xa9", 3, "ab"},
      {"after two-byte", "ab\xc3\xa9z", 4, "ab\xc3\xa9"},
      {"inside three-byte", "a\xe2\x82\xac", 3, "a"},
      {"inside four-byte", "a\xf0\x9f\x98\x80", 4, "a"},
      {"zero", "abc", 0, ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(TruncateUtf8(row.text, row.max), row.want);
  }
}

TEST(ConsulCodec, FirstLine) {
  EXPECT_EQ(FirstLine("Permission denied\nmore"), "Permission denied");
  EXPECT_EQ(FirstLine("  ACL not found\r\n"), "ACL not found");
  EXPECT_EQ(FirstLine(""), "");
  EXPECT_EQ(FirstLine(std::string(500, 'x')).size(), kMaxErrorTextBytes);
}

// ---------------------------------------------------------------- HTTP status

TEST(ConsulCodec, StatusFromHttp) {
  struct Row {
    const char* name;
    int http;
    std::string body;
    StatusCode code;
    std::string message;
  };
  const Row rows[] = {
      {"ok", 200, "true", StatusCode::kOk, ""},
      {"no content", 204, "", StatusCode::kOk, ""},
      {"permission denied", 403, "Permission denied: token with AccessorID 'x' lacks permission\n",
       StatusCode::kPermissionDenied,
       "PUT /v1/kv/a: 403 Permission denied: token with AccessorID 'x' lacks permission"},
      {"acl not found", 403, "ACL not found", StatusCode::kPermissionDenied, "PUT /v1/kv/a: 403 ACL not found"},
      {"basic auth refused", 401, "Unauthorized", StatusCode::kPermissionDenied, "PUT /v1/kv/a: 401 Unauthorized"},
      {"not found", 404, "", StatusCode::kNotFound, "PUT /v1/kv/a: 404"},
      {"bad request", 400, "Request decode failed: bad\n", StatusCode::kInvalidArgument,
       "PUT /v1/kv/a: 400 Request decode failed: bad"},
      {"method not allowed", 405, "", StatusCode::kInvalidArgument, "PUT /v1/kv/a: 405"},
      {"too large", 413, "Value exceeds 524288 byte limit", StatusCode::kInvalidArgument,
       "PUT /v1/kv/a: 413 Value exceeds 524288 byte limit"},
      {"rate limited", 429, "rate limit exceeded", StatusCode::kUnavailable, "PUT /v1/kv/a: 429 rate limit exceeded"},
      {"server error", 500, "No cluster leader\n", StatusCode::kUnavailable, "PUT /v1/kv/a: 500 No cluster leader"},
      {"bad gateway", 502, "", StatusCode::kUnavailable, "PUT /v1/kv/a: 502"},
      {"unavailable", 503, "  rpc error  \r\n", StatusCode::kUnavailable, "PUT /v1/kv/a: 503 rpc error"},
      {"redirect", 301, "<a>Moved</a>", StatusCode::kInternal, "PUT /v1/kv/a: 301 <a>Moved</a>"},
      {"long body", 500, std::string(1000, 'e'), StatusCode::kUnavailable,
       "PUT /v1/kv/a: 500 " + std::string(kMaxErrorTextBytes, 'e')},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Status s = StatusFromHttp("PUT", "/v1/kv/a", row.http, row.body);
    EXPECT_EQ(s.code(), row.code) << s.ToString();
    EXPECT_EQ(s.message(), row.message);
  }
}

TEST(ConsulCodec, UnknownCheckError) {
  EXPECT_TRUE(IsUnknownCheckError(404, "Unknown check ID \"x\". Ensure that the check ID is passed"));
  EXPECT_TRUE(IsUnknownCheckError(500, "CheckID \"x\" does not have associated TTL"));
  EXPECT_TRUE(IsUnknownCheckError(500, "Unknown check \"x\""));
  EXPECT_FALSE(IsUnknownCheckError(500, "No cluster leader"));
  EXPECT_FALSE(IsUnknownCheckError(403, "Permission denied"));
  EXPECT_FALSE(IsUnknownCheckError(200, ""));
}

TEST(ConsulCodec, QueryMeta) {
  struct Row {
    const char* name;
    std::string index;
    std::string leader;
    uint64_t want_index;
    bool want_leader;
  };
  const Row rows[] = {
      {"normal", "42", "true", 42, true},
      {"missing", "", "", 1, false},
      {"zero is never sent back", "0", "false", 1, false},
      {"garbage", "abc", "TRUE", 1, false},
      {"trailing garbage", "42x", "true", 1, true},
      {"negative", "-5", "true", 1, true},
      {"max", "18446744073709551615", "true", UINT64_MAX, true},
      {"overflow", "18446744073709551616", "true", 1, true},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    QueryMeta meta = ParseQueryMeta(row.index, row.leader);
    EXPECT_EQ(meta.index, row.want_index);
    EXPECT_EQ(meta.known_leader, row.want_leader);
  }
}

TEST(ConsulCodec, BlockingQuery) {
  struct Row {
    const char* name;
    QueryOptions options;
    std::string query;
    std::chrono::milliseconds hold;
  };
  const Row rows[] = {
      {"plain", {}, "", 0ms},
      {"consistent plain", {0, 0ms, true}, "consistent", 0ms},
      {"whole seconds", {7, 5000ms, false}, "index=7&wait=5s", 5312ms},
      {"milliseconds", {7, 1500ms, false}, "index=7&wait=1500ms", 1593ms},
      {"consistent blocking", {9, 16s, true}, "index=9&wait=16s&consistent", 17s},
      {"default wait", {3, 0ms, false}, "index=3", 300000ms + 18750ms},
      {"clamped wait", {3, 20min, false}, "index=3&wait=600s", 600000ms + 37500ms},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(BlockingQuery(row.options), row.query);
    EXPECT_EQ(BlockingHold(row.options), row.hold);
  }
}

// ---------------------------------------------------------------- sessions

TEST(ConsulCodec, EncodeSessionCreate) {
  SessionOptions options;
  options.name = "resec";
  options.ttl = 15s;
  options.lock_delay = 1s;
  options.behavior = "release";
  options.node_checks = {"serfHealth"};
  options.service_checks = {"redis@:6379:replication-status-check"};
  json j = json::parse(EncodeSessionCreate(options));
  EXPECT_EQ(j, json::parse(R"({"Name":"resec","TTL":"15s","LockDelay":"1s","Behavior":"release",
      "NodeChecks":["serfHealth"],"ServiceChecks":[{"ID":"redis@:6379:replication-status-check"}]})"));

  options.service_checks.clear();
  options.node_checks.clear();
  options.behavior = "delete";
  j = json::parse(EncodeSessionCreate(options));
  EXPECT_FALSE(j.contains("ServiceChecks"));
  // An empty list is sent as such: it means "no node checks", unlike an absent field.
  EXPECT_EQ(j["NodeChecks"], json::array());
  EXPECT_EQ(j["Behavior"], "delete");
}

TEST(ConsulCodec, DecodeSessionCreate) {
  struct Row {
    const char* name;
    std::string body;
    StatusCode code;
    std::string id;
  };
  const Row rows[] = {
      {"ok", R"({"ID":"adf4238a-882b-9ddc-4a9d-5b6758e4159e"})", StatusCode::kOk,
       "adf4238a-882b-9ddc-4a9d-5b6758e4159e"},
      {"missing id", R"({})", StatusCode::kInternal, ""},
      {"id not a string", R"({"ID":5})", StatusCode::kInternal, ""},
      {"array", R"([])", StatusCode::kInternal, ""},
      {"empty", "", StatusCode::kInternal, ""},
      {"html", "<html>oops</html>", StatusCode::kInternal, ""},
      {"truncated", R"({"ID":"adf4)", StatusCode::kInternal, ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    StatusOr<std::string> got = DecodeSessionCreate(row.body);
    if (row.code == StatusCode::kOk) {
      ASSERT_OK(got);
      EXPECT_EQ(*got, row.id);
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), row.code);
      EXPECT_EQ(got.status().message().rfind("decode session create: ", 0), 0u) << got.status().message();
    }
  }
}

TEST(ConsulCodec, DecodeSessionRenew) {
  struct Row {
    const char* name;
    std::string body;
    StatusCode code;
    std::chrono::seconds ttl;
  };
  const Row rows[] = {
      {"ok", R"([{"ID":"x","TTL":"15s","Behavior":"release"}])", StatusCode::kOk, 15s},
      {"go formatting", R"([{"TTL":"1m0s"}])", StatusCode::kOk, 60s},
      {"fraction rounds up", R"([{"TTL":"1500ms"}])", StatusCode::kOk, 2s},
      {"empty array: gone", "[]", StatusCode::kNotFound, 0s},
      {"null: gone", "null", StatusCode::kNotFound, 0s},
      {"no ttl", R"([{"ID":"x"}])", StatusCode::kInternal, 0s},
      {"bad ttl", R"([{"TTL":"soon"}])", StatusCode::kInternal, 0s},
      {"zero ttl", R"([{"TTL":"0s"}])", StatusCode::kInternal, 0s},
      {"ttl not a string", R"([{"TTL":15}])", StatusCode::kInternal, 0s},
      {"object", R"({"TTL":"15s"})", StatusCode::kInternal, 0s},
      {"array of strings", R"(["15s"])", StatusCode::kInternal, 0s},
      {"not json", "Session id not found", StatusCode::kInternal, 0s},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    StatusOr<std::chrono::seconds> got = DecodeSessionRenew(row.body);
    if (row.code == StatusCode::kOk) {
      ASSERT_OK(got);
      EXPECT_EQ(*got, row.ttl);
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), row.code) << got.status().ToString();
    }
  }
}

// ---------------------------------------------------------------- KV

TEST(ConsulCodec, DecodeKvPairs) {
  const std::string kFull =
      R"([{"LockIndex":3,"Key":"resec/.lock","Flags":7,"Value":"aGVsbG8=","Session":"s-1",)"
      R"("CreateIndex":10,"ModifyIndex":12}])";
  StatusOr<std::vector<KvPair>> full = DecodeKvPairs(kFull);
  ASSERT_OK(full);
  ASSERT_EQ(full->size(), 1u);
  const KvPair& pair = full->front();
  EXPECT_EQ(pair.key, "resec/.lock");
  EXPECT_EQ(pair.value, "hello");
  EXPECT_EQ(pair.session, "s-1");
  EXPECT_EQ(pair.lock_index, 3u);
  EXPECT_EQ(pair.create_index, 10u);
  EXPECT_EQ(pair.modify_index, 12u);
  EXPECT_EQ(pair.flags, 7u);

  struct Row {
    const char* name;
    std::string body;
    bool ok;
    std::vector<std::string> values;  // decoded values, in order
  };
  const Row rows[] = {
      {"null value", R"([{"Key":"a","Value":null,"LockIndex":0}])", true, {""}},
      {"missing value and session", R"([{"Key":"a"}])", true, {""}},
      {"padding variants", R"([{"Key":"a","Value":"YQ=="},{"Key":"b","Value":"YWI="},{"Key":"c","Value":"YWJj"}])",
       true, {"a", "ab", "abc"}},
      {"empty array", "[]", true, {}},
      {"null body", "null", true, {}},
      {"bad base64", R"([{"Key":"a","Value":"!!!"}])", false, {}},
      {"truncated base64", R"([{"Key":"a","Value":"Y"}])", false, {}},
      {"index as string", R"([{"Key":"a","LockIndex":"3"}])", false, {}},
      {"negative index", R"([{"Key":"a","ModifyIndex":-1}])", false, {}},
      {"value not string", R"([{"Key":"a","Value":5}])", false, {}},
      {"missing key", R"([{"Value":"YQ=="}])", false, {}},
      {"object body", R"({"Key":"a"})", false, {}},
      {"array of numbers", "[1,2]", false, {}},
      {"empty body", "", false, {}},
      {"not json", "rpc error: No cluster leader", false, {}},
      {"truncated", R"([{"Key":"a","Val)", false, {}},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    StatusOr<std::vector<KvPair>> got = DecodeKvPairs(row.body);
    EXPECT_EQ(got.ok(), row.ok) << got.status().ToString();
    if (got.ok()) {
      std::vector<std::string> values;
      for (const KvPair& p : *got) values.push_back(p.value);
      EXPECT_EQ(values, row.values);
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kInternal);
      EXPECT_EQ(got.status().message().rfind("decode ", 0), 0u) << got.status().message();
    }
  }
}

TEST(ConsulCodec, DecodeBool) {
  EXPECT_EQ(*DecodeBool("true", "kv acquire"), true);
  EXPECT_EQ(*DecodeBool("false\n", "kv acquire"), false);
  for (const char* body : {"", "yes", "1", "\"true\"", "tru", "null"}) {
    SCOPED_TRACE(body);
    StatusOr<bool> got = DecodeBool(body, "kv acquire");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), StatusCode::kInternal);
    EXPECT_EQ(got.status().message().rfind("decode kv acquire: ", 0), 0u) << got.status().message();
  }
}

// ---------------------------------------------------------------- agent, health, status

TEST(ConsulCodec, EncodeServiceRegistration) {
  ServiceRegistration r;
  r.id = "redis@10.0.0.5:6379";
  r.name = "redis";
  r.tags = {"master", "v7"};
  r.address = "10.0.0.5";
  r.port = 6379;
  r.meta = {{"role", "master"}};
  CheckDefinition check;
  check.check_id = "redis@10.0.0.5:6379:replication-status-check";
  check.name = "Resec: master replication status";
  check.ttl = 6s;
  check.status = "warning";
  check.deregister_critical_after = 72h;
  r.check = check;
  EXPECT_EQ(json::parse(EncodeServiceRegistration(r)), json::parse(R"({
      "ID":"redis@10.0.0.5:6379","Name":"redis","Tags":["master","v7"],"Address":"10.0.0.5","Port":6379,
      "Meta":{"role":"master"},
      "Check":{"CheckID":"redis@10.0.0.5:6379:replication-status-check",
               "Name":"Resec: master replication status","TTL":"6s","Status":"warning",
               "DeregisterCriticalServiceAfter":"259200s"}})"));

  // Empty address: left out so Consul shows the node's address. No deregister
  // interval: left out. Output: carried as Notes.
  r.address.clear();
  r.check->deregister_critical_after = 0ms;
  r.check->output = "starting";
  r.tags.clear();
  r.meta.clear();
  json j = json::parse(EncodeServiceRegistration(r));
  EXPECT_FALSE(j.contains("Address"));
  EXPECT_FALSE(j["Check"].contains("DeregisterCriticalServiceAfter"));
  EXPECT_EQ(j["Check"]["Notes"], "starting");
  EXPECT_EQ(j["Tags"], json::array());
  EXPECT_EQ(j["Meta"], json::object());

  r.check.reset();
  EXPECT_FALSE(json::parse(EncodeServiceRegistration(r)).contains("Check"));
}

TEST(ConsulCodec, EncodersSurviveInvalidUtf8) {
  ServiceRegistration r;
  r.id = "bad\xff";
  r.tags = {"\xc3"};
  json j = json::parse(EncodeServiceRegistration(r), nullptr, false);
  EXPECT_FALSE(j.is_discarded());
  j = json::parse(EncodeCheckUpdate("passing", "info\xfe\xff"), nullptr, false);
  EXPECT_FALSE(j.is_discarded());
}

TEST(ConsulCodec, EncodeCheckUpdateTruncatesOutput) {
  json j = json::parse(EncodeCheckUpdate("passing", "role:master"));
  EXPECT_EQ(j, json::parse(R"({"Status":"passing","Output":"role:master"})"));

  std::string output(kMaxCheckOutputBytes - 1, 'a');
  output += "\xc3\xa9 and more";  // a two-byte character straddling the limit
  j = json::parse(EncodeCheckUpdate("critical", output));
  EXPECT_EQ(j["Output"].get<std::string>(), std::string(kMaxCheckOutputBytes - 1, 'a'));
}

TEST(ConsulCodec, DecodeHealthService) {
  const std::string kBody = R"([
    {"Node":{"Node":"n1","Address":"10.0.0.1"},
     "Service":{"ID":"redis@10.0.0.9:6379","Service":"redis","Tags":["master"],"Address":"10.0.0.9","Port":6379},
     "Checks":[{"CheckID":"serfHealth","Status":"passing"}]},
    {"Node":{"Node":"n2","Address":"10.0.0.2"},
     "Service":{"ID":"redis@:6380","Service":"redis","Tags":null,"Address":"","Port":6380},
     "Checks":[]}
  ])";
  StatusOr<std::vector<ServiceInstance>> got = DecodeHealthService(kBody);
  ASSERT_OK(got);
  std::vector<ServiceInstance> want = {
      {"redis@10.0.0.9:6379", "n1", "10.0.0.9", 6379, {"master"}},
      {"redis@:6380", "n2", "10.0.0.2", 6380, {}},  // empty service address: the node's
  };
  EXPECT_EQ(*got, want);

  struct Row {
    const char* name;
    std::string body;
    bool ok;
    size_t count;
  };
  const Row rows[] = {
      {"empty", "[]", true, 0},
      {"null", "null", true, 0},
      {"no service", R"([{"Node":{"Node":"n"}}])", false, 0},
      {"service not object", R"([{"Node":{},"Service":[]}])", false, 0},
      {"port as string", R"([{"Node":{},"Service":{"Port":"6379"}}])", false, 0},
      {"port out of range", R"([{"Node":{},"Service":{"Port":70000}}])", false, 0},
      {"tags not strings", R"([{"Node":{},"Service":{"Tags":[1]}}])", false, 0},
      {"node address not string", R"([{"Node":{"Address":1},"Service":{}}])", false, 0},
      {"object body", R"({"Node":{}})", false, 0},
      {"truncated", kBody.substr(0, kBody.size() / 2), false, 0},
      {"empty body", "", false, 0},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    StatusOr<std::vector<ServiceInstance>> r = DecodeHealthService(row.body);
    EXPECT_EQ(r.ok(), row.ok) << r.status().ToString();
    if (r.ok()) {
      EXPECT_EQ(r->size(), row.count);
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInternal);
      EXPECT_EQ(r.status().message().rfind("decode health service: ", 0), 0u) << r.status().message();
    }
  }
}

TEST(ConsulCodec, DecodeLeader) {
  EXPECT_EQ(*DecodeLeader("\"127.0.0.1:8300\""), "127.0.0.1:8300");
  EXPECT_EQ(*DecodeLeader("\"\"\n"), "");
  for (const char* body : {"", "127.0.0.1:8300", "null", "[]"}) {
    SCOPED_TRACE(body);
    StatusOr<std::string> got = DecodeLeader(body);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  }
}

// Every prefix of real answers (a connection cut mid-body) and a few hostile
// shapes must come back as an error or a value, never a crash or a throw.
TEST(ConsulCodec, TruncatedAndHostileBodiesNeverCrash) {
  const std::string bodies[] = {
      R"([{"LockIndex":1,"Key":"resec/.lock","Flags":0,"Value":"eyJob2xkZXIiOiJ4In0=","Session":"s","CreateIndex":5,"ModifyIndex":6}])",
      R"([{"Node":{"Node":"n1","Address":"10.0.0.1"},"Service":{"ID":"a","Tags":["x"],"Address":"","Port":1}}])",
      R"([{"ID":"x","TTL":"15s"}])",
      R"({"ID":"x"})",
      std::string(20000, '[') + std::string(20000, ']'),
      std::string("\x00\x01\xff", 3),
  };
  for (const std::string& body : bodies) {
    // Every prefix of the short bodies; a dozen of the deeply nested one.
    for (size_t n = 0; n <= body.size(); n += (body.size() > 1000 ? body.size() / 12 : 1)) {
      std::string_view prefix(body.data(), n);
      (void)DecodeKvPairs(prefix);
      (void)DecodeHealthService(prefix);
      (void)DecodeSessionRenew(prefix);
      (void)DecodeSessionCreate(prefix);
      (void)DecodeBool(prefix, "x");
      (void)DecodeLeader(prefix);
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace resec::consul
