// Repeated submessages written without re-encoding them: each element of a
// length-delimited repeated field is its tag and length (two varints)
// followed by the element's already-serialized bytes, so a message that
// groups several serialized messages is a list of grpc::Slices (a prefix,
// then the bytes, shared, not copied). Used for SubscribeResponse.grouped
// (accepted_batch.h) and PublishAck.more_acks (publish_reactor.h).
//
// Header-only, stateless; thread-safe.
#ifndef HWCAST_SERVICES_RELAY_GROUPED_ELEMENT_H_
#define HWCAST_SERVICES_RELAY_GROUPED_ELEMENT_H_

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/slice.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hwcast::relay {

// The tag of length-delimited field `field_number`.
constexpr uint32_t LengthDelimitedTag(int field_number) {
  return (static_cast<uint32_t>(field_number) << 3) |
         google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

// Bytes one element of `length` bytes adds to a message in field `tag`.
inline size_t GroupedElementBytes(uint32_t tag, size_t length) {
  using google::protobuf::io::CodedOutputStream;
  return CodedOutputStream::VarintSize32(tag) +
         CodedOutputStream::VarintSize32(static_cast<uint32_t>(length)) +
         length;
}

// Appends the tag and length of an element of `length` bytes to `slices`
// (the caller appends the element's bytes next).
inline void AppendGroupedElementPrefix(uint32_t tag, size_t length,
                                       std::vector<grpc::Slice>* slices) {
  using google::protobuf::io::CodedOutputStream;
  uint8_t prefix[10];
  uint8_t* end = CodedOutputStream::WriteVarint32ToArray(tag, prefix);
  end = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(length),
                                                end);
  slices->emplace_back(prefix, static_cast<size_t>(end - prefix));
}

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_GROUPED_ELEMENT_H_
