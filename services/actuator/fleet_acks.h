// What this host heard from the hosts expected to follow its fleet shutdown
// (ActuatorConfig.fleet_followers).
//
// A follower acknowledges by announcing its own countdown's steps as
// FleetEvents (countdown started = SHUTDOWN_ANNOUNCED, cancelled, command
// run, command failed) that name the hosts it follows in `following`; they
// are signed with its own key and travel the same paths as any fleet
// announcement (gRPC to every relay, multicast between relays). The
// actuator hands every verified fleet reading to OnEvent() and every batch
// that failed verification to OnRefused(); Status() then tells per follower:
//   acked      its latest event following this host arrived at or after
//              this host's latest announcement (OnAnnounced);
//   refused    not acked, but a batch claiming to be its actuator
//              ("<host>-actuator") failed verification since;
//   not heard  neither.
// Ages are measured on this host's clock from arrival, so the followers'
// clocks do not matter.
//
// Metrics (on the registry given; it must outlive the tracker):
//   hwcast_fleet_acks_total{host,ack}        valid acks, by kind
//   hwcast_fleet_acks_refused_total{host}    batches claiming a follower's
//                                            actuator that failed
//                                            verification
//   hwcast_fleet_peer_acked{host}            1 while the host counts as
//                                            acked (refreshed by Status())
//
// Thread-safe.
#ifndef HWCAST_SERVICES_ACTUATOR_FLEET_ACKS_H_
#define HWCAST_SERVICES_ACTUATOR_FLEET_ACKS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace hwcast::actuator {

// "countdown started", "cancelled", "command run", "command failed" ("" for
// TYPE_UNSPECIFIED).
std::string FleetAckName(hwcast::v1::FleetEvent::Type type);

class FleetAckTracker {
 public:
  // `self`: this host; `followers`: the hosts expected to ack, in the order
  // Status() lists them.
  FleetAckTracker(std::string self, std::vector<std::string> followers,
                  prometheus::Registry& registry);

  // This host announced (or re-announced) its shutdown at `time`: only acks
  // arriving from then on count.
  void OnAnnounced(absl::Time time);

  // A verified fleet reading that arrived at `now`. Counts it when it comes
  // from a follower and follows this host; returns whether it did.
  bool OnEvent(const hwcast::v1::Reading& reading, absl::Time now);

  // A batch with collector id `collector_id` failed verification
  // (`reason`) at `now`. Counts it when the id is a follower's actuator's
  // ("<host>-actuator"); returns whether it did.
  bool OnRefused(std::string_view collector_id, std::string_view reason,
                 absl::Time now);

  std::vector<hwcast::v1::FleetPeerStatus> Status(absl::Time now) const;

 private:
  struct Peer {
    std::string host;
    bool acked = false;
    hwcast::v1::FleetEvent::Type ack = hwcast::v1::FleetEvent::TYPE_UNSPECIFIED;
    bool ack_dry_run = false;
    absl::Time ack_time = absl::InfinitePast();
    uint64_t acks = 0;
    uint64_t refused = 0;
    std::string refused_reason;
    absl::Time refused_time = absl::InfinitePast();
    prometheus::Gauge* acked_gauge = nullptr;
    prometheus::Counter* refused_counter = nullptr;
  };

  Peer* Find(std::string_view host) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string self_;
  prometheus::Family<prometheus::Counter>& acks_total_;

  mutable absl::Mutex mu_;
  std::vector<Peer> peers_ ABSL_GUARDED_BY(mu_);
  absl::Time announced_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_FLEET_ACKS_H_
