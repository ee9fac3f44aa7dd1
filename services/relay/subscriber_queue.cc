#include "services/relay/subscriber_queue.h"

#include <algorithm>
#include <utility>

namespace hwcast::relay {

SubscriberQueue::SubscriberQueue(size_t capacity,
                                 hwcast::v1::ReadingFilter filter)
    : capacity_(std::max<size_t>(1, capacity)), filter_(std::move(filter)) {}

SubscriberQueue::PushResult SubscriberQueue::Push(BatchPtr batch,
                                                  bool snapshot) {
  PushResult result;
  BatchMatch match = MatchBatch(*batch, filter_);
  if (match.readings == 0) return result;
  result.queued = true;

  Node& node = nodes_.emplace_back();
  node.item = Item{std::move(batch), snapshot, match.readings};
  node.sources = std::move(match.sources);
  node.latest_for = node.sources.size();
  for (uint32_t source : node.sources) {
    const absl::string_view key = KeyOf(node, source);
    auto it = newest_.find(key);
    if (it != newest_.end()) {
      Node* older = it->second;
      if (--older->latest_for == 0) ++superseded_;
      // Re-key onto this node's copy of the key: the older node may go.
      newest_.erase(it);
    }
    newest_.emplace(key, &node);
  }
  if (nodes_.size() > capacity_ && superseded_ > 0) DropSuperseded(&result);
  return result;
}

void SubscriberQueue::DropSuperseded(PushResult* result) {
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->latest_for != 0) {
      ++it;
      continue;
    }
    // Superseded for every source: newest_ holds no pointer to it.
    ++result->dropped_batches;
    result->dropped_readings += it->item.matching_readings;
    it = nodes_.erase(it);
  }
  superseded_ = 0;
}

void SubscriberQueue::Forget(const Node& node) {
  for (uint32_t source : node.sources) {
    auto it = newest_.find(KeyOf(node, source));
    if (it != newest_.end() && it->second == &node) newest_.erase(it);
  }
}

std::optional<SubscriberQueue::Item> SubscriberQueue::Pop() {
  if (nodes_.empty()) return std::nullopt;
  Node& front = nodes_.front();
  if (front.latest_for == 0) --superseded_;
  Forget(front);
  Item item = std::move(front.item);
  nodes_.pop_front();
  return item;
}

}  // namespace hwcast::relay
