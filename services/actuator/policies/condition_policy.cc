#include "services/actuator/policies/condition_policy.h"

#include <utility>

#include "lib/time_util.h"

namespace hwcast::actuator {

ConditionPolicy::ConditionPolicy(std::string name,
                                 const FailureDetectorOptions& detector,
                                 std::vector<InputTracker> inputs,
                                 absl::Duration max_age)
    : name_(std::move(name)),
      max_age_(max_age),
      inputs_(std::move(inputs)),
      detector_(detector) {}

void ConditionPolicy::Start(absl::Time now) {
  if (start_ == absl::InfinitePast()) start_ = now;
}

bool ConditionPolicy::Starting(absl::Time now) const {
  return start_ == absl::InfinitePast() || now - start_ <= max_age_;
}

void ConditionPolicy::OnReading(const hwcast::v1::Reading& reading,
                                absl::Time now) {
  bool matched = false;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (!inputs_[i].Matches(reading)) continue;
    Start(now);
    inputs_[i].OnReading(reading, now);
    AfterReading(i, now);
    matched = true;
  }
  if (matched) detector_.Update(Evaluate(now), now);
}

void ConditionPolicy::OnTick(absl::Time now, const LinkContext& links) {
  Start(now);
  links_ = links;
  for (InputTracker& input : inputs_) input.OnTick(now);
  detector_.Update(Evaluate(now), now);
}

Vote ConditionPolicy::UnusableVote(size_t index, absl::Time now,
                                   bool last_failed) const {
  const InputTracker& input = inputs_[index];
  Vote vote;
  vote.source = input.key();
  if (input.state(now) == InputState::kMissing && Starting(now)) {
    vote.kind = Vote::Kind::kWaiting;
    return vote;
  }
  vote.kind = Vote::Kind::kUnusable;
  vote.note = ExplainUnusable(input, now, links_);
  vote.last_failed = last_failed;
  return vote;
}

hwcast::v1::PolicyStatus ConditionPolicy::Status(absl::Time now) const {
  hwcast::v1::PolicyStatus status;
  status.set_name(name_);
  status.set_state(PolicyStateName(detector_.state()));
  status.set_reason(detector_.reason());
  for (size_t i = 0; i < inputs_.size(); ++i) {
    *status.add_inputs() = DescribeInput(i, now);
  }
  if (detector_.since() != absl::InfinitePast()) {
    *status.mutable_since() = ToProtoTime(detector_.since());
  }
  if (detector_.state() == PolicyState::kPreFail) {
    status.set_seconds_to_shutdown(
        absl::ToDoubleSeconds(detector_.TimeToShutdown(now)));
  }
  for (std::string& alarm : Alarms(now)) status.add_alarms(std::move(alarm));
  return status;
}

void ConditionPolicy::ClearShutdown(absl::Time now) {
  if (detector_.state() != PolicyState::kShutdown) return;
  detector_.Reset(now, "shutdown cancelled by an operator; re-evaluating");
}

}  // namespace hwcast::actuator
