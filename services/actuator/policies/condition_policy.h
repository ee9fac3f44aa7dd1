// The common body of the shutdown policies (threshold, UPS, power node): a
// set of InputTrackers, a condition evaluated from them, and the
// FailureDetector it drives. A subclass supplies the condition (Evaluate)
// and may describe its inputs and alarms in its own terms.
//
// Every reading of one of the inputs and every tick re-evaluates the
// condition; readings of other sources are ignored. Start-up: for max_age
// after the first reading or tick, an input never heard from is "waiting"
// (not held against the policy), like a source whose last reading is not
// yet stale; after that it is MISSING and unusable.
//
// Links: while the actuator hears nothing at all (it has relays configured
// and none is connected, or this host's network is down) the condition is
// UNKNOWN at once, whatever the inputs last said ("can not tell: no relay
// connected (0 of 2); last known: ..."): readings still within their
// evidence window can no longer be confirmed. A policy that is never
// UNKNOWN (fleet) opts out with HeedsLinks().
//
// Thread-compatible (see Policy).
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_CONDITION_POLICY_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_CONDITION_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/actuator/policies/failure_detector.h"
#include "services/actuator/policies/input_tracker.h"
#include "services/actuator/policies/policy.h"
#include "services/actuator/policies/quorum.h"

namespace hwcast::actuator {

class ConditionPolicy : public Policy {
 public:
  std::string_view name() const override { return name_; }
  void OnReading(const hwcast::v1::Reading& reading, absl::Time now) override;
  void OnTick(absl::Time now, const LinkContext& links) override;
  PolicyState state() const override { return detector_.state(); }
  void ClearShutdown(absl::Time now) override;
  // name, state, reason, inputs, since, seconds_to_shutdown (PRE_FAIL),
  // alarms.
  hwcast::v1::PolicyStatus Status(absl::Time now) const override;

  const FailureDetector& detector() const { return detector_; }

 protected:
  // All inputs share `max_age`.
  ConditionPolicy(std::string name, const FailureDetectorOptions& detector,
                  std::vector<InputTracker> inputs, absl::Duration max_age);

  // The condition as of `now`.
  virtual Evaluation Evaluate(absl::Time now) const = 0;
  // Called after input `index` took a reading at `now`.
  virtual void AfterReading(size_t index, absl::Time now) {}
  // The input as status shows it (default: the tracker's view).
  virtual hwcast::v1::PolicyInput DescribeInput(size_t index,
                                                absl::Time now) const {
    return inputs_[index].ToProto(now);
  }
  // Whether losing every link makes the condition UNKNOWN (default true).
  virtual bool HeedsLinks() const { return true; }
  // Alarms worth a look that do not drive the state.
  virtual std::vector<std::string> Alarms(absl::Time now) const { return {}; }

  // Within max_age of the first reading or tick.
  bool Starting(absl::Time now) const;
  // The vote of an input that is not usable: kWaiting while starting and
  // never heard from, else kUnusable with ExplainUnusable().
  Vote UnusableVote(size_t index, absl::Time now, bool last_failed) const;

  const std::vector<InputTracker>& inputs() const { return inputs_; }
  const LinkContext& links() const { return links_; }

 private:
  void Start(absl::Time now);
  // Evaluate(), then the links' veto (see above).
  Evaluation EvaluateWithLinks(absl::Time now) const;

  const std::string name_;
  const absl::Duration max_age_;
  std::vector<InputTracker> inputs_;
  FailureDetector detector_;
  LinkContext links_;
  absl::Time start_ = absl::InfinitePast();
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_CONDITION_POLICY_H_
