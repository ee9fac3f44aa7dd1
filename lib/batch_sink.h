// The seam between a relay link (which only moves bytes) and whatever
// processes the batches it receives (the Actuator).
#ifndef HWCAST_LIB_BATCH_SINK_H_
#define HWCAST_LIB_BATCH_SINK_H_

#include <string>
#include <string_view>

#include "hwcast/v1/relay.pb.h"

namespace hwcast {

// Takes batches from relay links. Implementations must be thread-safe: every
// link calls OnBatch() from its own thread.
class BatchSink {
 public:
  enum class Result {
    // New: its readings were taken in.
    kAccepted,
    // Seen before (through another relay, or re-sent after a reconnect).
    kDuplicate,
    // Dropped: failed verification, parsing or validation.
    kInvalid,
  };
  struct Outcome {
    Result result = Result::kAccepted;
    // Why, for kInvalid.
    std::string error;
  };

  virtual ~BatchSink() = default;

  // Processes one batch received from the relay at `relay` (a one-batch
  // SubscribeResponse: a link splits grouped messages first). Must not block
  // for long: the link does not read its stream meanwhile.
  virtual Outcome OnBatch(const hwcast::v1::SubscribeResponse& response,
                          std::string_view relay) = 0;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_BATCH_SINK_H_
