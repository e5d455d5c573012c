// PrometheusServer: a real Prometheus (Debian's `prometheus`, 2.42) on
// 127.0.0.1 for one test, and promtool's metrics linter.
//
//   PrometheusServer prom(config_yaml);   // the whole prometheus.yml
//   ASSERT_OK(prom.Start());              // waits for /-/ready
//   auto up = prom.Query("up == 1");      // the instant-query API
//
// It runs `prometheus --config.file=<dir>/prometheus.yml
// --storage.tsdb.path=<dir>/data --web.listen-address=127.0.0.1:<free port>`
// in its own TempDir, so nothing touches the system's /etc/prometheus or
// /var/lib/prometheus (nor a system instance on :9090). Rule files in the
// configuration should be absolute paths. The log is "prometheus.log" in
// dir(), printed when the test fails. The destructor kills the server.
//
// Thread-safety: one owner thread; Query() opens its own connection.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "resec/status.h"
#include "support/child_process.h"
#include "support/temp_dir.h"
#include "support/test_logs.h"

namespace resec::testing {

// One element of an instant vector.
struct PromSample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

class PrometheusServer {
 public:
  explicit PrometheusServer(std::string config_yaml);
  ~PrometheusServer() = default;
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // Writes the configuration, starts the server and waits (up to 30 s) until
  // /-/ready answers 200; the status carries the log's tail otherwise.
  Status Start();

  // GET `path_and_query` (already escaped) from the HTTP API; the JSON body
  // when its status is "success", else an error with Prometheus' message.
  StatusOr<nlohmann::json> Api(const std::string& path_and_query) const;
  // An instant query (`/api/v1/query`) that must return a vector.
  StatusOr<std::vector<PromSample>> Query(const std::string& promql) const;

  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  std::string config_;
  TempDir dir_;
  TestLogs logs_;
  int port_ = 0;
  ChildProcess process_;  // last: destroyed first
};

// "a b&c" -> "a%20b%26c": a query-string component.
std::string UrlEscape(const std::string& text);

// The outcome of `promtool check metrics` on an exposition.
struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr: the lint problems, one per line
};
// Runs `promtool check metrics` with `exposition` on its stdin.
StatusOr<PromtoolResult> PromtoolCheckMetrics(const std::string& exposition);

}  // namespace resec::testing
