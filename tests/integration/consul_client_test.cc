// consul::HttpClient against a real Consul dev agent (ConsulAgent fixture),
// plus a few hostile in-process HTTP servers for what Consul never does
// (oversized or garbage bodies) and to see exactly what goes on the wire.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "resec/consul/client.h"
#include "resec/consul/json_codec.h"
#include "support/consul_agent.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"
#include "support/test_certs.h"
#include "support/wait_for.h"

namespace resec::consul {
namespace {

using namespace std::chrono_literals;
using resec::testing::ConsulAgent;
using resec::testing::HttpReply;
using resec::testing::WaitFor;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Generous for a loaded 2-core machine; the calls themselves take milliseconds.
constexpr std::chrono::milliseconds kRequestTimeout = 5s;

long long MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

SessionOptions LockSession(const std::string& name) {
  SessionOptions options;
  options.name = name;
  options.ttl = 15s;
  // Only applies when a session is invalidated; an explicit release frees the
  // key at once either way.
  options.lock_delay = 1s;
  return options;
}

class ConsulClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The agent ignores SIGPIPE (main.cc): Debian's httplib sends without
    // MSG_NOSIGNAL, and a request Cancel() cut short may write to a socket
    // that is already shut down. A test of the client must run as the agent
    // does, or that write kills the test binary.
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_OK(consul_.Start());
    client_ = MakeHttpClient(consul_.client_config(), kRequestTimeout);
  }

  std::unique_ptr<Client> NewClient() { return MakeHttpClient(consul_.client_config(), kRequestTimeout); }

  ConsulAgent consul_;
  std::unique_ptr<Client> client_;
};

TEST_F(ConsulClientTest, LeaderIsKnown) {
  StatusOr<std::string> leader = client_->Leader();
  ASSERT_OK(leader);
  EXPECT_EQ(*leader, "127.0.0.1:" + std::to_string(consul_.server_port()));
}

TEST_F(ConsulClientTest, SessionCreateRenewDestroy) {
  StatusOr<std::string> id = client_->CreateSession(LockSession("resec-test"));
  ASSERT_OK(id);
  EXPECT_EQ(id->size(), 36u) << *id;

  StatusOr<HttpReply> info = consul_.Get("/v1/session/info/" + *id);
  ASSERT_OK(info);
  json session = json::parse(info->body, nullptr, false);
  ASSERT_TRUE(session.is_array() && session.size() == 1) << info->body;
  EXPECT_EQ(session[0]["LockDelay"], 1000000000) << info->body;
  EXPECT_EQ(session[0]["TTL"], "15s") << info->body;
  EXPECT_EQ(session[0]["Behavior"], "release") << info->body;
  EXPECT_EQ(session[0]["NodeChecks"], json::array({"serfHealth"})) << info->body;

  StatusOr<std::chrono::seconds> ttl = client_->RenewSession(*id);
  ASSERT_OK(ttl);
  EXPECT_EQ(*ttl, 15s);

  ASSERT_OK(client_->DestroySession(*id));
  StatusOr<std::chrono::seconds> gone = client_->RenewSession(*id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound) << gone.status().ToString();
  // Destroying twice is fine (Consul's destroy is idempotent).
  EXPECT_OK(client_->DestroySession(*id));
}

TEST_F(ConsulClientTest, LockAcquiredByOneSessionAtATime) {
  const std::string key = "resec/.lock";
  StatusOr<std::string> a = client_->CreateSession(LockSession("a"));
  StatusOr<std::string> b = client_->CreateSession(LockSession("b"));
  ASSERT_OK(a);
  ASSERT_OK(b);

  StatusOr<bool> got = client_->AcquireKey(key, *a, R"({"holder":"a"})");
  ASSERT_OK(got);
  EXPECT_TRUE(*got);
  StatusOr<WithMeta<std::optional<KvPair>>> held = client_->GetKey(key, {});
  ASSERT_OK(held);
  ASSERT_TRUE(held->value.has_value());
  EXPECT_EQ(held->value->session, *a);
  EXPECT_EQ(held->value->value, R"({"holder":"a"})");
  EXPECT_EQ(held->value->lock_index, 1u);
  EXPECT_GE(held->meta.index, held->value->modify_index);
  EXPECT_TRUE(held->meta.known_leader);

  got = client_->AcquireKey(key, *b, "b");
  ASSERT_OK(got);
  EXPECT_FALSE(*got);

  got = client_->ReleaseKey(key, *a, "kept");
  ASSERT_OK(got);
  EXPECT_TRUE(*got);
  held = client_->GetKey(key, {0, 0ms, /*consistent=*/true});
  ASSERT_OK(held);
  ASSERT_TRUE(held->value.has_value());
  EXPECT_EQ(held->value->session, "");
  // Consul stores the PUT body on release too.
  EXPECT_EQ(held->value->value, "kept");

  got = client_->AcquireKey(key, *b, "b");
  ASSERT_OK(got);
  EXPECT_TRUE(*got);
  held = client_->GetKey(key, {});
  ASSERT_OK(held);
  ASSERT_TRUE(held->value.has_value());
  EXPECT_EQ(held->value->session, *b);
  EXPECT_EQ(held->value->value, "b");
  EXPECT_EQ(held->value->lock_index, 2u);

  // Destroying the holder's session releases the key (Behavior "release").
  ASSERT_OK(client_->DestroySession(*b));
  held = client_->GetKey(key, {});
  ASSERT_OK(held);
  ASSERT_TRUE(held->value.has_value());
  EXPECT_EQ(held->value->session, "");
}

