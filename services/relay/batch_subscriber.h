// What the RelayHub fans accepted batches out to (a Subscribe stream, or a
// test double).
#ifndef HWCAST_SERVICES_RELAY_BATCH_SUBSCRIBER_H_
#define HWCAST_SERVICES_RELAY_BATCH_SUBSCRIBER_H_

#include "services/relay/accepted_batch.h"

namespace hwcast::relay {

// Receives batches in acceptance order: first its snapshot, then live ones.
//
// The hub calls Offer() with its lock held, so Offer() must only queue (never
// block, never call into gRPC). Writing happens in StartPendingWrite(), which
// the hub calls after releasing its lock whenever Offer() returned true. An
// implementation that returns true must stay alive until that call.
//
// Implementations must be thread-safe: Offer() comes from ingesting threads
// while the subscriber's own stream callbacks run elsewhere.
class BatchSubscriber {
 public:
  virtual ~BatchSubscriber() = default;

  // Queues `batch` (or ignores it if nothing in it concerns the subscriber).
  // Returns true if the caller must call StartPendingWrite() once it holds
  // no lock.
  virtual bool Offer(const BatchPtr& batch, bool snapshot) = 0;

  // Starts the write claimed by the Offer() that returned true.
  virtual void StartPendingWrite() = 0;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_BATCH_SUBSCRIBER_H_
