// The seam where batch signatures will be checked.
//
// Every SignedBatch the relay ingests, whatever its origin (gRPC Publish now,
// multicast later), passes through a BatchVerifier before its `batch` bytes
// are parsed. The signature covers exactly those bytes, so verification
// happens on the bytes as received, never on a re-encoding.
#ifndef HWCAST_SERVICES_RELAY_BATCH_VERIFIER_H_
#define HWCAST_SERVICES_RELAY_BATCH_VERIFIER_H_

#include "absl/status/status.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::relay {

// Decides whether a signed batch may be trusted. Implementations must be
// thread-safe: every Publish stream calls Verify() from its own thread.
class BatchVerifier {
 public:
  virtual ~BatchVerifier() = default;

  // OK if `signed_batch` may be accepted. Otherwise an error saying why
  // (e.g. PERMISSION_DENIED "unknown key id ..."); the batch is then
  // rejected (RESULT_REJECTED with that message).
  virtual absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch) = 0;
};

// Accepts every batch, signed or not. Used until signature checking lands.
// Thread-safe; stateless.
class AcceptAllBatchVerifier final : public BatchVerifier {
 public:
  absl::Status Verify(const hwcast::v1::SignedBatch&) override {
    return absl::OkStatus();
  }
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_BATCH_VERIFIER_H_
