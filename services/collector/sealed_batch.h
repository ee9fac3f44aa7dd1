// A sealed, serialized batch as it is shared by every relay link.
#ifndef HWCAST_SERVICES_COLLECTOR_SEALED_BATCH_H_
#define HWCAST_SERVICES_COLLECTOR_SEALED_BATCH_H_

#include <atomic>
#include <cstdint>

#include "hwcast/v1/relay.pb.h"

namespace hwcast::collector {

// One ReadingBatch, serialized exactly once into `request.batch().batch()`
// (and signed) by the Batcher, then shared read-only by every RelayPublisher
// via std::shared_ptr. No link ever re-encodes the batch bytes.
//
// Thread-safety: `request` and the identity fields are immutable after
// sealing and may be read from any thread. The atomics carry the delivery
// accounting shared by all links (see CollectorMetrics).
struct SealedBatch {
  uint64_t epoch = 0;
  uint64_t batch_sequence = 0;
  int num_readings = 0;
  // Holds one entropy reading and nothing else (Batcher seals entropy chunks
  // alone): sent to exactly one relay link, at most once (a batch written
  // on a stream that broke before its ack is dropped, never resent), and
  // never multicast by the relay.
  bool entropy = false;
  // Bytes of entropy data in it (0 unless `entropy`).
  uint64_t entropy_bytes = 0;
  // What every link writes on its Publish stream.
  hwcast::v1::PublishRequest request;

  // Set by the first relay that acknowledges the batch.
  std::atomic<bool> delivered{false};
  // Links that still hold the batch (neither acked, rejected nor dropped).
  std::atomic<int> links_pending{0};
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SEALED_BATCH_H_
