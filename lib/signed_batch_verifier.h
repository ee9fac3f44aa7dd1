// The real BatchVerifier: Ed25519 signatures against a TrustStore, the key's
// authorization, and freshness against an injected clock.
//
// Verify() order (cheapest first, every failure a hwcast::Rejection):
//   1. signature and key_id present                      (kUnsigned)
//   2. key_id in the trust store                         (kUnknownKey)
//   3. Ed25519 signature over the batch bytes            (kBadSignature)
//   4. the key may speak for collector_id/hosts/sources  (kUnauthorized)
//   5. sent_time and every observed_time within
//      [now - max_age, now + max_clock_skew]             (kStale, kFuture)
// Replays inside the freshness window are the dedup windows' job (relay's
// CollectorTracker, actuator's BatchDeduplicator); outside it, step 5 refuses
// them.
//
// Thread-safe. Does not own the clock; owns the trust store.
#ifndef HWCAST_LIB_SIGNED_BATCH_VERIFIER_H_
#define HWCAST_LIB_SIGNED_BATCH_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/batch_verifier.h"
#include "lib/clock.h"
#include "lib/trust_store.h"

namespace hwcast {

struct FreshnessOptions {
  absl::Duration max_age = absl::Minutes(5);
  absl::Duration max_clock_skew = absl::Seconds(30);
};

// FreshnessConfig with its defaults applied (unset or zero durations take
// the defaults above).
FreshnessOptions FreshnessFromConfig(const hwcast::v1::FreshnessConfig& config);

// INVALID_ARGUMENT naming `key` ("freshness.max_age: ...") when a duration is
// negative or max_age is below 10s.
absl::Status ValidateFreshnessConfig(const hwcast::v1::FreshnessConfig& config,
                                     const std::string& key = "freshness");

class SignedBatchVerifier final : public BatchVerifier {
 public:
  SignedBatchVerifier(std::unique_ptr<TrustStore> trust,
                      FreshnessOptions freshness, const Clock* clock);

  absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                      const hwcast::v1::ReadingBatch& batch) override;
  std::string KeyName(const hwcast::v1::SignedBatch& signed_batch) override;

  const FreshnessOptions& freshness() const { return freshness_; }

 private:
  const std::unique_ptr<TrustStore> trust_;
  const FreshnessOptions freshness_;
  const Clock* const clock_;
};

// Builds the verifier a daemon config asks for: SignedBatchVerifier over
// `trust_file` (errors name the file), or, when `insecure_accept_unsigned`
// is set and no trust file is given, AcceptAllBatchVerifier after logging a
// loud warning. Both unset: FAILED_PRECONDITION "trust_file: required (or
// set insecure_accept_unsigned: true to accept forged readings)".
absl::StatusOr<std::unique_ptr<BatchVerifier>> MakeBatchVerifier(
    const std::string& trust_file, bool insecure_accept_unsigned,
    const hwcast::v1::FreshnessConfig& freshness, const Clock* clock);

}  // namespace hwcast

#endif  // HWCAST_LIB_SIGNED_BATCH_VERIFIER_H_
