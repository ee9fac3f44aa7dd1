#include "services/actuator/policies/ups_policy.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"
#include "services/actuator/policies/policy_text.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::PowerState;
using hwcast::v1::Reading;

// "OB DISCHRG, 87 %, 1200 s".
std::string DescribePower(const PowerState& power) {
  std::string text = power.raw_status();
  if (text.empty()) {
    switch (power.line()) {
      case PowerState::LINE_STATE_ON_LINE:
        text = "on line";
        break;
      case PowerState::LINE_STATE_ON_BATTERY:
        text = "on battery";
        break;
      case PowerState::LINE_STATE_LOW_BATTERY:
        text = "low battery";
        break;
      default:
        text = "unknown status";
    }
  }
  if (power.has_charge_percent()) {
    absl::StrAppend(&text, ", ", FormatNumber(power.charge_percent()), " %");
  }
  if (power.has_runtime_seconds()) {
    absl::StrAppend(&text, ", ", FormatNumber(power.runtime_seconds()),
                    " s runtime");
  }
  return text;
}

std::string CheckUpsReading(const Reading& reading) {
  if (!reading.has_power()) {
    return absl::StrCat("a ", KindName(KindOf(reading)),
                        " reading, not a UPS status");
  }
  if (!ParseUpsFlags(reading.power()).known) {
    return absl::StrCat("UPS status '", reading.power().raw_status(),
                        "' has neither OL, OB nor LB");
  }
  return "";
}

std::vector<InputTracker> MakeInputs(
    const hwcast::v1::UpsRuleConfig& config, absl::Duration max_age,
    std::optional<absl::Duration> evidence_window) {
  std::vector<hwcast::v1::SourceSelector> sources(config.inputs().begin(),
                                                  config.inputs().end());
  if (config.has_input()) sources.insert(sources.begin(), config.input());
  std::vector<InputTracker> inputs;
  for (const hwcast::v1::SourceSelector& source : sources) {
    InputOptions options;
    options.source = source;
    options.max_age = max_age;
    options.evidence_window = evidence_window;
    options.check = CheckUpsReading;
    inputs.emplace_back(std::move(options));
  }
  return inputs;
}

}  // namespace

UpsFlags ParseUpsFlags(const PowerState& power) {
  bool ol = false;
  bool ob = false;
  bool lb = false;
  for (absl::string_view token :
       absl::StrSplit(power.raw_status(), ' ', absl::SkipWhitespace())) {
    ol = ol || token == "OL";
    ob = ob || token == "OB";
    lb = lb || token == "LB";
  }
  // The raw flags are what the UPS said; the line state is the fallback.
  if (!ol && !ob && !lb) {
    switch (power.line()) {
      case PowerState::LINE_STATE_ON_LINE:
        ol = true;
        break;
      case PowerState::LINE_STATE_ON_BATTERY:
        ob = true;
        break;
      case PowerState::LINE_STATE_LOW_BATTERY:
        ob = true;
        lb = true;
        break;
      default:
        break;
    }
  }
  UpsFlags flags;
  flags.known = ol || ob || lb;
  flags.on_line = ol;
  flags.on_battery = (ob || lb) && !ol;
  flags.low_battery = lb && !ol;
  return flags;
}

UpsPolicy::UpsPolicy(std::string name, const FailureDetectorOptions& detector,
                     const hwcast::v1::UpsRuleConfig& config,
                     absl::Duration max_age,
                     std::optional<absl::Duration> evidence_window)
    : ConditionPolicy(std::move(name), detector,
                      MakeInputs(config, max_age, evidence_window), max_age),
      min_supplies_(config.min_supplies() == 0
                        ? 1
                        : static_cast<int>(config.min_supplies())),
      warn_on_battery_(config.warn_on_battery()),
      on_battery_since_(inputs().size(), absl::InfinitePast()),
      last_on_battery_(inputs().size(), false) {
  if (config.has_on_battery_longer_than()) {
    on_battery_longer_than_ =
        FromProtoDuration(config.on_battery_longer_than());
  }
  low_battery_ = !config.has_low_battery() || config.low_battery();
  if (config.has_runtime_below_seconds()) {
    runtime_below_seconds_ = config.runtime_below_seconds();
  }
  if (config.has_charge_below_percent()) {
    charge_below_percent_ = config.charge_below_percent();
  }
}

void UpsPolicy::AfterReading(size_t index, absl::Time now) {
  const InputTracker& input = inputs()[index];
  if (!input.usable(now)) return;
  const UpsFlags flags = ParseUpsFlags(input.last_reading().power());
  last_on_battery_[index] = flags.on_battery;
  if (!flags.on_battery) {
    on_battery_since_[index] = absl::InfinitePast();
  } else if (on_battery_since_[index] == absl::InfinitePast()) {
    on_battery_since_[index] = now;
  }
}

std::string UpsPolicy::OnBatteryFor(size_t index, absl::Time now) const {
  return FormatSpan(now - on_battery_since_[index]);
}

