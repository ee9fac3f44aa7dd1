// Defaults of hwcast.v1.ActionsConfig, shared by the config code
// (ApplyActuatorDefaults) and the actions (ActionsOptions). Constants only.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_DEFAULTS_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_DEFAULTS_H_

#include <string_view>

#include "absl/time/time.h"

namespace hwcast::actuator {

inline constexpr std::string_view kDefaultShutdownCommand[] = {"systemctl",
                                                               "poweroff"};
inline constexpr absl::Duration kDefaultCommandTimeout = absl::Seconds(30);
// Between a policy entering SHUTDOWN and the shutdown command.
inline constexpr absl::Duration kDefaultCountdown = absl::Seconds(30);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_DEFAULTS_H_