TEST_F(ConsulClientTest, KeyPutGetListDelete) {
  const std::string binary("\x00\x01\xff value with spaces\n", 22);
  ASSERT_OK(client_->PutKey("resec/peers/a b", binary));
  ASSERT_OK(client_->PutKey("resec/peers/c%d?e", "second"));
  ASSERT_OK(client_->PutKey("resec/peers/empty", ""));

  StatusOr<WithMeta<std::optional<KvPair>>> a = client_->GetKey("resec/peers/a b", {});
  ASSERT_OK(a);
  ASSERT_TRUE(a->value.has_value());
  EXPECT_EQ(a->value->key, "resec/peers/a b");
  EXPECT_EQ(a->value->value, binary);

  StatusOr<WithMeta<std::optional<KvPair>>> empty = client_->GetKey("resec/peers/empty", {});
  ASSERT_OK(empty);
  ASSERT_TRUE(empty->value.has_value());
  EXPECT_EQ(empty->value->value, "");

  StatusOr<WithMeta<std::vector<KvPair>>> list = client_->ListKeys("resec/peers/", {});
  ASSERT_OK(list);
  std::vector<std::string> keys;
  for (const KvPair& p : list->value) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"resec/peers/a b", "resec/peers/c%d?e", "resec/peers/empty"}));

  ASSERT_OK(client_->DeleteKey("resec/peers/a b"));
  StatusOr<WithMeta<std::optional<KvPair>>> missing = client_->GetKey("resec/peers/a b", {});
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->value.has_value());
  EXPECT_GE(missing->meta.index, 1u);

  StatusOr<WithMeta<std::vector<KvPair>>> none = client_->ListKeys("nothing/here/", {});
  ASSERT_OK(none);
  EXPECT_TRUE(none->value.empty());
  EXPECT_GE(none->meta.index, 1u);
}

TEST_F(ConsulClientTest, BlockingGetReturnsWhenTheKeyChanges) {
  ASSERT_OK(client_->PutKey("resec/watch", "v1"));
  StatusOr<WithMeta<std::optional<KvPair>>> first = client_->GetKey("resec/watch", {});
  ASSERT_OK(first);

  Clock::time_point start = Clock::now();
  auto blocked = std::async(std::launch::async, [&] {
    return client_->GetKey("resec/watch", {first->meta.index, 20s, /*consistent=*/true});
  });
  // Whether the write lands before or after the read reaches Consul, the read
  // must come back with v2 long before its 20s wait.
  std::unique_ptr<Client> writer = NewClient();
  ASSERT_OK(writer->PutKey("resec/watch", "v2"));
  ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready);
  StatusOr<WithMeta<std::optional<KvPair>>> second = blocked.get();
  ASSERT_OK(second);
  EXPECT_LT(MillisSince(start), 5000);
  ASSERT_TRUE(second->value.has_value());
  EXPECT_EQ(second->value->value, "v2");
  EXPECT_GT(second->meta.index, first->meta.index);
}

