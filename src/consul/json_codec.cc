#include "resec/consul/json_codec.h"

#include <algorithm>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "resec/config.h"

namespace resec::consul {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Serialises without ever throwing: strings built from Redis output or user
// settings may hold invalid UTF-8, which nlohmann's default dump() rejects
// with an exception. Replacement characters are the lesser evil.
std::string Dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status DecodeError(std::string_view what, std::string_view problem) {
  std::string message = "decode ";
  message += what;
  message += ": ";
  message += problem;
  return Internal(std::move(message));
}

// Parses untrusted text; nullopt (never an exception) when it is not JSON.
std::optional<json> ParseJson(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string Describe(std::string_view body) {
  if (body.empty()) return "empty body";
  return "not JSON: " + FirstLine(body);
}

// Field readers for one object of a Consul answer. A missing or null field
// yields the default; a field of the wrong type is an error (it means we are
// not talking to the Consul API we think we are).
class FieldReader {
 public:
  explicit FieldReader(const json& object) : object_(object) {}

  std::string String(const char* name) {
    const json* field = Find(name);
    if (field == nullptr) return {};
    if (!field->is_string()) {
      Fail(name, "a string");
      return {};
    }
    return field->get<std::string>();
  }

  uint64_t Unsigned(const char* name) {
    const json* field = Find(name);
    if (field == nullptr) return 0;
    if (!field->is_number_unsigned()) {
      Fail(name, "an unsigned integer");
      return 0;
    }
    return field->get<uint64_t>();
  }

  int Port(const char* name) {
    const json* field = Find(name);
    if (field == nullptr) return 0;
    if (!field->is_number_integer() || field->get<int64_t>() < 0 || field->get<int64_t>() > 65535) {
      Fail(name, "a port number");
      return 0;
    }
    return static_cast<int>(field->get<int64_t>());
  }

  std::vector<std::string> Strings(const char* name) {
    std::vector<std::string> out;
    const json* field = Find(name);
    if (field == nullptr) return out;
    if (!field->is_array()) {
      Fail(name, "an array of strings");
      return out;
    }
    for (const json& item : *field) {
      if (!item.is_string()) {
        Fail(name, "an array of strings");
        return {};
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // The nested object `name`, or nullptr (with an error unless it is absent).
  const json* Object(const char* name, bool required) {
    const json* field = Find(name);
    if (field == nullptr) {
      if (required) Fail(name, "an object");
      return nullptr;
    }
    if (!field->is_object()) {
      Fail(name, "an object");
      return nullptr;
    }
    return field;
  }

  const std::string& error() const { return error_; }

 private:
  const json* Find(const char* name) const {
    auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  void Fail(const char* name, const char* expected) {
    if (error_.empty()) error_ = std::string("field ") + name + " is not " + expected;
  }

  const json& object_;
  std::string error_;
};

// Accepts an array of objects or null (Consul's empty answer in places).
Status ExpectArrayOfObjects(const json& j, std::string_view what) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_array()) return DecodeError(what, "expected a JSON array");
  for (const json& item : j) {
    if (!item.is_object()) return DecodeError(what, "expected an array of objects");
  }
  return Status::Ok();
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string PercentEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- text helpers

std::string EncodeBase64(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t n = (uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                 uint32_t{static_cast<unsigned char>(data[i + 2])};
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{static_cast<unsigned char>(data[i])} << 16;
    if (rest == 2) n |= uint32_t{static_cast<unsigned char>(data[i + 1])} << 8;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

StatusOr<std::string> DecodeBase64(std::string_view text) {
  static constexpr std::array<int8_t, 256> kValues = [] {
    std::array<int8_t, 256> values{};
    values.fill(-1);
    for (int i = 0; i < 64; ++i) values[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<int8_t>(i);
    return values;
  }();

  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t group = 0;  // bits of the current quantum
  int count = 0;       // sextets in the current quantum
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return DecodeError("base64", "data after padding");
    int8_t v = kValues[c];
    if (v < 0) return DecodeError("base64", "invalid character at offset " + std::to_string(i));
    group = (group << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>((group >> 16) & 0xFF));
      out.push_back(static_cast<char>((group >> 8) & 0xFF));
      out.push_back(static_cast<char>(group & 0xFF));
      group = 0;
      count = 0;
    }
  }
  // A final quantum of one sextet cannot encode a byte; padding must fill the
  // quantum exactly when present.
  if (count == 1) return DecodeError("base64", "truncated input");
  if (padding > 0 && (count == 0 || count + padding != 4)) return DecodeError("base64", "bad padding");
  if (count == 2) {
    out.push_back(static_cast<char>((group >> 4) & 0xFF));
  } else if (count == 3) {
    out.push_back(static_cast<char>((group >> 10) & 0xFF));
    out.push_back(static_cast<char>((group >> 2) & 0xFF));
  }
  return out;
}

std::string EscapePath(std::string_view path) { return PercentEncode(path, /*keep_slash=*/true); }

std::string EscapeComponent(std::string_view value) { return PercentEncode(value, /*keep_slash=*/false); }

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  // Step back over continuation bytes (10xxxxxx) so the cut lands before the
  // lead byte of the sequence it would split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut));
}

std::string FirstLine(std::string_view body) {
  size_t end = body.find('\n');
  std::string_view line = body.substr(0, end);
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  return TruncateUtf8(line, kMaxErrorTextBytes);
}

// ---------------------------------------------------------------- HTTP status

Status StatusFromHttp(std::string_view method, std::string_view path, int http_status,
                      std::string_view body) {
  if (http_status >= 200 && http_status < 300) return Status::Ok();
  std::string message;
  message += method;
  message += ' ';
  message += path;
  message += ": ";
  message += std::to_string(http_status);
  std::string line = FirstLine(body);
  if (!line.empty()) {
    message += ' ';
    message += line;
  }
  auto answer = [http_status](Status s) { return std::move(s).WithHttpStatus(http_status); };
  if (http_status == 401 || http_status == 403) return answer(PermissionDenied(std::move(message)));
  if (http_status == 404) return answer(NotFound(std::move(message)));
  if (http_status == 429 || (http_status >= 500 && http_status < 600)) {
    return answer(Unavailable(std::move(message)));
  }
  if (http_status >= 400 && http_status < 500) return answer(InvalidArgument(std::move(message)));
  return answer(Internal(std::move(message)));
}

bool IsUnknownCheckError(int http_status, std::string_view body) {
  if (http_status == 404) return true;
  if (http_status != 500) return false;
  return body.find("does not have associated TTL") != std::string_view::npos ||
         body.find("Unknown check") != std::string_view::npos;
}

QueryMeta ParseQueryMeta(std::string_view index_header, std::string_view known_leader_header) {
  QueryMeta meta;
  uint64_t index = 0;
  auto [end, ec] = std::from_chars(index_header.data(), index_header.data() + index_header.size(), index);
  if (ec != std::errc() || end != index_header.data() + index_header.size()) index = 0;
  meta.index = index == 0 ? 1 : index;
  meta.known_leader = known_leader_header == "true";
  return meta;
}

std::string BlockingQuery(const QueryOptions& options) {
  std::string query;
  if (options.index > 0) {
    query = "index=" + std::to_string(options.index);
    if (options.wait.count() > 0) query += "&wait=" + FormatDuration(std::min(options.wait, kMaxBlockingWait));
  }
  if (options.consistent) query += query.empty() ? "consistent" : "&consistent";
  return query;
}

std::chrono::milliseconds BlockingHold(const QueryOptions& options) {
  if (options.index == 0) return std::chrono::milliseconds{0};
  std::chrono::milliseconds wait =
      options.wait.count() > 0 ? std::min(options.wait, kMaxBlockingWait) : kDefaultBlockingWait;
  return wait + wait / 16;
}

// ---------------------------------------------------------------- sessions

std::string EncodeSessionCreate(const SessionOptions& options) {
  ordered_json j;
  j["Name"] = options.name;
  j["TTL"] = FormatDuration(options.ttl);
  j["LockDelay"] = FormatDuration(options.lock_delay);
  j["Behavior"] = options.behavior;
  // Sent as given: an empty list means "no node checks", which differs from
  // leaving the field out (Consul then defaults to serfHealth).
  j["NodeChecks"] = options.node_checks;
  if (!options.node.empty()) j["Node"] = options.node;
  if (!options.service_checks.empty()) {
    ordered_json checks = ordered_json::array();
    for (const std::string& id : options.service_checks) checks.push_back({{"ID", id}});
    j["ServiceChecks"] = std::move(checks);
  }
  return Dump(j);
}

StatusOr<std::string> DecodeSessionCreate(std::string_view body) {
  std::optional<json> j = ParseJson(body);
  if (!j) return DecodeError("session create", Describe(body));
  if (!j->is_object()) return DecodeError("session create", "expected a JSON object");
  FieldReader reader(*j);
  std::string id = reader.String("ID");
  if (!reader.error().empty()) return DecodeError("session create", reader.error());
  if (id.empty()) return DecodeError("session create", "no ID in the answer");
  return id;
}

StatusOr<std::chrono::seconds> DecodeSessionRenew(std::string_view body) {
  std::optional<json> j = ParseJson(body);
  if (!j) return DecodeError("session renew", Describe(body));
  if (Status s = ExpectArrayOfObjects(*j, "session renew"); !s.ok()) return s;
  if (j->is_null() || j->empty()) return NotFound("session renew: session not found");
  FieldReader reader(j->front());
  std::string ttl_text = reader.String("TTL");
  if (!reader.error().empty()) return DecodeError("session renew", reader.error());
  if (ttl_text.empty()) return DecodeError("session renew", "no TTL in the answer");
  StatusOr<std::chrono::nanoseconds> ttl = ParseGoDuration(ttl_text);
  if (!ttl.ok()) return DecodeError("session renew", "TTL " + FirstLine(ttl_text) + ": " + ttl.status().message());
  if (ttl->count() <= 0) return DecodeError("session renew", "TTL " + FirstLine(ttl_text) + " is not positive");
  return std::chrono::ceil<std::chrono::seconds>(*ttl);
}

// ---------------------------------------------------------------- KV

StatusOr<std::vector<KvPair>> DecodeKvPairs(std::string_view body) {
  std::optional<json> j = ParseJson(body);
  if (!j) return DecodeError("kv", Describe(body));
  if (Status s = ExpectArrayOfObjects(*j, "kv"); !s.ok()) return s;
  std::vector<KvPair> pairs;
  if (j->is_null()) return pairs;
  pairs.reserve(j->size());
  for (const json& item : *j) {
    FieldReader reader(item);
    KvPair pair;
    pair.key = reader.String("Key");
    std::string encoded = reader.String("Value");
    pair.session = reader.String("Session");
    pair.lock_index = reader.Unsigned("LockIndex");
    pair.create_index = reader.Unsigned("CreateIndex");
    pair.modify_index = reader.Unsigned("ModifyIndex");
    pair.flags = reader.Unsigned("Flags");
    if (!reader.error().empty()) return DecodeError("kv", reader.error());
    if (pair.key.empty()) return DecodeError("kv", "entry without Key");
    StatusOr<std::string> value = DecodeBase64(encoded);
    if (!value.ok()) return DecodeError("kv", "Value of " + FirstLine(pair.key) + ": " + value.status().message());
    pair.value = std::move(value).value();
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

StatusOr<bool> DecodeBool(std::string_view body, std::string_view what) {
  std::optional<json> j = ParseJson(body);
  if (!j) return DecodeError(what, Describe(body));
  if (!j->is_boolean()) return DecodeError(what, "expected true or false");
  return j->get<bool>();
}

// ---------------------------------------------------------------- agent, health, status

std::string EncodeServiceRegistration(const ServiceRegistration& registration) {
  ordered_json j;
  j["ID"] = registration.id;
  j["Name"] = registration.name;
  j["Tags"] = registration.tags;
  // Left out when empty: Consul then reports the node's address, which is
  // what the loopback announce rule relies on.
  if (!registration.address.empty()) j["Address"] = registration.address;
  j["Port"] = registration.port;
  j["Meta"] = ordered_json::object();
  for (const auto& [key, value] : registration.meta) j["Meta"][key] = value;
  if (registration.check) {
    const CheckDefinition& check = *registration.check;
    ordered_json c;
    c["CheckID"] = check.check_id;
    c["Name"] = check.name;
    c["TTL"] = FormatDuration(check.ttl);
    c["Status"] = check.status;
    // The registration API has no initial-output field; Notes is the closest
    // place Consul shows text from the registrant.
    if (!check.output.empty()) c["Notes"] = TruncateUtf8(check.output, kMaxCheckOutputBytes);
    if (check.deregister_critical_after.count() > 0) {
      c["DeregisterCriticalServiceAfter"] = FormatDuration(check.deregister_critical_after);
    }
    j["Check"] = std::move(c);
  }
  return Dump(j);
}

// The check itself, as the catalog and a transaction's Check op take it.
nlohmann::json CatalogCheckJson(const CatalogCheck& c) {
  return {{"Node", c.node},
          {"CheckID", c.check_id},
          {"Name", c.name},
          {"ServiceID", c.service_id},
          {"Status", c.status},
          {"Output", TruncateUtf8(c.output, kMaxCheckOutputBytes)}};
}

std::string EncodeCatalogCheck(const CatalogCheck& c) {
  nlohmann::json j = {{"Node", c.node},
                      {"Address", c.address},
                      {"SkipNodeUpdate", true},
                      {"Check", CatalogCheckJson(c)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EncodeGuardedCatalogCheck(const CatalogCheck& c) {
  nlohmann::json ops = nlohmann::json::array();
  ops.push_back({{"KV", {{"Verb", "check-session"}, {"Key", c.guard_key}, {"Session", c.guard_session}}}});
  ops.push_back({{"Check",
                  {{"Verb", "set"},
                   {"Check", CatalogCheckJson(c)}}}});
  return ops.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EncodeCheckUpdate(std::string_view status, std::string_view output) {
  ordered_json j;
  j["Status"] = std::string(status);
  j["Output"] = TruncateUtf8(output, kMaxCheckOutputBytes);
  return Dump(j);
}

StatusOr<std::vector<ServiceInstance>> DecodeHealthService(std::string_view body) {
  std::optional<json> j = ParseJson(body);
  if (!j) return DecodeError("health service", Describe(body));
  if (Status s = ExpectArrayOfObjects(*j, "health service"); !s.ok()) return s;
  std::vector<ServiceInstance> instances;
  if (j->is_null()) return instances;
  instances.reserve(j->size());
  for (const json& entry : *j) {
    FieldReader outer(entry);
    const json* node = outer.Object("Node", /*required=*/true);
    const json* service = outer.Object("Service", /*required=*/true);
    if (!outer.error().empty()) return DecodeError("health service", outer.error());
    FieldReader node_reader(*node);
    FieldReader service_reader(*service);
    ServiceInstance instance;
    instance.id = service_reader.String("ID");
    instance.node = node_reader.String("Node");
    instance.address = service_reader.String("Address");
    instance.port = service_reader.Port("Port");
    instance.tags = service_reader.Strings("Tags");
    std::string node_address = node_reader.String("Address");
    if (!node_reader.error().empty()) return DecodeError("health service", "Node: " + node_reader.error());
    if (!service_reader.error().empty()) return DecodeError("health service", "Service: " + service_reader.error());
    if (instance.address.empty()) instance.address = std::move(node_address);
    instances.push_back(std::move(instance));
  }
  return instances;
}

StatusOr<std::vector<ServiceHealth>> DecodeServiceHealth(std::string_view body) {
  StatusOr<std::vector<ServiceInstance>> instances = DecodeHealthService(body);
  if (!instances.ok()) return instances.status();
  // Valid JSON with the expected shape: DecodeHealthService checked it.
  const json j = *ParseJson(body);
  std::vector<ServiceHealth> out;
  out.reserve(instances->size());
  for (size_t i = 0; i < instances->size(); ++i) {
    ServiceHealth health;
    health.instance = std::move((*instances)[i]);
    FieldReader outer(j[i]);
    const json* service = outer.Object("Service", /*required=*/true);
    FieldReader service_reader(*service);
    health.service_name = service_reader.String("Service");
    if (!service_reader.error().empty()) return DecodeError("health service", "Service: " + service_reader.error());
    const json* checks = j[i].contains("Checks") ? &j[i]["Checks"] : nullptr;
    if (checks != nullptr && !checks->is_null()) {
      if (!checks->is_array()) return DecodeError("health service", "Checks: expected an array");
      for (const json& c : *checks) {
        if (!c.is_object()) return DecodeError("health service", "Checks: expected objects");
        FieldReader check_reader(c);
        CheckResult check;
        check.check_id = check_reader.String("CheckID");
        check.name = check_reader.String("Name");
        check.status = check_reader.String("Status");
        check.output = check_reader.String("Output");
        check.service_id = check_reader.String("ServiceID");
        if (!check_reader.error().empty()) return DecodeError("health service", "Checks: " + check_reader.error());
        health.checks.push_back(std::move(check));
      }
    }
    out.push_back(std::move(health));
  }
  return out;
}

StatusOr<std::string> DecodeLeader(std::string_view body) {
  std::optional<json> j = ParseJson(body);
  if (!j) return DecodeError("status leader", Describe(body));
  if (!j->is_string()) return DecodeError("status leader", "expected a JSON string");
  return j->get<std::string>();
}

StatusOr<std::string> DecodeAgentSelfNodeName(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("Config") || !j["Config"].is_object() ||
      !j["Config"].contains("NodeName") || !j["Config"]["NodeName"].is_string()) {
    return Internal("decode agent self: no Config.NodeName");
  }
  return j["Config"]["NodeName"].get<std::string>();
}

StatusOr<std::string> DecodeAgentSelfAddress(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("Member") || !j["Member"].is_object() ||
      !j["Member"].contains("Addr") || !j["Member"]["Addr"].is_string()) {
    return Internal("decode agent self: no Member.Addr");
  }
  return j["Member"]["Addr"].get<std::string>();
}

StatusOr<std::vector<std::string>> DecodeServerMembers(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Internal("decode agent members: not a JSON array");
  std::vector<std::string> out;
  for (const auto& m : j) {
    if (!m.is_object() || !m.contains("Name") || !m["Name"].is_string()) continue;
    // Serf's member status 1 is alive; servers carry the tag role=consul.
    const bool alive = m.contains("Status") && m["Status"].is_number_integer() && m["Status"].get<int>() == 1;
    const bool server = m.contains("Tags") && m["Tags"].is_object() && m["Tags"].contains("role") &&
                        m["Tags"]["role"] == "consul";
    if (alive && server) out.push_back(m["Name"].get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace resec::consul
