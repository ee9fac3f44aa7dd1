// Reads a batch's identity from bytes that may not fully parse (so even a
// rejected batch can be acknowledged by name). Turning the `batch` bytes of a
// SignedBatch into a checked ReadingBatch is lib/verified_batch.h.
//
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_RELAY_BATCH_PARSER_H_
#define HWCAST_SERVICES_RELAY_BATCH_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "hwcast/v1/reading.pb.h"
#include "lib/verified_batch.h"

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

// Parsing and validating the whole batch is lib/verified_batch.h.
using ::hwcast::CheckBatchSize;
using ::hwcast::ParseBatch;

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_BATCH_PARSER_H_
