// A batch the relay accepted, kept immutable and shared (std::shared_ptr)
// between the state table and every subscriber queue that holds it.
//
// The SubscribeResponse that carries the batch to subscribers is serialized
// exactly once, when the batch is accepted, into a refcounted grpc::Slice.
// Every subscriber writes a grpc::ByteBuffer built over that slice, so fan-out
// to N subscribers shares one copy of the bytes. The `batch` bytes inside are
// the ones the collector sent (they are signed) and are never re-encoded.
//
// Thread-safety: immutable after MakeAcceptedBatch(); safe to read from any
// thread.
#ifndef HWCAST_SERVICES_RELAY_ACCEPTED_BATCH_H_
#define HWCAST_SERVICES_RELAY_ACCEPTED_BATCH_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"

namespace hwcast::relay {

// Where the relay got a batch from.
enum class BatchOrigin {
  // A collector's Publish stream.
  kPublish = 0,
  // Another relay's LAN multicast.
  kMulticast = 1,
  // A remote relay this one subscribes to in bridge mode.
  kBridge = 2,
};
inline constexpr int kNumBatchOrigins = 3;

// "publish", "multicast" or "bridge" (metric labels, logs).
const char* BatchOriginLabel(BatchOrigin origin);

struct AcceptedBatch {
  // One per distinct source (host/source_id) in the batch.
  struct Source {
    // SourceKey() of the source: "HOST/SOURCE_ID".
    std::string key;
    // Index in batch.readings() of the source's newest reading in this
    // batch (highest sequence).
    int newest = 0;
  };

  // Relay-local acceptance order: 1, 2, 3, ... (later batches are larger).
  uint64_t id = 0;
  // The parsed batch.
  hwcast::v1::ReadingBatch batch;
  // When this relay accepted the batch (its injected clock).
  absl::Time received_time;
  BatchOrigin origin = BatchOrigin::kPublish;
  // Relay-to-relay hops the batch took to reach this relay (0: published
  // here by its collector).
  uint32_t hops = 0;
  // Distinct sources of `batch`, in order of first appearance.
  std::vector<Source> sources;
  // For each reading of `batch`, the index of its entry in `sources`.
  std::vector<uint32_t> source_of_reading;
  // Serialized SubscribeResponse{batch: <the SignedBatch as received>,
  // hops} (snapshot unset).
  grpc::Slice response;
  // `response` as the live (not snapshot) message every subscriber's
  // StartWrite() is handed: built once per batch, read concurrently by
  // every subscriber's write (gRPC takes a reference to the slice).
  grpc::ByteBuffer live_response;

  // The serialized SignedBatch inside `response` (a view of its bytes, as
  // the LAN datagram payload): no re-encoding for multicast either.
  absl::string_view signed_batch_bytes() const;

  // The SubscribeResponse to write to a subscriber (a new ByteBuffer; live
  // writes use `live_response` instead). Shares `response`'s
  // bytes; for a snapshot, a two-byte suffix sets `snapshot = true` (the
  // protobuf wire format merges a field appended to a message).
  grpc::ByteBuffer ToByteBuffer(bool snapshot) const;

  // Bytes this batch adds to a SubscribeResponse{grouped} message: its
  // one-batch message (ToByteBuffer(snapshot)) behind the field's tag and
  // length.
  size_t GroupElementBytes(bool snapshot) const;
  // Appends this batch as one element of SubscribeResponse.grouped to
  // `slices` (a small tag+length slice, then the shared `response` bytes and
  // the snapshot suffix; nothing re-encoded). The protobuf wire form of a
  // repeated message field is the concatenation of its elements, so the
  // slices of several batches, in order, are one valid message.
  void AppendGroupElement(bool snapshot,
                          std::vector<grpc::Slice>* slices) const;

  const hwcast::v1::Reading& reading(int index) const {
    return batch.readings(index);
  }
};

using BatchPtr = std::shared_ptr<const AcceptedBatch>;

// Builds an AcceptedBatch from a SignedBatch whose `batch` bytes parse into
// `parsed`. Serializes the SubscribeResponse (the one copy of the bytes).
BatchPtr MakeAcceptedBatch(uint64_t id, hwcast::v1::SignedBatch signed_batch,
                           hwcast::v1::ReadingBatch parsed,
                           absl::Time received_time,
                           BatchOrigin origin = BatchOrigin::kPublish,
                           uint32_t hops = 0);

// Which part of a batch concerns a subscriber with a given filter.
struct BatchMatch {
  // Readings of the batch that pass the filter.
  int readings = 0;
  // Indices into AcceptedBatch::sources of the sources with at least one
  // reading that passes the filter, ascending.
  std::vector<uint32_t> sources;
};

BatchMatch MatchBatch(const AcceptedBatch& batch,
                      const hwcast::v1::ReadingFilter& filter);

// How many readings of `batch` pass `filter`, without listing the sources
// (no allocation; for a filter that selects everything, no matching at all).
int CountMatching(const AcceptedBatch& batch,
                  const hwcast::v1::ReadingFilter& filter);

// True if `filter` selects everything (every list empty).
bool IsMatchAll(const hwcast::v1::ReadingFilter& filter);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_ACCEPTED_BATCH_H_