TEST_F(ConsulClientTest, BlockingGetEndsAtWaitWhenNothingChanges) {
  ASSERT_OK(client_->PutKey("resec/quiet", "v1"));
  StatusOr<WithMeta<std::optional<KvPair>>> first = client_->GetKey("resec/quiet", {});
  ASSERT_OK(first);

  Clock::time_point start = Clock::now();
  StatusOr<WithMeta<std::optional<KvPair>>> again = client_->GetKey("resec/quiet", {first->meta.index, 1500ms});
  long long elapsed = MillisSince(start);
  ASSERT_OK(again);
  EXPECT_GE(elapsed, 1400);
  EXPECT_LT(elapsed, 1500 + 1500 / 16 + 2000);
  ASSERT_TRUE(again->value.has_value());
  EXPECT_EQ(again->value->value, "v1");
  EXPECT_EQ(again->meta.index, first->meta.index);

  // A missing key blocks the same way (Consul sends the index with its 404).
  StatusOr<WithMeta<std::optional<KvPair>>> absent = client_->GetKey("resec/absent", {});
  ASSERT_OK(absent);
  start = Clock::now();
  absent = client_->GetKey("resec/absent", {absent->meta.index, 1s});
  elapsed = MillisSince(start);
  ASSERT_OK(absent);
  EXPECT_FALSE(absent->value.has_value());
  EXPECT_GE(elapsed, 900);
}

TEST_F(ConsulClientTest, CancelAbortsABlockingQueryPromptly) {
  ASSERT_OK(client_->PutKey("resec/cancel", "v"));
  StatusOr<WithMeta<std::optional<KvPair>>> first = client_->GetKey("resec/cancel", {});
  ASSERT_OK(first);

  std::atomic<bool> started{false};
  auto blocked = std::async(std::launch::async, [&] {
    started = true;
    return client_->GetKey("resec/cancel", {first->meta.index, 60s});
  });
  ASSERT_TRUE(WaitFor([&] { return started.load(); }, 5s));
  // What this test is about is a query that is already parked in Consul; give
  // it time to get there (the socket-level race is the next test's business).
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(blocked.wait_for(0s), std::future_status::timeout) << "the blocking query did not block";

  Clock::time_point cancel_at = Clock::now();
  client_->Cancel();
  ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready);
  long long latency = MillisSince(cancel_at);
  StatusOr<WithMeta<std::optional<KvPair>>> result = blocked.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kCancelled) << result.status().ToString();
  EXPECT_LT(latency, 500) << "Cancel took " << latency << "ms";
  RecordProperty("cancel_latency_ms", static_cast<int>(latency));

  // Terminal: the instance stays cancelled.
  StatusOr<std::string> leader = client_->Leader();
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.status().code(), StatusCode::kCancelled);
}

TEST_F(ConsulClientTest, CancelRacingTheStartOfAQueryStillEndsIt) {
  std::unique_ptr<Client> probe = NewClient();
  StatusOr<WithMeta<std::optional<KvPair>>> first = probe->GetKey("resec/race", {});
  ASSERT_OK(first);
  // Cancel lands anywhere from "before the call" to "while connecting" to
  // "parked in Consul"; every case must end quickly with kCancelled.
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE(i);
    std::unique_ptr<Client> client = NewClient();
    auto blocked = std::async(std::launch::async,
                              [&] { return client->GetKey("resec/race", {first->meta.index, 60s}); });
    if (i % 2 == 1) std::this_thread::yield();
    client->Cancel();
    ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready);
    StatusOr<WithMeta<std::optional<KvPair>>> result = blocked.get();
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kCancelled) << result.status().ToString();
  }
}

TEST_F(ConsulClientTest, CancelBeforeAnyCall) {
  client_->Cancel();
  Status s = client_->PutKey("resec/x", "y");
  EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.ToString();
}

ServiceRegistration RedisService(const std::string& id, const std::string& tag) {
  ServiceRegistration r;
  r.id = id;
  r.name = "redis-t";
  r.tags = {tag};
  r.port = 6379;
  r.meta = {{"resec", "test"}};
  CheckDefinition check;
  check.check_id = id + ":replication-status-check";
  check.name = "Resec: " + tag + " replication status";
  check.ttl = 6s;
  check.status = "warning";
  check.deregister_critical_after = 1min;
  r.check = check;
  return r;
}

