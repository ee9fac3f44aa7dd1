// A BatchSigner whose key can be replaced while the collector runs: a
// SIGHUP reload re-reads signing_key and Swap()s the new signer in; batches
// sealed from then on carry the new key's signature and key id (the relays
// and actuators must trust it). Batches already sealed keep their signature.
//
// Thread-safe: Sign() takes a reference to the current signer under a short
// lock and signs outside it.
#ifndef HWCAST_SERVICES_COLLECTOR_SWAPPABLE_BATCH_SIGNER_H_
#define HWCAST_SERVICES_COLLECTOR_SWAPPABLE_BATCH_SIGNER_H_

#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "services/collector/batch_signer.h"

namespace hwcast::collector {

class SwappableBatchSigner final : public BatchSigner {
 public:
  // `initial` must not be null.
  explicit SwappableBatchSigner(std::unique_ptr<BatchSigner> initial)
      : current_(std::move(initial)) {}

  // Replaces the signer; `next` must not be null.
  void Swap(std::unique_ptr<BatchSigner> next) {
    std::shared_ptr<BatchSigner> replacement(std::move(next));
    absl::MutexLock lock(&mu_);
    current_.swap(replacement);
  }

  absl::Status Sign(std::string_view batch_bytes,
                    hwcast::v1::SignedBatch* signed_batch) override {
    std::shared_ptr<BatchSigner> signer;
    {
      absl::MutexLock lock(&mu_);
      signer = current_;
    }
    return signer->Sign(batch_bytes, signed_batch);
  }

 private:
  absl::Mutex mu_;
  std::shared_ptr<BatchSigner> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SWAPPABLE_BATCH_SIGNER_H_
