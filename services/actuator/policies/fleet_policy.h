// Fleet coordination (FleetRuleConfig): follow the shutdown of other hosts.
// Each followed host is one input, its "HOST/fleet" source: the FleetEvent
// readings its actuator announces (signed with its own key, through the
// relays). The condition holds while any followed host's latest fleet
// reading is SHUTDOWN_ANNOUNCED and fresh (within max_age); a
// SHUTDOWN_CANCELLED, an announcement older than max_age, a fault or no
// reading at all is clear. The condition is never UNKNOWN: not hearing of
// a shutdown is no reason to shut down. COMMAND_RUN and COMMAND_FAILED (the
// announcing host's later steps) count as announced.
//
// Quorum: the condition holds only while at least `quorum` of
// the followed hosts announce at once (FleetQuorum: config.quorum, default
// a majority of the hosts); a cancelled or expired announcement withdraws
// that host's vote. The reason names who announced, and while short of the
// quorum, who is missing.
//
// Like every policy it runs through the failure detector, so it follows an
// announcement after its grace period and a cancellation within the grace
// period keeps it from tripping.
//
// Inputs in status: ALARM announced, OK otherwise; value 1 announced, 0
// not.
//
// Thread-compatible (see Policy).
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_FLEET_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_FLEET_POLICY_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "services/actuator/policies/condition_policy.h"

namespace hwcast::actuator {

// The source id fleet events are published under.
inline constexpr char kFleetSourceId[] = "fleet";

// How many of config.hosts must announce: config.quorum, or when 0 a
// majority (hosts / 2 + 1).
uint32_t FleetQuorum(const hwcast::v1::FleetRuleConfig& config);

class FleetPolicy final : public ConditionPolicy {
 public:
  // `config` is valid (ValidatePolicyConfigs).
  FleetPolicy(std::string name, const FailureDetectorOptions& detector,
              const hwcast::v1::FleetRuleConfig& config,
              absl::Duration max_age);

 protected:
  Evaluation Evaluate(absl::Time now) const override;
  hwcast::v1::PolicyInput DescribeInput(size_t index,
                                        absl::Time now) const override;
  // Not hearing of a shutdown is no reason to shut down.
  bool HeedsLinks() const override { return false; }

 private:
  // Input `index` holds a fresh SHUTDOWN_ANNOUNCED.
  bool Announced(size_t index, absl::Time now) const;

  const uint32_t quorum_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_FLEET_POLICY_H_
