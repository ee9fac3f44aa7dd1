#include "services/actuator/policies/policy_engine.h"

#include <string>
#include <utility>

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
  for (const auto& policy : policies_) {
    out.push_back(policy->Status(now));
    if (out.back().name().empty()) {
      out.back().set_name(std::string(policy->name()));
    }
  }
  return out;
}

std::vector<Transition> PolicyEngine::Collect(absl::Time now) {
  std::vector<Transition> transitions;
  for (size_t i = 0; i < policies_.size(); ++i) {
    const PolicyState state = policies_[i]->state();
    if (state == last_[i]) continue;
    Transition t;
    t.policy = std::string(policies_[i]->name());
    t.from = last_[i];
    t.to = state;
    t.reason = policies_[i]->Status(now).reason();
    t.time = now;
    transitions.push_back(std::move(t));
    last_[i] = state;
  }
  return transitions;
}

}  // namespace hwcast::actuator
