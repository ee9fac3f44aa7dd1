#include "services/actuator/policies/fleet_policy.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/reading_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::FleetEvent;
using hwcast::v1::Reading;

std::string CheckFleet(const Reading& reading) {
  if (reading.has_fleet()) return "";
  return absl::StrCat("a ", KindName(KindOf(reading)),
                      " reading, not a fleet event");
}

std::vector<InputTracker> MakeInputs(const hwcast::v1::FleetRuleConfig& config,
                                     absl::Duration max_age) {
  std::vector<InputTracker> inputs;
  for (const std::string& host : config.hosts()) {
    InputOptions options;
    options.source.set_host(host);
    options.source.set_source_id(kFleetSourceId);
    options.max_age = max_age;
    options.check = CheckFleet;
    options.evidence = false;
    inputs.emplace_back(std::move(options));
  }
  return inputs;
}

}  // namespace

uint32_t FleetQuorum(const hwcast::v1::FleetRuleConfig& config) {
  if (config.quorum() > 0) return config.quorum();
  return static_cast<uint32_t>(config.hosts_size()) / 2 + 1;
}

FleetPolicy::FleetPolicy(std::string name,
                         const FailureDetectorOptions& detector,
                         const hwcast::v1::FleetRuleConfig& config,
                         absl::Duration max_age)
    : ConditionPolicy(std::move(name), detector, MakeInputs(config, max_age),
                      max_age),
      quorum_(FleetQuorum(config)) {}

bool FleetPolicy::Announced(size_t index, absl::Time now) const {
  const InputTracker& input = inputs()[index];
  if (!input.usable(now) || !input.last_reading().has_fleet()) return false;
  switch (input.last_reading().fleet().type()) {
    case FleetEvent::TYPE_SHUTDOWN_ANNOUNCED:
    case FleetEvent::TYPE_COMMAND_RUN:
    case FleetEvent::TYPE_COMMAND_FAILED:
      return true;
    default:
      return false;
  }
}

Evaluation FleetPolicy::Evaluate(absl::Time now) const {
  std::vector<std::string> announced;
  std::vector<std::string> silent;
  for (size_t i = 0; i < inputs().size(); ++i) {
    const std::string& host = inputs()[i].options().source.host();
    if (!Announced(i, now)) {
      silent.push_back(host);
      continue;
    }
    const FleetEvent& event = inputs()[i].last_reading().fleet();
    announced.push_back(
        absl::StrCat(host, " announced its shutdown (", event.policy(),
                     event.reason().empty() ? "" : ": ", event.reason(), ")"));
  }
  Evaluation evaluation;
  if (announced.size() >= quorum_) {
    evaluation.result = Evaluation::Result::kFailed;
    evaluation.reason = absl::StrJoin(announced, "; ");
    if (quorum_ > 1) {
      absl::StrAppend(&evaluation.reason, " (quorum ", quorum_, " of ",
                      inputs().size(), ")");
    }
    return evaluation;
  }
  evaluation.result = Evaluation::Result::kClear;
  if (announced.empty()) {
    evaluation.reason = absl::StrCat("no shutdown announced by ",
                                     silent.size() == 1 ? "" : "any of ",
                                     absl::StrJoin(silent, ", "));
  } else {
    evaluation.reason = absl::StrCat(
        absl::StrJoin(announced, "; "), ": ", announced.size(), " of ",
        inputs().size(), " announcing, short of the quorum of ", quorum_,
        " (not announcing: ", absl::StrJoin(silent, ", "), ")");
  }
  return evaluation;
}

hwcast::v1::PolicyInput FleetPolicy::DescribeInput(size_t index,
                                                   absl::Time now) const {
  const InputTracker& input = inputs()[index];
  hwcast::v1::PolicyInput out = input.ToProto(now);
  if (!input.seen()) return out;
  const bool announced = Announced(index, now);
  if (input.usable(now)) {
    out.set_state(
        InputStateName(announced ? InputState::kAlarm : InputState::kOk));
    out.set_note(FormatValue(input.last_reading()));
  }
  out.set_value(announced ? 1 : 0);
  return out;
}

}  // namespace hwcast::actuator
