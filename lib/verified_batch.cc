#include "lib/verified_batch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/reading_util.h"
#include "lib/reject_reason.h"
#include "lib/status_macros.h"

namespace hwcast {

absl::Status CheckBatchSize(const std::string& bytes, size_t max_bytes) {
  if (bytes.empty()) {
    return Rejection(absl::StatusCode::kInvalidArgument,
                     RejectReason::kMalformed, "SignedBatch.batch is empty");
  }
  if (bytes.size() > max_bytes) {
    return Rejection(
        absl::StatusCode::kInvalidArgument, RejectReason::kTooLarge,
        absl::StrCat("batch is ", bytes.size(),
                     " bytes, more than max_batch_bytes (", max_bytes, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<hwcast::v1::ReadingBatch> ParseBatch(const std::string& bytes,
                                                    size_t max_bytes) {
  HWCAST_RETURN_IF_ERROR(CheckBatchSize(bytes, max_bytes));
  hwcast::v1::ReadingBatch batch;
  if (!batch.ParseFromString(bytes)) {
    return Rejection(
        absl::StatusCode::kInvalidArgument, RejectReason::kMalformed,
        absl::StrCat("SignedBatch.batch (", bytes.size(),
                     " bytes) is not a serialized hwcast.v1.ReadingBatch"));
  }
  if (absl::Status s = ValidateBatch(batch); !s.ok()) {
    return Rejection(s.code(), RejectReason::kMalformed, s.message());
  }
  return batch;
}

VerifiedBatch ParseAndVerify(const hwcast::v1::SignedBatch& signed_batch,
                             size_t max_bytes, BatchVerifier* verifier) {
  VerifiedBatch out;
  absl::StatusOr<hwcast::v1::ReadingBatch> parsed =
      ParseBatch(signed_batch.batch(), max_bytes);
  if (!parsed.ok()) {
    out.status = parsed.status();
    return out;
  }
  out.parsed = true;
  out.batch = *std::move(parsed);
  out.status = verifier->Verify(signed_batch, out.batch);
  return out;
}

}  // namespace hwcast
