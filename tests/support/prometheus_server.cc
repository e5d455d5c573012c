#include "support/prometheus_server.h"

#include <fstream>
#include <sstream>

#include "support/calls.h"
#include "support/free_port.h"
#include "support/wait_for.h"

namespace resec::testing {
namespace {

using std::chrono::milliseconds;

// Prometheus replays an empty WAL and loads the rules in about a second; a
// loaded machine (two cores shared with compilers) can take many times that.
constexpr milliseconds kReadyTimeout{30000};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string UrlEscape(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

PrometheusServer::PrometheusServer(std::string config_yaml) : config_(std::move(config_yaml)), dir_("prometheus") {
  logs_.Add("prometheus", dir_.path() / "prometheus.log");
}

Status PrometheusServer::Start() {
  const auto config_path = dir_.path() / "prometheus.yml";
  std::ofstream(config_path) << config_;
  port_ = FreePort();
  ChildProcess::Options o;
  o.argv = {"prometheus",
            "--config.file=" + config_path.string(),
            "--storage.tsdb.path=" + dir_.Sub("data").string(),
            "--web.listen-address=127.0.0.1:" + std::to_string(port_),
            // No console templates: Debian's defaults point into /etc.
            "--web.console.templates=" + dir_.Sub("consoles").string(),
            "--web.console.libraries=" + dir_.Sub("console_libraries").string()};
  o.log_dir = dir_.path();
  o.log_name = "prometheus.log";
  auto p = ChildProcess::Start(o);
  if (!p.ok()) return p.status();
  process_ = std::move(*p);
  const bool ready = WaitFor(
      [&] {
        if (!process_.Running()) return true;  // reported below
        auto r = HttpCall("GET", "127.0.0.1", port_, "/-/ready", "", {}, milliseconds(1000));
        return r.ok() && r->status == 200;
      },
      kReadyTimeout, milliseconds(100));
  if (!ready || !process_.Running()) {
    return Unavailable("prometheus did not become ready on port " + std::to_string(port_) + "; log:\n" +
                       TailFile(process_.log_path(), 30));
  }
  return Status::Ok();
}

StatusOr<nlohmann::json> PrometheusServer::Api(const std::string& path_and_query) const {
  auto r = HttpCall("GET", "127.0.0.1", port_, path_and_query, "", {}, milliseconds(5000));
  if (!r.ok()) return r.status();
  nlohmann::json body = nlohmann::json::parse(r->body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return Internal(path_and_query + ": HTTP " + std::to_string(r->status) + ", not JSON: " + r->body);
  }
  if (body.value("status", "") != "success") {
    return FailedPrecondition(path_and_query + ": HTTP " + std::to_string(r->status) + ": " +
                              body.value("errorType", "") + ": " + body.value("error", ""));
  }
  return body;
}

StatusOr<std::vector<PromSample>> PrometheusServer::Query(const std::string& promql) const {
  auto body = Api("/api/v1/query?query=" + UrlEscape(promql));
  if (!body.ok()) return body.status();
  const nlohmann::json& data = (*body)["data"];
  if (data.value("resultType", "") != "vector") {
    return FailedPrecondition(promql + ": result is a " + data.value("resultType", "?") + ", not a vector");
  }
  std::vector<PromSample> out;
  for (const auto& r : data["result"]) {
    PromSample s;
    for (const auto& [k, v] : r["metric"].items()) s.labels[k] = v.get<std::string>();
    // [ <unix time>, "<value>" ]: the value is a string so NaN and Inf survive JSON.
    s.value = std::stod(r["value"][1].get<std::string>());
    out.push_back(std::move(s));
  }
  return out;
}

StatusOr<PromtoolResult> PromtoolCheckMetrics(const std::string& exposition) {
  TempDir dir("promtool");
  const auto input = dir.path() / "metrics.txt";
  std::ofstream(input, std::ios::binary) << exposition;
  ChildProcess::Options o;
  o.argv = {"/bin/sh", "-c", "exec promtool check metrics < \"$1\"", "sh", input.string()};
  o.log_dir = dir.path();
  o.log_name = "promtool.log";
  auto p = ChildProcess::Start(o);
  if (!p.ok()) return p.status();
  const auto status = p->Wait(milliseconds(30000));
  if (!status) return DeadlineExceeded("promtool check metrics did not finish in 30 s");
  PromtoolResult result;
  result.exit_code = status->code;
  result.output = ReadFile(dir.path() / "promtool.log");
  // ChildProcess writes a "=== start ..." marker line of its own first.
  std::istringstream lines(result.output);
  std::string kept;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("=== ")) kept += line + "\n";
  }
  result.output = kept;
  return result;
}

}  // namespace resec::testing
