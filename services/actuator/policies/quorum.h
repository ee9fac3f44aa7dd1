// k of n: how the votes of a policy's inputs make its condition.
//
//   failed >= k                  -> kFailed (confirmed until the k-th
//                                   latest `until` of the failed votes)
//   failed + unusable >= k       -> kUnknown (the unusable inputs could make
//                                   the quorum; last_failed when those whose
//                                   last known state was the failure do)
//   otherwise                    -> kClear (unusable inputs can not change
//                                   the answer, so they do not matter)
//
// Stateless functions; thread-safe.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_QUORUM_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_QUORUM_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "services/actuator/policies/failure_detector.h"

namespace hwcast::actuator {

// One input's say.
struct Vote {
  enum class Kind {
    kClear,
    kFailed,
    // Stale, faulty, or missing after start-up: could be either.
    kUnusable,
    // Not heard from yet, shortly after start-up: counts as clear.
    kWaiting,
  };
  Kind kind = Kind::kClear;
  // "HOST/SOURCE_ID".
  std::string source;
  // kFailed: why (the input's note, e.g. "31.5 > 30, in alarm for 10s");
  // kUnusable: ExplainUnusable().
  std::string note;
  // kUnusable: the input's last known state was the failure.
  bool last_failed = false;
  // kFailed: until when the input's readings are evidence.
  absl::Time until = absl::InfiniteFuture();
};

// `condition` names the failure of one input, as in "2 of 3 above 30" or
// "1 of 2 unreachable". Reasons:
//   kFailed:  "2 of 3 above 30 (quorum 2): h1/t1 31.5 > 30, ...; h2/t2 ..."
//   kUnknown: "can not tell: 1 of 3 above 30 and 1 unusable (quorum 2):
//              no reading from h2/t2 for 3m; ..."
//   kClear:   "0 of 3 above 30 (quorum 2)" plus "; not needed: WHY" for
//             unusable inputs and "; waiting for the first reading from
//             h3/t3".
Evaluation CountVotes(const std::vector<Vote>& votes, int quorum,
                      std::string_view condition);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_QUORUM_H_