TEST_F(ConsulClientTest, ServiceWithTtlCheckShowsUpWhenPassing) {
  const std::string id = "redis-t@:6379";
  const std::string check_id = id + ":replication-status-check";
  ASSERT_OK(client_->RegisterService(RedisService(id, "master")));

  auto healthy = [&](const std::string& tag) {
    StatusOr<WithMeta<std::vector<ServiceInstance>>> r = client_->HealthyInstances("redis-t", tag, {});
    EXPECT_OK(r);
    return r.ok() ? r->value : std::vector<ServiceInstance>{};
  };
  EXPECT_TRUE(healthy("").empty()) << "warning is not passing";

  ASSERT_OK(client_->UpdateTtlCheck(check_id, "passing", "role:master\r\nconnected_slaves:0"));
  std::vector<ServiceInstance> want = {{id, consul_.node_name(), "127.0.0.1", 6379, {"master"}}};
  EXPECT_EQ(healthy(""), want) << "no service address: the node's";
  EXPECT_EQ(healthy("master"), want);
  EXPECT_TRUE(healthy("slave").empty());

  StatusOr<HttpReply> checks = consul_.Get("/v1/agent/checks");
  ASSERT_OK(checks);
  EXPECT_NE(checks->body.find("role:master\\r\\nconnected_slaves:0"), std::string::npos) << checks->body;

  // A blocking health read wakes up when the check turns critical.
  StatusOr<WithMeta<std::vector<ServiceInstance>>> before = client_->HealthyInstances("redis-t", "master", {});
  ASSERT_OK(before);
  std::unique_ptr<Client> watcher = NewClient();
  Clock::time_point start = Clock::now();
  auto blocked = std::async(std::launch::async, [&] {
    return watcher->HealthyInstances("redis-t", "master", {before->meta.index, 20s});
  });
  ASSERT_OK(client_->UpdateTtlCheck(check_id, "critical", "redis down"));
  ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready);
  StatusOr<WithMeta<std::vector<ServiceInstance>>> after = blocked.get();
  ASSERT_OK(after);
  EXPECT_LT(MillisSince(start), 5000);
  EXPECT_TRUE(after->value.empty());
  EXPECT_TRUE(healthy("").empty());

  ASSERT_OK(client_->DeregisterService(id));
  Status again = client_->UpdateTtlCheck(check_id, "passing", "");
  EXPECT_EQ(again.code(), StatusCode::kNotFound) << again.ToString();
}

TEST_F(ConsulClientTest, RegistrationCarriesAddressAndMeta) {
  ServiceRegistration r = RedisService("redis-t@10.1.2.3:7000", "slave");
  r.address = "10.1.2.3";
  r.port = 7000;
  ASSERT_OK(client_->RegisterService(r));
  StatusOr<HttpReply> service = consul_.Get("/v1/agent/service/redis-t@10.1.2.3:7000");
  ASSERT_OK(service);
  ASSERT_EQ(service->status, 200) << service->body;
  json agent_service = json::parse(service->body, nullptr, false);
  EXPECT_EQ(agent_service["Address"], "10.1.2.3") << service->body;
  EXPECT_EQ(agent_service["Meta"], json({{"resec", "test"}})) << service->body;
  EXPECT_EQ(agent_service["Port"], 7000) << service->body;
  EXPECT_EQ(agent_service["Tags"], json::array({"slave"})) << service->body;

  ASSERT_OK(client_->UpdateTtlCheck(r.check->check_id, "passing", ""));
  StatusOr<WithMeta<std::vector<ServiceInstance>>> found = client_->HealthyInstances("redis-t", "slave", {});
  ASSERT_OK(found);
  ASSERT_EQ(found->value.size(), 1u);
  EXPECT_EQ(found->value[0].address, "10.1.2.3");
  EXPECT_EQ(found->value[0].port, 7000);
}

TEST_F(ConsulClientTest, UpdateOfUnknownCheckIsNotFound) {
  Status s = client_->UpdateTtlCheck("no-such-check", "passing", "x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
}

TEST_F(ConsulClientTest, HealthOfUnknownServiceIsEmpty) {
  StatusOr<WithMeta<std::vector<ServiceInstance>>> r = client_->HealthyInstances("never-registered", "", {});
  ASSERT_OK(r);
  EXPECT_TRUE(r->value.empty());
  EXPECT_GE(r->meta.index, 1u);
}

TEST_F(ConsulClientTest, SessionTiedToServiceCheckDiesWithIt) {
  const std::string id = "redis-t@:6380";
  ServiceRegistration r = RedisService(id, "master");
  ASSERT_OK(client_->RegisterService(r));
  ASSERT_OK(client_->UpdateTtlCheck(r.check->check_id, "passing", ""));

  SessionOptions options = LockSession("tied");
  options.service_checks = {r.check->check_id};
  StatusOr<std::string> session = client_->CreateSession(options);
  ASSERT_OK(session);
  ASSERT_OK(client_->RenewSession(*session));

  ASSERT_OK(client_->UpdateTtlCheck(r.check->check_id, "critical", "gone"));
  EXPECT_TRUE(WaitFor(
      [&] {
        StatusOr<std::chrono::seconds> renewed = client_->RenewSession(*session);
        return !renewed.ok() && renewed.status().code() == StatusCode::kNotFound;
      },
      10s, 100ms))
      << "a critical service check must invalidate the session";
}

TEST_F(ConsulClientTest, ConsulDownIsUnavailableQuickly) {
  consul_.Kill();
  Clock::time_point start = Clock::now();
  StatusOr<std::string> leader = client_->Leader();
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.status().code(), StatusCode::kUnavailable) << leader.status().ToString();
  EXPECT_LT(MillisSince(start), 1000);
  EXPECT_EQ(leader.status().message().rfind("GET /v1/status/leader: ", 0), 0u) << leader.status().message();

  // And it recovers once Consul is back (same ports, fresh state).
  ASSERT_OK(consul_.Start());
  EXPECT_OK(client_->Leader());
}

