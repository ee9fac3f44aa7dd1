// A BatchVerifier whose rules can be replaced while batches are being
// verified: a SIGHUP reload re-reads the trust file into a new verifier and
// Swap()s it in, so a newly trusted collector key is accepted (and a removed
// one refused) from the next batch on, without touching any stream.
//
// Thread-safe: Verify() and KeyName() take a reference to the current
// verifier under a short lock and call it outside; a swapped-out verifier
// lives until its last call returns.
#ifndef HWCAST_LIB_SWAPPABLE_BATCH_VERIFIER_H_
#define HWCAST_LIB_SWAPPABLE_BATCH_VERIFIER_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "lib/batch_verifier.h"

namespace hwcast {

class SwappableBatchVerifier final : public BatchVerifier {
 public:
  // `initial` must not be null.
  explicit SwappableBatchVerifier(std::unique_ptr<BatchVerifier> initial)
      : current_(std::move(initial)) {}

  // Replaces the verifier; `next` must not be null.
  void Swap(std::unique_ptr<BatchVerifier> next) {
    std::shared_ptr<BatchVerifier> replacement(std::move(next));
    absl::MutexLock lock(&mu_);
    current_.swap(replacement);
  }

  absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                      const hwcast::v1::ReadingBatch& batch) override {
    return Current()->Verify(signed_batch, batch);
  }

  std::string KeyName(const hwcast::v1::SignedBatch& signed_batch) override {
    return Current()->KeyName(signed_batch);
  }

 private:
  std::shared_ptr<BatchVerifier> Current() {
    absl::MutexLock lock(&mu_);
    return current_;
  }

  absl::Mutex mu_;
  std::shared_ptr<BatchVerifier> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast

#endif  // HWCAST_LIB_SWAPPABLE_BATCH_VERIFIER_H_
