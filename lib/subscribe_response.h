// Reading the two forms of Relay.Subscribe's messages.
//
// A relay sends every subscriber one batch per SubscribeResponse (`batch`,
// `snapshot`, `hops`). A subscriber that set SubscribeRequest.accept_grouped
// may also get several batches in one message (`grouped`, each element a
// complete one-batch SubscribeResponse) when it fell behind: one write and
// one read for all of them. Every client in the repo opts in and reads both
// forms with SubscribeResponseBatches().
//
// Thread-safety: pure functions.
#ifndef HWCAST_LIB_SUBSCRIBE_RESPONSE_H_
#define HWCAST_LIB_SUBSCRIBE_RESPONSE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/relay.pb.h"

namespace hwcast {

// The one-batch messages `response` carries, in stream order: `response`
// itself, or the elements of its `grouped` field. The pointers point into
// `response` (not owned; valid while it is unchanged). InvalidArgument,
// naming the element, for a malformed group: one that also sets batch,
// snapshot or hops, an element that carries no batch, or an element that is
// a group itself. A one-batch message is returned as is (checking its batch
// is the caller's business, as before groups existed).
absl::StatusOr<std::vector<const hwcast::v1::SubscribeResponse*>>
SubscribeResponseBatches(const hwcast::v1::SubscribeResponse& response);

}  // namespace hwcast

#endif  // HWCAST_LIB_SUBSCRIBE_RESPONSE_H_
