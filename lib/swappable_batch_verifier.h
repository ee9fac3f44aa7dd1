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
#include <vector>

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

// The config keys a reload applies by swapping the verifier (relay and
// actuator configs both have them).
inline const std::vector<std::string>& TrustConfigKeys() {
  static const auto* keys = new std::vector<std::string>{
      "trust_file", "insecure_accept_unsigned", "freshness"};
  return *keys;
}

// Copies the TrustConfigKeys() of `from` into `to` (a RelayConfig or an
// ActuatorConfig), the running config after a reload swapped the verifier.
template <typename Config>
void CopyTrustConfig(const Config& from, Config* to) {
  to->set_trust_file(from.trust_file());
  to->set_insecure_accept_unsigned(from.insecure_accept_unsigned());
  *to->mutable_freshness() = from.freshness();
}

}  // namespace hwcast

#endif  // HWCAST_LIB_SWAPPABLE_BATCH_VERIFIER_H_
