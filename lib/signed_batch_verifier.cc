#include "lib/signed_batch_verifier.h"

#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/log.h"
#include "lib/reject_reason.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

constexpr absl::Duration kMinMaxAge = absl::Seconds(10);

// `what` names the time in the error; it is only called on failure, so the
// per-reading label is never built for a fresh batch.
template <typename What>
absl::Status CheckTime(const What& what, absl::Time t, absl::Time now,
                       const FreshnessOptions& freshness) {
  if (t >= now - freshness.max_age && t <= now + freshness.max_clock_skew) {
    return absl::OkStatus();
  }
  if (t < now - freshness.max_age) {
    return Rejection(
        absl::StatusCode::kFailedPrecondition, RejectReason::kStale,
        absl::StrCat(
            what(), " ", absl::FormatTime(t), " is ",
            absl::FormatDuration(absl::Trunc(now - t, absl::Seconds(1))),
            " old (freshness max_age ", absl::FormatDuration(freshness.max_age),
            "): stale or replayed, or the collector's clock is "
            "behind"));
  }
  if (t > now + freshness.max_clock_skew) {
    return Rejection(
        absl::StatusCode::kFailedPrecondition, RejectReason::kFuture,
        absl::StrCat(
            what(), " ", absl::FormatTime(t), " is ",
            absl::FormatDuration(absl::Trunc(t - now, absl::Seconds(1))),
            " in the future (freshness max_clock_skew ",
            absl::FormatDuration(freshness.max_clock_skew),
            "): the collector's clock is ahead"));
  }
  return absl::OkStatus();
}

}  // namespace

FreshnessOptions FreshnessFromConfig(
    const hwcast::v1::FreshnessConfig& config) {
  FreshnessOptions options;
  if (config.has_max_age()) {
    const absl::Duration d = FromProtoDuration(config.max_age());
    if (d > absl::ZeroDuration()) options.max_age = d;
  }
  if (config.has_max_clock_skew()) {
    const absl::Duration d = FromProtoDuration(config.max_clock_skew());
    if (d > absl::ZeroDuration()) options.max_clock_skew = d;
  }
  return options;
}

absl::Status ValidateFreshnessConfig(const hwcast::v1::FreshnessConfig& config,
                                     const std::string& key) {
  if (config.has_max_age()) {
    const absl::Duration d = FromProtoDuration(config.max_age());
    if (d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ".max_age: must not be negative"));
    }
    if (d != absl::ZeroDuration() && d < kMinMaxAge) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, ".max_age: must be at least ", absl::FormatDuration(kMinMaxAge),
          " (batches take time to travel and are re-announced), got ",
          absl::FormatDuration(d)));
    }
  }
  if (config.has_max_clock_skew() &&
      FromProtoDuration(config.max_clock_skew()) < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ".max_clock_skew: must not be negative"));
  }
  return absl::OkStatus();
}

SignedBatchVerifier::SignedBatchVerifier(std::unique_ptr<TrustStore> trust,
                                         FreshnessOptions freshness,
                                         const Clock* clock)
    : trust_(std::move(trust)), freshness_(freshness), clock_(clock) {}

absl::Status SignedBatchVerifier::Verify(
    const hwcast::v1::SignedBatch& signed_batch,
    const hwcast::v1::ReadingBatch& batch) {
  if (signed_batch.signature().empty() || signed_batch.key_id().empty()) {
    return Rejection(
        absl::StatusCode::kUnauthenticated, RejectReason::kUnsigned,
        absl::StrCat("batch from collector '", batch.collector_id(),
                     "' is not signed (set signing_key in the "
                     "collector's config)"));
  }
  const TrustStore::Entry* entry = trust_->Find(signed_batch.key_id());
  if (entry == nullptr) {
    return Rejection(absl::StatusCode::kUnauthenticated,
                     RejectReason::kUnknownKey,
                     absl::StrCat("unknown key id ",
                                  absl::BytesToHexString(signed_batch.key_id()),
                                  " (not in the trust file) for collector '",
                                  batch.collector_id(), "'"));
  }
  if (!entry->key.Verify(signed_batch.batch(), signed_batch.signature())) {
    return Rejection(absl::StatusCode::kUnauthenticated,
                     RejectReason::kBadSignature,
                     absl::StrCat("signature by key '", entry->name,
                                  "' does not verify over the batch bytes "
                                  "(forged or damaged in transit)"));
  }
  HWCAST_RETURN_IF_ERROR(TrustStore::Authorize(*entry, batch));

  const absl::Time now = clock_->Now();
  if (!batch.has_sent_time()) {
    return Rejection(absl::StatusCode::kInvalidArgument,
                     RejectReason::kMalformed,
                     "batch has no sent_time (needed for the freshness "
                     "check)");
  }
  HWCAST_RETURN_IF_ERROR(CheckTime([] { return std::string("sent_time"); },
                                   FromProtoTime(batch.sent_time()), now,
                                   freshness_));
  for (int i = 0; i < batch.readings_size(); ++i) {
    const hwcast::v1::Reading& reading = batch.readings(i);
    HWCAST_RETURN_IF_ERROR(CheckTime(
        [&] {
          return absl::StrCat("readings[", i, "] (", reading.host(), "/",
                              reading.source_id(), ") observed_time");
        },
        FromProtoTime(reading.observed_time()), now, freshness_));
  }
  return absl::OkStatus();
}

std::string SignedBatchVerifier::KeyName(
    const hwcast::v1::SignedBatch& signed_batch) {
  const TrustStore::Entry* entry = trust_->Find(signed_batch.key_id());
  return entry == nullptr ? "" : entry->name;
}

absl::StatusOr<std::unique_ptr<BatchVerifier>> MakeBatchVerifier(
    const std::string& trust_file, bool insecure_accept_unsigned,
    const hwcast::v1::FreshnessConfig& freshness, const Clock* clock) {
  if (trust_file.empty()) {
    if (!insecure_accept_unsigned) {
      return absl::FailedPreconditionError(
          "trust_file: required (or set insecure_accept_unsigned: true to "
          "accept forged readings)");
    }
    HWCAST_LOG(WARNING)
        << "INSECURE: insecure_accept_unsigned is set and no trust_file is "
           "given: batches are accepted WITHOUT checking signatures, so "
           "anyone who can reach this daemon can forge readings";
    return std::unique_ptr<BatchVerifier>(
        std::make_unique<AcceptAllBatchVerifier>());
  }
  if (clock == nullptr) {
    return absl::InvalidArgumentError("MakeBatchVerifier needs a clock");
  }
  HWCAST_RETURN_IF_ERROR(ValidateFreshnessConfig(freshness));
  absl::StatusOr<std::unique_ptr<TrustStore>> trust =
      TrustStore::Load(trust_file);
  if (!trust.ok()) {
    return absl::Status(trust.status().code(),
                        absl::StrCat("trust_file: ", trust.status().message()));
  }
  if (insecure_accept_unsigned) {
    HWCAST_LOG(WARNING) << "insecure_accept_unsigned is ignored: trust_file "
                        << trust_file << " is set, so every batch must be "
                        << "signed by one of its keys";
  }
  HWCAST_LOG(INFO) << "trusting " << (*trust)->size() << " collector key"
                   << ((*trust)->size() == 1 ? "" : "s") << " from "
                   << trust_file;
  return std::unique_ptr<BatchVerifier>(std::make_unique<SignedBatchVerifier>(
      *std::move(trust), FreshnessFromConfig(freshness), clock));
}

}  // namespace hwcast
