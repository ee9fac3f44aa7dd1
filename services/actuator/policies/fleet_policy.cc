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

FleetPolicy::FleetPolicy(std::string name,
                         const FailureDetectorOptions& detector,
                         const hwcast::v1::FleetRuleConfig& config,
                         absl::Duration max_age)
    : ConditionPolicy(std::move(name), detector, MakeInputs(config, max_age),
                      max_age) {}

bool FleetPolicy::Announced(size_t index, absl::Time now) const {
  const InputTracker& input = inputs()[index];
  return input.usable(now) && input.last_reading().has_fleet() &&
         input.last_reading().fleet().type() ==
             FleetEvent::TYPE_SHUTDOWN_ANNOUNCED;
}

Evaluation FleetPolicy::Evaluate(absl::Time now) const {
  std::vector<std::string> announced;
  for (size_t i = 0; i < inputs().size(); ++i) {
    if (!Announced(i, now)) continue;
    const FleetEvent& event = inputs()[i].last_reading().fleet();
    announced.push_back(
        absl::StrCat(inputs()[i].options().source.host(),
                     " announced its shutdown (", event.policy(),
                     event.reason().empty() ? "" : ": ", event.reason(), ")"));
  }
  Evaluation evaluation;
  if (announced.empty()) {
    evaluation.result = Evaluation::Result::kClear;
    evaluation.reason = absl::StrCat("no shutdown announced by ",
                                     inputs().size() == 1 ? "" : "any of ");
    std::vector<std::string> hosts;
    for (const InputTracker& input : inputs()) {
      hosts.push_back(input.options().source.host());
    }
    absl::StrAppend(&evaluation.reason, absl::StrJoin(hosts, ", "));
    return evaluation;
  }
  evaluation.result = Evaluation::Result::kFailed;
  evaluation.reason = absl::StrJoin(announced, "; ");
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
