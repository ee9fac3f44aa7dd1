#include "services/actuator/policies/condition_policy.h"

#include <utility>

#include "absl/strings/str_cat.h"
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
  if (matched) detector_.Update(EvaluateWithLinks(now), now);
}

void ConditionPolicy::OnTick(absl::Time now, const LinkContext& links) {
  Start(now);
  links_ = links;
  for (InputTracker& input : inputs_) input.OnTick(now);
  detector_.Update(EvaluateWithLinks(now), now);
}

Evaluation ConditionPolicy::EvaluateWithLinks(absl::Time now) const {
  Evaluation evaluation = Evaluate(now);
  if (!HeedsLinks()) return evaluation;
  std::string why;
  if (!links_.network_up) {
    why = "this host's network is down";
  } else if (links_.relays_total > 0 && links_.relays_connected == 0) {
    why = absl::StrCat("no relay connected (0 of ", links_.relays_total, ")");
  } else {
    return evaluation;
  }
  Evaluation out;
  out.result = Evaluation::Result::kUnknown;
  out.last_failed = evaluation.result == Evaluation::Result::kFailed ||
                    (evaluation.result == Evaluation::Result::kUnknown &&
                     evaluation.last_failed);
  out.reason =
      absl::StrCat("can not tell: ", why, "; last known: ", evaluation.reason);
  return out;
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
