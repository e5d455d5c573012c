#include "resec/process_secrets.h"

#include <cstdlib>
#include <cstring>

extern char** environ;  // POSIX: the process environment

namespace resec {
namespace {

// Overwrites every occurrence of each secret inside the NUL-terminated `text`.
void OverwriteOccurrences(char* text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (char* hit = std::strstr(text, secret.c_str()); hit != nullptr; hit = std::strstr(hit, secret.c_str())) {
      std::memset(hit, 'x', secret.size());
    }
  }
}

// "NAME=value" -> the value when NAME is a secret variable, else nullptr.
char* SecretValue(char* entry) {
  for (std::string_view name : kSecretVariables) {
    if (std::strncmp(entry, name.data(), name.size()) == 0 && entry[name.size()] == '=') {
      return entry + name.size() + 1;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> SecretEnvironmentValues() {
  std::vector<std::string> values;
  for (std::string_view name : kSecretVariables) {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') continue;
    values.emplace_back(value);
    // user:password; the user name alone is not a secret.
    if (const char* colon = std::strchr(value, ':'); name == "CONSUL_HTTP_AUTH" && colon && colon[1] != '\0') {
      values.emplace_back(colon + 1);
    }
  }
  return values;
}

void ScrubProcessSecrets(int argc, char** argv, const std::vector<std::string>& secrets) {
  // argv: the strings the kernel shows as /proc/<pid>/cmdline. A flag and
  // its value may be one argument (--redis-password=pw) or two; overwriting
  // the value's bytes wherever they occur covers both, and a secret pasted
  // into another flag as well.
  for (int i = 1; i < argc; ++i) {
    if (argv[i] != nullptr) OverwriteOccurrences(argv[i], secrets);
  }
  // The environment: the kernel shows the block the process started with;
  // environ points into it (an entry set later by setenv points into the
  // heap, and overwriting that is harmless). Only the secret variables are
  // touched: overwriting a short password's bytes inside, say, SSL_CERT_DIR
  // would break what still reads it.
  std::vector<std::string> names;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    if (char* value = SecretValue(*entry); value != nullptr) {
      std::memset(value, 'x', std::strlen(value));
      names.emplace_back(*entry, static_cast<size_t>(value - 1 - *entry));
    }
  }
  // Unset after the walk: unsetenv moves environ's entries.
  for (const std::string& name : names) unsetenv(name.c_str());
}

}  // namespace resec
