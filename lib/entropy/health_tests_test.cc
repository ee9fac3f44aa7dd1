#include "lib/entropy/health_tests.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/subprocess.h"

namespace hwcast::entropy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Bytes = std::vector<uint8_t>;

// Uniform random bytes from a fixed seed (the same stream every run).
Bytes GoodBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  Bytes out(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = gen();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = v >> (8 * j);
  }
  return out;
}

// Bytes whose bits are independently 1 with probability p.
Bytes BiasedBytes(size_t n, double p, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::bernoulli_distribution one(p);
  Bytes out(n);
  for (auto& byte : out) {
    for (int j = 0; j < 8; ++j) byte = (byte << 1) | (one(gen) ? 1 : 0);
  }
  return out;
}

// Bits that repeat the previous bit with probability `stay` (correlated:
// too few or too many runs).
Bytes MarkovBytes(size_t n, double stay, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::bernoulli_distribution same(stay);
  Bytes out(n);
  int bit = 0;
  for (auto& byte : out) {
    for (int j = 0; j < 8; ++j) {
      if (!same(gen)) bit ^= 1;
      byte = (byte << 1) | bit;
    }
  }
  return out;
}

TEST(CutoffTest, MatchSp80090bForAlpha2ToMinus20) {
  // RCT: 1 + ceil(20 / H); APT: SP 800-90B Table 2 (W = 512).
  HealthTester h1({.assessed_bits_per_byte = 1});
  EXPECT_EQ(h1.rct_cutoff(), 21);
  EXPECT_EQ(h1.apt_cutoff(), 311);
  HealthTester h8({.assessed_bits_per_byte = 8});
  EXPECT_EQ(h8.rct_cutoff(), 4);
  EXPECT_EQ(h8.apt_cutoff(), 13);
  HealthTester h4({.assessed_bits_per_byte = 4});
  EXPECT_EQ(h4.rct_cutoff(), 6);
  EXPECT_EQ(h4.apt_cutoff(), 62);
  HealthTester half({.assessed_bits_per_byte = 0.5});
  EXPECT_EQ(half.rct_cutoff(), 41);
  EXPECT_EQ(half.apt_cutoff(), 410);
}

TEST(FipsTest, GoodRandomBlocksPass) {
  const Bytes data = GoodBytes(kFipsBlockBytes * 20, 1);
  int passed = 0;
  for (size_t i = 0; i < 20; ++i) {
    passed += RunFips140_2(absl::MakeConstSpan(data).subspan(
                               i * kFipsBlockBytes, kFipsBlockBytes))
                  .pass();
  }
  // A good generator fails a block with probability ~0.1%.
  EXPECT_GE(passed, 19);
}

TEST(FipsTest, AllZerosFailsEverything) {
  const FipsResult r = RunFips140_2(Bytes(kFipsBlockBytes, 0));
  EXPECT_FALSE(r.monobit);
  EXPECT_FALSE(r.poker);
  EXPECT_FALSE(r.runs);
  EXPECT_FALSE(r.long_run);
}

TEST(FipsTest, AlternatingBitsFailRunsAndPokerNotMonobit) {
  // 0x55 = 01010101: exactly half ones, only runs of length 1.
  const FipsResult r = RunFips140_2(Bytes(kFipsBlockBytes, 0x55));
  EXPECT_TRUE(r.monobit);
  EXPECT_FALSE(r.poker);
  EXPECT_FALSE(r.runs);
  EXPECT_TRUE(r.long_run);
}

TEST(FipsTest, BiasedBitsFailMonobit) {
  const FipsResult r = RunFips140_2(BiasedBytes(kFipsBlockBytes, 0.53, 7));
  EXPECT_FALSE(r.monobit);
}

