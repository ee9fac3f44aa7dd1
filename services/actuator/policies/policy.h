// The seam for decision logic: a Policy is a pure state machine that watches
// readings and the passage of time and says what state it is in (e.g.
// "armed", "triggered") and why.
//
// Policies do no I/O and read no clock: the actuator feeds them every
// reading it accepts (newer than what it knew, after its filter) and a
// periodic tick, both stamped with the actuator's clock. What a policy
// decides is carried out by Actions (actions/action.h), wired by a later
// issue.
//
// Thread-safety: the actuator serializes every call to a policy (one at a
// time, never concurrently), so implementations need no locking of their
// own. Ownership: the actuator owns its policies.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_H_

#include <string_view>

#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::actuator {

class Policy {
 public:
  virtual ~Policy() = default;

  // Stable name shown in status, e.g. "overheat".
  virtual std::string_view name() const = 0;

  // A reading the actuator accepted as the newest of its source.
  virtual void OnReading(const hwcast::v1::Reading& reading,
                         absl::Time now) = 0;

  // Called periodically (about once a second) so that a policy can act on
  // the absence of readings.
  virtual void OnTick(absl::Time now) = 0;

  // Current state and the reason for it. `name` is filled in by the caller
  // if left empty.
  virtual hwcast::v1::PolicyStatus Status() const = 0;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_H_
