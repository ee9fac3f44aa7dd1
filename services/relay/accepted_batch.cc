#include "services/relay/accepted_batch.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "lib/reading_util.h"

namespace hwcast::relay {
namespace {

// Field 2 (`snapshot`, varint) = 1 in hwcast.v1.SubscribeResponse.
constexpr char kSnapshotSuffix[] = {0x10, 0x01};
static_assert(hwcast::v1::SubscribeResponse::kSnapshotFieldNumber == 2);

void DeleteString(void* p) { delete static_cast<std::string*>(p); }

// Adopts `bytes` into a refcounted slice without copying them again.
grpc::Slice AdoptString(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  return grpc::Slice(owned->data(), owned->size(), &DeleteString, owned);
}

}  // namespace

grpc::ByteBuffer AcceptedBatch::ToByteBuffer(bool snapshot) const {
  if (!snapshot) return grpc::ByteBuffer(&response, 1);
  const grpc::Slice slices[] = {
      response, grpc::Slice(kSnapshotSuffix, sizeof(kSnapshotSuffix),
                            grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, 2);
}

BatchPtr MakeAcceptedBatch(uint64_t id, hwcast::v1::SignedBatch signed_batch,
                           hwcast::v1::ReadingBatch parsed,
                           absl::Time received_time) {
  auto out = std::make_shared<AcceptedBatch>();
  out->id = id;
  out->batch = std::move(parsed);
  out->received_time = received_time;

  absl::flat_hash_map<std::string, uint32_t> index;
  const auto& readings = out->batch.readings();
  out->source_of_reading.reserve(readings.size());
  for (int i = 0; i < readings.size(); ++i) {
    std::string key = SourceKey(readings[i]);
    auto [it, inserted] =
        index.try_emplace(key, static_cast<uint32_t>(out->sources.size()));
    if (inserted) {
      out->sources.push_back({std::move(key), i});
    } else {
      AcceptedBatch::Source& source = out->sources[it->second];
      if (readings[i].sequence() > readings[source.newest].sequence()) {
        source.newest = i;
      }
    }
    out->source_of_reading.push_back(it->second);
  }

  hwcast::v1::SubscribeResponse response;
  *response.mutable_batch() = std::move(signed_batch);
  std::string bytes;
  response.SerializeToString(&bytes);
  out->response = AdoptString(std::move(bytes));
  return out;
}

bool IsMatchAll(const hwcast::v1::ReadingFilter& filter) {
  return filter.kinds().empty() && filter.hosts().empty() &&
         filter.source_ids().empty();
}

BatchMatch MatchBatch(const AcceptedBatch& batch,
                      const hwcast::v1::ReadingFilter& filter) {
  BatchMatch match;
  if (IsMatchAll(filter)) {
    match.readings = batch.batch.readings_size();
    match.sources.reserve(batch.sources.size());
    for (uint32_t i = 0; i < batch.sources.size(); ++i) {
      match.sources.push_back(i);
    }
    return match;
  }
  std::vector<bool> matched(batch.sources.size(), false);
  for (int i = 0; i < batch.batch.readings_size(); ++i) {
    if (!Matches(filter, batch.batch.readings(i))) continue;
    ++match.readings;
    matched[batch.source_of_reading[i]] = true;
  }
  for (uint32_t i = 0; i < matched.size(); ++i) {
    if (matched[i]) match.sources.push_back(i);
  }
  return match;
}

}  // namespace hwcast::relay