TEST_F(ConsulClientTest, BadConfigurationIsInvalidArgumentOnEveryCall) {
  ConsulClientConfig config = consul_.client_config();
  config.scheme = "unix";
  std::unique_ptr<Client> client = MakeHttpClient(config, kRequestTimeout);
  StatusOr<std::string> leader = client->Leader();
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- ACLs

TEST(ConsulClientAcl, TokensAndPermissionErrors) {
  ConsulAgent consul(ConsulAgent::Options{.acl = true});
  ASSERT_OK(consul.Start());

  std::unique_ptr<Client> admin = MakeHttpClient(consul.client_config(consul.management_token()), kRequestTimeout);
  ASSERT_OK(admin->PutKey("resec/acl", "x"));

  std::unique_ptr<Client> anonymous = MakeHttpClient(consul.client_config(), kRequestTimeout);
  Status denied = anonymous->PutKey("resec/acl", "y");
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied) << denied.ToString();
  EXPECT_EQ(denied.message().rfind("PUT /v1/kv/resec/acl: 403 Permission denied", 0), 0u) << denied.message();

  std::unique_ptr<Client> unknown =
      MakeHttpClient(consul.client_config("11111111-2222-3333-4444-555555555555"), kRequestTimeout);
  StatusOr<WithMeta<std::optional<KvPair>>> read = unknown->GetKey("resec/acl", {});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(read.status().message(), "GET /v1/kv/resec/acl: 403 ACL not found");
  EXPECT_EQ(read.status().message().find("11111111"), std::string::npos) << "the token never shows";

  // A token allowed the key but not sessions: reads work, session create is refused.
  StatusOr<std::string> limited_token = consul.CreateToken(R"(key_prefix "resec/" { policy = "write" })");
  ASSERT_OK(limited_token);
  std::unique_ptr<Client> limited = MakeHttpClient(consul.client_config(*limited_token), kRequestTimeout);
  read = limited->GetKey("resec/acl", {});
  ASSERT_OK(read);
  ASSERT_TRUE(read->value.has_value());
  EXPECT_EQ(read->value->value, "x");
  StatusOr<std::string> session = limited->CreateSession(LockSession("nope"));
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), StatusCode::kPermissionDenied) << session.status().ToString();
}

// ---------------------------------------------------------------- TLS

class ConsulClientTls : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(consul_.Start()); }
  StatusOr<std::string> LeaderWith(const ConsulClientConfig& config) {
    return MakeHttpClient(config, kRequestTimeout)->Leader();
  }

  ConsulAgent consul_{ConsulAgent::Options{.https = true}};
};

