#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

namespace resec::testing {

std::string CurrentTestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "no-test";
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    if (!safe) c = '_';
  }
  // Keep well below NAME_MAX once the tag and the mkdtemp suffix are added.
  constexpr size_t kMaxName = 120;
  if (name.size() > kMaxName) name.resize(kMaxName);
  return name;
}

bool CurrentTestFailed() {
  return ::testing::UnitTest::GetInstance()->current_test_info() != nullptr &&
         ::testing::Test::HasFailure();
}

TempDir::TempDir(std::string_view tag) {
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  std::string name = "resec-" + CurrentTestName();
  if (!tag.empty()) name += "-" + std::string(tag);
  std::string templ = (base / (name + "-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << templ << ") failed: " << std::strerror(errno);
    return;
  }
  path_ = buf.data();
}

TempDir::~TempDir() { Release(); }

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, {})), keep_(other.keep_) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::exchange(other.path_, {});
    keep_ = other.keep_;
  }
  return *this;
}

std::filesystem::path TempDir::Sub(std::string_view name) const {
  std::filesystem::path p = path_ / name;
  std::error_code ec;
  std::filesystem::create_directories(p, ec);
  return p;
}

void TempDir::Release() {
  if (path_.empty()) return;
  if (keep_ || CurrentTestFailed()) {
    std::fprintf(stderr, "[resec rig] kept test directory: %s\n", path_.c_str());
  } else {
    std::error_code ec;  // best effort: a leftover dir in /tmp harms nobody
    std::filesystem::remove_all(path_, ec);
  }
  path_.clear();
}

}  // namespace resec::testing
