// The seam where signed batches are checked before anything in them is used.
//
// Every SignedBatch a relay ingests (gRPC Publish, LAN multicast, a bridge)
// and every batch an actuator receives passes through a BatchVerifier after
// its `batch` bytes parsed (and validated) into a ReadingBatch. The signature
// covers exactly those bytes, so it is checked on the bytes as received,
// never on a re-encoding; authorization and freshness are checked on the
// parsed batch.
#ifndef HWCAST_LIB_BATCH_VERIFIER_H_
#define HWCAST_LIB_BATCH_VERIFIER_H_

#include <string>

#include "absl/status/status.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast {

// Decides whether a signed batch may be trusted. Implementations must be
// thread-safe: every Publish stream, the multicast receiver and every relay
// link call Verify() from their own threads.
class BatchVerifier {
 public:
  virtual ~BatchVerifier() = default;

  // OK if `signed_batch`, whose `batch` bytes parsed into `batch`, may be
  // used. Otherwise an error built with hwcast::Rejection() (so it carries a
  // RejectReason) saying why, e.g. "unknown key id 3f2a... (not in the trust
  // file)": a relay then rejects the batch, an actuator drops it; both count
  // it by reason.
  virtual absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                              const hwcast::v1::ReadingBatch& batch) = 0;

  // A short name for the key that signed an accepted batch (the trust
  // entry's name), for status and logs; empty when not known.
  virtual std::string KeyName(const hwcast::v1::SignedBatch& signed_batch) {
    return "";
  }
};

// Accepts every batch, signed or not, fresh or not. Only for
// `insecure_accept_unsigned: true` and tests. Thread-safe; stateless.
class AcceptAllBatchVerifier final : public BatchVerifier {
 public:
  absl::Status Verify(const hwcast::v1::SignedBatch&,
                      const hwcast::v1::ReadingBatch&) override {
    return absl::OkStatus();
  }
};

}  // namespace hwcast

#endif  // HWCAST_LIB_BATCH_VERIFIER_H_
