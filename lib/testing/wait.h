// Waiting in tests for something another thread does: polls a condition in
// real time until it holds or a generous timeout passes. The timeout only
// bounds how long a failing test hangs; no test asserts timing with it.
//
// Header-only; thread-safe (the condition must be).
#ifndef HWCAST_LIB_TESTING_WAIT_H_
#define HWCAST_LIB_TESTING_WAIT_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hwcast::testutil {

inline constexpr absl::Duration kDefaultWait = absl::Seconds(30);

// True as soon as `condition` holds (asked every `poll`); false when it
// still does not hold after `timeout`.
inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration timeout = kDefaultWait,
                    absl::Duration poll = absl::Milliseconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(poll);
  }
  return condition();
}

}  // namespace hwcast::testutil

#endif  // HWCAST_LIB_TESTING_WAIT_H_
