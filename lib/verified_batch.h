// Parse + validate + verify a SignedBatch: the one way every receiver (the
// relay's ingest, the actuator, the actuator's entropy chunk checker) turns
// the `batch` bytes of a SignedBatch into a ReadingBatch it may use.
//
// Order: size (empty, larger than `max_bytes`), parse, hwcast::ValidateBatch,
// then the BatchVerifier (signature on the bytes as received; authorization
// and freshness on the parsed batch). Every failure is a hwcast::Rejection()
// carrying its RejectReason (lib/reject_reason.h), so callers count by reason
// without reading messages.
//
// Thread-safe; no state (the verifier must be thread-safe, as BatchVerifier
// requires).
#ifndef HWCAST_LIB_VERIFIED_BATCH_H_
#define HWCAST_LIB_VERIFIED_BATCH_H_

#include <cstddef>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/batch_verifier.h"

namespace hwcast {

// For receivers whose transport already bounds the message size.
inline constexpr size_t kNoBatchSizeLimit = std::numeric_limits<size_t>::max();

// INVALID_ARGUMENT if `bytes` is empty (reason kMalformed) or longer than
// `max_bytes` (kTooLarge).
absl::Status CheckBatchSize(const std::string& bytes, size_t max_bytes);

// Parses and validates (hwcast::ValidateBatch) serialized ReadingBatch bytes
// of at most `max_bytes`. INVALID_ARGUMENT says what is wrong: empty,
// too large, not a ReadingBatch, or the first invalid field (reasons
// kMalformed or kTooLarge).
absl::StatusOr<hwcast::v1::ReadingBatch> ParseBatch(const std::string& bytes,
                                                    size_t max_bytes);

// What ParseAndVerify() found.
struct VerifiedBatch {
  // OK when the batch parsed, validated and verified; otherwise the
  // Rejection saying why.
  absl::Status status;
  // True when the bytes parsed and validated, so `batch` holds them, even
  // when the verifier then refused them (`status` not OK): a receiver may
  // still name the collector that sent a refused batch.
  bool parsed = false;
  hwcast::v1::ReadingBatch batch;

  bool ok() const { return status.ok(); }
  // True when the verifier refused a batch that parsed.
  bool refused_by_verifier() const { return parsed && !status.ok(); }
};

// ParseBatch(signed_batch.batch(), max_bytes), then `verifier` on the result.
// `verifier` must not be null.
VerifiedBatch ParseAndVerify(const hwcast::v1::SignedBatch& signed_batch,
                             size_t max_bytes, BatchVerifier* verifier);

}  // namespace hwcast

#endif  // HWCAST_LIB_VERIFIED_BATCH_H_
