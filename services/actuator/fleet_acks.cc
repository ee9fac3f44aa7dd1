#include "services/actuator/fleet_acks.h"

#include <algorithm>
#include <utility>

#include "lib/fleet_announcer.h"

namespace hwcast::actuator {

using hwcast::v1::FleetEvent;

std::string FleetAckName(FleetEvent::Type type) {
  switch (type) {
    case FleetEvent::TYPE_SHUTDOWN_ANNOUNCED:
      return "countdown started";
    case FleetEvent::TYPE_SHUTDOWN_CANCELLED:
      return "cancelled";
    case FleetEvent::TYPE_COMMAND_RUN:
      return "command run";
    case FleetEvent::TYPE_COMMAND_FAILED:
      return "command failed";
    default:
      return "";
  }
}

FleetAckTracker::FleetAckTracker(std::string self,
                                 std::vector<std::string> followers,
                                 prometheus::Registry& registry)
    : self_(std::move(self)),
      acks_total_(prometheus::BuildCounter()
                      .Name("hwcast_fleet_acks_total")
                      .Help("Valid fleet shutdown acknowledgements from "
                            "followers, by kind")
                      .Register(registry)) {
  auto& acked = prometheus::BuildGauge()
                    .Name("hwcast_fleet_peer_acked")
                    .Help(
                        "1 while the follower acked this host's latest "
                        "fleet shutdown announcement")
                    .Register(registry);
  auto& refused = prometheus::BuildCounter()
                      .Name("hwcast_fleet_acks_refused_total")
                      .Help(
                          "Batches claiming to be a follower's actuator "
                          "that failed verification")
                      .Register(registry);
  for (std::string& host : followers) {
    Peer peer;
    peer.acked_gauge = &acked.Add({{"host", host}});
    peer.refused_counter = &refused.Add({{"host", host}});
    peer.host = std::move(host);
    peers_.push_back(std::move(peer));
  }
}

FleetAckTracker::Peer* FleetAckTracker::Find(std::string_view host) {
  for (Peer& peer : peers_) {
    if (peer.host == host) return &peer;
  }
  return nullptr;
}

void FleetAckTracker::OnAnnounced(absl::Time time) {
  absl::MutexLock lock(&mu_);
  announced_ = time;
}

bool FleetAckTracker::OnEvent(const hwcast::v1::Reading& reading,
                              absl::Time now) {
  if (!reading.has_fleet()) return false;
  const FleetEvent& event = reading.fleet();
  if (FleetAckName(event.type()).empty()) return false;
  if (std::find(event.following().begin(), event.following().end(), self_) ==
      event.following().end()) {
    return false;
  }
  absl::MutexLock lock(&mu_);
  Peer* peer = Find(reading.host());
  if (peer == nullptr) return false;
  peer->acked = true;
  peer->ack = event.type();
  peer->ack_dry_run = event.dry_run();
  peer->ack_time = now;
  ++peer->acks;
  acks_total_.Add({{"host", peer->host}, {"ack", FleetAckName(event.type())}})
      .Increment();
  return true;
}

bool FleetAckTracker::OnRefused(std::string_view collector_id,
                                std::string_view reason, absl::Time now) {
  absl::MutexLock lock(&mu_);
  for (Peer& peer : peers_) {
    if (FleetCollectorId(peer.host) != collector_id) continue;
    ++peer.refused;
    peer.refused_reason = std::string(reason);
    peer.refused_time = now;
    peer.refused_counter->Increment();
    return true;
  }
  return false;
}

std::vector<hwcast::v1::FleetPeerStatus> FleetAckTracker::Status(
    absl::Time now) const {
  absl::MutexLock lock(&mu_);
  std::vector<hwcast::v1::FleetPeerStatus> out;
  for (const Peer& peer : peers_) {
    hwcast::v1::FleetPeerStatus status;
    status.set_host(peer.host);
    const bool acked = peer.acked && peer.ack_time >= announced_;
    const bool refused = peer.refused > 0 && peer.refused_time >= announced_;
    status.set_state(acked ? "acked" : refused ? "refused" : "not heard");
    peer.acked_gauge->Set(acked ? 1 : 0);
    if (peer.acked) {
      status.set_ack(FleetAckName(peer.ack));
      status.set_ack_dry_run(peer.ack_dry_run);
      status.set_ack_age_seconds(absl::ToDoubleSeconds(now - peer.ack_time));
    }
    status.set_acks(peer.acks);
    status.set_refused(peer.refused);
    if (peer.refused > 0) {
      status.set_refused_reason(peer.refused_reason);
      status.set_refused_age_seconds(
          absl::ToDoubleSeconds(now - peer.refused_time));
    }
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace hwcast::actuator
