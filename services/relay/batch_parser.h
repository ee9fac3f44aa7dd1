// Turns the `batch` bytes of a SignedBatch into a checked ReadingBatch, and
// reads a batch's identity from bytes that may not fully parse (so even a
// rejected batch can be acknowledged by name).
//
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_RELAY_BATCH_PARSER_H_
#define HWCAST_SERVICES_RELAY_BATCH_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::relay {

// (collector_id, epoch, batch_sequence) of a batch; fields stay empty/0 when
// they could not be read.
struct BatchIdentity {
  std::string collector_id;
  uint64_t epoch = 0;
  uint64_t batch_sequence = 0;
};

// Scans serialized ReadingBatch bytes for fields 1..3 only, stopping at the
// first malformed field. Never fails; reads at most `bytes`.
BatchIdentity PeekBatchIdentity(const std::string& bytes);

// INVALID_ARGUMENT if `bytes` is empty (reason kMalformed) or longer than
// `max_bytes` (kTooLarge); see lib/reject_reason.h.
absl::Status CheckBatchSize(const std::string& bytes, size_t max_bytes);

// Parses and validates (hwcast::ValidateBatch) serialized ReadingBatch bytes
// of at most `max_bytes`. INVALID_ARGUMENT says what is wrong: empty,
// too large, not a ReadingBatch, or the first invalid field (reasons
// kMalformed or kTooLarge).
absl::StatusOr<hwcast::v1::ReadingBatch> ParseBatch(const std::string& bytes,
                                                    size_t max_bytes);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_BATCH_PARSER_H_
