// The LAN multicast datagram: a small fixed header and one payload.
//
// Layout (integers big-endian):
//   0  4  magic "HWCM"
//   4  1  version (1)
//   5  1  type: 1 = BATCH (payload: one serialized hwcast.v1.SignedBatch),
//               2 = REANNOUNCE_REQUEST (no payload: "please re-send your
//               latest batches")
//   6  1  hops: relay-to-relay hops the batch took before the sender got it
//   7  1  flags: 0 (reserved; anything else is refused)
//   8  8  sender id: random per relay process, so a relay drops its own
//         datagrams that multicast loopback hands back
//  16  2  payload length; must equal the bytes that follow
//  18  .. payload
// One signed batch per datagram, never split across datagrams: each datagram
// verifies on its own (collectors seal batches small enough to fit). The
// header is not signed; the worst a forger can do with it is waste a
// receiver's rate budget, which the per-sender limits bound.
//
// Thread-safe; no state.
#ifndef HWCAST_SERVICES_RELAY_DATAGRAM_H_
#define HWCAST_SERVICES_RELAY_DATAGRAM_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwcast::relay {

inline constexpr size_t kDatagramHeaderBytes = 18;
// Largest datagram sent or accepted by default (fits a 1500-byte Ethernet
// MTU with IPv6 and UDP headers).
inline constexpr size_t kMaxDatagramBytes = 1400;
inline constexpr size_t kMinDatagramBytes = 512;

enum class DatagramType : uint8_t {
  kBatch = 1,
  kReannounceRequest = 2,
};

struct DatagramHeader {
  DatagramType type = DatagramType::kBatch;
  uint8_t hops = 0;
  uint64_t sender_id = 0;
};

// A parsed datagram; `payload` points into the parsed bytes.
struct DatagramView {
  DatagramHeader header;
  absl::string_view payload;
};

// Parses `bytes` (at most `max_bytes` long). Errors are hwcast::Rejection()s
// with INVALID_ARGUMENT and reason kMalformed (bad magic, version, type,
// flags, length mismatch, a REANNOUNCE_REQUEST with a payload, a BATCH
// without one) or kTooLarge, and say what is wrong. Never reads outside
// `bytes`.
absl::StatusOr<DatagramView> ParseDatagram(
    absl::string_view bytes, size_t max_bytes = kMaxDatagramBytes);

// Writes header + payload into `out` (replacing its contents).
// INVALID_ARGUMENT (reason kTooLarge) if the result would exceed
// `max_bytes`.
absl::Status EncodeDatagram(const DatagramHeader& header,
                            absl::string_view payload, size_t max_bytes,
                            std::string* out);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_DATAGRAM_H_
