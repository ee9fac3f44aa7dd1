#include "lib/entropy/health_tests.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace hwcast::entropy {
namespace {

// -log2(alpha) for alpha = 2^-20 (SP 800-90B recommends 2^-20 .. 2^-40).
constexpr double kAlphaExponent = 20.0;
constexpr int kAptWindow = 512;

// FIPS 140-2 (2001-10-10) intervals, as rngtest checks them: a statistic
// passes when lower <= x <= upper.
constexpr int kMonobitLow = 9726;
constexpr int kMonobitHigh = 10274;
// Poker: sum of the squared counts of the 16 nibble values over the 5000
// nibbles (X = 16/5000 * sum - 5000, 2.1632 <= X <= 46.1696).
constexpr int kPokerLow = 1563176;
constexpr int kPokerHigh = 1576928;
// Runs of length 1, 2, 3, 4, 5, 6+ (the same interval for runs of zeros and
// runs of ones).
constexpr std::array<int, 6> kRunsLow = {2315, 1114, 527, 240, 103, 103};
constexpr std::array<int, 6> kRunsHigh = {2685, 1386, 723, 384, 209, 209};
// A run of 26 or more equal bits fails the long run test.
constexpr int kLongRunBits = 26;

// Smallest k with P(X > k) <= alpha for X ~ Binomial(n, p): CRITBINOM(n, p,
// 1 - alpha) of SP 800-90B. Sums the upper tail from n downwards in doubles
// (each term from lgamma), which is exact enough at alpha = 2^-20.
int CritBinom(int n, double p, double alpha) {
  if (p >= 1.0) return n;
  const double log_p = std::log(p);
  const double log_q = std::log1p(-p);
  double tail = 0;  // P(X > k) for the current k
  for (int k = n; k >= 0; --k) {
    // tail is P(X > k); adding P(X = k) gives P(X > k - 1).
    const double log_pmf = std::lgamma(n + 1.0) - std::lgamma(k + 1.0) -
                           std::lgamma(n - k + 1.0) + k * log_p +
                           (n - k) * log_q;
    const double next = tail + std::exp(log_pmf);
    if (next > alpha) return k;
    tail = next;
  }
  return 0;
}

}  // namespace

FipsResult RunFips140_2(absl::Span<const uint8_t> block) {
  FipsResult result;
  if (block.size() != kFipsBlockBytes) {
    result.monobit = result.poker = result.runs = result.long_run = false;
    return result;
  }
  int ones = 0;
  std::array<int, 16> poker{};
  for (uint8_t byte : block) {
    poker[byte >> 4]++;
    poker[byte & 0x0f]++;
    ones += std::popcount(byte);
  }

  // Runs, from the transitions between adjacent bits: the bits are taken 64
  // at a time, most significant bit of each byte first (as rngtest reads
  // them); t marks every bit that differs from the bit before it, and each
  // marked bit ends the run before it. One iteration per run, with no
  // branch on the bits themselves (counting bit by bit mispredicts on every
  // other bit of random data).
  // runs[bit][min(length, 6) - 1]
  std::array<std::array<int, 6>, 2> runs{};
  int longest = 0;
  int current = block[0] >> 7;  // the bit value of the ongoing run
  int length = 0;               // its length so far
  auto end_run = [&](int bit, int run) {
    runs[bit][std::min(run, 6) - 1]++;
    longest = std::max(longest, run);
  };
  for (size_t offset = 0; offset < block.size(); offset += 8) {
    const size_t n = std::min<size_t>(8, block.size() - offset);
    uint64_t word = 0;
    for (size_t i = 0; i < n; ++i) {
      word |= static_cast<uint64_t>(block[offset + i]) << (56 - 8 * i);
    }
    const int valid = static_cast<int>(8 * n);
    // Bit k (from the top) differs from bit k - 1; bit 0 is compared with
    // the last bit of the previous word, i.e. the ongoing run's value.
    uint64_t transitions =
        word ^ ((word >> 1) | (static_cast<uint64_t>(current) << 63));
    if (valid < 64) transitions &= ~uint64_t{0} << (64 - valid);
    int position = 0;
    while (transitions != 0) {
      const int next = std::countl_zero(transitions);
      length += next - position;
      end_run(current, length);
      current ^= 1;
      length = 0;
      position = next;
      transitions &= ~(uint64_t{1} << (63 - next));
    }
    length += valid - position;
  }
  end_run(current, length);

  result.monobit = ones >= kMonobitLow && ones <= kMonobitHigh;
  long sum = 0;
  for (int count : poker) sum += static_cast<long>(count) * count;
  result.poker = sum >= kPokerLow && sum <= kPokerHigh;
  for (int bit = 0; bit < 2; ++bit) {
    for (int i = 0; i < 6; ++i) {
      if (runs[bit][i] < kRunsLow[i] || runs[bit][i] > kRunsHigh[i]) {
        result.runs = false;
      }
    }
  }
  result.long_run = longest < kLongRunBits;
  return result;
}

