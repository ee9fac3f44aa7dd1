#include "services/relay/batch_parser.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "lib/reading_util.h"
#include "lib/reject_reason.h"
#include "lib/status_macros.h"

namespace hwcast::relay {

using google::protobuf::internal::WireFormatLite;

BatchIdentity PeekBatchIdentity(const std::string& bytes) {
  // A collector id longer than this is not worth echoing back.
  constexpr uint32_t kMaxIdBytes = 1024;
  BatchIdentity id;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == hwcast::v1::ReadingBatch::kCollectorIdFieldNumber &&
        type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) break;
      if (length > kMaxIdBytes) {
        if (!in.Skip(static_cast<int>(length))) break;
        continue;
      }
      if (!in.ReadString(&id.collector_id, static_cast<int>(length))) break;
    } else if (field == hwcast::v1::ReadingBatch::kEpochFieldNumber &&
               type == WireFormatLite::WIRETYPE_FIXED64) {
      if (!in.ReadLittleEndian64(&id.epoch)) break;
    } else if (field == hwcast::v1::ReadingBatch::kBatchSequenceFieldNumber &&
               type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&id.batch_sequence)) break;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      break;
    }
  }
  return id;
}

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

}  // namespace hwcast::relay
