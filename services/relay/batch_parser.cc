#include "services/relay/batch_parser.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

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

}  // namespace hwcast::relay
