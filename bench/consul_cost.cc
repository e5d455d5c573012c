#include "consul_cost.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace resec::bench {

using nlohmann::json;

namespace {

constexpr char kMetricsPath[] = "/v1/agent/metrics?format=prometheus";
constexpr char kHttpCount[] = "consul_api_http_count";
constexpr char kOwnReads[] = "path=\"v1_agent_metrics\"";
constexpr char kRaftApply[] = "consul_raft_apply";

double Round1(double v) { return std::round(v * 10.0) / 10.0; }
double Round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

double SumPrometheus(const std::string& text, const std::string& metric, const std::string& skip_label) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(metric, 0) != 0 || line.size() <= metric.size()) continue;
    const char next = line[metric.size()];
    if (next != ' ' && next != '{') continue;  // another metric with this prefix
    if (!skip_label.empty() && line.find(skip_label) != std::string::npos) continue;
    const auto space = line.rfind(' ');
    double v = 0;
    // Counters are integers in Consul's output, but the format allows floats.
    if (std::from_chars(line.data() + space + 1, line.data() + line.size(), v).ec == std::errc()) sum += v;
  }
  return sum;
}

ConsulCounters ReadConsulCounters(const testing::Rig& rig) {
  ConsulCounters c;
  c.at = testing::Clock::now();
  for (int k = 0; k < rig.hosts(); ++k) {
    auto r = rig.ConsulClientHttp(k, "GET", kMetricsPath);
    c.http_requests.push_back(r.ok() && r->status == 200 ? std::optional(SumPrometheus(r->body, kHttpCount, kOwnReads))
                                                         : std::nullopt);
  }
  c.leader = rig.ConsulLeaderServer();
  if (c.leader) {
    auto r = rig.ConsulServerHttp(*c.leader, "GET", kMetricsPath);
    if (r.ok() && r->status == 200) c.raft_applies = SumPrometheus(r->body, kRaftApply);
  }
  return c;
}

json ConsulCost(const testing::Rig& rig, const ConsulCounters& from, const ConsulCounters& to, int master_host,
                bool agents) {
  const double seconds = std::chrono::duration<double>(to.at - from.at).count();
  json out = {{"window_s", Round1(seconds)}};
  if (agents) {
    json per_host = json::object();
    double sum = 0, replica_sum = 0;
    int n = 0, replicas = 0;
    std::optional<double> master_rate;
    for (int k = 0; k < rig.hosts(); ++k) {
      const auto& a = from.http_requests.at(static_cast<size_t>(k));
      const auto& b = to.http_requests.at(static_cast<size_t>(k));
      if (!a || !b || *b < *a || seconds <= 0) {
        per_host[rig.host(k).name] = nullptr;
        continue;
      }
      const double rate = (*b - *a) / seconds * 60.0;
      per_host[rig.host(k).name] = Round1(rate);
      sum += rate;
      ++n;
      if (k == master_host) {
        master_rate = rate;
      } else {
        replica_sum += rate;
        ++replicas;
      }
    }
    out["http_requests_per_min"] = per_host;
    out["http_requests_per_min_per_agent"] = n > 0 ? json(Round1(sum / n)) : json(nullptr);
    out["http_requests_per_min_master_host"] = master_rate ? json(Round1(*master_rate)) : json(nullptr);
    out["http_requests_per_min_replica_hosts"] = replicas > 0 ? json(Round1(replica_sum / replicas)) : json(nullptr);
  } else {
    out["http_requests_per_min_per_agent"] = nullptr;
  }
  const bool same_leader = from.leader && to.leader && *from.leader == *to.leader;
  out["raft_applies_per_s"] = same_leader && from.raft_applies && to.raft_applies && seconds > 0
                                  ? json(Round3((*to.raft_applies - *from.raft_applies) / seconds))
                                  : json(nullptr);
  return out;
}

}  // namespace resec::bench
