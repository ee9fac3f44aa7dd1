// A "power node": a host on the cooling circuit whose answering proves the
// circuit has power. Each poll probes it with a TCP connect.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_POWER_NODE_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_POWER_NODE_SOURCE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"
#include "services/collector/sources/net_util.h"

namespace hwcast::collector {

struct PowerNodeSourceOptions {
  // The reading's source_id.
  std::string id = "power_node";
  // "HOST:PORT" ("[IPV6]:PORT"); HOST is resolved on every poll.
  std::string target;
  // How long a probe waits for an answer. Keep it below the source's poll
  // timeout (MakeSource uses 80% of it) so that a silent node is reported by
  // this source as unreachable, not by the runner as a hung poll.
  absl::Duration timeout = absl::Seconds(4);
  // Empty: "power node HOST:PORT".
  std::string label;
  // The socket layer; tests inject outcomes. Null: TcpConnect.
  std::function<ConnectResult(const std::string& host, const std::string& port,
                              absl::Duration timeout, bool keep_socket)>
      connect;
};

// Each poll returns exactly one reading with a Reachability value
// (target "tcp:HOST:PORT"):
//   - the handshake completed, or the node refused it with a RST (a closed
//     port still proves the node is up): reachable, round_trip_seconds the
//     time to the SYN-ACK or RST, QUALITY_OK;
//   - no answer within `timeout`, or "host unreachable" (EHOSTUNREACH: the
//     router or ARP found nobody): reachable false, QUALITY_OK. The node not
//     answering IS the measurement, not a sensor fault;
//   - this host could not probe at all: the name did not resolve, this host
//     has no route to the node's network (ENETUNREACH: its own network is
//     down, nothing was learned about the node), or a local error (no
//     sockets): QUALITY_SENSOR_FAULT naming the target, so that a policy sees
//     UNKNOWN rather than a dead node.
// Poll() itself never fails. ICMP echo is not implemented.
//
// Thread-compatible (see Source).
class PowerNodeSource final : public Source {
 public:
  explicit PowerNodeSource(PowerNodeSourceOptions options);

  std::string_view type() const override { return "power_node"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;

 private:
  PowerNodeSourceOptions options_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_POWER_NODE_SOURCE_H_
