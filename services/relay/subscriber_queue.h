// The batches waiting to be written to one subscriber, bounded by coalescing.
//
// Batches are written in the order they were pushed. Only batches with at
// least one reading passing the subscriber's filter are queued. While the
// queue holds at most `capacity` batches nothing is skipped. When a push
// takes it over `capacity`, every queued batch that is superseded for all of
// its matching sources (each such source appears in a batch queued after it)
// is dropped: the subscriber skips intermediate values but always gets the
// latest queued value of every source.
//
// If no queued batch is superseded the queue goes over `capacity`; every
// batch then holds the latest value of a source no other queued batch holds,
// so the queue never holds more batches than max(capacity, matching sources
// known to the relay) + 1.
//
// Each push and pop costs O(sources in the batch); a drop pass is O(queue
// length) and only runs when the queue is over capacity and has something to
// drop.
//
// Not thread-safe: the owning subscriber guards it with its own mutex.
#ifndef HWCAST_SERVICES_RELAY_SUBSCRIBER_QUEUE_H_
#define HWCAST_SERVICES_RELAY_SUBSCRIBER_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "hwcast/v1/relay.pb.h"
#include "services/relay/accepted_batch.h"

namespace hwcast::relay {

class SubscriberQueue {
 public:
  struct Item {
    BatchPtr batch;
    bool snapshot = false;
    // Readings of `batch` that pass the filter.
    int matching_readings = 0;
  };

  struct PushResult {
    // False when no reading of the batch passes the filter.
    bool queued = false;
    // Batches (and their matching readings) dropped to make room.
    uint64_t dropped_batches = 0;
    uint64_t dropped_readings = 0;
  };

  SubscriberQueue(size_t capacity, hwcast::v1::ReadingFilter filter);
  SubscriberQueue(const SubscriberQueue&) = delete;
  SubscriberQueue& operator=(const SubscriberQueue&) = delete;

  PushResult Push(BatchPtr batch, bool snapshot);
  // The oldest queued batch, or nullopt when empty.
  std::optional<Item> Pop();
  // The oldest queued batch, left queued. Requires !empty().
  const Item& front() const { return nodes_.front().item; }

  size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }
  size_t capacity() const { return capacity_; }
  const hwcast::v1::ReadingFilter& filter() const { return filter_; }

 private:
  struct Node {
    Item item;
    // Indices into item.batch->sources of the matching sources.
    std::vector<uint32_t> sources;
    // Matching sources for which this is the newest queued batch.
    size_t latest_for = 0;
  };

  absl::string_view KeyOf(const Node& node, uint32_t source) const {
    return node.item.batch->sources[source].key;
  }
  void Forget(const Node& node);
  void DropSuperseded(PushResult* result);

  const size_t capacity_;
  const hwcast::v1::ReadingFilter filter_;
  std::list<Node> nodes_;
  // Source key -> the newest queued node holding a matching reading of it.
  // Keys point into that node's batch, which outlives the entry.
  absl::flat_hash_map<absl::string_view, Node*> newest_;
  // Nodes with latest_for == 0.
  size_t superseded_ = 0;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_SUBSCRIBER_QUEUE_H_
