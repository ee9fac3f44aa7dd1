// Small formatting helpers shared by the policies, so that every reason and
// note reads the same ("no reading for 3m10s", "31.5 > 30").
//
// Stateless functions; thread-safe.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_TEXT_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_TEXT_H_

#include <string>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast::actuator {

// A duration for people: whole seconds and up ("3m10s", "45s", "0s"); below
// a second in milliseconds ("250ms"). Negative durations read as "0s".
std::string FormatSpan(absl::Duration d);

// A number as short as it stays exact to 6 significant digits ("31.5",
// "30", "-2.25").
std::string FormatNumber(double value);

// "HOLD", "FAIL", "FAIL_IF_LAST_FAILED".
std::string UnknownActionName(hwcast::v1::UnknownAction action);

// "HOST/SOURCE_ID".
std::string SelectorKey(const hwcast::v1::SourceSelector& source);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_POLICY_TEXT_H_
