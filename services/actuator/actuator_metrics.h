// Prometheus metrics of the actuator.
//
//   hwcast_actuator_readings_in_total            readings stored as newest
//   hwcast_actuator_readings_dropped_total{reason="filtered"|"superseded"}
//   hwcast_actuator_errors_total{reason="invalid_batch"}
//   hwcast_actuator_batches_total{result="accepted"|"duplicate"|"invalid"}
//   hwcast_actuator_batches_invalid_total{reason}
//                                                invalid batches by
//                                                RejectReasonLabel: malformed,
//                                                unsigned, unknown_key,
//                                                bad_signature, unauthorized,
//                                                stale, future, ...
//   hwcast_actuator_relay_connected{relay}       1 while subscribed
//   hwcast_actuator_sources                      sources known
//   hwcast_actuator_stale_sources                sources without a fresh
//                                                reading
//   hwcast_actuator_policy_state{policy,state}   1 for the policy's current
//                                                state, 0 for the others
//   hwcast_actuator_policy_transitions_total{policy,to}
//   hwcast_actuator_policy_warning{policy}       1 while the policy's warning
//                                                level holds, else 0
//   hwcast_actuator_policy_time_left_seconds{policy}
//                                                grace left in PRE_FAIL, else
//                                                0 (refreshed every tick)
//   hwcast_actuator_policy_last_transition_timestamp_seconds{policy}
//                                                Unix time of the policy's
//                                                latest state change (0:
//                                                none yet); its reason is in
//                                                status and the audit log
// (hwcast_actuator_actions_total is the ActionDispatcher's,
// hwcast_actuator_entropy_* the Reseeder's.)
//
// Owns the families in a registry it does not own (the registry must outlive
// it). Thread-safe; returned references stay valid as long as the registry.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_METRICS_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_METRICS_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "lib/metrics.h"
#include "lib/reject_reason.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace hwcast::actuator {

class ActuatorMetrics {
 public:
  explicit ActuatorMetrics(prometheus::Registry& registry);

  ServiceMetrics& service() { return service_; }
  prometheus::Counter& batches_accepted() { return batches_accepted_; }
  prometheus::Counter& batches_duplicate() { return batches_duplicate_; }
  prometheus::Counter& dropped_filtered() { return dropped_filtered_; }
  prometheus::Counter& dropped_superseded() { return dropped_superseded_; }
  prometheus::Gauge& sources() { return sources_; }
  prometheus::Gauge& stale_sources() { return stale_sources_; }
  // The gauge of one relay link.
  prometheus::Gauge& RelayConnected(const std::string& relay);
  // Drops the gauge of a relay link no longer configured (after its link
  // stopped: a reference to it must not be used afterwards).
  void RemoveRelay(const std::string& relay);

  // An invalid batch: batches_total{invalid}, errors_total{invalid_batch}
  // and batches_invalid_total{reason}.
  void CountInvalid(RejectReason reason);

  // Creates every series of `policy` (all states at 0 but `state`).
  void AddPolicy(const std::string& policy, std::string_view state);
  // Drops every series of `policy` (a reload removed it).
  void RemovePolicy(const std::string& policy);
  // A state change of `policy` to `state` at `time`.
  void PolicyChanged(const std::string& policy, std::string_view state,
                     absl::Time time);
  void SetWarning(const std::string& policy, bool warning);
  void SetTimeLeft(const std::string& policy, absl::Duration left);

 private:
  void SetState(const std::string& policy, std::string_view state);

  ServiceMetrics service_;
  prometheus::Family<prometheus::Counter>& batches_;
  prometheus::Counter& batches_accepted_;
  prometheus::Counter& batches_duplicate_;
  prometheus::Counter& batches_invalid_;
  prometheus::Family<prometheus::Counter>& invalid_by_reason_;
  prometheus::Counter& dropped_filtered_;
  prometheus::Counter& dropped_superseded_;
  prometheus::Counter& errors_invalid_batch_;
  prometheus::Family<prometheus::Gauge>& relay_connected_;
  prometheus::Gauge& sources_;
  prometheus::Gauge& stale_sources_;
  prometheus::Family<prometheus::Gauge>& policy_state_;
  prometheus::Family<prometheus::Counter>& policy_transitions_;
  prometheus::Family<prometheus::Gauge>& policy_warning_;
  prometheus::Family<prometheus::Gauge>& policy_time_left_;
  prometheus::Family<prometheus::Gauge>& policy_last_transition_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_METRICS_H_
