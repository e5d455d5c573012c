// ParseInfo: see include/resec/redis/info.h.
//
// INFO is a flat list of "key:value" lines grouped under "# Section" headers.
// We read it line by line and keep only the fields the agent decides on; an
// unknown, malformed or out-of-range line is skipped, never fatal, because a
// newer (or older, or patched) Redis may print anything.
#include "resec/redis/info.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace resec::redis {

namespace {

// Whole-value integer parse. An out-of-range number is ignored (the field
// keeps its default) rather than saturated: a saturated offset would make a
// node with a garbled INFO look like the most up-to-date promotion candidate.
template <typename Int>
std::optional<Int> ParseInt(std::string_view s) {
  Int value{};
  const char* first = s.data();
  const char* last = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr != last) return std::nullopt;
  return value;
}

template <typename Int>
void SetInt(std::string_view s, Int& field) {
  if (auto v = ParseInt<Int>(s)) field = *v;
}

void SetBool01(std::string_view s, bool& field) {
  if (s == "1") {
    field = true;
  } else if (s == "0") {
    field = false;
  }
}

// "ip=127.0.0.1,port=6380,state=online,offset=123,lag=0": a master's replica.
// A line without a port is dropped (it cannot be matched to a member).
void ApplyReplica(std::string_view value, RedisState& state) {
  RedisState::Replica r;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view field = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view k = field.substr(0, eq), v = field.substr(eq + 1);
    if (k == "ip") {
      r.ip = std::string(v);
    } else if (k == "port") {
      SetInt(v, r.port);
    } else if (k == "state") {
      r.state = std::string(v);
    } else if (k == "offset") {
      SetInt(v, r.offset);
    }
  }
  if (r.port > 0) state.replicas.push_back(std::move(r));
}

void Apply(std::string_view key, std::string_view value, RedisState& state) {
  if (key.size() > 5 && key.substr(0, 5) == "slave" && key[5] >= '0' && key[5] <= '9') {
    ApplyReplica(value, state);
  } else if (key == "role") {
    if (value == "master") {
      state.role = RedisRole::kMaster;
    } else if (value == "slave" || value == "replica") {
      state.role = RedisRole::kReplica;
    }
  } else if (key == "run_id") {
    state.run_id = std::string(value);
  } else if (key == "loading") {
    SetBool01(value, state.loading);
  } else if (key == "master_host") {
    state.master_host = std::string(value);
  } else if (key == "master_port") {
    SetInt(value, state.master_port);
  } else if (key == "master_link_status") {
    state.master_link_up = value == "up";
  } else if (key == "master_link_down_since_seconds") {
    SetInt(value, state.master_link_down_since_seconds);
  } else if (key == "master_sync_in_progress") {
    SetBool01(value, state.master_sync_in_progress);
  } else if (key == "slave_repl_offset") {
    SetInt(value, state.slave_repl_offset);
  } else if (key == "master_replid") {
    state.master_replid = std::string(value);
  } else if (key == "master_replid2") {
    state.master_replid2 = std::string(value);
  } else if (key == "master_repl_offset") {
    SetInt(value, state.master_repl_offset);
  } else if (key == "second_repl_offset") {
    SetInt(value, state.second_repl_offset);
  } else if (key == "repl_backlog_active") {
    SetBool01(value, state.repl_backlog_active);
  } else if (key == "connected_slaves") {
    SetInt(value, state.connected_slaves);
  }
}

}  // namespace

RedisState ParseInfo(std::string_view text) {
  RedisState state;
  state.info = std::string(text);

  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);

    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    Apply(line.substr(0, colon), line.substr(colon + 1), state);
  }
  return state;
}

}  // namespace resec::redis
