// The seam where batch signatures are checked.
//
// Every SignedBatch a relay ingests (gRPC Publish now, multicast later) and
// every batch an actuator receives passes through a BatchVerifier before its
// `batch` bytes are parsed. The signature covers exactly those bytes, so
// verification happens on the bytes as received, never on a re-encoding.
#ifndef HWCAST_LIB_BATCH_VERIFIER_H_
#define HWCAST_LIB_BATCH_VERIFIER_H_

#include "absl/status/status.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast {

// Decides whether a signed batch may be trusted. Implementations must be
// thread-safe: every Publish stream and every relay link calls Verify() from
// its own thread.
class BatchVerifier {
 public:
  virtual ~BatchVerifier() = default;

  // OK if `signed_batch` may be used. Otherwise an error saying why (e.g.
  // PERMISSION_DENIED "unknown key id ..."): a relay then rejects the batch
  // (RESULT_REJECTED with that message), an actuator drops it and counts it
  // as invalid.
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

}  // namespace hwcast

#endif  // HWCAST_LIB_BATCH_VERIFIER_H_