TEST_F(ConsulClientTls, VerifiesAgainstTheGivenCa) {
  EXPECT_OK(LeaderWith(consul_.client_config()));

  ConsulClientConfig by_dir = consul_.client_config();
  by_dir.ca_file.clear();
  by_dir.ca_path = consul_.dir().string();  // not hashed: OpenSSL finds nothing there
  StatusOr<std::string> r = LeaderWith(by_dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();

  ConsulClientConfig no_ca = consul_.client_config();
  no_ca.ca_file.clear();
  r = LeaderWith(no_ca);
  ASSERT_FALSE(r.ok()) << "a private CA is not in the system store";
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();

  no_ca.tls_verify = false;
  EXPECT_OK(LeaderWith(no_ca));

  ConsulClientConfig plain = consul_.client_config();
  plain.scheme = "http";
  r = LeaderWith(plain);
  ASSERT_FALSE(r.ok()) << "plain HTTP to an HTTPS port";
}

// OpenSSL's CA directory layout: one "<subject hash>.0" file per CA (what
// `openssl rehash` makes).
std::string MakeHashedCaDir(const std::filesystem::path& ca_file, const std::filesystem::path& dir) {
  std::unique_ptr<FILE, decltype(&fclose)> in(fopen(ca_file.c_str(), "r"), &fclose);
  if (!in) return "";
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_X509(in.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return "";
  char name[16];
  snprintf(name, sizeof(name), "%08lx.0", X509_subject_name_hash(cert.get()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(ca_file, dir / name, std::filesystem::copy_options::overwrite_existing);
  return dir.string();
}

TEST_F(ConsulClientTls, CaDirectoryIsHonoured) {
  ConsulClientConfig config = consul_.client_config();
  config.ca_file.clear();
  config.ca_path = MakeHashedCaDir(consul_.ca_file(), consul_.dir() / "cadir");
  ASSERT_FALSE(config.ca_path.empty());
  EXPECT_OK(LeaderWith(config));
}

TEST_F(ConsulClientTls, ServerNameOverridesTheCheckedName) {
  ConsulClientConfig config = consul_.client_config();
  config.tls_server_name = "server.dc1.consul";
  EXPECT_OK(LeaderWith(config));

  config.host = "localhost";  // resolved by the client, verified as server.dc1.consul
  EXPECT_OK(LeaderWith(config));

  config.tls_server_name = "wrong.example.com";
  StatusOr<std::string> r = LeaderWith(config);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // The chain verifies; the message names the mismatch, not just "verification".
  EXPECT_NE(r.status().message().find("TLS: server certificate does not match host name \"wrong.example.com\""),
            std::string::npos)
      << r.status().message();
}

TEST_F(ConsulClientTls, AnUnknownCaIsNamedInTheError) {
  ConsulClientConfig config = consul_.client_config();
  resec::testing::TempDir other("other-ca");
  StatusOr<resec::testing::TestCertificates> certs = resec::testing::MakeTestCertificates(other.path());
  ASSERT_OK(certs);
  config.ca_file = certs->ca_file.string();
  StatusOr<std::string> r = LeaderWith(config);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("TLS: certificate verify failed: unable to get local issuer certificate"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ConsulClientTls, BadTlsFilesAreInvalidArgument) {
  ConsulClientConfig config = consul_.client_config();
  config.ca_file = (consul_.dir() / "missing.pem").string();
  StatusOr<std::string> r = LeaderWith(config);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();

  config = consul_.client_config();
  config.client_cert = (consul_.dir() / "server.pem").string();
  r = LeaderWith(config);
  ASSERT_FALSE(r.ok()) << "a certificate without its key";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);

  config.client_key = (consul_.dir() / "missing.key").string();
  r = LeaderWith(config);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
}

// ---------------------------------------------------------------- hostile servers

// An in-process HTTP server on a loopback port, stopped and joined on
// destruction. For what a real Consul never does.
class FakeServer {
 public:
  FakeServer() : server_(std::make_unique<httplib::Server>()) {}
  explicit FakeServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}
  ~FakeServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return *server_; }
  void Start() {
    // Bound here, on the test thread, so the listening socket exists before
    // the server thread does (and stop() never races its creation).
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    ASSERT_TRUE(WaitFor([this] { return server_->is_running(); }, 5s));
  }
  ConsulClientConfig config() const {
    ConsulClientConfig c;
    c.host = "127.0.0.1";
    c.port = port_;
    return c;
  }

 private:
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// Consul with verify_incoming cannot be probed by the fixture (it has no
// client certificate), so an in-process TLS server that demands one stands in.
TEST(ConsulClientTlsClientCert, PresentedWhenTheServerRequiresOne) {
  resec::testing::TempDir dir("certs");
  StatusOr<resec::testing::TestCertificates> certs = resec::testing::MakeTestCertificates(dir.path());
  ASSERT_OK(certs);
  auto tls_server = std::make_unique<httplib::SSLServer>(certs->cert_file.c_str(), certs->key_file.c_str(),
                                                         certs->ca_file.c_str());
  ASSERT_TRUE(tls_server->is_valid());
  FakeServer fake(std::move(tls_server));
  fake.server().Get("/v1/status/leader", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("\"127.0.0.1:8300\"", "application/json");
  });
  fake.Start();

  ConsulClientConfig config = fake.config();
  config.scheme = "https";
  config.ca_file = certs->ca_file.string();
  StatusOr<std::string> r = MakeHttpClient(config, kRequestTimeout)->Leader();
  ASSERT_FALSE(r.ok()) << "no client certificate";
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();

  // The test server certificate also carries EKU clientAuth.
  config.client_cert = certs->cert_file.string();
  config.client_key = certs->key_file.string();
  r = MakeHttpClient(config, kRequestTimeout)->Leader();
  ASSERT_OK(r);
  EXPECT_EQ(*r, "127.0.0.1:8300");
}

TEST(ConsulClientHostile, OversizedBodyIsRefused) {
  FakeServer fake;
  fake.server().Get("/v1/kv/big", [](const httplib::Request&, httplib::Response& res) {
    // Streamed in chunks so the server does not need 100 MB either.
    auto sent = std::make_shared<size_t>(0);
    res.set_content_provider("application/json", [sent](size_t, httplib::DataSink& sink) {
      static const std::string kChunk(1 << 20, 'x');
      if (*sent >= 100u << 20) {
        sink.done();
        return true;
      }
      *sent += kChunk.size();
      return sink.write(kChunk.data(), kChunk.size());
    });
  });
  fake.Start();
  std::unique_ptr<Client> client = MakeHttpClient(fake.config(), kRequestTimeout);
  StatusOr<WithMeta<std::optional<KvPair>>> r = client->GetKey("big", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("GET /v1/kv/big: response body larger than the " +
                                      std::to_string(kMaxResponseBytes) + "-byte limit, refused"),
            std::string::npos)
      << r.status().message();
}

// A body that announces its oversize (Content-Length) is refused before it is
// read: the agent's memory does not follow a hostile endpoint's 100 MB.
TEST(ConsulClientHostile, OversizedContentLengthIsRefusedBeforeReading) {
  constexpr size_t kAnnounced = size_t{100} << 20;
  auto sent = std::make_shared<std::atomic<size_t>>(0);
  auto finished = std::make_shared<std::atomic<bool>>(false);
  FakeServer fake;
  fake.server().Get("/v1/kv/big", [sent, finished](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(
        kAnnounced, "application/json",
        [sent](size_t offset, size_t length, httplib::DataSink& sink) {
          static const std::string kChunk(1 << 16, ' ');
          const size_t n = std::min(length, kChunk.size());
          if (!sink.write(kChunk.data(), n)) return false;
          *sent = offset + n;
          return true;
        },
        [finished](bool) { *finished = true; });
  });
  fake.Start();
  std::unique_ptr<Client> client = MakeHttpClient(fake.config(), kRequestTimeout);
  StatusOr<WithMeta<std::optional<KvPair>>> r = client->GetKey("big", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "GET /v1/kv/big: response body of " + std::to_string(kAnnounced) +
                                      " bytes (its Content-Length) larger than the " +
                                      std::to_string(kMaxResponseBytes) + "-byte limit, refused");
  ASSERT_TRUE(WaitFor([&] { return finished->load(); }, 10s));
  // Only what the sockets' buffers took before the client hung up.
  EXPECT_LT(sent->load(), kMaxResponseBytes);
}

// Consul's 404 for a missing key carries X-Consul-Index; one without it comes
// from something else (a proxy, a wrong address). Regression: it read as "no
// key" with index 1, and every KV watch polled it at 20 requests a second.
TEST(ConsulClientHostile, KvNotFoundWithoutConsulIndexIsAnError) {
  FakeServer fake;
  fake.server().Get(R"(/v1/kv/proxied/.*)", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("404 page not found\n", "text/plain");
  });
  fake.server().Get(R"(/v1/kv/consul/.*)", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_header("X-Consul-Index", "42");
  });
  fake.Start();
  std::unique_ptr<Client> client = MakeHttpClient(fake.config(), kRequestTimeout);

  StatusOr<WithMeta<std::optional<KvPair>>> key = client->GetKey("proxied/.lock", {});
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(key.status().message(),
            "GET /v1/kv/proxied/.lock: 404 without X-Consul-Index (not Consul's answer for a missing key): "
            "404 page not found");
  StatusOr<WithMeta<std::vector<KvPair>>> list = client->ListKeys("proxied/", {});
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kNotFound);

  key = client->GetKey("consul/.lock", {});
  ASSERT_OK(key);
  EXPECT_FALSE(key->value.has_value());
  EXPECT_EQ(key->meta.index, 42u);
  list = client->ListKeys("consul/", {});
  ASSERT_OK(list);
  EXPECT_TRUE(list->value.empty());
}

