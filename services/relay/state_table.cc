#include "services/relay/state_table.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"

namespace hwcast::relay {

bool IsNewerReading(const AcceptedBatch& candidate, int candidate_index,
                    const AcceptedBatch& current, int current_index) {
  const hwcast::v1::Reading& a = candidate.reading(candidate_index);
  const hwcast::v1::Reading& b = current.reading(current_index);
  if (candidate.batch.collector_id() == current.batch.collector_id() &&
      candidate.batch.epoch() == current.batch.epoch()) {
    return a.sequence() > b.sequence();
  }
  return FromProtoTime(a.observed_time()) > FromProtoTime(b.observed_time());
}

size_t StateTable::Apply(const BatchPtr& batch) {
  size_t changed = 0;
  absl::MutexLock lock(&mu_);
  for (const AcceptedBatch::Source& source : batch->sources) {
    auto [it, inserted] = latest_.try_emplace(source.key);
    Entry& entry = it->second;
    if (inserted ||
        IsNewerReading(*batch, source.newest, *entry.batch, entry.index)) {
      entry.batch = batch;
      entry.index = source.newest;
      ++changed;
    }
  }
  return changed;
}

std::vector<StateTable::Entry> StateTable::Latest(
    const hwcast::v1::ReadingFilter& filter) const {
  std::vector<std::pair<std::string, Entry>> matching;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, entry] : latest_) {
      if (Matches(filter, entry.reading())) matching.emplace_back(key, entry);
    }
  }
  std::sort(matching.begin(), matching.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Entry> out;
  out.reserve(matching.size());
  for (auto& [key, entry] : matching) out.push_back(std::move(entry));
  return out;
}

std::vector<BatchPtr> StateTable::SnapshotBatches(
    const hwcast::v1::ReadingFilter& filter) const {
  std::vector<BatchPtr> out;
  {
    absl::flat_hash_set<const AcceptedBatch*> seen;
    absl::MutexLock lock(&mu_);
    for (const auto& [key, entry] : latest_) {
      if (!Matches(filter, entry.reading())) continue;
      if (seen.insert(entry.batch.get()).second) out.push_back(entry.batch);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const BatchPtr& a, const BatchPtr& b) { return a->id < b->id; });
  return out;
}

size_t StateTable::size() const {
  absl::MutexLock lock(&mu_);
  return latest_.size();
}

}  // namespace hwcast::relay
