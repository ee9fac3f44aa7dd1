#include "services/relay/datagram.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/reject_reason.h"

namespace hwcast::relay {
namespace {

constexpr char kMagic[4] = {'H', 'W', 'C', 'M'};
constexpr uint8_t kVersion = 1;
constexpr size_t kMaxPayloadBytes = 0xffff;

absl::Status Malformed(absl::string_view message) {
  return Rejection(absl::StatusCode::kInvalidArgument, RejectReason::kMalformed,
                   absl::StrCat("malformed datagram: ", message));
}

absl::Status TooLarge(size_t size, size_t max_bytes) {
  return Rejection(
      absl::StatusCode::kInvalidArgument, RejectReason::kTooLarge,
      absl::StrCat("datagram is ", size, " bytes, more than the maximum (",
                   max_bytes, ")"));
}

uint8_t Byte(absl::string_view bytes, size_t at) {
  return static_cast<uint8_t>(bytes[at]);
}

}  // namespace

absl::StatusOr<DatagramView> ParseDatagram(absl::string_view bytes,
                                           size_t max_bytes) {
  if (bytes.size() > max_bytes) return TooLarge(bytes.size(), max_bytes);
  if (bytes.size() < kDatagramHeaderBytes) {
    return Malformed(absl::StrCat("only ", bytes.size(),
                                  " bytes, shorter than the ",
                                  kDatagramHeaderBytes, "-byte header"));
  }
  if (bytes.substr(0, 4) != absl::string_view(kMagic, 4)) {
    return Malformed("bad magic (not \"HWCM\")");
  }
  if (Byte(bytes, 4) != kVersion) {
    return Malformed(absl::StrCat("unsupported version ", Byte(bytes, 4),
                                  " (expected ", kVersion, ")"));
  }
  DatagramView view;
  const uint8_t type = Byte(bytes, 5);
  switch (type) {
    case static_cast<uint8_t>(DatagramType::kBatch):
    case static_cast<uint8_t>(DatagramType::kReannounceRequest):
      view.header.type = static_cast<DatagramType>(type);
      break;
    default:
      return Malformed(absl::StrCat("unknown type ", type));
  }
  view.header.hops = Byte(bytes, 6);
  if (const uint8_t flags = Byte(bytes, 7); flags != 0) {
    return Malformed(absl::StrCat("reserved flags set (", flags, ")"));
  }
  uint64_t sender_id = 0;
  for (size_t i = 8; i < 16; ++i) sender_id = (sender_id << 8) | Byte(bytes, i);
  view.header.sender_id = sender_id;
  const size_t length = (static_cast<size_t>(Byte(bytes, 16)) << 8) |
                        static_cast<size_t>(Byte(bytes, 17));
  const size_t actual = bytes.size() - kDatagramHeaderBytes;
  if (length != actual) {
    return Malformed(absl::StrCat("payload length field says ", length,
                                  " bytes but ", actual, " follow"));
  }
  view.payload = bytes.substr(kDatagramHeaderBytes);
  if (view.header.type == DatagramType::kBatch && view.payload.empty()) {
    return Malformed("BATCH datagram without a payload");
  }
  if (view.header.type == DatagramType::kReannounceRequest &&
      !view.payload.empty()) {
    return Malformed(absl::StrCat("REANNOUNCE_REQUEST datagram with a ",
                                  view.payload.size(), "-byte payload"));
  }
  return view;
}

absl::Status EncodeDatagram(const DatagramHeader& header,
                            absl::string_view payload, size_t max_bytes,
                            std::string* out) {
  const size_t size = kDatagramHeaderBytes + payload.size();
  if (size > max_bytes || payload.size() > kMaxPayloadBytes) {
    return TooLarge(
        size, std::min(max_bytes, kDatagramHeaderBytes + kMaxPayloadBytes));
  }
  out->clear();
  out->reserve(size);
  out->append(kMagic, 4);
  out->push_back(static_cast<char>(kVersion));
  out->push_back(static_cast<char>(header.type));
  out->push_back(static_cast<char>(header.hops));
  out->push_back(0);  // flags
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((header.sender_id >> shift) & 0xff));
  }
  out->push_back(static_cast<char>((payload.size() >> 8) & 0xff));
  out->push_back(static_cast<char>(payload.size() & 0xff));
  out->append(payload.data(), payload.size());
  return absl::OkStatus();
}

}  // namespace hwcast::relay