TEST(FipsTest, MonobitIntervalEdges) {
  // Ones set at the front of an otherwise zero block: count exactly.
  auto with_ones = [](int ones) {
    Bytes block(kFipsBlockBytes, 0);
    for (int i = 0; i < ones; ++i) block[i / 8] |= 0x80 >> (i % 8);
    return RunFips140_2(block).monobit;
  };
  EXPECT_FALSE(with_ones(9725));
  EXPECT_TRUE(with_ones(9726));
  EXPECT_TRUE(with_ones(10274));
  EXPECT_FALSE(with_ones(10275));
}

TEST(FipsTest, LongRunOf26FailsAnd25Passes) {
  Bytes block = GoodBytes(kFipsBlockBytes, 3);
  // Bits 8..32 of byte 100.. set to a run of zeros bounded by ones.
  auto with_zero_run = [&](int length) {
    Bytes b = block;
    const int start = 100 * 8;
    auto set = [&](int bit, int v) {
      if (v) {
        b[bit / 8] |= 0x80 >> (bit % 8);
      } else {
        b[bit / 8] &= ~(0x80 >> (bit % 8));
      }
    };
    set(start - 1, 1);
    for (int i = 0; i < length; ++i) set(start + i, 0);
    set(start + length, 1);
    return b;
  };
  ASSERT_TRUE(RunFips140_2(block).long_run);
  EXPECT_TRUE(RunFips140_2(with_zero_run(25)).long_run);
  EXPECT_FALSE(RunFips140_2(with_zero_run(26)).long_run);
}

// The FIPS 140-2 tests counted bit by bit, the plain way, as the reference
// for RunFips140_2's word-at-a-time run counting.
FipsResult ReferenceFips(const Bytes& block) {
  int ones = 0;
  std::array<int, 16> poker{};
  std::array<std::array<int, 6>, 2> runs{};
  int longest = 0, current = -1, length = 0;
  auto end_run = [&] {
    if (current < 0) return;
    runs[current][std::min(length, 6) - 1]++;
    longest = std::max(longest, length);
  };
  for (uint8_t byte : block) {
    poker[byte >> 4]++;
    poker[byte & 0x0f]++;
    for (int j = 7; j >= 0; --j) {
      const int bit = (byte >> j) & 1;
      ones += bit;
      if (bit == current) {
        ++length;
      } else {
        end_run();
        current = bit;
        length = 1;
      }
    }
  }
  end_run();
  FipsResult r;
  r.monobit = ones >= 9726 && ones <= 10274;
  long sum = 0;
  for (int c : poker) sum += static_cast<long>(c) * c;
  r.poker = sum >= 1563176 && sum <= 1576928;
  const std::array<int, 6> low = {2315, 1114, 527, 240, 103, 103};
  const std::array<int, 6> high = {2685, 1386, 723, 384, 209, 209};
  for (int bit = 0; bit < 2; ++bit) {
    for (int i = 0; i < 6; ++i) {
      if (runs[bit][i] < low[i] || runs[bit][i] > high[i]) r.runs = false;
    }
  }
  r.long_run = longest < 26;
  return r;
}

// Blocks near every threshold (correlated bits flip the runs test both
// ways; long runs placed across 64-bit word boundaries) agree with the
// bit-by-bit reference.
TEST(FipsTest, AgreesWithBitByBitCounting) {
  std::vector<Bytes> blocks;
  for (uint64_t seed = 0; seed < 120; ++seed) {
    const double stay = 0.47 + 0.0005 * seed;  // 0.47 .. 0.53
    blocks.push_back(MarkovBytes(kFipsBlockBytes, stay, seed));
    blocks.push_back(BiasedBytes(kFipsBlockBytes, 0.49 + 0.0002 * seed, seed));
  }
  for (int start : {0, 1, 38, 39, 40, 63, 64, 65, 127, 19974, 19975}) {
    for (int len : {25, 26, 64, 70}) {
      Bytes block = GoodBytes(kFipsBlockBytes, start * 100 + len);
      for (int b = start; b < std::min(start + len, 20000); ++b) {
        block[b / 8] |= static_cast<uint8_t>(0x80 >> (b % 8));
      }
      blocks.push_back(block);
    }
  }
  blocks.push_back(Bytes(kFipsBlockBytes, 0x00));
  blocks.push_back(Bytes(kFipsBlockBytes, 0xff));
  blocks.push_back(Bytes(kFipsBlockBytes, 0x55));
  int runs_failed = 0, runs_passed = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const FipsResult got = RunFips140_2(blocks[i]);
    const FipsResult want = ReferenceFips(blocks[i]);
    EXPECT_EQ(got.monobit, want.monobit) << "block " << i;
    EXPECT_EQ(got.poker, want.poker) << "block " << i;
    EXPECT_EQ(got.runs, want.runs) << "block " << i;
    EXPECT_EQ(got.long_run, want.long_run) << "block " << i;
    (want.runs ? runs_passed : runs_failed)++;
  }
  // The set exercises both outcomes.
  EXPECT_GT(runs_failed, 20);
  EXPECT_GT(runs_passed, 20);
}