TEST(ConsulClientHostile, GarbageAndErrorsBecomeStatuses) {
  FakeServer fake;
  fake.server().Get("/v1/kv/html", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>proxy error</html>", "text/html");
  });
  fake.server().Get("/v1/kv/truncated", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"([{"Key":"truncated","Val)", "application/json");
  });
  fake.server().Get("/v1/status/leader", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("No cluster leader\nsecond line", "text/plain");
  });
  fake.server().Put("/v1/session/create", [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_content("rate limit exceeded", "text/plain");
  });
  fake.server().Put(R"(/v1/agent/check/update/.*)", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("CheckID \"x\" does not have associated TTL", "text/plain");
  });
  fake.Start();
  std::unique_ptr<Client> client = MakeHttpClient(fake.config(), kRequestTimeout);

  StatusOr<WithMeta<std::optional<KvPair>>> html = client->GetKey("html", {});
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), StatusCode::kInternal);
  EXPECT_EQ(html.status().message(), "decode kv: not JSON: <html>proxy error</html>");

  StatusOr<WithMeta<std::optional<KvPair>>> truncated = client->GetKey("truncated", {});
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kInternal);

  StatusOr<std::string> leader = client->Leader();
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(leader.status().message(), "GET /v1/status/leader: 503 No cluster leader");

  StatusOr<std::string> session = client->CreateSession(LockSession("x"));
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), StatusCode::kUnavailable);

  Status check = client->UpdateTtlCheck("x", "passing", "");
  EXPECT_EQ(check.code(), StatusCode::kNotFound) << check.ToString();
}

