// Why a batch or datagram was refused, as a small closed set of reasons that
// label the rejection counters (hwcast_relay_rejected_total{reason},
// hwcast_actuator_batches_invalid_total{reason}) and travel inside an
// absl::Status as a payload, so every layer can count what a lower one
// decided without parsing messages.
//
// Thread-safe; no state.
#ifndef HWCAST_LIB_REJECT_REASON_H_
#define HWCAST_LIB_REJECT_REASON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hwcast {

enum class RejectReason {
  kUnspecified = 0,
  // Not a well-formed datagram / batch (bad magic, truncated, not a
  // ReadingBatch, invalid field).
  kMalformed,
  // Larger than allowed.
  kTooLarge,
  // No signature (and unsigned batches are not accepted).
  kUnsigned,
  // Key id not in the trust file.
  kUnknownKey,
  // The signature does not verify over the batch bytes.
  kBadSignature,
  // The key may not speak for this collector id, host or source.
  kUnauthorized,
  // sent_time / observed_time older than the freshness max_age.
  kStale,
  // sent_time / observed_time further in the future than max_clock_skew.
  kFuture,
  // A batch already received (same collector, epoch, sequence).
  kReplay,
  // The sender exceeded its datagram rate.
  kRateLimited,
  // A batch mixing entropy chunks with other readings (entropy travels
  // alone, one chunk per batch, so it can be kept out of every other path).
  kMixedEntropy,
  // Entropy arriving other than on a collector's Publish stream (LAN
  // multicast or a bridge): entropy never crosses those paths.
  kEntropyNotAllowed,
  // The receiver's global budget of signature checks was spent (on the
  // datagrams of senders not yet verified; see services/relay/ingress_gate.h).
  kOverBudget,
};

// The largest RejectReason value (for tables indexed by reason).
inline constexpr RejectReason kLastRejectReason = RejectReason::kOverBudget;

// Lower-case label for metrics: "malformed", "too_large", "unsigned",
// "unknown_key", "bad_signature", "unauthorized", "stale", "future",
// "replay", "rate_limited", "mixed_entropy", "entropy_not_allowed",
// "over_budget", "unspecified".
absl::string_view RejectReasonLabel(RejectReason reason);

// A status with `code` and `message` carrying `reason` as its payload.
absl::Status Rejection(absl::StatusCode code, RejectReason reason,
                       absl::string_view message);

// The reason carried by `status` (kUnspecified when none, or when OK).
RejectReason RejectReasonOf(const absl::Status& status);

// Every reason but kUnspecified, for pre-creating metric series.
inline constexpr RejectReason kAllRejectReasons[] = {
    RejectReason::kMalformed,    RejectReason::kTooLarge,
    RejectReason::kUnsigned,     RejectReason::kUnknownKey,
    RejectReason::kBadSignature, RejectReason::kUnauthorized,
    RejectReason::kStale,        RejectReason::kFuture,
    RejectReason::kReplay,       RejectReason::kRateLimited,
    RejectReason::kMixedEntropy, RejectReason::kEntropyNotAllowed,
    RejectReason::kOverBudget,
};

}  // namespace hwcast

#endif  // HWCAST_LIB_REJECT_REASON_H_
