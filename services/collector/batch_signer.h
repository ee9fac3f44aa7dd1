// Seam where batches get signed: Ed25519BatchSigner (ed25519_batch_signer.h)
// signs the serialized ReadingBatch with the collector's key;
// UnsignedBatchSigner (no signing_key configured) leaves the signature empty.
#ifndef HWCAST_SERVICES_COLLECTOR_BATCH_SIGNER_H_
#define HWCAST_SERVICES_COLLECTOR_BATCH_SIGNER_H_

#include <string_view>

#include "absl/status/status.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::collector {

// Signs the serialized bytes of a ReadingBatch. Implementations set
// `signed_batch->signature` and `signed_batch->key_id`; `batch_bytes` are the
// exact bytes already stored in `signed_batch->batch` and must not be
// re-encoded. An error drops the batch (counted as sign_failed).
//
// Implementations must be thread-safe; the Batcher calls Sign() while holding
// its own lock, so it must not block for long. Not owned by the Batcher.
class BatchSigner {
 public:
  virtual ~BatchSigner() = default;
  virtual absl::Status Sign(std::string_view batch_bytes,
                            hwcast::v1::SignedBatch* signed_batch) = 0;
};

// Leaves signature and key_id empty. Stateless, thread-safe.
class UnsignedBatchSigner final : public BatchSigner {
 public:
  absl::Status Sign(std::string_view batch_bytes,
                    hwcast::v1::SignedBatch* signed_batch) override {
    return absl::OkStatus();
  }
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_BATCH_SIGNER_H_
