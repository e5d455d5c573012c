#include "resec/cli/status.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "resec/consul/records.h"
#include "resec/redis/client.h"
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

// The status command waits this long at most for the master's INFO.
constexpr std::chrono::milliseconds kMasterInfoTimeout{1000};

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string OptionalNumber(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; }

template <typename Range>
std::string Join(const Range& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// (service ID, node): how members are told apart, and the table's order.
using MemberId = std::pair<std::string, std::string>;

// The node a report belongs to: the one it names, else the one in its key
// (<members prefix><node>/<service ID>). "" for an older agent's report,
// filed under <members prefix><service ID> without a node.
std::string ReportNode(const consul::KvPair& kv, const PeerReport& report, const std::string& members_prefix) {
  if (!report.node.empty()) return report.node;
  std::string_view rest = kv.key;
  if (!rest.starts_with(members_prefix)) return "";
  rest.remove_prefix(members_prefix.size());
  const std::string suffix = "/" + report.id;
  if (rest.size() <= suffix.size() || !rest.ends_with(suffix)) return "";
  return std::string(rest.substr(0, rest.size() - suffix.size()));
}

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
    if (out.lock_held && out.lock_record) {
      out.holder_id = out.lock_record->holder_id;
      out.holder_node = out.lock_record->node;
    }
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

  // The nodes each of our service IDs is registered on: places the report of
  // an older agent that names no node, when its ID is on one node only.
  std::map<std::string, std::set<std::string>> nodes_of;
  for (const consul::ServiceHealth& h : inputs.instances) {
    if (h.instance.id.starts_with(scope.id_prefix)) nodes_of[h.instance.id].insert(h.instance.node);
  }

  std::map<MemberId, MemberStatus> members;  // by ID, then node: the table's order
  std::set<MemberId> reported;

  for (const consul::KvPair& kv : inputs.reports) {
    auto report = consul::DecodePeerReport(kv.value);
    if (!report.ok()) {
      out.warnings.push_back(kv.key + ": " + report.status().message());
      continue;
    }
    std::string node = ReportNode(kv, *report, consul::MembersPrefix(scope.lock_key));
    if (node.empty()) {
      const auto it = nodes_of.find(report->id);
      if (it != nodes_of.end() && it->second.size() == 1) {
        node = *it->second.begin();
      } else if (it != nodes_of.end()) {
        out.warnings.push_back(kv.key + ": the report names no node and " + report->id + " is registered on nodes " +
                               Join(it->second) + ": cannot tell whose it is (an agent older than this command?)");
      }
    }
    const MemberId key{report->id, node};
    const bool live = !kv.session.empty();
    // A member can leave two reports behind (an older agent's key without
    // the node, and its own): the one with a live session is the present.
    if (reported.contains(key) && members[key].report_live && !live) continue;
    reported.insert(key);
    MemberStatus& m = members[key];
    m.id = report->id;
    m.node = node;
    m.report_live = live;
    m.address = HostPort{report->address, report->port}.ToString();
    m.offset = report->offset;
    m.priority = report->priority;
    if (m.report_live) {
      m.role = report->role.empty() ? "-" : report->role;
      m.health = report->healthy ? "healthy" : "unhealthy";
    } else {
      // The agent's session is gone (crashed, stopped, partitioned): what it
      // last said about Redis is history, not the present.
      m.role.clear();
      m.health = "gone";
    }
  }

  std::map<std::string, std::vector<MemberId>> by_address;  // catalog address -> members announcing it
  for (const consul::ServiceHealth& h : inputs.instances) {
    if (!h.instance.id.starts_with(scope.id_prefix)) continue;  // another group or another program
    const MemberId key{h.instance.id, h.instance.node};
    MemberStatus& m = members[key];
    m.id = h.instance.id;
    m.node = h.instance.node;
    const bool master = scope.tag_mode ? HasTag(h.instance.tags, scope.master_tag)
                                       : h.service_name == scope.master_service;
    m.registered_as = master ? "master" : "slave";
    m.service = h.service_name;
    m.address = HostPort{h.instance.address, h.instance.port}.ToString();
    if (!h.instance.address.empty()) {
      auto& announcing = by_address[m.address];
      if (std::find(announcing.begin(), announcing.end(), key) == announcing.end()) announcing.push_back(key);
    }
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

  // A record from an agent older than the node field names only the ID: the
  // holder is the member with that ID when there is exactly one. With more,
  // marking any of them would be a guess.
  bool holder_known = !out.holder_id.empty();
  if (holder_known && out.holder_node.empty()) {
    std::set<std::string> nodes;
    for (const auto& [key, m] : members) {
      if (key.first == out.holder_id) nodes.insert(key.second);
    }
    if (nodes.size() == 1) {
      out.holder_node = *nodes.begin();
    } else if (nodes.size() > 1) {
      holder_known = false;
      out.warnings.push_back("the lock record names " + out.holder_id + " but not its node, and nodes " +
                             Join(nodes) + " have a member " + out.holder_id +
                             ": cannot tell which one holds the lock");
    }
  }

  for (auto& [key, m] : members) {
    if (m.role.empty()) m.role = "-";
    if (m.health.empty()) m.health = "-";
    m.holder = holder_known && key == MemberId{out.holder_id, out.holder_node};
  }
  const auto holder = holder_known ? members.find({out.holder_id, out.holder_node}) : members.end();
  // The master's own INFO is the fresh source: its offset, and each
  // replica's offset as the master sees it, matched by the address the
  // master sees (ip:port) to the one member registered there.
  const bool from_master = inputs.master_info && inputs.master_info->role == RedisRole::kMaster &&
                           holder != members.end();
  if (from_master) {
    for (auto& [key, m] : members) m.offset.reset();
    holder->second.offset = inputs.master_info->master_repl_offset;
    for (const RedisState::Replica& r : inputs.master_info->replicas) {
      const auto at = by_address.find(HostPort{r.ip, r.port}.ToString());
      if (at != by_address.end() && at->second.size() == 1) members[at->second.front()].offset = r.offset;
    }
  } else if (!inputs.master_info_error.empty()) {
    out.warnings.push_back("offsets are from the members' reports, written only when more than an offset "
                           "changes, so they may be old: " + inputs.master_info_error);
  }
  // Plain values rather than an optional: g++ 12 misreads the latter as
  // maybe-uninitialized at -O2.
  const bool have_master_offset =
      holder != members.end() && (from_master || holder->second.report_live) && holder->second.offset;
  const int64_t master_offset = have_master_offset ? *holder->second.offset : 0;
  for (auto& [key, m] : members) {
    if (m.holder) {
      m.lag = 0;
    } else if (have_master_offset && m.offset && (from_master || m.report_live)) {
      // The master's INFO lists the offset each replica last acked (once a
      // second), and reports are older still: a replica that looks ahead
      // of its master is not, it is simply caught up.
      m.lag = std::max<int64_t>(0, master_offset - *m.offset);
    }
    out.members.push_back(m);
  }
  std::stable_sort(out.members.begin(), out.members.end(),
                   [](const MemberStatus& a, const MemberStatus& b) { return a.holder && !b.holder; });

  const auto name = [&out](const MemberId& key) { return MemberName(out, key.second, key.first); };
  if (!out.lock_held) {
    out.warnings.push_back("nobody holds the lock " + scope.lock_key + ": the group has no master");
  } else if (holder_known) {
    if (holder == members.end() || holder->second.registered_as != "master" ||
        holder->second.check_status != "passing") {
      out.warnings.push_back("lock holder " + name({out.holder_id, out.holder_node}) +
                             " is not a passing master in Consul (yet)");
    }
  }
  if (out.passing_masters > 1) {
    out.warnings.push_back(std::to_string(out.passing_masters) + " passing masters in Consul");
  }
  for (const MemberStatus& m : out.members) {
    // Where the holder could not be placed, a master with its ID may be it.
    const bool maybe_holder = !holder_known && m.id == out.holder_id;
    if (m.report_live && m.role == "master" && !m.holder && !maybe_holder) {
      out.warnings.push_back(name({m.id, m.node}) + ": Redis is a master but does not hold the lock");
    }
  }
  // The same ID on several nodes is the normal loopback setup (each node's
  // Consul shows its own address); the same address for two members is not:
  // clients and replicas sent to either reach one Redis, e.g. an
  // ANNOUNCE_ADDR copied between hosts, or two agents managing one Redis.
  for (const auto& [address, keys] : by_address) {
    if (keys.size() < 2) continue;
    std::vector<std::string> names;
    for (const MemberId& key : keys) names.push_back(name(key));
    out.warnings.push_back("members " + Join(names) + " all announce " + address +
                           ": each needs its own (check ANNOUNCE_ADDR and REDIS_ADDR on their hosts)");
  }
  return out;
}

std::string MemberRef(const std::string& node, const std::string& id) {
  return node.empty() ? id : MemberKey(node, id);
}

std::string HolderRef(const GroupStatus& s) {
  return s.lock_held && !s.holder_id.empty() ? MemberRef(s.holder_node, s.holder_id) : "";
}

std::string MemberName(const GroupStatus& s, const std::string& node, const std::string& id) {
  const auto same_id = std::count_if(s.members.begin(), s.members.end(),
                                     [&](const MemberStatus& m) { return m.id == id && m.node != node; });
  return same_id > 0 && !node.empty() ? MemberKey(node, id) : id;
}

std::string RenderStatusTable(const GroupStatus& s) {
  std::ostringstream o;
  o << "LOCK " << s.scope.lock_key << ' ';
  if (s.lock_held) {
    o << "held by " << (s.holder_id.empty() ? "an unknown holder" : MemberName(s, s.holder_node, s.holder_id))
      << " (lock index " << s.lock_index << ")\n";
  } else if (s.lock_record) {
    o << "free (last holder " << MemberName(s, s.lock_record->node, s.lock_record->holder_id);
    if (!s.lock_record->successor.empty()) o << ", handing over to " << s.lock_record->successor;
    o << ")\n";
  } else {
    o << "free\n";
  }
  if (s.switchover) {
    o << "SWITCHOVER requested" << (s.switchover->to.empty() ? "" : " to " + s.switchover->to) << '\n';
  }

  // ID first, as the agents register it (and as the table always began);
  // NODE tells apart the members that share one, e.g. redis@:6379 on every host.
  const std::vector<std::string> header = {"ID",  "NODE", "ADDRESS", "ROLE", "HEALTH",
                                           "OFFSET", "LAG", "LINK",   "CHECK"};
  std::vector<std::vector<std::string>> rows;
  for (const MemberStatus& m : s.members) {
    rows.push_back({m.id, Dash(m.node), Dash(m.address), Dash(m.role), Dash(m.health), OptionalNumber(m.offset),
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
        {"node", or_null(m.node)},
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
      {"holder_node", or_null(s.holder_id.empty() ? "" : s.holder_node)},
      {"lock_index", s.lock_index},
      {"record", nullptr},
  };
  if (s.lock_record) {
    lock["record"] = {{"holder_id", s.lock_record->holder_id},
                      {"address", s.lock_record->address},
                      {"port", s.lock_record->port},
                      {"replid", s.lock_record->replid},
                      {"offset", s.lock_record->offset},
                      {"node", or_null(s.lock_record->node)},
                      {"successor", or_null(s.lock_record->successor)}};
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

void ReadMasterInfo(StatusInputs& inputs, const Config& config) {
  if (!inputs.lock || inputs.lock->session.empty() || inputs.lock->value.empty()) return;
  auto record = consul::DecodeLockRecord(inputs.lock->value);
  if (!record.ok() || record->address.empty() || record->port <= 0) {
    inputs.master_info_error = "the lock record names no master address";
    return;
  }
  redis::RedisEndpoint endpoint{HostPort{record->address, record->port}, config.redis_username,
                                config.redis_password, std::min(config.healthcheck_timeout, kMasterInfoTimeout)};
  std::unique_ptr<redis::Client> client = redis::MakeHiredisClient(endpoint);
  Status connected = client->Connect();
  StatusOr<std::string> info = connected.ok() ? client->Command({"INFO", "replication"}) : StatusOr<std::string>(connected);
  if (!info.ok()) {
    inputs.master_info_error = "cannot read INFO of the master at " + endpoint.addr.ToString() + ": " +
                               info.status().message();
    return;
  }
  inputs.master_info = redis::ParseInfo(*info);
}

}  // namespace resec::cli