TEST(FipsTest, WrongSizeFails) {
  EXPECT_FALSE(RunFips140_2(GoodBytes(100, 1)).pass());
}

TEST(McvTest, Estimates) {
  EXPECT_DOUBLE_EQ(McvMinEntropyPerByte(Bytes(2500, 7)), 0.0);
  const double good = McvMinEntropyPerByte(GoodBytes(2500, 5));
  // p_hat ~ 20/2500 plus the 99% bound: about 6.3 bits per byte.
  EXPECT_GT(good, 5.5);
  EXPECT_LT(good, 7.0);
  // Half the bytes one value: at most 1 bit per byte.
  Bytes half = GoodBytes(2500, 6);
  for (size_t i = 0; i < half.size(); i += 2) half[i] = 0xAA;
  EXPECT_LT(McvMinEntropyPerByte(half), 1.0);
  // More data tightens the bound.
  EXPECT_GT(McvMinEntropyPerByte(GoodBytes(250000, 5)), good);
}

TEST(HealthTesterTest, GoodStreamPassesWithEstimate) {
  HealthTester tester({.assessed_bits_per_byte = 1, .max_bits_per_byte = 8});
  const Bytes data = GoodBytes(kFipsBlockBytes * 10, 11);
  for (int i = 0; i < 10; ++i) {
    const BlockVerdict v = tester.Test(absl::MakeConstSpan(data).subspan(
        i * kFipsBlockBytes, kFipsBlockBytes));
    EXPECT_TRUE(v.pass) << i;
    EXPECT_THAT(v.failed, IsEmpty());
    EXPECT_GT(v.entropy_bits, 5.5 * kFipsBlockBytes);
    EXPECT_LT(v.entropy_bits, 7.0 * kFipsBlockBytes);
  }
}

TEST(HealthTesterTest, EstimateIsCapped) {
  HealthTester tester({.assessed_bits_per_byte = 1, .max_bits_per_byte = 2});
  const BlockVerdict v = tester.Test(GoodBytes(kFipsBlockBytes, 12));
  ASSERT_TRUE(v.pass);
  EXPECT_DOUBLE_EQ(v.entropy_bits, 2.0 * kFipsBlockBytes);
}

TEST(HealthTesterTest, MultiBlockChunk) {
  HealthTester tester({});
  Bytes data = GoodBytes(kFipsBlockBytes * 4, 13);
  EXPECT_TRUE(tester.Test(data).pass);
  // One bad part fails the whole chunk.
  for (size_t i = 2 * kFipsBlockBytes; i < 3 * kFipsBlockBytes; ++i) {
    data[i] &= 0x0f;
  }
  const BlockVerdict v = tester.Test(data);
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.entropy_bits, 0);
  EXPECT_THAT(v.failed, testing::Contains(kMonobit));
  EXPECT_FALSE(tester.Test(Bytes(kFipsBlockBytes + 1, 0)).pass);
}

