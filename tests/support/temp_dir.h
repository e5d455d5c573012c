// TempDir: a scratch directory for one test, named after the running gtest
// test so a kept directory can be matched to its log.
//
// Created under $TMPDIR (or /tmp) as "resec-<Suite>.<Test>[-<tag>]-XXXXXX".
// Removed recursively at destruction, unless the current test has failed (or
// Keep() was called): then it stays and its path is printed to stderr so the
// logs inside can be read after the run.
//
// Thread-safety: a value owned by one test; not for concurrent mutation.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "resec/status.h"

namespace resec::testing {

class TempDir {
 public:
  // Creates the directory. Failure to create it is a broken machine, not a
  // test outcome: it is reported with ADD_FAILURE and path() is then empty.
  explicit TempDir(std::string_view tag = "");
  ~TempDir();

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, created if missing.
  std::filesystem::path Sub(std::string_view name) const;
  // Keep the directory even if the test passes (benchmarks, debugging).
  void Keep() { keep_ = true; }

 private:
  void Release();

  std::filesystem::path path_;
  bool keep_ = false;
};

// "Suite.Test" of the running gtest test (parameterised names included), with
// characters unsafe in a file name replaced by '_'; "no-test" outside a test.
std::string CurrentTestName();

// True when a gtest test is running and has already failed.
bool CurrentTestFailed();

}  // namespace resec::testing
