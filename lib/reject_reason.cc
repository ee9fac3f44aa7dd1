#include "lib/reject_reason.h"

#include <string>

#include "absl/strings/cord.h"

namespace hwcast {
namespace {

constexpr char kPayloadUrl[] = "type.hwcast.dev/hwcast.RejectReason";

}  // namespace

absl::string_view RejectReasonLabel(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kTooLarge:
      return "too_large";
    case RejectReason::kUnsigned:
      return "unsigned";
    case RejectReason::kUnknownKey:
      return "unknown_key";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kUnauthorized:
      return "unauthorized";
    case RejectReason::kStale:
      return "stale";
    case RejectReason::kFuture:
      return "future";
    case RejectReason::kReplay:
      return "replay";
    case RejectReason::kRateLimited:
      return "rate_limited";
    case RejectReason::kMixedEntropy:
      return "mixed_entropy";
    case RejectReason::kEntropyNotAllowed:
      return "entropy_not_allowed";
    case RejectReason::kOverBudget:
      return "over_budget";
    case RejectReason::kUnspecified:
      break;
  }
  return "unspecified";
}

absl::Status Rejection(absl::StatusCode code, RejectReason reason,
                       absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kPayloadUrl,
                    absl::Cord(std::string(1, static_cast<char>(reason))));
  return status;
}

RejectReason RejectReasonOf(const absl::Status& status) {
  if (status.ok()) return RejectReason::kUnspecified;
  absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value() || payload->size() != 1) {
    return RejectReason::kUnspecified;
  }
  const int value = static_cast<unsigned char>(payload->Flatten()[0]);
  if (value > static_cast<int>(kLastRejectReason)) {
    return RejectReason::kUnspecified;
  }
  return static_cast<RejectReason>(value);
}

}  // namespace hwcast