TEST(HealthTesterTest, AllZerosFailsAllTests) {
  HealthTester tester({});
  const BlockVerdict v = tester.Test(Bytes(kFipsBlockBytes, 0));
  EXPECT_FALSE(v.pass);
  EXPECT_THAT(v.failed,
              ElementsAre(kRct, kApt, kMonobit, kPoker, kRuns, kLongRun));
  EXPECT_EQ(v.entropy_bits, 0);
}

TEST(HealthTesterTest, StuckBytesFailRctOnly) {
  // A good stream with one byte value repeated 21 times (the h = 1 cutoff):
  // the FIPS tests do not notice 168 bits, the RCT does.
  HealthTester tester({.assessed_bits_per_byte = 1});
  Bytes block = GoodBytes(kFipsBlockBytes, 21);
  ASSERT_TRUE(tester.Test(block).pass);
  // 0x5A: 4 ones and no runs longer than 2, so FIPS stays content.
  for (int i = 0; i < 20; ++i) block[1000 + i] = 0x5A;
  block[999] = 0x00;
  block[1020] = 0xFF;
  EXPECT_TRUE(tester.Test(block).pass) << "20 repetitions are below C = 21";
  block[1020] = 0x5A;
  block[1021] = 0x00;
  const BlockVerdict v = tester.Test(block);
  EXPECT_FALSE(v.pass);
  EXPECT_THAT(v.failed, ElementsAre(kRct));
}

TEST(HealthTesterTest, RctRunSpanningTwoBlocksCounts) {
  HealthTester tester({.assessed_bits_per_byte = 1});
  Bytes first = GoodBytes(kFipsBlockBytes, 31);
  Bytes second = GoodBytes(kFipsBlockBytes, 32);
  // 11 + 10 = 21 equal bytes across the boundary.
  for (int i = 0; i < 11; ++i) first[kFipsBlockBytes - 1 - i] = 0x5A;
  first[kFipsBlockBytes - 12] = 0x00;
  for (int i = 0; i < 10; ++i) second[i] = 0x5A;
  second[10] = 0x00;
  EXPECT_TRUE(tester.Test(first).pass);
  const BlockVerdict v = tester.Test(second);
  EXPECT_THAT(v.failed, ElementsAre(kRct));

  // After Reset() the run starts over.
  HealthTester fresh({.assessed_bits_per_byte = 1});
  EXPECT_TRUE(fresh.Test(first).pass);
  fresh.Reset();
  EXPECT_TRUE(fresh.Test(second).pass);
}

// `block` with `value` planted `count` times at start, start + 2, ...
// (spread out so the RCT and FIPS stay quiet). `block` must not hold
// `value` elsewhere.
Bytes WithAptMatches(Bytes block, uint8_t value, int count, size_t start) {
  for (int i = 0; i < count; ++i) block[start + 2 * i] = value;
  return block;
}

TEST(HealthTesterTest, AptCountsTheWindowsFirstValue) {
  // h = 8: C = 13 occurrences of the window's first byte in 512.
  HealthTester tester({.assessed_bits_per_byte = 8});
  Bytes block = GoodBytes(kFipsBlockBytes, 41);
  // Remove accidental 0xC3s so only the planted ones count.
  for (auto& b : block) {
    if (b == 0xC3) b = 0xC2;
  }
  EXPECT_TRUE(tester.Test(WithAptMatches(block, 0xC3, 12, 0)).pass);
  tester.Reset();
  const BlockVerdict v = tester.Test(WithAptMatches(block, 0xC3, 13, 0));
  EXPECT_THAT(v.failed, ElementsAre(kApt));
}

