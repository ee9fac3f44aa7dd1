// ValidatePolicyConfigs and MakePolicies (declared in policy_engine.h): the
// policy part of the actuator's config, checked and turned into policies.
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/config_checks.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/actuator/policies/fleet_policy.h"
#include "services/actuator/policies/policy_engine.h"
#include "services/actuator/policies/policy_text.h"
#include "services/actuator/policies/power_node_policy.h"
#include "services/actuator/policies/threshold_policy.h"
#include "services/actuator/policies/ups_policy.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::PolicyConfig;
using hwcast::v1::SourceSelector;

constexpr absl::Duration kDefaultGrace = absl::Minutes(5);

absl::Status CheckFinite(const std::string& key, double value) {
  if (!std::isfinite(value)) return ConfigError(key, "must be a finite number");
  return absl::OkStatus();
}

absl::Status CheckSelector(const std::string& key,
                           const SourceSelector& source) {
  if (source.host().empty()) {
    return ConfigError(absl::StrCat(key, ".host"),
                       "empty host (the collector's host name)");
  }
  if (source.source_id().empty()) {
    return ConfigError(absl::StrCat(key, ".source_id"),
                       "empty source id (e.g. hwmon/coretemp/temp1)");
  }
  return absl::OkStatus();
}

absl::Status CheckInputs(
    const std::string& prefix,
    const google::protobuf::RepeatedPtrField<SourceSelector>& inputs) {
  if (inputs.empty()) {
    return ConfigError(absl::StrCat(prefix, ".inputs"),
                       "needs at least one input (host and source_id)");
  }
  std::map<std::string, int> seen;
  for (int i = 0; i < inputs.size(); ++i) {
    const std::string key = absl::StrCat(prefix, ".inputs[", i, "]");
    HWCAST_RETURN_IF_ERROR(CheckSelector(key, inputs[i]));
    const auto [it, added] = seen.emplace(SelectorKey(inputs[i]), i);
    if (!added) {
      return ConfigError(
          key, absl::StrCat("'", it->first, "' duplicates inputs[", it->second,
                            "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckQuorum(const std::string& prefix, uint32_t quorum, int n) {
  if (quorum > static_cast<uint32_t>(n)) {
    return ConfigError(absl::StrCat(prefix, ".quorum"),
                       absl::StrCat("must be 1..", n,
                                    " (the number of inputs), got ", quorum));
  }
  return absl::OkStatus();
}

absl::Status CheckSanity(const std::string& prefix,
                         const hwcast::v1::SanityConfig& sanity) {
  if (sanity.has_min()) {
    HWCAST_RETURN_IF_ERROR(
        CheckFinite(absl::StrCat(prefix, ".min"), sanity.min()));
  }
  if (sanity.has_max()) {
    HWCAST_RETURN_IF_ERROR(
        CheckFinite(absl::StrCat(prefix, ".max"), sanity.max()));
  }
  if (sanity.has_min() && sanity.has_max() && sanity.min() >= sanity.max()) {
    return ConfigError(absl::StrCat(prefix, ".min"),
                       absl::StrCat("must be below max (", sanity.min(),
                                    " >= ", sanity.max(), ")"));
  }
  const std::string rate_key = absl::StrCat(prefix, ".max_rate_per_second");
  HWCAST_RETURN_IF_ERROR(CheckFinite(rate_key, sanity.max_rate_per_second()));
  if (sanity.max_rate_per_second() < 0) {
    return ConfigError(rate_key, "must not be negative (0: off)");
  }
  if (sanity.has_stuck_after()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(prefix, ".stuck_after"), sanity.stuck_after()));
  }
  return absl::OkStatus();
}

absl::Status CheckThreshold(const std::string& prefix,
                            const hwcast::v1::ThresholdConfig& t) {
  HWCAST_RETURN_IF_ERROR(CheckInputs(prefix, t.inputs()));
  HWCAST_RETURN_IF_ERROR(CheckQuorum(prefix, t.quorum(), t.inputs_size()));
  const bool below = t.has_enter_below();
  if (below && t.enter_above() != 0) {
    return ConfigError(absl::StrCat(prefix, ".enter_below"),
                       "set enter_below or enter_above, not both");
  }
  const char* wrong_leave = below ? "leave_below" : "leave_above";
  const char* wrong_warn = below ? "warn_above" : "warn_below";
  if (below ? t.has_leave_below() : t.has_leave_above()) {
    return ConfigError(absl::StrCat(prefix, ".", wrong_leave),
                       below ? "goes with enter_above; use leave_above"
                             : "goes with enter_below; use leave_below");
  }
  if (below ? t.has_warn_above() : t.has_warn_below()) {
    return ConfigError(absl::StrCat(prefix, ".", wrong_warn),
                       below ? "goes with enter_above; use warn_below"
                             : "goes with enter_below; use warn_above");
  }
  const std::string enter_key =
      absl::StrCat(prefix, below ? ".enter_below" : ".enter_above");
  const double enter = below ? t.enter_below() : t.enter_above();
  HWCAST_RETURN_IF_ERROR(CheckFinite(enter_key, enter));
  if (below ? t.has_leave_above() : t.has_leave_below()) {
    const std::string leave_key =
        absl::StrCat(prefix, below ? ".leave_above" : ".leave_below");
    const double leave = below ? t.leave_above() : t.leave_below();
    HWCAST_RETURN_IF_ERROR(CheckFinite(leave_key, leave));
    if (below ? leave < enter : leave > enter) {
      return ConfigError(
          leave_key,
          absl::StrCat(FormatNumber(leave), " must not be ",
                       below ? "below enter_below (" : "above enter_above (",
                       FormatNumber(enter), ")"));
    }
  }
  if (below ? t.has_warn_below() : t.has_warn_above()) {
    const std::string warn_key =
        absl::StrCat(prefix, below ? ".warn_below" : ".warn_above");
    const double warn = below ? t.warn_below() : t.warn_above();
    HWCAST_RETURN_IF_ERROR(CheckFinite(warn_key, warn));
    if (below ? warn <= enter : warn >= enter) {
      return ConfigError(
          warn_key,
          absl::StrCat(FormatNumber(warn), " must be ",
                       below ? "above enter_below (" : "below enter_above (",
                       FormatNumber(enter), "): the warning comes first"));
    }
  }
  HWCAST_RETURN_IF_ERROR(
      CheckNonNegativeDuration(absl::StrCat(prefix, ".persist"), t.persist()));
  const std::string tolerance_key =
      absl::StrCat(prefix, ".disagreement_tolerance");
  HWCAST_RETURN_IF_ERROR(
      CheckFinite(tolerance_key, t.disagreement_tolerance()));
  if (t.disagreement_tolerance() < 0) {
    return ConfigError(tolerance_key, "must not be negative (0: off)");
  }
  const std::string sanity_prefix = absl::StrCat(prefix, ".sanity");
  HWCAST_RETURN_IF_ERROR(CheckSanity(sanity_prefix, t.sanity()));
  // A threshold outside the plausible range is a mistake: it could never be
  // crossed, or every plausible reading would cross it.
  const char* never = below ? "no plausible reading could be below it"
                            : "no plausible reading could be above it";
  const char* always = below ? "every plausible reading would be below it"
                             : "every plausible reading would be above it";
  if (t.sanity().has_max() &&
      (below ? enter > t.sanity().max() : enter >= t.sanity().max())) {
    return ConfigError(
        enter_key,
        absl::StrCat(FormatNumber(enter),
                     below ? " is above " : " is not below ", sanity_prefix,
                     ".max (", FormatNumber(t.sanity().max()),
                     "): ", below ? always : never));
  }
  if (t.sanity().has_min() &&
      (below ? enter <= t.sanity().min() : enter < t.sanity().min())) {
    return ConfigError(
        enter_key,
        absl::StrCat(FormatNumber(enter),
                     below ? " is not above " : " is below ", sanity_prefix,
                     ".min (", FormatNumber(t.sanity().min()),
                     "): ", below ? never : always));
  }
  return absl::OkStatus();
}

absl::Status CheckUps(const std::string& prefix,
                      const hwcast::v1::UpsRuleConfig& ups) {
  const std::string input_key = absl::StrCat(prefix, ".input");
  if (ups.has_input() && !ups.inputs().empty()) {
    return ConfigError(input_key,
                       "set input (one UPS) or inputs (several), not both");
  }
  if (ups.has_input()) {
    HWCAST_RETURN_IF_ERROR(CheckSelector(input_key, ups.input()));
    if (ups.min_supplies() > 1) {
      return ConfigError(
          absl::StrCat(prefix, ".min_supplies"),
          absl::StrCat("must be 1 with one input, got ", ups.min_supplies()));
    }
  } else if (ups.inputs().empty()) {
    return ConfigError(input_key,
                       "required: the UPS source (host and source_id), or "
                       "inputs: several UPSes with min_supplies");
  } else {
    HWCAST_RETURN_IF_ERROR(CheckInputs(prefix, ups.inputs()));
    if (ups.min_supplies() > static_cast<uint32_t>(ups.inputs_size())) {
      return ConfigError(
          absl::StrCat(prefix, ".min_supplies"),
          absl::StrCat("must be 1..", ups.inputs_size(),
                       " (the number of inputs), got ", ups.min_supplies()));
    }
  }
  if (ups.has_charge_below_percent()) {
    const std::string key = absl::StrCat(prefix, ".charge_below_percent");
    HWCAST_RETURN_IF_ERROR(CheckFinite(key, ups.charge_below_percent()));
    if (ups.charge_below_percent() <= 0 || ups.charge_below_percent() > 100) {
      return ConfigError(key, "must be in (0, 100] percent");
    }
  }
  if (ups.has_on_battery_longer_than()) {
    HWCAST_RETURN_IF_ERROR(CheckNonNegativeDuration(
        absl::StrCat(prefix, ".on_battery_longer_than"),
        ups.on_battery_longer_than()));
  }
  if (ups.has_runtime_below_seconds()) {
    const std::string key = absl::StrCat(prefix, ".runtime_below_seconds");
    HWCAST_RETURN_IF_ERROR(CheckFinite(key, ups.runtime_below_seconds()));
    if (ups.runtime_below_seconds() <= 0) {
      return ConfigError(key, "must be positive (seconds of runtime left)");
    }
  }
  const bool low_battery = !ups.has_low_battery() || ups.low_battery();
  if (!low_battery && !ups.has_on_battery_longer_than() &&
      !ups.has_runtime_below_seconds() && !ups.has_charge_below_percent()) {
    return ConfigError(prefix,
                       "no rule enabled: set on_battery_longer_than, "
                       "runtime_below_seconds, charge_below_percent, or "
                       "low_battery: true");
  }
  return absl::OkStatus();
}

absl::Status CheckPolicy(const std::string& prefix,
                         const PolicyConfig& policy) {
  const std::string& name = policy.name();
  if (name.empty()) {
    return ConfigError(absl::StrCat(prefix, ".name"),
                       "empty name (e.g. room-too-hot)");
  }
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      return ConfigError(absl::StrCat(prefix, ".name"),
                         absl::StrCat("'", name,
                                      "' must not contain spaces or control "
                                      "characters (e.g. room-too-hot)"));
    }
  }
  HWCAST_RETURN_IF_ERROR(
      CheckNonNegativeDuration(absl::StrCat(prefix, ".grace"), policy.grace()));
  HWCAST_RETURN_IF_ERROR(CheckNonNegativeDuration(
      absl::StrCat(prefix, ".jitter"), policy.jitter()));
  if (policy.has_max_age()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(prefix, ".max_age"), policy.max_age()));
  }
  if (policy.has_evidence_window()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(prefix, ".evidence_window"), policy.evidence_window()));
  }
  if (!hwcast::v1::UnknownAction_IsValid(policy.on_unknown())) {
    return ConfigError(
        absl::StrCat(prefix, ".on_unknown"),
        "must be hold (= resume), restart, fail or fail_if_last_failed");
  }
  switch (policy.condition_case()) {
    case PolicyConfig::kThreshold:
      return CheckThreshold(absl::StrCat(prefix, ".threshold"),
                            policy.threshold());
    case PolicyConfig::kUps:
      return CheckUps(absl::StrCat(prefix, ".ups"), policy.ups());
    case PolicyConfig::kPowerNode: {
      const std::string p = absl::StrCat(prefix, ".power_node");
      HWCAST_RETURN_IF_ERROR(CheckInputs(p, policy.power_node().inputs()));
      return CheckQuorum(p, policy.power_node().quorum(),
                         policy.power_node().inputs_size());
    }
    case PolicyConfig::kFleet: {
      const std::string p = absl::StrCat(prefix, ".fleet.hosts");
      const auto& hosts = policy.fleet().hosts();
      if (hosts.empty()) {
        return ConfigError(p, "needs at least one host to follow");
      }
      std::map<std::string, int> seen;
      for (int i = 0; i < hosts.size(); ++i) {
        const std::string key = absl::StrCat(p, "[", i, "]");
        if (hosts[i].empty()) return ConfigError(key, "empty host");
        for (char c : hosts[i]) {
          if (c == '/' || absl::ascii_isspace(static_cast<unsigned char>(c)) ||
              absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
            return ConfigError(key, absl::StrCat("'", hosts[i],
                                                 "': must not contain '/', "
                                                 "spaces or control "
                                                 "characters"));
          }
        }
        const auto [it, added] = seen.emplace(hosts[i], i);
        if (!added) {
          return ConfigError(key,
                             absl::StrCat("'", hosts[i], "' duplicates hosts[",
                                          it->second, "]"));
        }
      }
      return CheckQuorum(absl::StrCat(prefix, ".fleet"),
                         policy.fleet().quorum(), hosts.size());
    }
    case PolicyConfig::CONDITION_NOT_SET:
      break;
  }
  return ConfigError(
      prefix, "needs a condition: one of threshold, ups, power_node or fleet");
}

