// ScrubProcessSecrets on an argv of our own and on this test process's
// environment (gtest runs tests on one thread, as the function requires).
// The real /proc view of a running agent is checked end to end in
// tests/e2e/security_test.cc.
#include "resec/process_secrets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace resec {
namespace {

// An argv whose strings live in one buffer, like the kernel lays them out.
class FakeArgv {
 public:
  explicit FakeArgv(const std::vector<std::string>& args) {
    for (const std::string& a : args) {
      offsets_.push_back(buffer_.size());
      buffer_.insert(buffer_.end(), a.begin(), a.end());
      buffer_.push_back('\0');
    }
    for (size_t o : offsets_) pointers_.push_back(buffer_.data() + o);
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(offsets_.size()); }
  char** argv() { return pointers_.data(); }
  // The buffer as /proc/<pid>/cmdline shows it, NULs as spaces.
  std::string cmdline() const {
    std::string s(buffer_.begin(), buffer_.end());
    for (char& c : s) c = c == '\0' ? ' ' : c;
    return s;
  }

 private:
  std::vector<char> buffer_;
  std::vector<size_t> offsets_;
  std::vector<char*> pointers_;
};

TEST(ScrubProcessSecrets, OverwritesFlagValuesInPlace) {
  FakeArgv a({"resec", "--redis-password=hunter2", "--redis-password", "hunter2", "--log-level=debug",
              "--consul-lock-key=hunter2/lock"});
  ScrubProcessSecrets(a.argc(), a.argv(), {"hunter2", ""});
  EXPECT_EQ(a.cmdline(),
            "resec --redis-password=xxxxxxx --redis-password xxxxxxx --log-level=debug --consul-lock-key=xxxxxxx/lock ");
  // argv[0] is the program, never a secret; and a second scrub changes nothing.
  ScrubProcessSecrets(a.argc(), a.argv(), {"hunter2"});
  EXPECT_EQ(a.cmdline().find("hunter2"), std::string::npos);
}

TEST(ScrubProcessSecrets, OverwritesAndUnsetsTheSecretVariables) {
  ASSERT_EQ(setenv("REDIS_PASSWORD", "env-pw", 1), 0);
  ASSERT_EQ(setenv("CONSUL_HTTP_TOKEN", "env-token", 1), 0);
  ASSERT_EQ(setenv("CONSUL_HTTP_AUTH", "user:basic-pw", 1), 0);
  ASSERT_EQ(setenv("RESEC_TEST_OTHER", "env-pw-elsewhere", 1), 0);
  const std::vector<std::string> values = SecretEnvironmentValues();
  EXPECT_EQ(values, (std::vector<std::string>{"env-pw", "env-token", "user:basic-pw", "basic-pw"}));
  // Pointers to the strings as they are now, to see them overwritten.
  char* password = std::getenv("REDIS_PASSWORD");
  char* token = std::getenv("CONSUL_HTTP_TOKEN");
  ASSERT_NE(password, nullptr);
  ASSERT_NE(token, nullptr);

  FakeArgv a({"resec"});
  ScrubProcessSecrets(a.argc(), a.argv(), values);
  EXPECT_EQ(std::string(password), "xxxxxx");
  EXPECT_EQ(std::string(token), "xxxxxxxxx");
  EXPECT_EQ(std::getenv("REDIS_PASSWORD"), nullptr);
  EXPECT_EQ(std::getenv("CONSUL_HTTP_TOKEN"), nullptr);
  EXPECT_EQ(std::getenv("CONSUL_HTTP_AUTH"), nullptr);
  // Other variables are left alone, even when they contain a secret's bytes:
  // rewriting, say, SSL_CERT_DIR would break what still reads it.
  EXPECT_STREQ(std::getenv("RESEC_TEST_OTHER"), "env-pw-elsewhere");
  unsetenv("RESEC_TEST_OTHER");
  for (char** e = environ; *e != nullptr; ++e) {
    EXPECT_EQ(std::strstr(*e, "env-token"), nullptr) << *e;
  }
}

}  // namespace
}  // namespace resec
