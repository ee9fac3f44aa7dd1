// The cooling circuit's power (PowerNodeRuleConfig): "power nodes" are hosts
// on the cooling circuit, probed by collectors (Reachability readings). The
// condition: at least `quorum` of them unreachable (the circuit lost
// power). A node whose source is stale, faulty or (after start-up) missing is
// unusable: if such nodes could make the quorum with the unreachable ones,
// the condition is UNKNOWN (FAIL_IF_LAST_FAILED: failed when those last seen
// unreachable do).
//
// Inputs in status: OK reachable, ALARM unreachable; value 1 reachable, 0
// not.
//
// Thread-compatible (see Policy).
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_POWER_NODE_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_POWER_NODE_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "services/actuator/policies/condition_policy.h"

namespace hwcast::actuator {

class PowerNodePolicy final : public ConditionPolicy {
 public:
  // `config` is valid (ValidatePolicyConfigs).
  PowerNodePolicy(std::string name, const FailureDetectorOptions& detector,
                  const hwcast::v1::PowerNodeRuleConfig& config,
                  absl::Duration max_age,
                  std::optional<absl::Duration> evidence_window = std::nullopt);

 protected:
  Evaluation Evaluate(absl::Time now) const override;
  void AfterReading(size_t index, absl::Time now) override;
  hwcast::v1::PolicyInput DescribeInput(size_t index,
                                        absl::Time now) const override;

 private:
  const int quorum_;
  // Per input: the last usable reading said unreachable.
  std::vector<bool> last_unreachable_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_POWER_NODE_POLICY_H_
