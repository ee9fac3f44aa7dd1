#include "services/actuator/policies/threshold_policy.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/actuator/policies/policy_text.h"

namespace hwcast::actuator {
namespace {

std::vector<InputTracker> MakeInputs(
    const hwcast::v1::ThresholdConfig& config, absl::Duration max_age,
    std::optional<absl::Duration> evidence_window) {
  std::vector<InputTracker> inputs;
  for (const hwcast::v1::SourceSelector& source : config.inputs()) {
    InputOptions options;
    options.source = source;
    options.max_age = max_age;
    options.evidence_window = evidence_window;
    options.numeric = true;
    options.sanity = SanityRule::FromConfig(config.sanity());
    options.threshold = ThresholdRule::FromConfig(config);
    inputs.emplace_back(std::move(options));
  }
  return inputs;
}

}  // namespace

ThresholdPolicy::ThresholdPolicy(std::string name,
                                 const FailureDetectorOptions& detector,
                                 const hwcast::v1::ThresholdConfig& config,
                                 absl::Duration max_age,
                                 std::optional<absl::Duration> evidence_window)
    : ConditionPolicy(std::move(name), detector,
                      MakeInputs(config, max_age, evidence_window), max_age),
      rule_(ThresholdRule::FromConfig(config)),
      quorum_(config.quorum() == 0 ? 1 : static_cast<int>(config.quorum())),
      tolerance_(config.disagreement_tolerance()) {}

Evaluation ThresholdPolicy::Evaluate(absl::Time now) const {
  std::vector<Vote> votes;
  for (size_t i = 0; i < inputs().size(); ++i) {
    const InputTracker& input = inputs()[i];
    const InputState state = input.state(now);
    if (!input.usable(now)) {
      votes.push_back(UnusableVote(i, now, input.in_alarm()));
      continue;
    }
    Vote vote;
    vote.source = input.key();
    if (state == InputState::kAlarm) {
      vote.kind = Vote::Kind::kFailed;
      vote.note = input.Note(now);
      vote.until = input.covered_until();
    }
    votes.push_back(std::move(vote));
  }
  return CountVotes(votes, quorum_, rule_.Condition());
}

std::string ThresholdPolicy::Warning(absl::Time now) const {
  if (!rule_.warn.has_value()) return "";
  std::vector<std::string> beyond;
  for (const InputTracker& input : inputs()) {
    if (!input.usable(now) || !input.value().has_value()) continue;
    if (rule_.Warns(*input.value())) {
      beyond.push_back(
          absl::StrCat(input.key(), " ", FormatNumber(*input.value())));
    }
  }
  if (static_cast<int>(beyond.size()) < quorum_) return "";
  return absl::StrCat(beyond.size(), " of ", inputs().size(),
                      rule_.below ? " below" : " above", " warning ",
                      FormatNumber(*rule_.warn), " (quorum ", quorum_,
                      "): ", absl::StrJoin(beyond, "; "));
}

std::vector<std::string> ThresholdPolicy::Alarms(absl::Time now) const {
  std::vector<std::string> alarms;
  for (const InputTracker& input : inputs()) {
    const std::string note = input.ReanchorNote(now);
    if (!note.empty()) alarms.push_back(absl::StrCat(input.key(), " ", note));
  }
  if (tolerance_ <= 0) return alarms;
  const InputTracker* low = nullptr;
  const InputTracker* high = nullptr;
  for (const InputTracker& input : inputs()) {
    if (!input.usable(now) || !input.value().has_value()) continue;
    if (low == nullptr || *input.value() < *low->value()) low = &input;
    if (high == nullptr || *input.value() > *high->value()) high = &input;
  }
  if (low == nullptr || low == high) return alarms;
  const double spread = *high->value() - *low->value();
  if (spread > tolerance_) {
    alarms.push_back(
        absl::StrCat("inputs disagree: ", low->key(), " ",
                     FormatNumber(*low->value()), " vs ", high->key(), " ",
                     FormatNumber(*high->value()), ", ", FormatNumber(spread),
                     " apart (tolerance ", FormatNumber(tolerance_), ")"));
  }
  return alarms;
}

}  // namespace hwcast::actuator
