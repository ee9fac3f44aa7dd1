#include "services/actuator/policies/power_node_policy.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/reading_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::Reading;

std::string CheckReachability(const Reading& reading) {
  if (reading.has_reachability()) return "";
  return absl::StrCat("a ", KindName(KindOf(reading)),
                      " reading, not a reachability probe");
}

std::vector<InputTracker> MakeInputs(
    const hwcast::v1::PowerNodeRuleConfig& config, absl::Duration max_age,
    std::optional<absl::Duration> evidence_window) {
  std::vector<InputTracker> inputs;
  for (const hwcast::v1::SourceSelector& source : config.inputs()) {
    InputOptions options;
    options.source = source;
    options.max_age = max_age;
    options.evidence_window = evidence_window;
    options.check = CheckReachability;
    inputs.emplace_back(std::move(options));
  }
  return inputs;
}

}  // namespace

PowerNodePolicy::PowerNodePolicy(std::string name,
                                 const FailureDetectorOptions& detector,
                                 const hwcast::v1::PowerNodeRuleConfig& config,
                                 absl::Duration max_age,
                                 std::optional<absl::Duration> evidence_window)
    : ConditionPolicy(std::move(name), detector,
                      MakeInputs(config, max_age, evidence_window), max_age),
      quorum_(config.quorum() == 0 ? 1 : static_cast<int>(config.quorum())),
      last_unreachable_(config.inputs_size(), false) {}

void PowerNodePolicy::AfterReading(size_t index, absl::Time now) {
  const InputTracker& input = inputs()[index];
  if (!input.usable(now)) return;
  last_unreachable_[index] = !input.last_reading().reachability().reachable();
}

Evaluation PowerNodePolicy::Evaluate(absl::Time now) const {
  std::vector<Vote> votes;
  for (size_t i = 0; i < inputs().size(); ++i) {
    const InputTracker& input = inputs()[i];
    if (!input.usable(now)) {
      votes.push_back(UnusableVote(i, now, last_unreachable_[i]));
      continue;
    }
    Vote vote;
    vote.source = input.key();
    const hwcast::v1::Reachability& r = input.last_reading().reachability();
    if (!r.reachable()) {
      vote.kind = Vote::Kind::kFailed;
      vote.until = input.covered_until();
      vote.note = r.target().empty()
                      ? "unreachable"
                      : absl::StrCat("unreachable (", r.target(), ")");
    }
    votes.push_back(std::move(vote));
  }
  return CountVotes(votes, quorum_, "unreachable");
}

hwcast::v1::PolicyInput PowerNodePolicy::DescribeInput(size_t index,
                                                       absl::Time now) const {
  const InputTracker& input = inputs()[index];
  hwcast::v1::PolicyInput out = input.ToProto(now);
  if (!input.usable(now)) return out;
  const bool reachable = input.last_reading().reachability().reachable();
  out.set_state(
      InputStateName(reachable ? InputState::kOk : InputState::kAlarm));
  out.set_value(reachable ? 1 : 0);
  return out;
}

}  // namespace hwcast::actuator