TEST(ConsulClientHostile, WireFormat) {
  std::mutex mu;
  std::vector<std::string> seen;  // "METHOD target | token | auth | content-type | body"
  FakeServer fake;  // after what its handlers use: destroyed (stopped) first
  auto record = [&](const httplib::Request& req) {
    std::string target = req.target;
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(req.method + " " + target + " | " + req.get_header_value("X-Consul-Token") + " | " +
                   req.get_header_value("Authorization") + " | " + req.get_header_value("Content-Type") + " | " +
                   req.body);
  };
  fake.server().Get(R"(/v1/kv/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    record(req);
    res.set_header("X-Consul-Index", "0");
    res.set_header("X-Consul-KnownLeader", "true");
    res.set_content("[]", "application/json");
  });
  fake.server().Put(R"(/v1/kv/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    record(req);
    res.set_content("true", "application/json");
  });
  fake.Start();

  ConsulClientConfig config = fake.config();
  config.token = "secret-token";
  config.basic_auth_user = "user";
  config.basic_auth_password = "pass";
  std::unique_ptr<Client> client = MakeHttpClient(config, kRequestTimeout);

  StatusOr<WithMeta<std::optional<KvPair>>> r = client->GetKey("/a b/c", {12, 1500ms, /*consistent=*/true});
  ASSERT_OK(r);
  EXPECT_FALSE(r->value.has_value());
  EXPECT_EQ(r->meta.index, 1u) << "an index of 0 must come back as 1";
  EXPECT_TRUE(r->meta.known_leader);
  ASSERT_OK(client->AcquireKey("resec/.lock", "sess/1", "v"));

  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "GET /v1/kv/a%20b/c?index=12&wait=1500ms&consistent | secret-token | Basic dXNlcjpwYXNz |  | ");
  EXPECT_EQ(seen[1],
            "PUT /v1/kv/resec/.lock?acquire=sess%2F1 | secret-token | Basic dXNlcjpwYXNz | application/octet-stream | v");
}

TEST(ConsulClientHostile, SilentServerTimesOutAtTheRequestTimeout) {
  std::atomic<bool> release{false};
  FakeServer fake;
  fake.server().Get("/v1/status/leader", [&](const httplib::Request&, httplib::Response& res) {
    WaitFor([&] { return release.load(); }, 10s);
    res.set_content("\"x\"", "application/json");
  });
  fake.Start();
  std::unique_ptr<Client> client = MakeHttpClient(fake.config(), 500ms);
  Clock::time_point start = Clock::now();
  StatusOr<std::string> leader = client->Leader();
  long long elapsed = MillisSince(start);
  release = true;
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.status().code(), StatusCode::kUnavailable) << leader.status().ToString();
  EXPECT_GE(elapsed, 400);
  EXPECT_LT(elapsed, 3000);
}

}  // namespace
}  // namespace resec::consul
