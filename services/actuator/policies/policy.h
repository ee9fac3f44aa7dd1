// The seam for decision logic: a Policy is a pure state machine that watches
// readings, the actuator's view of its links, and the passage of time, and
// says what state it is in and why.
//
// Policies do no I/O and read no clock: the actuator (or `hwcastctl
// replay`, through PolicyEngine) feeds them every reading it accepts (newer
// than what it knew, after its filter) and a periodic tick, both stamped
// with the actuator's clock. What a policy decides is carried out by the
// actuator's actions (actions/), never by the policy.
//
// Thread-safety: callers serialize every call to a policy (one at a time,
// never concurrently), so implementations need no locking of their own.
// Ownership: the PolicyEngine owns its policies.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::actuator {

// The long-term failure detector's states.
enum class PolicyState {
  // The condition does not hold.
  kNormal,
  // The condition holds; the grace period runs.
  kPreFail,
  // The condition held through the grace period: shut down. The actuator
  // starts its countdown; the policy goes back to NORMAL when the condition
  // clears (not when it becomes unknown), and an operator's cancel resets
  // it (ClearShutdown). Whether the shutdown command already ran is the
  // actuator's business (it runs at most once per process).
  kShutdown,
  // The policy can not tell (inputs stale or faulty, relays lost, this
  // host's network down). What it means is the policy's `on_unknown`.
  kUnknown,
};

// "NORMAL", "PRE_FAIL", "SHUTDOWN", "UNKNOWN".
const char* PolicyStateName(PolicyState state);

// What the actuator knows about its own ability to hear readings, given to
// policies with every tick so that UNKNOWN can say why.
struct LinkContext {
  // Relay subscriptions configured and currently connected.
  int relays_total = 0;
  int relays_connected = 0;
  // False when this host has no working network interface besides loopback
  // (its own network is down: silence then says nothing about the room).
  bool network_up = true;
};

class Policy {
 public:
  virtual ~Policy() = default;

  // Stable name shown in status, e.g. "room-too-hot".
  virtual std::string_view name() const = 0;

  // A reading the actuator accepted as the newest of its source.
  virtual void OnReading(const hwcast::v1::Reading& reading,
                         absl::Time now) = 0;

  // Called periodically (about once a second, and at the end of every
  // reading in a replay) so that a policy can act on time passing and on
  // the absence of readings.
  virtual void OnTick(absl::Time now, const LinkContext& links) = 0;

  virtual PolicyState state() const = 0;

  // An operator cancelled the shutdown: a policy in SHUTDOWN goes to NORMAL
  // and forgets its grace period, so it re-evaluates from scratch (and may
  // reach SHUTDOWN again, after a full grace period). No effect in other
  // states. The default does nothing (for policies that never reach
  // SHUTDOWN); every policy that can must override it.
  virtual void ClearShutdown(absl::Time now) {}

  // The warning level as of `now`: why it holds, or "" when it does not
  // (default: policies without one). Never an action.
  virtual std::string Warning(absl::Time now) const { return ""; }

  // Current state, the reason, inputs and time left, as of `now`.
  virtual hwcast::v1::PolicyStatus Status(absl::Time now) const = 0;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_H_
