// libFuzzer entry point for the "info" target; the body and its properties
// live in fuzz_targets.h, shared with the corpus replay test.
#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string violation = resec::fuzz::FuzzInfo(data, size);
  if (!violation.empty()) {
    // A broken property is a finding like a crash: abort so libFuzzer saves the input.
    std::fprintf(stderr, "resec fuzz info: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}
