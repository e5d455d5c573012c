// ScrubProcessSecrets: hides the secrets this process was started with from
// what other processes can read of it, the way MySQL's and Redis' command-line
// clients hide a password given on the command line:
//
//   - /proc/<pid>/cmdline (readable by every local user; `ps`): the kernel
//     serves it from the argv strings in our own memory, so a secret flag
//     value (--redis-password=...) is overwritten there in place with 'x';
//   - /proc/<pid>/environ (readable by the same user and root, and by
//     anything that reads a core dump): the value of every secret variable
//     (REDIS_PASSWORD, CONSUL_HTTP_TOKEN, CONSUL_HTTP_AUTH) is overwritten in
//     place the same way, and the variable is removed from `environ`, so a
//     process started later (none today) would not inherit it either.
//
// Limits, by the nature of the trick: a reader polling /proc in the
// milliseconds between exec and the scrub can still see the values; a
// secret's length stays visible (the kernel's view of argv cannot shrink);
// the token file's path is not secret and stays. Prefer CONSUL_HTTP_TOKEN_FILE
// (mode 0600) and the environment over flags.
//
// Thread-safety: REQUIRES that no other thread runs (getenv/unsetenv and
// environ are not thread-safe): call it from main() before starting any, and
// only after everything that reads argv and the environment has copied what
// it needs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace resec {

// The variables whose values are secrets.
inline constexpr std::string_view kSecretVariables[] = {"REDIS_PASSWORD", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_AUTH"};

// The values of kSecretVariables in `environ`, and the password part of
// CONSUL_HTTP_AUTH (user:password); for a scrub before the configuration is
// parsed.
std::vector<std::string> SecretEnvironmentValues();

// Overwrites, in place, every occurrence of a non-empty `secrets` value in
// argv[1..argc), and the whole value of every kSecretVariables entry of the
// environment; then unsets those variables. Idempotent.
void ScrubProcessSecrets(int argc, char** argv, const std::vector<std::string>& secrets);

}  // namespace resec
