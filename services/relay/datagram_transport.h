// The seam between the multicast mesh and the network: sends datagrams to
// the group and receives what others send to it. The real one is
// UdpMulticastTransport; tests use an in-memory one.
#ifndef HWCAST_SERVICES_RELAY_DATAGRAM_TRANSPORT_H_
#define HWCAST_SERVICES_RELAY_DATAGRAM_TRANSPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace hwcast::relay {

struct ReceivedDatagram {
  std::string bytes;
  // The sender's address, "10.0.0.1:7433" or "[fe80::1%eth0]:7433" (port
  // included); rate limits key on the address without the port.
  std::string sender;
  // The datagram was longer than the receive buffer; `bytes` holds its
  // beginning only.
  bool truncated = false;
};

// Send() and Receive() may be called concurrently from one sending and one
// receiving thread; Shutdown() from any thread.
class DatagramTransport {
 public:
  virtual ~DatagramTransport() = default;

  // Sends every datagram to the group (one sendmmsg where available). An
  // error (e.g. UNAVAILABLE "sendmmsg to 239.255.70.77:7433: Network is
  // unreachable") reports the first failure; datagrams are fire-and-forget,
  // so a caller only counts and logs it.
  virtual absl::Status Send(absl::Span<const std::string> datagrams) = 0;

  // Waits up to `timeout` for datagrams and replaces `out`'s contents with
  // those received (at most `max` of them; several per call through
  // recvmmsg). OK with `out` empty on timeout. CANCELLED once Shutdown() was
  // called. Datagrams longer than the transport's buffer arrive cut to it,
  // marked `truncated`.
  virtual absl::Status Receive(absl::Duration timeout, size_t max,
                               std::vector<ReceivedDatagram>* out) = 0;

  // Datagrams for this receiver that the system dropped so far because they
  // arrived faster than Receive() took them (cumulative; 0 where unknown).
  // Called from the receiving thread.
  virtual uint64_t dropped() const = 0;

  // Wakes a blocked Receive() (which returns CANCELLED) and makes later
  // calls fail fast. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_DATAGRAM_TRANSPORT_H_