// SplitMix64: well spread per-policy seeds from one seed.
uint64_t MixSeed(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

absl::Status ValidatePolicyConfigs(
    const google::protobuf::RepeatedPtrField<PolicyConfig>& policies) {
  std::map<std::string, int> names;
  for (int i = 0; i < policies.size(); ++i) {
    const std::string prefix = absl::StrCat("policies[", i, "]");
    HWCAST_RETURN_IF_ERROR(CheckPolicy(prefix, policies[i]));
    const auto [it, added] = names.emplace(policies[i].name(), i);
    if (!added) {
      return ConfigError(absl::StrCat(prefix, ".name"),
                         absl::StrCat("'", it->first, "' duplicates policies[",
                                      it->second, "].name"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::unique_ptr<Policy>>> MakePolicies(
    const google::protobuf::RepeatedPtrField<PolicyConfig>& policies,
    absl::Duration default_max_age, uint64_t seed) {
  HWCAST_RETURN_IF_ERROR(ValidatePolicyConfigs(policies));
  if (default_max_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("default max_age must be positive, got ",
                     absl::FormatDuration(default_max_age)));
  }
  std::vector<std::unique_ptr<Policy>> out;
  for (int i = 0; i < policies.size(); ++i) {
    const PolicyConfig& config = policies[i];
    FailureDetectorOptions detector;
    detector.grace =
        config.has_grace() ? FromProtoDuration(config.grace()) : kDefaultGrace;
    detector.jitter = FromProtoDuration(config.jitter());
    detector.on_unknown = config.on_unknown();
    detector.seed = MixSeed(seed, static_cast<uint64_t>(i));
    const absl::Duration max_age = config.has_max_age()
                                       ? FromProtoDuration(config.max_age())
                                       : default_max_age;
    std::optional<absl::Duration> evidence_window;
    if (config.has_evidence_window()) {
      evidence_window = FromProtoDuration(config.evidence_window());
    }
    switch (config.condition_case()) {
      case PolicyConfig::kThreshold:
        out.push_back(std::make_unique<ThresholdPolicy>(
            config.name(), detector, config.threshold(), max_age,
            evidence_window));
        break;
      case PolicyConfig::kUps:
        out.push_back(std::make_unique<UpsPolicy>(
            config.name(), detector, config.ups(), max_age, evidence_window));
        break;
      case PolicyConfig::kPowerNode:
        out.push_back(std::make_unique<PowerNodePolicy>(
            config.name(), detector, config.power_node(), max_age,
            evidence_window));
        break;
      case PolicyConfig::kFleet:
        out.push_back(std::make_unique<FleetPolicy>(config.name(), detector,
                                                    config.fleet(), max_age));
        break;
      case PolicyConfig::CONDITION_NOT_SET:
        return absl::InternalError("validated policy without a condition");
    }
  }
  return out;
}

}  // namespace hwcast::actuator
