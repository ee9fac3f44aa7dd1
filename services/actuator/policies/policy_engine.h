// Runs a set of policies and reports their state changes as Transitions: the
// one piece of decision code shared by the actuator and `hwcastctl replay`,
// so a replay answers "would we have shut down?" with the code that decides.
//
// Thread-compatible: the actuator serializes calls (under its policy lock).
// Owns its policies.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_ENGINE_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_field.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/actuator/policies/policy.h"

namespace hwcast::actuator {

// One state change of one policy, or a change of its warning level.
struct Transition {
  std::string policy;
  PolicyState from = PolicyState::kNormal;
  PolicyState to = PolicyState::kNormal;
  // The policy's reason after the change (a warning change: the warning's,
  // or "" when it cleared).
  std::string reason;
  absl::Time time;
  // A change of the warning level, not of the state (from == to, the
  // state): `warning` says whether the warning holds now.
  bool warning_change = false;
  bool warning = false;
};

class PolicyEngine {
 public:
  explicit PolicyEngine(std::vector<std::unique_ptr<Policy>> policies);

  // Feed one reading / one tick to every policy; returns the transitions it
  // caused, in policy order, at most one state change per policy (preceded
  // by its warning change, if any): a policy that passes
  // through a state within one call (grace 0: NORMAL -> PRE_FAIL ->
  // SHUTDOWN) shows as one transition (NORMAL -> SHUTDOWN).
  std::vector<Transition> OnReading(const hwcast::v1::Reading& reading,
                                    absl::Time now);
  std::vector<Transition> OnTick(absl::Time now, const LinkContext& links);

  // An operator cancelled the shutdown: every policy in SHUTDOWN gets
  // ClearShutdown(now); returns the transitions (SHUTDOWN -> NORMAL).
  std::vector<Transition> ClearShutdown(absl::Time now);

  // One slot of a reload's policy set (Replace): `fresh` starts from its
  // initial state; a null `fresh` keeps the running policy named `name`
  // with its state, warning and last change (its config did not change).
  struct Slot {
    std::string name;
    std::unique_ptr<Policy> fresh;
  };
  // A reload: `slots` become the policies, in their order. Running
  // policies not kept are dropped. INVALID_ARGUMENT (nothing changed) if a
  // slot keeps a policy that is not running or names one twice.
  absl::Status Replace(std::vector<Slot> slots);

  // Whether any policy is in SHUTDOWN now.
  bool AnyInShutdown() const;

  // Each policy's Status(), with its warning and last transition.
  std::vector<hwcast::v1::PolicyStatus> Status(absl::Time now) const;
  size_t size() const { return policies_.size(); }

 private:
  std::vector<Transition> Collect(absl::Time now);

  std::vector<std::unique_ptr<Policy>> policies_;
  std::vector<PolicyState> last_;
  // Per policy: the warning as last reported ("" none), the last state
  // change's time (InfinitePast: none) and reason.
  std::vector<std::string> warnings_;
  std::vector<absl::Time> changed_at_;
  std::vector<std::string> change_reasons_;
};

// INVALID_ARGUMENT naming the key ("policies[1].threshold.quorum: must be
// 1..3 (the number of inputs), got 4") for anything wrong in `policies`:
// names empty, with spaces or twice; no condition; inputs empty, without
// host or source_id, or twice; quorum above the number of inputs (0 means
// 1); leave_below above enter_above; enter_above outside sanity min..max;
// sanity min >= max; negative durations, rates or tolerances; max_age or
// stuck_after set but not positive; a UPS rule without input or with no
// rule enabled (low_battery: false and nothing else); enter_below with a
// nonzero enter_above, leave_above below enter_below, a warning level not on
// the safe side of the failure level (or of the other direction); UPS input
// and inputs both set, min_supplies above the number of inputs,
// charge_below_percent outside (0, 100]; evidence_window set but not
// positive. Implemented in policy_config.cc.
absl::Status ValidatePolicyConfigs(
    const google::protobuf::RepeatedPtrField<hwcast::v1::PolicyConfig>&
        policies);

// Builds the policies of a config (validating it first: the errors above),
// in order. `default_max_age` (> 0) applies where a policy sets no max_age;
// `seed` drives the grace jitter (fixed in tests and replays, random in the
// daemon): each policy draws from its own generator seeded from `seed` and
// its index, so the same seed and trace give the same decisions.
absl::StatusOr<std::vector<std::unique_ptr<Policy>>> MakePolicies(
    const google::protobuf::RepeatedPtrField<hwcast::v1::PolicyConfig>&
        policies,
    absl::Duration default_max_age, uint64_t seed);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_ENGINE_H_
