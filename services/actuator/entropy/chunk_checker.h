// Decides whether one entropy chunk drawn from a relay may be used, and how
// much it may be credited.
//
// Each Entropy.Draw response carries one SignedBatch as its collector
// signed it. Check() accepts it only when, in this order:
//   1. its bytes parse into a valid ReadingBatch          ("malformed")
//   2. the actuator's BatchVerifier accepts it: signature, key authorization
//      and freshness (reasons as RejectReasonLabel: "unsigned",
//      "unknown_key", "bad_signature", "unauthorized", "stale", "future")
//   3. it holds exactly one reading, an EntropyChunk      ("not_entropy")
//      with verdict PASS                                  ("verdict_fail")
//      and non-empty data whose length is a multiple of 2500 ("bad_length")
//   4. its id (collector_id, epoch, batch_sequence) was not seen before
//      ("duplicate"; the last `max_remembered` ids are kept, and an older
//      one is refused by the verifier's freshness check anyway)
//   5. the health tests pass again here ("health", with the failed tests'
//      names): one HealthTester per source (host/source_id), so the
//      continuous RCT/APT state carries across that source's chunks.
// The credit of an accepted chunk is
//   floor(min(credit_fraction * estimate, 8 * bytes))
// where `estimate` is the chunk's own entropy_bits, but never more than the
// estimate re-computed here (a lying key cannot raise it). With the default
// credit_fraction 0 nothing is credited.
//
// Thread-safe (one mutex; Check calls are serialized).
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_CHUNK_CHECKER_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_CHUNK_CHECKER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/batch_verifier.h"
#include "lib/entropy/health_tests.h"

namespace hwcast::actuator::entropy {

struct ChunkCheckerOptions {
  // 0..1.
  double credit_fraction = 0;
  // How the re-test is sized (the actuator does not know the source's
  // assessment: the default is the lenient 1 bit per byte).
  hwcast::entropy::HealthOptions health;
  // Chunk ids remembered for the duplicate check.
  size_t max_remembered = 1 << 16;
  // Sources with a HealthTester; beyond that the least recently used is
  // forgotten (and restarts its continuous tests).
  size_t max_sources = 256;
};

struct CheckedChunk {
  // The raw chunk bytes (not yet mixed).
  std::string data;
  uint32_t credit_bits = 0;
  // "host/source_id" of the reading.
  std::string source;
  // "collector_id/epoch/batch_sequence", for logs.
  std::string id;
};

struct ChunkVerdict {
  bool accepted = false;
  // Entropy bytes the chunk carried (0 when it was refused before its
  // entropy reading was found).
  size_t data_bytes = 0;
  // When refused: one of the reasons above.
  std::string reason;
  // When refused for "health": the failed tests (kRct, ..., kLongRun).
  std::vector<std::string> failed_tests;
  // When refused: what was wrong, for logs and status.
  std::string error;
  // When accepted.
  CheckedChunk chunk;
};

// floor(min(credit_fraction * estimate_bits, 8 * bytes)); 0 for a
// negative, NaN or infinite product.
uint32_t ChunkCredit(double credit_fraction, double estimate_bits,
                     size_t bytes);

class ChunkChecker {
 public:
  // `verifier` is not owned and must outlive the checker.
  ChunkChecker(ChunkCheckerOptions options, BatchVerifier* verifier);

  ChunkVerdict Check(const hwcast::v1::SignedBatch& signed_batch);

 private:
  using ChunkId = std::tuple<std::string, uint64_t, uint64_t>;
  struct Tester {
    std::unique_ptr<hwcast::entropy::HealthTester> tester;
    uint64_t last_use = 0;
  };

  // Steps 3 (after the reading kind) to 5.
  ChunkVerdict CheckChunk(const hwcast::v1::ReadingBatch& batch,
                          const std::string& id, const std::string& source);
  hwcast::entropy::HealthTester& TesterFor(const std::string& source)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ChunkCheckerOptions options_;
  BatchVerifier* const verifier_;

  absl::Mutex mu_;
  absl::flat_hash_set<ChunkId> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<ChunkId> seen_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Tester> testers_ ABSL_GUARDED_BY(mu_);
  uint64_t use_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_CHUNK_CHECKER_H_
