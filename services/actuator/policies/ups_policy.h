// UPS rules on one NUT source, or on several with a quorum (UpsRuleConfig
// inputs + min_supplies, as NUT's MINSUPPLIES: the condition holds when
// more than n - min_supplies UPSes have a rule holding, so a host fed by two
// UPSes that needs one goes down only when both fail). On one UPS the
// condition holds when any enabled rule does:
//   - low battery: LB while not on line (NUT upsmon's "critical": "OB LB";
//     "OL LB", a battery still recharging after the power came back, is
//     not a failure);
//   - on battery (OB, or LB without OL) longer than on_battery_longer_than,
//     measured from the first reading on battery after one on line (a
//     silence in between does not restart it);
//   - on battery with a runtime estimate below runtime_below_seconds;
//   - on battery with a charge below charge_below_percent.
// The flags come from PowerState.raw_status (NUT's ups.status tokens) and
// PowerState.line. A reading with neither OL, OB nor LB is a fault.
//
// A stale, faulty or missing (after start-up) UPS source is UNKNOWN; its
// last known state is "failed" for FAIL_IF_LAST_FAILED when it was last
// seen on battery (NUT: a UPS last seen on battery that goes silent counts
// as low battery).
//
// Inputs in status: OK on line, PENDING on battery with no rule holding
// yet, ALARM when one holds; value is the battery charge (percent) when
// reported.
//
// Thread-compatible (see Policy).
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_UPS_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_UPS_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/actuator/policies/condition_policy.h"

namespace hwcast::actuator {

// What a PowerState says, by NUT's status flags.
struct UpsFlags {
  bool on_line = false;
  bool on_battery = false;
  bool low_battery = false;
  // Any of OL, OB, LB known.
  bool known = false;
};
UpsFlags ParseUpsFlags(const hwcast::v1::PowerState& power);

class UpsPolicy final : public ConditionPolicy {
 public:
  // `config` is valid (ValidatePolicyConfigs).
  UpsPolicy(std::string name, const FailureDetectorOptions& detector,
            const hwcast::v1::UpsRuleConfig& config, absl::Duration max_age,
            std::optional<absl::Duration> evidence_window = std::nullopt);

  // warn_on_battery: the UPSes on battery, e.g. "h1/ups on battery for 2m".
  std::string Warning(absl::Time now) const override;

 protected:
  Evaluation Evaluate(absl::Time now) const override;
  void AfterReading(size_t index, absl::Time now) override;
  hwcast::v1::PolicyInput DescribeInput(size_t index,
                                        absl::Time now) const override;

 private:
  // Several inputs: k of n with k = n - min_supplies + 1.
  Evaluation EvaluateSupplies(absl::Time now) const;
  // The rules that hold for input `index`'s last reading as of `now`
  // (usable input).
  std::vector<std::string> RulesHolding(size_t index, absl::Time now) const;
  std::string OnBatteryFor(size_t index, absl::Time now) const;

  const int min_supplies_;
  const bool warn_on_battery_;
  std::optional<absl::Duration> on_battery_longer_than_;
  bool low_battery_ = true;
  std::optional<double> runtime_below_seconds_;
  std::optional<double> charge_below_percent_;

  // Per input: since the first reading on battery (InfinitePast: on line);
  // whether the last usable reading was on battery.
  std::vector<absl::Time> on_battery_since_;
  std::vector<bool> last_on_battery_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_UPS_POLICY_H_