double McvMinEntropyPerByte(absl::Span<const uint8_t> data) {
  if (data.size() < 2) return 0;
  std::array<size_t, 256> counts{};
  for (uint8_t byte : data) counts[byte]++;
  const size_t max_count = *std::max_element(counts.begin(), counts.end());
  const double n = static_cast<double>(data.size());
  const double p_hat = max_count / n;
  // Upper bound of the 99% confidence interval (SP 800-90B 6.3.1).
  const double p_upper =
      std::min(1.0, p_hat + 2.576 * std::sqrt(p_hat * (1 - p_hat) / (n - 1)));
  const double h = -std::log2(p_upper);
  return std::clamp(h, 0.0, 8.0);
}

HealthTester::HealthTester(HealthOptions options) : options_(options) {
  const double h = std::clamp(options_.assessed_bits_per_byte, 1e-3, 8.0);
  rct_cutoff_ = 1 + static_cast<int>(std::ceil(kAlphaExponent / h));
  apt_cutoff_ =
      1 + CritBinom(kAptWindow, std::exp2(-h), std::exp2(-kAlphaExponent));
}

void HealthTester::Reset() {
  last_byte_ = -1;
  run_length_ = 0;
  apt_reference_ = -1;
  apt_seen_ = 0;
  apt_matches_ = 0;
}

BlockVerdict HealthTester::Test(absl::Span<const uint8_t> block) {
  BlockVerdict verdict;
  if (block.empty() || block.size() % kFipsBlockBytes != 0) {
    // Not a whole number of FIPS blocks: nothing can vouch for it.
    verdict.failed = {kMonobit, kPoker, kRuns, kLongRun};
    return verdict;
  }
  bool rct_failed = false;
  bool apt_failed = false;
  for (uint8_t byte : block) {
    // Repetition count test: C or more identical samples in a row.
    if (byte == last_byte_) {
      if (++run_length_ >= rct_cutoff_) rct_failed = true;
    } else {
      last_byte_ = byte;
      run_length_ = 1;
    }
    // Adaptive proportion test: the window's first sample recurring C or
    // more times among the window's 512 samples.
    if (apt_seen_ == 0) {
      apt_reference_ = byte;
      apt_matches_ = 1;
      apt_seen_ = 1;
    } else {
      if (byte == apt_reference_ && ++apt_matches_ >= apt_cutoff_) {
        apt_failed = true;
      }
      ++apt_seen_;
    }
    if (apt_seen_ == kAptWindow) apt_seen_ = 0;
  }
  FipsResult fips;
  for (size_t offset = 0; offset < block.size(); offset += kFipsBlockBytes) {
    const FipsResult part =
        RunFips140_2(block.subspan(offset, kFipsBlockBytes));
    fips.monobit = fips.monobit && part.monobit;
    fips.poker = fips.poker && part.poker;
    fips.runs = fips.runs && part.runs;
    fips.long_run = fips.long_run && part.long_run;
  }
  if (rct_failed) verdict.failed.push_back(kRct);
  if (apt_failed) verdict.failed.push_back(kApt);
  if (!fips.monobit) verdict.failed.push_back(kMonobit);
  if (!fips.poker) verdict.failed.push_back(kPoker);
  if (!fips.runs) verdict.failed.push_back(kRuns);
  if (!fips.long_run) verdict.failed.push_back(kLongRun);
  verdict.pass = verdict.failed.empty();
  if (verdict.pass) {
    const double per_byte =
        std::min(McvMinEntropyPerByte(block), options_.max_bits_per_byte);
    verdict.entropy_bits = std::max(0.0, per_byte) * block.size();
  }
  return verdict;
}

}  // namespace hwcast::entropy