TEST(HealthTesterTest, AptWindowSpansBlocks) {
  // The first block (2500 bytes) leaves a window open at sample
  // 2500 - 4 * 512 = 452; the rest of it is in the second block.
  HealthTester tester({.assessed_bits_per_byte = 8});
  Bytes first = GoodBytes(kFipsBlockBytes, 51);
  Bytes second = GoodBytes(kFipsBlockBytes, 52);
  for (auto* block : {&first, &second}) {
    for (auto& b : *block) {
      if (b == 0xC3) b = 0xC2;
    }
  }
  // Window starts at 2048 in `first` with 0xC3: 6 there, 7 in `second`.
  first[2048] = 0xC3;
  for (int i = 1; i < 6; ++i) first[2048 + 2 * i] = 0xC3;
  for (int i = 0; i < 7; ++i) second[10 + 2 * i] = 0xC3;
  EXPECT_TRUE(tester.Test(first).pass);
  EXPECT_THAT(tester.Test(second).failed, ElementsAre(kApt));
  // Tested separately the blocks pass.
  HealthTester fresh({.assessed_bits_per_byte = 8});
  EXPECT_TRUE(fresh.Test(second).pass);
}

TEST(HealthTesterTest, BiasedBitsFailFipsButNotRct) {
  HealthTester tester({});
  const BlockVerdict v = tester.Test(BiasedBytes(kFipsBlockBytes, 0.6, 61));
  EXPECT_FALSE(v.pass);
  EXPECT_THAT(v.failed, testing::Contains(kMonobit));
  EXPECT_THAT(v.failed, testing::Not(testing::Contains(kRct)));
}

// ---- Cross-check against Debian's rngtest (rng-tools5). ----

struct Counts {
  int blocks = 0;
  int failures = 0;
  int monobit = 0;
  int poker = 0;
  int runs = 0;
  int long_run = 0;
  int continuous = 0;
};

std::string RngtestPath() {
  for (const char* path : {"/usr/bin/rngtest", "/usr/sbin/rngtest"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// rngtest reads 32 bits for its continuous run test first, then 2500-byte
// blocks: the file is those 4 bytes followed by `blocks`.
Counts RunRngtest(const std::string& rngtest, const Bytes& prefix,
                  const Bytes& blocks) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/rngtest_input_", getpid(), ".bin");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(prefix.data()), prefix.size());
    out.write(reinterpret_cast<const char*>(blocks.data()), blocks.size());
  }
  const int n = blocks.size() / kFipsBlockBytes;
  auto result = RunProgram({"/bin/sh", "-c", "exec \"$0\" -c \"$1\" < \"$2\"",
                            rngtest, absl::StrCat(n), path},
                           absl::Seconds(60), 1 << 16);
  std::remove(path.c_str());
  Counts counts;
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return counts;
  const std::map<std::string, int*> fields = {
      {"FIPS 140-2 successes", &counts.blocks},  // adjusted below
      {"FIPS 140-2 failures", &counts.failures},
      {"FIPS 140-2(2001-10-10) Monobit", &counts.monobit},
      {"FIPS 140-2(2001-10-10) Poker", &counts.poker},
      {"FIPS 140-2(2001-10-10) Runs", &counts.runs},
      {"FIPS 140-2(2001-10-10) Long run", &counts.long_run},
      {"FIPS 140-2(2001-10-10) Continuous run", &counts.continuous},
  };
  int seen = 0;
  for (absl::string_view line : absl::StrSplit(result->stderr_data, '\n')) {
    if (!absl::ConsumePrefix(&line, "rngtest: ")) continue;
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(": ", 1));
    auto it = fields.find(kv.first);
    if (it == fields.end()) continue;
    EXPECT_TRUE(absl::SimpleAtoi(kv.second, it->second)) << line;
    ++seen;
  }
  EXPECT_EQ(seen, 7) << result->stderr_data;
  counts.blocks += counts.failures;
  return counts;
}

Counts RunOurs(const Bytes& blocks) {
  Counts counts;
  for (size_t i = 0; i + kFipsBlockBytes <= blocks.size();
       i += kFipsBlockBytes) {
    const FipsResult r =
        RunFips140_2(absl::MakeConstSpan(blocks).subspan(i, kFipsBlockBytes));
    ++counts.blocks;
    counts.failures += !r.pass();
    counts.monobit += !r.monobit;
    counts.poker += !r.poker;
    counts.runs += !r.runs;
    counts.long_run += !r.long_run;
  }
  return counts;
}

