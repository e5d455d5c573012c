// The suite's share of the fuzzing (issue 6, item 4): every fuzz target of
// fuzz/fuzz_targets.h runs, with the regular g++ build (and so under the
// suite's ASan+UBSan build too), over
//   1. every seed file in fuzz/corpus/<target>/ (findings that were fixed
//      are kept there as regression inputs), and
//   2. a fixed number of deterministic mutations of each seed (bit flips,
//      interesting bytes, insertions, deletions, splices, dictionary tokens
//      from fuzz/dict/<target>.dict), seeded so a failure replays exactly.
// The coverage-guided runs need clang's libFuzzer and take minutes; they are
// scripts/fuzz.sh's job, not the suite's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../../fuzz/fuzz_targets.h"

namespace resec::testing {
namespace {

namespace fs = std::filesystem;

// Mutations per seed file. Each costs one call of the target (microseconds
// for most, ~0.1 ms for the JSON ones under ASan): the whole file stays at a
// few seconds.
constexpr int kMutationsPerSeed = 500;

fs::path CorpusDir(const std::string& target) { return fs::path(RESEC_SOURCE_DIR) / "fuzz" / "corpus" / target; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<fs::path> SeedFiles(const std::string& target) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(CorpusDir(target), ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// libFuzzer dictionary lines: name="value" or "value", with \xNN, \\ and \" escapes.
std::vector<std::string> Dictionary(const std::string& target) {
  std::vector<std::string> tokens;
  std::ifstream in(fs::path(RESEC_SOURCE_DIR) / "fuzz" / "dict" / (target + ".dict"));
  std::string line;
  while (std::getline(in, line)) {
    const size_t open = line.find('"');
    const size_t close = line.rfind('"');
    if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open) continue;
    std::string token;
    for (size_t i = open + 1; i < close; ++i) {
      if (line[i] != '\\' || i + 1 >= close) {
        token += line[i];
      } else if (line[i + 1] == 'x' && i + 3 < close) {
        token += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else {
        token += line[++i];
      }
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// xorshift64*: deterministic across platforms and standard libraries, unlike
// std::uniform_int_distribution.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed == 0 ? 0x9E3779B97F4A7C15ULL : seed) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1DULL;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

std::string Mutate(std::string s, const std::vector<std::string>& dict, const std::vector<std::string>& seeds,
                   Rng& rng) {
  static constexpr uint8_t kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '\r', '\n', ':', '"', '[', ']',
                                             '{', '}', ',', '=', '-', '.', '0', '9', 0xc0, 0xed, 0xf4};
  const int steps = 1 + static_cast<int>(rng.Below(4));
  for (int step = 0; step < steps; ++step) {
    switch (rng.Below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng.Below(s.size())] ^= static_cast<char>(1u << rng.Below(8));
        break;
      case 1:  // overwrite with an interesting byte
        if (!s.empty()) s[rng.Below(s.size())] = static_cast<char>(kInteresting[rng.Below(sizeof kInteresting)]);
        break;
      case 2:  // insert an interesting byte
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(rng.Below(s.size() + 1)),
                 static_cast<char>(kInteresting[rng.Below(sizeof kInteresting)]));
        break;
      case 3: {  // delete a range
        if (s.empty()) break;
        const size_t at = rng.Below(s.size());
        s.erase(at, 1 + rng.Below(std::min<size_t>(16, s.size() - at)));
        break;
      }
      case 4: {  // duplicate a chunk (long lines, deep nesting)
        if (s.empty()) break;
        const size_t at = rng.Below(s.size());
        const std::string chunk = s.substr(at, 1 + rng.Below(32));
        for (size_t n = 1 + rng.Below(8); n > 0; --n) s.insert(at, chunk);
        break;
      }
      case 5:  // insert a dictionary token
        if (!dict.empty()) s.insert(rng.Below(s.size() + 1), dict[rng.Below(dict.size())]);
        break;
      case 6: {  // splice with another seed
        const std::string& other = seeds[rng.Below(seeds.size())];
        s = s.substr(0, rng.Below(s.size() + 1)) + other.substr(rng.Below(other.size() + 1));
        break;
      }
      default:  // truncate
        s.resize(rng.Below(s.size() + 1));
        break;
    }
  }
  return s;
}

std::string Call(const fuzz::Target& target, const std::string& input) {
  return target.run(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

class FuzzCorpus : public ::testing::TestWithParam<fuzz::Target> {};

TEST_P(FuzzCorpus, EverySeedFileHoldsTheProperties) {
  const fuzz::Target& target = GetParam();
  const std::vector<fs::path> files = SeedFiles(target.name);
  // A target without seeds would "pass" by testing nothing.
  ASSERT_GE(files.size(), 5u) << "too few seeds in " << CorpusDir(target.name);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    EXPECT_EQ(Call(target, ReadFile(file)), "");
  }
}

TEST_P(FuzzCorpus, DeterministicMutationsHoldTheProperties) {
  const fuzz::Target& target = GetParam();
  std::vector<std::string> seeds;
  for (const fs::path& file : SeedFiles(target.name)) seeds.push_back(ReadFile(file));
  ASSERT_FALSE(seeds.empty());
  const std::vector<std::string> dict = Dictionary(target.name);
  int tried = 0;
  int failures = 0;
  // Reported once per distinct broken property, with the first input that broke it.
  std::map<std::string, std::string> distinct;
  for (size_t i = 0; i < seeds.size(); ++i) {
    Rng rng(0x5EC0000ULL + i * 7919 + std::hash<std::string>{}(target.name) % 1000);
    for (int m = 0; m < kMutationsPerSeed; ++m) {
      const std::string input = Mutate(seeds[i], dict, seeds, rng);
      ++tried;
      const std::string violation = Call(target, input);
      if (violation.empty()) continue;
      ++failures;
      const std::string kind = violation.substr(0, violation.find(": ", violation.find(": ") + 2));
      if (distinct.size() < 10 && distinct.emplace(kind, input).second) {
        ADD_FAILURE() << target.name << ": " << violation << "\n  seed #" << i << " mutation #" << m
                      << " input " << QuoteForDisplay(input, 400);
      }
    }
  }
  EXPECT_EQ(failures, 0);
  RecordProperty("inputs", tried);
  std::printf("fuzz corpus: %s: %zu seeds, %d mutated inputs, %d violations\n", target.name, seeds.size(), tried,
              failures);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpus, ::testing::ValuesIn(fuzz::AllTargets()),
                         [](const ::testing::TestParamInfo<fuzz::Target>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace resec::testing
