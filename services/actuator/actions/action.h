// The seam for side effects: an Action is what a policy's decision makes the
// actuator do (e.g. shut this host down, run a hook). Implementations touch
// the real host, so tests use fakes; dry-run variants only log.
//
// No implementation exists yet; a later issue adds them together with the
// policies that trigger them.
//
// Thread-safety: implementations must be thread-safe. Ownership: the
// actuator owns its actions.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_H_

#include <string_view>

#include "absl/status/status.h"

namespace hwcast::actuator {

class Action {
 public:
  virtual ~Action() = default;

  // Stable name shown in status and logs, e.g. "shutdown".
  virtual std::string_view name() const = 0;

  // Carries out the action. `reason` is the policy's explanation and ends up
  // in logs. Returns an error if the action could not be carried out.
  virtual absl::Status Run(std::string_view reason) = 0;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_H_
