#include "services/actuator/actuator_metrics.h"

#include "services/actuator/policies/policy.h"

namespace hwcast::actuator {
namespace {

// Every state a policy can be in (the label values of policy_state).
constexpr PolicyState kAllPolicyStates[] = {
    PolicyState::kNormal, PolicyState::kPreFail, PolicyState::kShutdown,
    PolicyState::kUnknown};

prometheus::Family<prometheus::Counter>& InvalidFamily(
    prometheus::Registry& registry) {
  auto& family =
      prometheus::BuildCounter()
          .Name("hwcast_actuator_batches_invalid_total")
          .Help(
              "Batches dropped as invalid, by reason: malformed (not a valid "
              "ReadingBatch), unsigned, unknown_key, bad_signature, "
              "unauthorized (key may not speak for that collector, host or "
              "source), stale, future.")
          .Register(registry);
  for (RejectReason reason : kAllRejectReasons) {
    family.Add({{"reason", std::string(RejectReasonLabel(reason))}});
  }
  return family;
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

ActuatorMetrics::ActuatorMetrics(prometheus::Registry& registry)
    : service_(registry, "actuator"),
      batches_(prometheus::BuildCounter()
                   .Name("hwcast_actuator_batches_total")
                   .Help("Batches received from relays, by result: accepted "
                         "(new), duplicate (seen through another relay or "
                         "re-sent), invalid (dropped).")
                   .Register(registry)),
      batches_accepted_(batches_.Add({{"result", "accepted"}})),
      batches_duplicate_(batches_.Add({{"result", "duplicate"}})),
      batches_invalid_(batches_.Add({{"result", "invalid"}})),
      invalid_by_reason_(InvalidFamily(registry)),
      dropped_filtered_(service_.Dropped("filtered")),
      dropped_superseded_(service_.Dropped("superseded")),
      errors_invalid_batch_(service_.Error("invalid_batch")),
      relay_connected_(
          GaugeFamily(registry, "hwcast_actuator_relay_connected",
                      "1 while the subscription to the relay is up, else 0.")),
      sources_(GaugeFamily(registry, "hwcast_actuator_sources",
                           "Sources the actuator knows a reading of.")
                   .Add({})),
      stale_sources_(
          GaugeFamily(
              registry, "hwcast_actuator_stale_sources",
              "Known sources whose latest reading is older than stale_after.")
              .Add({})),
      policy_state_(GaugeFamily(registry, "hwcast_actuator_policy_state",
                                "1 for the state each policy is in (NORMAL, "
                                "PRE_FAIL, SHUTDOWN, UNKNOWN), 0 for the "
                                "others.")),
      policy_transitions_(prometheus::BuildCounter()
                              .Name("hwcast_actuator_policy_transitions_total")
                              .Help("Policy state changes, by policy and the "
                                    "state changed to.")
                              .Register(registry)),
      policy_warning_(GaugeFamily(
          registry, "hwcast_actuator_policy_warning",
          "1 while the policy's warning level holds (never an action), else "
          "0.")),
      policy_time_left_(GaugeFamily(
          registry, "hwcast_actuator_policy_time_left_seconds",
          "Grace left before SHUTDOWN while the policy is in PRE_FAIL, else "
          "0.")),
      policy_last_transition_(GaugeFamily(
          registry, "hwcast_actuator_policy_last_transition_timestamp_seconds",
          "Unix time of the policy's latest state change (0: none yet); the "
          "reason is in status and the audit log.")) {}

prometheus::Gauge& ActuatorMetrics::RelayConnected(const std::string& relay) {
  return relay_connected_.Add({{"relay", relay}});
}

void ActuatorMetrics::RemoveRelay(const std::string& relay) {
  relay_connected_.Remove(&relay_connected_.Add({{"relay", relay}}));
}

void ActuatorMetrics::CountInvalid(RejectReason reason) {
  batches_invalid_.Increment();
  errors_invalid_batch_.Increment();
  invalid_by_reason_.Add({{"reason", std::string(RejectReasonLabel(reason))}})
      .Increment();
}

void ActuatorMetrics::SetState(const std::string& policy,
                               std::string_view state) {
  for (PolicyState s : kAllPolicyStates) {
    const std::string name = PolicyStateName(s);
    policy_state_.Add({{"policy", policy}, {"state", name}})
        .Set(name == state ? 1 : 0);
  }
}

void ActuatorMetrics::AddPolicy(const std::string& policy,
                                std::string_view state) {
  for (PolicyState s : kAllPolicyStates) {
    policy_transitions_.Add({{"policy", policy}, {"to", PolicyStateName(s)}});
  }
  SetState(policy, state);
  policy_warning_.Add({{"policy", policy}}).Set(0);
  policy_time_left_.Add({{"policy", policy}}).Set(0);
  policy_last_transition_.Add({{"policy", policy}}).Set(0);
}

void ActuatorMetrics::RemovePolicy(const std::string& policy) {
  for (PolicyState s : kAllPolicyStates) {
    const std::string name = PolicyStateName(s);
    policy_state_.Remove(
        &policy_state_.Add({{"policy", policy}, {"state", name}}));
    policy_transitions_.Remove(
        &policy_transitions_.Add({{"policy", policy}, {"to", name}}));
  }
  for (prometheus::Family<prometheus::Gauge>* family :
       {&policy_warning_, &policy_time_left_, &policy_last_transition_}) {
    family->Remove(&family->Add({{"policy", policy}}));
  }
}

void ActuatorMetrics::PolicyChanged(const std::string& policy,
                                    std::string_view state, absl::Time time) {
  policy_transitions_.Add({{"policy", policy}, {"to", std::string(state)}})
      .Increment();
  SetState(policy, state);
  policy_last_transition_.Add({{"policy", policy}})
      .Set(absl::ToDoubleSeconds(time - absl::UnixEpoch()));
}

void ActuatorMetrics::SetWarning(const std::string& policy, bool warning) {
  policy_warning_.Add({{"policy", policy}}).Set(warning ? 1 : 0);
}

void ActuatorMetrics::SetTimeLeft(const std::string& policy,
                                  absl::Duration left) {
  policy_time_left_.Add({{"policy", policy}}).Set(absl::ToDoubleSeconds(left));
}

}  // namespace hwcast::actuator
