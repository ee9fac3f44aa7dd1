// A value crossing a threshold over k of n sources (ThresholdConfig), e.g.
// "2 of 3 thermometers in the room above 30 °C".
//
// enter_below (too cold, too dry) turns every comparison around.
//
// Each input is an InputTracker with the threshold's hysteresis, persist,
// min_hits and sanity. The condition: at least `quorum` inputs in ALARM.
// Inputs that are stale, faulty or (after start-up) missing are unusable:
// if they could make the quorum with those in ALARM, the condition is
// UNKNOWN (FAIL_IF_LAST_FAILED: failed when those last in alarm do);
// otherwise they do not matter.
//
// Alarms (status and audit only, never a trigger): an input re-anchored
// after a jump (for kReanchorNoteFor); usable inputs whose values differ by
// more than disagreement_tolerance ("inputs disagree: h1/t1 24 vs h3/t3
// 35.5, 11.5 apart (tolerance 5)").
//
// Thread-compatible (see Policy).
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_THRESHOLD_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_THRESHOLD_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "services/actuator/policies/condition_policy.h"

namespace hwcast::actuator {

class ThresholdPolicy final : public ConditionPolicy {
 public:
  // `config` is valid (ValidatePolicyConfigs).
  ThresholdPolicy(std::string name, const FailureDetectorOptions& detector,
                  const hwcast::v1::ThresholdConfig& config,
                  absl::Duration max_age,
                  std::optional<absl::Duration> evidence_window = std::nullopt);

 protected:
  Evaluation Evaluate(absl::Time now) const override;
  std::vector<std::string> Alarms(absl::Time now) const override;

 public:
  // warn_above / warn_below: at least `quorum` usable inputs beyond the
  // warning level, e.g. "1 of 1 above warning 27 (quorum 1): h1/room 28".
  std::string Warning(absl::Time now) const override;

 private:
  const ThresholdRule rule_;
  const int quorum_;
  const double tolerance_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_THRESHOLD_POLICY_H_
