#include "resec/cli/status.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include "resec/consul/records.h"
#include "resec/redis/info.h"

namespace resec::cli {
namespace {

using nlohmann::json;

// Consul's own aggregation order (api.HealthChecks.AggregatedStatus):
// maintenance beats critical beats warning beats passing.
int Severity(const std::string& status) {
  if (status == "passing") return 0;
  if (status == "warning") return 1;
  if (status == "critical") return 2;
  if (status == "maintenance") return 3;
  return 2;  // an unknown status is treated as failing, as Consul does
}

bool HasTag(const std::vector<std::string>& tags, const std::string& tag) {
  return !tag.empty() && std::find(tags.begin(), tags.end(), tag) != tags.end();
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string OptionalNumber(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; }

}  // namespace

GroupScope ScopeFromConfig(const Config& config) {
  GroupScope scope;
  scope.lock_key = config.lock_key;
  scope.tag_mode = config.tag_mode();
  scope.master_service = config.MasterServiceName();
  scope.slave_service = config.SlaveServiceName();
  scope.master_tag = config.master_tags.empty() ? "" : config.master_tags.front();
  scope.slave_tag = config.slave_tags.empty() ? "" : config.slave_tags.front();
  scope.id_prefix = (config.tag_mode() ? config.service_name : config.service_prefix) + "@";
  return scope;
}

GroupStatus BuildGroupStatus(const StatusInputs& inputs, const GroupScope& scope) {
  GroupStatus out;
  out.scope = scope;

  if (inputs.lock) {
    out.lock_session = inputs.lock->session;
    out.lock_held = !inputs.lock->session.empty();
    out.lock_index = inputs.lock->lock_index;
    if (!inputs.lock->value.empty()) {
      auto record = consul::DecodeLockRecord(inputs.lock->value);
      if (record.ok()) {
        out.lock_record = *record;
      } else {
        out.warnings.push_back("lock key " + scope.lock_key + ": " + record.status().message());
      }
    }
    if (out.lock_held && out.lock_record) out.holder_id = out.lock_record->holder_id;
    if (out.lock_held && !out.lock_record) {
      out.warnings.push_back("the lock is held but carries no lock record: the holder is unknown");
    }
  }

  if (inputs.switchover && !inputs.switchover->value.empty()) {
    auto request = consul::DecodeSwitchoverRequest(inputs.switchover->value);
    if (request.ok()) {
      out.switchover = *request;
    } else {
      out.warnings.push_back("switchover request: " + request.status().message());
    }
  }

  std::map<std::string, MemberStatus> members;
  std::map<std::string, std::string> node_of;  // member ID -> node it was seen on

  for (const consul::KvPair& kv : inputs.reports) {
    auto report = consul::DecodePeerReport(kv.value);
    if (!report.ok()) {
      out.warnings.push_back(kv.key + ": " + report.status().message());
      continue;
    }
    MemberStatus& m = members[report->id];
    m.id = report->id;
    m.report_live = !kv.session.empty();
    m.address = HostPort{report->address, report->port}.ToString();
    m.offset = report->offset;
    m.priority = report->priority;
    if (m.report_live) {
      m.role = report->role.empty() ? "-" : report->role;
      m.health = report->healthy ? "healthy" : "unhealthy";
    } else {
      // The agent's session is gone (crashed, stopped, partitioned): what it
      // last said about Redis is history, not the present.
      m.health = "gone";
    }
  }

  for (const consul::ServiceHealth& h : inputs.instances) {
    if (!h.instance.id.starts_with(scope.id_prefix)) continue;  // another group or another program
    std::string key = h.instance.id;
    if (auto it = node_of.find(key); it != node_of.end() && it->second != h.instance.node) {
      // The loopback rule gives every node's 127.0.0.1:6379 the ID redis@:6379;
      // Consul IDs are per node, but reports are per ID and would collide.
      out.warnings.push_back("service ID " + key + " is registered on nodes " + it->second + " and " +
                             h.instance.node + ": set ANNOUNCE_ADDR so each member has its own ID");
      key += " (" + h.instance.node + ")";
    }
    node_of.emplace(h.instance.id, h.instance.node);
    MemberStatus& m = members[key];
    m.id = key;
    const bool master = scope.tag_mode ? HasTag(h.instance.tags, scope.master_tag)
                                       : h.service_name == scope.master_service;
    m.registered_as = master ? "master" : "slave";
    m.service = h.service_name;
    m.address = HostPort{h.instance.address, h.instance.port}.ToString();
    std::string worst = "passing";
    for (const consul::CheckResult& c : h.checks) {
      if (Severity(c.status) > Severity(worst)) worst = c.status;
      if (c.check_id != h.instance.id + ":replication-status-check" || master) continue;
      if (c.status == "passing") {
        // An agent marks a replica passing only while its link is up and no
        // sync runs, and a status change reaches the catalog at once.
        m.master_link = "up";
      } else if (!c.output.empty()) {
        // The INFO in the output is only as fresh as the last status change:
        // Consul syncs output-only updates every check_update_interval (5m).
        const RedisState info = redis::ParseInfo(c.output);
        if (info.role == RedisRole::kReplica) {
          m.master_link = info.Held() ? "held" : info.master_link_up ? "up" : "down";
        }
      } else {
        m.master_link = "down";
      }
    }
    m.check_status = worst;
    if (master && worst == "passing") out.passing_masters++;
    if (m.role.empty()) m.role = m.registered_as;
  }

  for (auto& [id, m] : members) {
    if (m.role.empty()) m.role = "-";
    if (m.health.empty()) m.health = "-";
    m.holder = !out.holder_id.empty() && id == out.holder_id;
  }
  const auto holder = members.find(out.holder_id);
  // Plain values rather than an optional: g++ 12 misreads the latter as
  // maybe-uninitialized at -O2.
  const bool have_master_offset = holder != members.end() && holder->second.report_live && holder->second.offset;
  const int64_t master_offset = have_master_offset ? *holder->second.offset : 0;
  for (auto& [id, m] : members) {
    if (m.holder) {
      m.lag = 0;
    } else if (have_master_offset && m.offset && m.report_live) {
      // Reports are sampled about a second apart, so a replica can look ahead
      // of its master; it is not, it is simply caught up.
      m.lag = std::max<int64_t>(0, master_offset - *m.offset);
    }
    out.members.push_back(m);
  }
  std::stable_sort(out.members.begin(), out.members.end(),
                   [](const MemberStatus& a, const MemberStatus& b) { return a.holder && !b.holder; });

  if (!out.lock_held) {
    out.warnings.push_back("nobody holds the lock " + scope.lock_key + ": the group has no master");
  } else if (!out.holder_id.empty()) {
    if (holder == members.end() || holder->second.registered_as != "master" ||
        holder->second.check_status != "passing") {
      out.warnings.push_back("lock holder " + out.holder_id + " is not a passing master in Consul (yet)");
    }
  }
  if (out.passing_masters > 1) {
    out.warnings.push_back(std::to_string(out.passing_masters) + " passing masters in Consul");
  }
  for (const MemberStatus& m : out.members) {
    if (m.report_live && m.role == "master" && !m.holder) {
      out.warnings.push_back(m.id + ": Redis is a master but does not hold the lock");
    }
  }
  return out;
}

std::string RenderStatusTable(const GroupStatus& s) {
  std::ostringstream o;
  o << "LOCK " << s.scope.lock_key << ' ';
  if (s.lock_held) {
    o << "held by " << (s.holder_id.empty() ? "an unknown holder" : s.holder_id) << " (lock index "
      << s.lock_index << ")\n";
  } else if (s.lock_record) {
    o << "free (last holder " << s.lock_record->holder_id << ")\n";
  } else {
    o << "free\n";
  }
  if (s.switchover) {
    o << "SWITCHOVER requested" << (s.switchover->to.empty() ? "" : " to " + s.switchover->to) << '\n';
  }

  const std::vector<std::string> header = {"ID", "ADDRESS", "ROLE", "HEALTH", "OFFSET", "LAG", "LINK", "CHECK"};
  std::vector<std::vector<std::string>> rows;
  for (const MemberStatus& m : s.members) {
    rows.push_back({m.id, Dash(m.address), Dash(m.role), Dash(m.health), OptionalNumber(m.offset),
                    OptionalNumber(m.lag), Dash(m.master_link), Dash(m.check_status)});
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  const auto line = [&](const std::string& mark, const std::vector<std::string>& cells) {
    std::string text = mark;
    for (size_t c = 0; c < cells.size(); ++c) {
      text += cells[c];
      if (c + 1 < cells.size()) text.append(width[c] - cells[c].size() + 2, ' ');
    }
    o << text << '\n';
  };
  line("  ", header);
  for (size_t i = 0; i < rows.size(); ++i) line(s.members[i].holder ? "* " : "  ", rows[i]);
  if (s.members.empty()) {
    o << "  (no members: no report under " << consul::MembersPrefix(s.scope.lock_key) << " and no instance of "
      << (s.scope.tag_mode ? s.scope.master_service : s.scope.master_service + " or " + s.scope.slave_service)
      << ")\n";
  }
  for (const std::string& w : s.warnings) o << "warning: " << w << '\n';
  return o.str();
}

json StatusToJson(const GroupStatus& s) {
  const auto or_null = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  json members = json::array();
  for (const MemberStatus& m : s.members) {
    members.push_back({
        {"id", m.id},
        {"address", or_null(m.address)},
        {"role", m.role == "-" ? json(nullptr) : json(m.role)},
        {"health", m.health == "-" ? json(nullptr) : json(m.health)},
        {"holder", m.holder},
        {"offset", m.offset ? json(*m.offset) : json(nullptr)},
        {"lag", m.lag ? json(*m.lag) : json(nullptr)},
        {"master_link", or_null(m.master_link)},
        {"check", or_null(m.check_status)},
        {"registered_as", or_null(m.registered_as)},
        {"service", or_null(m.service)},
        {"priority", m.priority ? json(*m.priority) : json(nullptr)},
        {"report_live", m.report_live},
    });
  }
  json lock = {
      {"key", s.scope.lock_key},
      {"held", s.lock_held},
      {"holder", or_null(s.holder_id)},
      {"lock_index", s.lock_index},
      {"record", nullptr},
  };
  if (s.lock_record) {
    lock["record"] = {{"holder_id", s.lock_record->holder_id},
                      {"address", s.lock_record->address},
                      {"port", s.lock_record->port},
                      {"replid", s.lock_record->replid},
                      {"offset", s.lock_record->offset}};
  }
  return {
      {"lock", lock},
      {"passing_masters", s.passing_masters},
      {"switchover", s.switchover ? json{{"to", s.switchover->to}, {"nonce", s.switchover->nonce}} : json(nullptr)},
      {"members", members},
      {"warnings", s.warnings},
  };
}

StatusOr<StatusInputs> FetchStatusInputs(consul::Client& client, const GroupScope& scope) {
  StatusInputs in;
  auto lock = client.GetKey(scope.lock_key, {});
  if (!lock.ok()) return lock.status();
  in.lock = lock->value;
  auto reports = client.ListKeys(consul::MembersPrefix(scope.lock_key), {});
  if (!reports.ok()) return reports.status();
  in.reports = std::move(reports->value);
  std::vector<std::string> services = {scope.master_service};
  if (scope.slave_service != scope.master_service) services.push_back(scope.slave_service);
  for (const std::string& service : services) {
    auto instances = client.InstancesWithChecks(service, {});
    if (!instances.ok()) return instances.status();
    for (auto& h : instances->value) in.instances.push_back(std::move(h));
  }
  auto switchover = client.GetKey(consul::SwitchoverKey(scope.lock_key), {});
  if (!switchover.ok()) return switchover.status();
  in.switchover = switchover->value;
  return in;
}

}  // namespace resec::cli
