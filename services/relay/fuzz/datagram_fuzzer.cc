// libFuzzer target: everything a relay does with a datagram from the LAN
// before checking its signature. Input: one datagram's bytes.
//
//   ParseDatagram -> (BATCH) hwcast.v1.SignedBatch -> its `batch` bytes
//   through the relay's PeekBatchIdentity and ParseBatch, and through a plain
//   ReadingBatch parse + hwcast::ValidateBatch.
//
// Besides crashes and sanitizer reports it traps on broken invariants:
// every refusal carries a reject reason, an accepted datagram re-encodes to
// the same bytes, ParseBatch agrees with parse + ValidateBatch, and
// PeekBatchIdentity agrees with the full parse of a batch that parses.
// Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/reading_util.h"
#include "lib/reject_reason.h"
#include "services/relay/batch_parser.h"
#include "services/relay/datagram.h"

namespace {

using hwcast::RejectReason;
using hwcast::relay::DatagramType;

// Stops the run: libFuzzer reports the input as a crash.
#define FUZZ_CHECK(condition)           \
  do {                                  \
    if (!(condition)) __builtin_trap(); \
  } while (0)

void CheckBatchBytes(const std::string& bytes) {
  const hwcast::relay::BatchIdentity id =
      hwcast::relay::PeekBatchIdentity(bytes);
  auto parsed =
      hwcast::relay::ParseBatch(bytes, hwcast::relay::kMaxDatagramBytes);

  hwcast::v1::ReadingBatch batch;
  const bool parses = batch.ParseFromString(bytes);
  const bool valid = parses && hwcast::ValidateBatch(batch).ok();
  const bool fits =
      !bytes.empty() && bytes.size() <= hwcast::relay::kMaxDatagramBytes;
  FUZZ_CHECK(parsed.ok() == (fits && valid));
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  }
  if (parses) {
    // PeekBatchIdentity skips collector ids over 1 KiB.
    if (batch.collector_id().size() <= 1024) {
      FUZZ_CHECK(id.collector_id == batch.collector_id());
    }
    FUZZ_CHECK(id.epoch == batch.epoch());
    FUZZ_CHECK(id.batch_sequence == batch.batch_sequence());
  }
  if (valid) {
    // What subscribers and actuators do with accepted readings.
    for (const hwcast::v1::Reading& reading : batch.readings()) {
      (void)hwcast::KindName(hwcast::KindOf(reading));
      (void)hwcast::SourceKey(reading);
      (void)hwcast::FormatValue(reading);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Protobuf logs every string field with invalid UTF-8; keep the output
  // readable and the run fast.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto view = hwcast::relay::ParseDatagram(bytes);
  if (!view.ok()) {
    const RejectReason reason = hwcast::RejectReasonOf(view.status());
    FUZZ_CHECK(reason == RejectReason::kMalformed ||
               reason == RejectReason::kTooLarge);
    FUZZ_CHECK(view.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  std::string again;
  FUZZ_CHECK(hwcast::relay::EncodeDatagram(view->header, view->payload,
                                           hwcast::relay::kMaxDatagramBytes,
                                           &again)
                 .ok());
  FUZZ_CHECK(again == bytes);
  if (view->header.type != DatagramType::kBatch) return 0;

  hwcast::v1::SignedBatch signed_batch;
  if (!signed_batch.ParseFromArray(view->payload.data(),
                                   static_cast<int>(view->payload.size()))) {
    return 0;
  }
  CheckBatchBytes(signed_batch.batch());
  return 0;
}
