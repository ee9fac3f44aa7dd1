// Drives a PolicyEngine through recorded readings the way the actuator does
// live: a tick every `tick_interval` of trace time (on a grid from `start`),
// and at every event (a reading, a change of links) the event at its time
// followed by a tick at that time. So grace periods, persist and staleness
// expire in the gaps between readings, exact to a tick. Used by `hwcastctl
// replay` and the policy trace tests, so both run the daemon's decisions.
//
// Times must not go backwards: an event earlier than the last one is taken
// at the last one's time.
//
// Thread-compatible. The engine is not owned and must outlive the replayer.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_TRACE_REPLAYER_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_TRACE_REPLAYER_H_

#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "services/actuator/policies/policy.h"
#include "services/actuator/policies/policy_engine.h"

namespace hwcast::actuator {

class TraceReplayer {
 public:
  // `tick_interval` > 0. Nothing happens at `start` until an event or
  // AdvanceTo().
  TraceReplayer(PolicyEngine* engine, absl::Time start,
                absl::Duration tick_interval = absl::Seconds(1));

  // Ticks through (now, time), then feeds `reading` and a tick at `time`.
  void Reading(const hwcast::v1::Reading& reading, absl::Time time);
  // Ticks through (now, time), then ticks at `time` with `links` (which
  // hold from then on; initially LinkContext{}).
  void SetLinks(const LinkContext& links, absl::Time time);
  // Ticks through (now, time] (and at `time` itself).
  void AdvanceTo(absl::Time time);

  // Every transition so far, in order.
  const std::vector<Transition>& transitions() const { return transitions_; }
  // The time of the last tick or event.
  absl::Time now() const { return now_; }
  const LinkContext& links() const { return links_; }

 private:
  // Ticks at the grid points strictly between now_ and `time`; returns
  // max(time, now_).
  absl::Time TickBefore(absl::Time time);
  void Tick(absl::Time time);
  void Record(std::vector<Transition> transitions);

  PolicyEngine* const engine_;
  const absl::Time start_;
  const absl::Duration tick_interval_;
  absl::Time now_;
  bool started_ = false;
  LinkContext links_;
  std::vector<Transition> transitions_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_TRACE_REPLAYER_H_