// rngtest keeps the last bit of a block and starts the next block's first
// run against it: when the first bit differs it counts a spurious run (into
// the zeros' "6+" bucket, or, writing runs[-1], into poker[15]). Each block
// is tested on its own here, so the data sets start every block with the
// previous block's last bit (0 before the first), where both agree.
Bytes AlignFirstBits(Bytes blocks) {
  int last_bit = 0;
  for (size_t i = 0; i < blocks.size(); i += kFipsBlockBytes) {
    blocks[i] = (blocks[i] & 0x7f) | (last_bit << 7);
    last_bit = blocks[i + kFipsBlockBytes - 1] & 1;
  }
  return blocks;
}

void ExpectSameAsRngtest(Bytes blocks, int min_failures) {
  const std::string rngtest = RngtestPath();
  if (rngtest.empty()) GTEST_SKIP() << "rngtest (rng-tools5) not installed";
  blocks = AlignFirstBits(std::move(blocks));
  const Counts theirs = RunRngtest(rngtest, GoodBytes(4, 999), blocks);
  const Counts ours = RunOurs(blocks);
  EXPECT_EQ(theirs.blocks, ours.blocks);
  EXPECT_EQ(theirs.monobit, ours.monobit);
  EXPECT_EQ(theirs.poker, ours.poker);
  EXPECT_EQ(theirs.runs, ours.runs);
  EXPECT_EQ(theirs.long_run, ours.long_run);
  // Our blocks never trip rngtest's continuous run test without failing
  // another test, so the block totals agree too.
  EXPECT_EQ(theirs.failures, ours.failures);
  EXPECT_GE(ours.failures, min_failures);
}

void Append(Bytes* out, const Bytes& more) {
  out->insert(out->end(), more.begin(), more.end());
}

TEST(RngtestCrossCheckTest, GoodRandomStream) {
  ExpectSameAsRngtest(GoodBytes(kFipsBlockBytes * 300, 2024), 0);
}

TEST(RngtestCrossCheckTest, BiasedStream) {
  // 51% ones: mean 10200, sd 71: about a sixth of the blocks fail monobit.
  ExpectSameAsRngtest(BiasedBytes(kFipsBlockBytes * 200, 0.51, 77), 10);
}

TEST(RngtestCrossCheckTest, MixOfGoodAndBadBlocks) {
  Bytes data;
  std::mt19937_64 pick(5);
  for (int i = 0; i < 240; ++i) {
    const uint64_t seed = 1000 + i;
    switch (pick() % 8) {
      case 0:
        Append(&data, Bytes(kFipsBlockBytes, i % 2 ? 0x00 : 0xFF));
        break;
      case 1:
        Append(&data, BiasedBytes(kFipsBlockBytes, 0.505, seed));
        break;
      case 2:
        Append(&data, MarkovBytes(kFipsBlockBytes, 0.53, seed));
        break;
      case 3:
        Append(&data, MarkovBytes(kFipsBlockBytes, 0.47, seed));
        break;
      case 4: {
        // A good block with one long run of zeros (26..33 bits).
        Bytes b = GoodBytes(kFipsBlockBytes, seed);
        const size_t at = 100 + pick() % 2000;
        b[at] = b[at + 1] = b[at + 2] = 0;
        b[at + 3] &= 0x0f << (pick() % 4);
        Append(&data, b);
        break;
      }
      case 5: {
        // Every byte's low nibble from a small set: poker fails.
        Bytes b = GoodBytes(kFipsBlockBytes, seed);
        for (auto& x : b) x = (x & 0xf0) | (x & 0x03 ? 0x6 : 0x9);
        Append(&data, b);
        break;
      }
      default:
        Append(&data, GoodBytes(kFipsBlockBytes, seed));
    }
  }
  ExpectSameAsRngtest(data, 60);
}

}  // namespace
}  // namespace hwcast::entropy
