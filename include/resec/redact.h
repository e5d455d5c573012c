// Redaction: what must never leave the process in a log line or a state
// server answer, replaced on the way out.
//
//   - the configured secrets (Redis password, Consul token, the Consul
//     basic-auth password), wherever they appear: "[redacted]";
//   - Consul session IDs: whoever knows the lock holder's session can release
//     its lock (PUT /v1/kv/<key>?release=<session>) and so force a failover.
//     Sessions are UUIDs, which are not known in advance (a new one per
//     session), so every UUID keeps only its first 8 hex digits:
//     "1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx". Those 32 of 122 random bits
//     still tell two sessions apart in a log and leave 90 unknown;
//   - passwords inside URLs ("redis://user:pw@host", "https://tok@host"):
//     the user-info after the scheme is redacted, the user name kept.
//
// These are the last line of defence: code should not hand secrets to a
// log line or an endpoint in the first place.
//
// Thread-safety: pure functions; Redactor is immutable after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace resec {

inline constexpr std::string_view kRedacted = "[redacted]";

// `text` with every occurrence of a non-empty secret replaced by "[redacted]";
// where secrets overlap the longest match wins.
std::string RedactSecrets(std::string_view text, const std::vector<std::string>& secrets);

// `text` with every UUID (8-4-4-4-12 hex digits, either case, not part of a
// longer run of letters and digits) masked after its first 8 digits:
// "1b4e28ba-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string MaskUuids(std::string_view text);

// `text` with the password of every "scheme://user:password@" replaced by
// "[redacted]", and a user-info without a colon ("scheme://token@") replaced
// whole.
std::string RedactUrlPasswords(std::string_view text);

// All three, secrets first (a secret that is a UUID, like a Consul token,
// goes whole).
class Redactor {
 public:
  explicit Redactor(std::vector<std::string> secrets);
  std::string operator()(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;
};

}  // namespace resec