std::vector<std::string> UpsPolicy::RulesHolding(size_t index,
                                                 absl::Time now) const {
  std::vector<std::string> rules;
  const PowerState& power = inputs()[index].last_reading().power();
  const UpsFlags flags = ParseUpsFlags(power);
  if (!flags.on_battery) return rules;
  if (low_battery_ && flags.low_battery) rules.push_back("low battery");
  if (on_battery_longer_than_.has_value() &&
      now - on_battery_since_[index] >= *on_battery_longer_than_) {
    rules.push_back(absl::StrCat("on battery for ", OnBatteryFor(index, now),
                                 " (longer than ",
                                 FormatSpan(*on_battery_longer_than_), ")"));
  }
  if (runtime_below_seconds_.has_value() && power.has_runtime_seconds() &&
      power.runtime_seconds() < *runtime_below_seconds_) {
    rules.push_back(
        absl::StrCat("runtime ", FormatNumber(power.runtime_seconds()),
                     " s below ", FormatNumber(*runtime_below_seconds_), " s"));
  }
  if (charge_below_percent_.has_value() && power.has_charge_percent() &&
      power.charge_percent() < *charge_below_percent_) {
    rules.push_back(
        absl::StrCat("charge ", FormatNumber(power.charge_percent()),
                     " % below ", FormatNumber(*charge_below_percent_), " %"));
  }
  return rules;
}

Evaluation UpsPolicy::Evaluate(absl::Time now) const {
  if (inputs().size() > 1) return EvaluateSupplies(now);
  const InputTracker& input = inputs()[0];
  Evaluation evaluation;
  if (!input.usable(now)) {
    const Vote vote = UnusableVote(0, now, last_on_battery_[0]);
    if (vote.kind == Vote::Kind::kWaiting) {
      evaluation.reason =
          absl::StrCat("waiting for the first reading from ", input.key());
      return evaluation;
    }
    evaluation.result = Evaluation::Result::kUnknown;
    evaluation.last_failed = last_on_battery_[0];
    evaluation.reason = absl::StrCat("can not tell: ", vote.note);
    if (input.seen()) {
      absl::StrAppend(&evaluation.reason, "; last known: ",
                      last_on_battery_[0] ? "on battery" : "on line");
    }
    return evaluation;
  }
  const PowerState& power = input.last_reading().power();
  const std::string status =
      absl::StrCat(input.key(), " '", DescribePower(power), "'");
  if (!ParseUpsFlags(power).on_battery) {
    evaluation.reason = absl::StrCat(status, ": on line");
    return evaluation;
  }
  const std::vector<std::string> rules = RulesHolding(0, now);
  if (!rules.empty()) {
    evaluation.result = Evaluation::Result::kFailed;
    evaluation.confirmed_until = input.covered_until();
    evaluation.reason = absl::StrCat(status, ": ", absl::StrJoin(rules, ", "));
    return evaluation;
  }
  evaluation.reason = absl::StrCat(status, ": on battery for ",
                                   OnBatteryFor(0, now), ", no rule holds yet");
  return evaluation;
}

Evaluation UpsPolicy::EvaluateSupplies(absl::Time now) const {
  std::vector<Vote> votes;
  for (size_t i = 0; i < inputs().size(); ++i) {
    const InputTracker& input = inputs()[i];
    if (!input.usable(now)) {
      votes.push_back(UnusableVote(i, now, last_on_battery_[i]));
      continue;
    }
    Vote vote;
    vote.source = input.key();
    const std::vector<std::string> rules = RulesHolding(i, now);
    if (!rules.empty()) {
      vote.kind = Vote::Kind::kFailed;
      vote.note = absl::StrCat("'", DescribePower(input.last_reading().power()),
                               "': ", absl::StrJoin(rules, ", "));
      vote.until = input.covered_until();
    }
    votes.push_back(std::move(vote));
  }
  // The host goes down when fewer than min_supplies can still power it.
  const int n = static_cast<int>(inputs().size());
  Evaluation evaluation =
      CountVotes(votes, n - min_supplies_ + 1,
                 absl::StrCat("UPSes failing, ", min_supplies_,
                              " needed to power this host"));
  return evaluation;
}

std::string UpsPolicy::Warning(absl::Time now) const {
  if (!warn_on_battery_) return "";
  std::vector<std::string> on_battery;
  for (size_t i = 0; i < inputs().size(); ++i) {
    const InputTracker& input = inputs()[i];
    if (!input.usable(now)) continue;
    if (!ParseUpsFlags(input.last_reading().power()).on_battery) continue;
    on_battery.push_back(
        absl::StrCat(input.key(), " on battery for ", OnBatteryFor(i, now)));
  }
  return absl::StrJoin(on_battery, "; ");
}

hwcast::v1::PolicyInput UpsPolicy::DescribeInput(size_t index,
                                                 absl::Time now) const {
  const InputTracker& input = inputs()[index];
  hwcast::v1::PolicyInput out = input.ToProto(now);
  if (!input.usable(now)) return out;
  const PowerState& power = input.last_reading().power();
  if (power.has_charge_percent()) out.set_value(power.charge_percent());
  std::string note = DescribePower(power);
  if (!ParseUpsFlags(power).on_battery) {
    out.set_state(InputStateName(InputState::kOk));
  } else {
    const std::vector<std::string> rules = RulesHolding(index, now);
    out.set_state(InputStateName(rules.empty() ? InputState::kPending
                                               : InputState::kAlarm));
    absl::StrAppend(&note, "; on battery for ", OnBatteryFor(index, now));
    if (!rules.empty()) {
      absl::StrAppend(&note, ": ", absl::StrJoin(rules, ", "));
    }
  }
  out.set_note(std::move(note));
  return out;
}

}  // namespace hwcast::actuator
