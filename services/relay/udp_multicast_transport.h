// DatagramTransport over a real UDP multicast socket, IPv4 or IPv6.
//
// One socket, bound to the group's port with SO_REUSEADDR (several relays of
// one host can share the port when `loopback` is on), joined to the group on
// the configured interface (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP), sending to
// the group with IP_MULTICAST_IF / IPV6_MULTICAST_IF, TTL / hop limit and
// loopback as configured. Batches of datagrams go out with sendmmsg and come
// in with recvmmsg; SO_RXQ_OVFL reports the datagrams the kernel dropped
// because the receive queue was full (dropped()). Receive waits with poll() on
// the socket and an eventfd that Shutdown() signals.
//
// Thread-safety: as DatagramTransport. Owns its file descriptors.
#ifndef HWCAST_SERVICES_RELAY_UDP_MULTICAST_TRANSPORT_H_
#define HWCAST_SERVICES_RELAY_UDP_MULTICAST_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/clock.h"
#include "services/relay/datagram_transport.h"

namespace hwcast::relay {

struct UdpMulticastOptions {
  // "239.255.70.77" or "ff15::7077"; must be a multicast address.
  std::string group;
  uint16_t port = 7433;
  // Interface name ("eth0", "lo") or, for IPv4, a local address; empty: the
  // system's choice.
  std::string interface;
  int ttl = 1;
  bool loopback = false;
  // Receive buffer per datagram; longer datagrams are truncated.
  size_t max_datagram_bytes = 1400;
  // The socket's receive buffer asked for (SO_RCVBUFFORCE, falling back to
  // SO_RCVBUF, which net.core.rmem_max caps); 0: 16 MiB.
  size_t receive_buffer_bytes = 0;
  // Measures Receive()'s timeout (Steady()). Required; not owned, outlives
  // the transport.
  const Clock* clock = nullptr;
};

class UdpMulticastTransport final : public DatagramTransport {
 public:
  // Opens, binds and joins. Errors name the group, port or interface and the
  // system call that failed ("join 239.255.70.77 on eth9: No such device").
  static absl::StatusOr<std::unique_ptr<UdpMulticastTransport>> Open(
      const UdpMulticastOptions& options);
  ~UdpMulticastTransport() override;

  absl::Status Send(absl::Span<const std::string> datagrams) override;
  absl::Status Receive(absl::Duration timeout, size_t max,
                       std::vector<ReceivedDatagram>* out) override;
  // From SO_RXQ_OVFL (the socket's drop count, reported with each datagram).
  uint64_t dropped() const override;
  void Shutdown() override;

  // "239.255.70.77:7433" or "[ff15::7077]:7433".
  const std::string& group_text() const;

 private:
  struct Impl;
  explicit UdpMulticastTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// INVALID_ARGUMENT naming `key` unless `group` is an IPv4 or IPv6 multicast
// address.
absl::Status CheckMulticastGroup(const std::string& key,
                                 const std::string& group);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_UDP_MULTICAST_TRANSPORT_H_
