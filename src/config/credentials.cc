// Reading the secrets first (see credentials.h).
#include "credentials.h"

#include "resec/config/text.h"
#include "values.h"

namespace resec::config {

Credentials ReadCredentials(const SettingSource& source, const FileReader& read_file, Config* config) {
  Credentials out;
  // The secret rows that are plain text: REDIS_PASSWORD, CONSUL_HTTP_TOKEN.
  for (const Setting& s : Settings()) {
    const auto* text = std::get_if<TextValue>(&s.value);
    if (!s.secret || text == nullptr) continue;
    if (auto raw = source.Raw(s)) {
      text->field(*config) = *raw;
      out.secrets.push_back(*std::move(raw));
    }
  }

  ConsulClientConfig& consul = config->consul;
  const Setting& token_file = FindSetting("CONSUL_HTTP_TOKEN_FILE");
  if (const auto path = source.Raw(token_file)) {
    auto contents = read_file ? read_file(*path) : ReadWholeFile(*path);
    if (!contents.ok()) {
      out.problems.push_back(
          {&token_file, "cannot read " + QuoteForDisplay(*path) + ": " + contents.status().message()});
    } else if (const std::string_view token = TrimSpace(*contents); !token.empty()) {
      // The Consul API client: a token file wins over CONSUL_HTTP_TOKEN; an
      // empty one leaves the variable's token.
      consul.token = std::string(token);
      out.secrets.push_back(consul.token);
    }
  }

  // The peer token likewise: a file wins over the variable.
  const Setting& peer_file = FindSetting("PEER_TOKEN_FILE");
  if (const auto path = source.Raw(peer_file)) {
    auto contents = read_file ? read_file(*path) : ReadWholeFile(*path);
    if (!contents.ok()) {
      out.problems.push_back(
          {&peer_file, "cannot read " + QuoteForDisplay(*path) + ": " + contents.status().message()});
    } else if (const std::string_view token = TrimSpace(*contents); !token.empty()) {
      config->peer_token = std::string(token);
      out.secrets.push_back(config->peer_token);
    } else {
      out.problems.push_back({&peer_file, QuoteForDisplay(*path) + " is empty"});
    }
  }

  if (const auto auth = source.Raw(FindSetting("CONSUL_HTTP_AUTH"))) {
    // user[:password], split at the first colon like the Consul CLI.
    const size_t colon = auth->find(':');
    consul.basic_auth_user = auth->substr(0, colon);
    consul.basic_auth_password = colon == std::string::npos ? "" : auth->substr(colon + 1);
    out.secrets.push_back(consul.basic_auth_password);
  }
  return out;
}

}  // namespace resec::config
