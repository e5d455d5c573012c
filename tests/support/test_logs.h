// TestLogs: prints the logs of a test's servers when that test fails.
//
// Every fixture (RedisServer, ConsulAgent) owns one and registers its log file
// in it; a test that starts a raw ChildProcess can do the same. When the
// TestLogs is destroyed (fixture destroyed at the end of the test) and the
// running gtest test has failed, it prints the last `tail_lines` lines of each
// registered log to stderr, with the log's path. There is no global registry:
// the fixture's lifetime is the scope, so a fixture declared in a test prints
// exactly the logs of that test. Declare it before the ChildProcess it
// watches, so the process is stopped (and its last words flushed) first.
//
// Thread-safety: owned by one test thread.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace resec::testing {

class TestLogs {
 public:
  explicit TestLogs(int tail_lines = 80) : tail_lines_(tail_lines) {}
  ~TestLogs();
  TestLogs(TestLogs&& other) noexcept;
  TestLogs& operator=(TestLogs&& other) noexcept;
  TestLogs(const TestLogs&) = delete;
  TestLogs& operator=(const TestLogs&) = delete;

  // Registers a log (once per path; later calls with the same path are no-ops).
  void Add(std::string label, std::filesystem::path path);
  // The tails, as printed on failure; usable directly in a failure message.
  std::string Dump() const;

 private:
  int tail_lines_;
  std::vector<std::pair<std::string, std::filesystem::path>> logs_;
};

}  // namespace resec::testing
