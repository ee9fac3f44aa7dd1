#include "services/actuator/policies/policy_engine.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "lib/time_util.h"

namespace hwcast::actuator {

const char* PolicyStateName(PolicyState state) {
  switch (state) {
    case PolicyState::kNormal:
      return "NORMAL";
    case PolicyState::kPreFail:
      return "PRE_FAIL";
    case PolicyState::kShutdown:
      return "SHUTDOWN";
    case PolicyState::kUnknown:
      return "UNKNOWN";
  }
  return "?";
}

PolicyEngine::PolicyEngine(std::vector<std::unique_ptr<Policy>> policies)
    : policies_(std::move(policies)) {
  last_.reserve(policies_.size());
  for (const auto& policy : policies_) last_.push_back(policy->state());
  warnings_.resize(policies_.size());
  changed_at_.resize(policies_.size(), absl::InfinitePast());
  change_reasons_.resize(policies_.size());
}

std::vector<Transition> PolicyEngine::OnReading(
    const hwcast::v1::Reading& reading, absl::Time now) {
  for (auto& policy : policies_) policy->OnReading(reading, now);
  return Collect(now);
}

std::vector<Transition> PolicyEngine::OnTick(absl::Time now,
                                             const LinkContext& links) {
  for (auto& policy : policies_) policy->OnTick(now, links);
  return Collect(now);
}

std::vector<Transition> PolicyEngine::ClearShutdown(absl::Time now) {
  for (auto& policy : policies_) {
    if (policy->state() == PolicyState::kShutdown) policy->ClearShutdown(now);
  }
  return Collect(now);
}

absl::Status PolicyEngine::Replace(std::vector<Slot> slots) {
  absl::flat_hash_map<std::string, size_t> running;
  for (size_t i = 0; i < policies_.size(); ++i) {
    running.emplace(std::string(policies_[i]->name()), i);
  }
  absl::flat_hash_set<std::string> names;
  for (const Slot& slot : slots) {
    if (!names.insert(slot.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy '", slot.name, "' given twice"));
    }
    if (slot.fresh == nullptr && !running.contains(slot.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy '", slot.name, "' is kept but does not run"));
    }
  }
  std::vector<std::unique_ptr<Policy>> policies;
  std::vector<PolicyState> last;
  std::vector<std::string> warnings;
  std::vector<absl::Time> changed_at;
  std::vector<std::string> change_reasons;
  for (Slot& slot : slots) {
    if (slot.fresh != nullptr) {
      last.push_back(slot.fresh->state());
      policies.push_back(std::move(slot.fresh));
      warnings.emplace_back();
      changed_at.push_back(absl::InfinitePast());
      change_reasons.emplace_back();
      continue;
    }
    const size_t i = running.at(slot.name);
    policies.push_back(std::move(policies_[i]));
    last.push_back(last_[i]);
    warnings.push_back(std::move(warnings_[i]));
    changed_at.push_back(changed_at_[i]);
    change_reasons.push_back(std::move(change_reasons_[i]));
  }
  policies_ = std::move(policies);
  last_ = std::move(last);
  warnings_ = std::move(warnings);
  changed_at_ = std::move(changed_at);
  change_reasons_ = std::move(change_reasons);
  return absl::OkStatus();
}

bool PolicyEngine::AnyInShutdown() const {
  for (const auto& policy : policies_) {
    if (policy->state() == PolicyState::kShutdown) return true;
  }
  return false;
}

std::vector<hwcast::v1::PolicyStatus> PolicyEngine::Status(
    absl::Time now) const {
  std::vector<hwcast::v1::PolicyStatus> out;
  out.reserve(policies_.size());
  for (size_t i = 0; i < policies_.size(); ++i) {
    const Policy& policy = *policies_[i];
    hwcast::v1::PolicyStatus& status = out.emplace_back(policy.Status(now));
    if (status.name().empty()) status.set_name(std::string(policy.name()));
    std::string warning = policy.Warning(now);
    status.set_warning(!warning.empty());
    status.set_warning_reason(std::move(warning));
    if (changed_at_[i] != absl::InfinitePast()) {
      *status.mutable_last_transition_time() = ToProtoTime(changed_at_[i]);
      status.set_last_transition_reason(change_reasons_[i]);
    }
  }
  return out;
}

std::vector<Transition> PolicyEngine::Collect(absl::Time now) {
  std::vector<Transition> transitions;
  for (size_t i = 0; i < policies_.size(); ++i) {
    const PolicyState state = policies_[i]->state();
    std::string warning = policies_[i]->Warning(now);
    if (warning.empty() != warnings_[i].empty()) {
      Transition w;
      w.policy = std::string(policies_[i]->name());
      w.from = w.to = last_[i];
      w.reason = warning;
      w.time = now;
      w.warning_change = true;
      w.warning = !warning.empty();
      transitions.push_back(std::move(w));
    }
    warnings_[i] = std::move(warning);
    if (state == last_[i]) continue;
    Transition t;
    t.policy = std::string(policies_[i]->name());
    t.from = last_[i];
    t.to = state;
    t.reason = policies_[i]->Status(now).reason();
    t.time = now;
    changed_at_[i] = now;
    change_reasons_[i] = t.reason;
    transitions.push_back(std::move(t));
    last_[i] = state;
  }
  return transitions;
}

}  // namespace hwcast::actuator
