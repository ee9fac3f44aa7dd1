// Continuous health tests for raw hardware RNG output, run by the collector
// before anything is sent and again by the actuator on what it receives:
// - NIST SP 800-90B 4.4.1 repetition count test (RCT) and 4.4.2 adaptive
//   proportion test (APT, window 512) on 8-bit samples, sized for an
//   assessed min-entropy `assessed_bits_per_byte` with alpha = 2^-20;
// - FIPS 140-2 (change notice 2001) monobit, poker, runs and long run tests
//   on 20,000-bit (2500-byte) blocks, with rngtest's (rng-tools5)
//   intervals and bit order (most significant bit of each byte first), so
//   pass/fail counts agree with rngtest on the same data. Each block is
//   tested on its own; rngtest carries the last bit into the next block and
//   may count one spurious run (or poker nibble) at a block start, which can
//   flip a verdict only for a block sitting exactly on an interval edge.
//   rngtest's continuous run test (equal consecutive 32-bit words) is left
//   to the RCT, which is stricter;
// - a conservative min-entropy estimate per block: SP 800-90B 6.3.1 most
//   common value estimate (upper 99% bound of the MCV probability) on bytes,
//   capped at `max_bits_per_byte`.
#ifndef HWCAST_LIB_ENTROPY_HEALTH_TESTS_H_
#define HWCAST_LIB_ENTROPY_HEALTH_TESTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace hwcast::entropy {

// 20,000 bits.
inline constexpr size_t kFipsBlockBytes = 2500;

// Test names as used in verdicts, metrics labels and status maps.
inline constexpr char kRct[] = "rct";
inline constexpr char kApt[] = "apt";
inline constexpr char kMonobit[] = "monobit";
inline constexpr char kPoker[] = "poker";
inline constexpr char kRuns[] = "runs";
inline constexpr char kLongRun[] = "long_run";

struct FipsResult {
  bool monobit = true;
  bool poker = true;
  bool runs = true;
  bool long_run = true;
  bool pass() const { return monobit && poker && runs && long_run; }
};

// The four FIPS 140-2 tests on one 2500-byte block. `block` must be exactly
// kFipsBlockBytes long.
FipsResult RunFips140_2(absl::Span<const uint8_t> block);

// SP 800-90B most-common-value min-entropy estimate, bits per byte (0..8).
double McvMinEntropyPerByte(absl::Span<const uint8_t> data);

struct HealthOptions {
  // 0 < h <= 8.
  double assessed_bits_per_byte = 1.0;
  // Cap of the estimate (0 < cap <= 8).
  double max_bits_per_byte = 8.0;
};

struct BlockVerdict {
  bool pass = false;
  // Names of the tests that failed (kRct, ..., kLongRun), in that order.
  std::vector<std::string> failed;
  // Estimated min-entropy of the whole block in bits (0 when it failed).
  double entropy_bits = 0;
};

// Runs all the tests over consecutive blocks. RCT and APT are continuous:
// their state carries from one block to the next (a repetition spanning two
// blocks counts), as SP 800-90B requires. Thread-compatible.
class HealthTester {
 public:
  explicit HealthTester(HealthOptions options);

  // RCT cutoff C = 1 + ceil(20 / h) and APT cutoff for window 512 (the
  // binomial critical value at alpha = 2^-20 for p = 2^-h).
  int rct_cutoff() const { return rct_cutoff_; }
  int apt_cutoff() const { return apt_cutoff_; }

  // Tests one block whose length is a positive multiple of
  // kFipsBlockBytes (FIPS runs on each 2500-byte part; the block fails when
  // any part fails).
  BlockVerdict Test(absl::Span<const uint8_t> block);

  // Forgets the continuous state (after the source was re-opened).
  void Reset();

 private:
  HealthOptions options_;
  int rct_cutoff_ = 0;
  int apt_cutoff_ = 0;
  // RCT state.
  int last_byte_ = -1;
  int run_length_ = 0;
  // APT state.
  int apt_reference_ = -1;
  int apt_seen_ = 0;
  int apt_matches_ = 0;
};

}  // namespace hwcast::entropy

#endif  // HWCAST_LIB_ENTROPY_HEALTH_TESTS_H_
