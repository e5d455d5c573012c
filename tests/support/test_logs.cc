#include "support/test_logs.h"

#include <cstdio>
#include <system_error>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace resec::testing {

TestLogs::~TestLogs() {
  if (!logs_.empty() && CurrentTestFailed()) {
    std::string dump = Dump();
    std::fprintf(stderr, "%s", dump.c_str());
  }
}

TestLogs::TestLogs(TestLogs&& other) noexcept
    : tail_lines_(other.tail_lines_), logs_(std::exchange(other.logs_, {})) {}

TestLogs& TestLogs::operator=(TestLogs&& other) noexcept {
  if (this != &other) {
    tail_lines_ = other.tail_lines_;
    logs_ = std::exchange(other.logs_, {});
  }
  return *this;
}

void TestLogs::Add(std::string label, std::filesystem::path path) {
  for (const auto& [l, p] : logs_) {
    if (p == path) return;
  }
  logs_.emplace_back(std::move(label), std::move(path));
}

std::string TestLogs::Dump() const {
  std::string out;
  for (const auto& [label, path] : logs_) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      out += "----- [resec rig] " + label + " log: " + path.string() + " (never written)\n";
      continue;
    }
    out += "----- [resec rig] " + label + " log (last " + std::to_string(tail_lines_) +
           " lines): " + path.string() + "\n";
    out += TailFile(path, tail_lines_);
    out += "----- end of " + label + " log\n";
  }
  return out;
}

}  // namespace resec::testing
