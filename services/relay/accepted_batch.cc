#include "services/relay/accepted_batch.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/io/coded_stream.h"
#include "lib/reading_util.h"
#include "services/relay/grouped_element.h"

namespace hwcast::relay {
namespace {

// Field 2 (`snapshot`, varint) = 1 in hwcast.v1.SubscribeResponse.
constexpr char kSnapshotSuffix[] = {0x10, 0x01};
static_assert(hwcast::v1::SubscribeResponse::kSnapshotFieldNumber == 2);
// Field 1 (`batch`), length-delimited.
constexpr uint32_t kSignedBatchTag = (1 << 3) | 2;
static_assert(hwcast::v1::SubscribeResponse::kBatchFieldNumber == 1);

// SubscribeResponse.grouped (field 2600), length-delimited.
constexpr uint32_t kGroupedTag =
    LengthDelimitedTag(hwcast::v1::SubscribeResponse::kGroupedFieldNumber);

void DeleteString(void* p) { delete static_cast<std::string*>(p); }

// Adopts `bytes` into a refcounted slice without copying them again.
grpc::Slice AdoptString(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  return grpc::Slice(owned->data(), owned->size(), &DeleteString, owned);
}

}  // namespace

const char* BatchOriginLabel(BatchOrigin origin) {
  switch (origin) {
    case BatchOrigin::kPublish:
      return "publish";
    case BatchOrigin::kMulticast:
      return "multicast";
    case BatchOrigin::kBridge:
      return "bridge";
  }
  return "publish";
}

absl::string_view AcceptedBatch::signed_batch_bytes() const {
  // `response` starts with field 1 (the SignedBatch, length-delimited),
  // because MakeAcceptedBatch serializes it first and it is never empty.
  google::protobuf::io::CodedInputStream in(response.begin(),
                                            static_cast<int>(response.size()));
  uint32_t length = 0;
  if (in.ReadTag() != kSignedBatchTag || !in.ReadVarint32(&length)) return {};
  const int offset = in.CurrentPosition();
  if (offset + static_cast<size_t>(length) > response.size()) return {};
  return absl::string_view(
      reinterpret_cast<const char*>(response.begin()) + offset, length);
}

grpc::ByteBuffer AcceptedBatch::ToByteBuffer(bool snapshot) const {
  if (!snapshot) return grpc::ByteBuffer(&response, 1);
  const grpc::Slice slices[] = {
      response, grpc::Slice(kSnapshotSuffix, sizeof(kSnapshotSuffix),
                            grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, 2);
}

size_t AcceptedBatch::GroupElementBytes(bool snapshot) const {
  return GroupedElementBytes(
      kGroupedTag, response.size() + (snapshot ? sizeof(kSnapshotSuffix) : 0));
}

void AcceptedBatch::AppendGroupElement(bool snapshot,
                                       std::vector<grpc::Slice>* slices) const {
  AppendGroupedElementPrefix(
      kGroupedTag, response.size() + (snapshot ? sizeof(kSnapshotSuffix) : 0),
      slices);
  slices->push_back(response);
  if (snapshot) {
    slices->emplace_back(kSnapshotSuffix, sizeof(kSnapshotSuffix),
                         grpc::Slice::STATIC_SLICE);
  }
}

BatchPtr MakeAcceptedBatch(uint64_t id, hwcast::v1::SignedBatch signed_batch,
                           hwcast::v1::ReadingBatch parsed,
                           absl::Time received_time, BatchOrigin origin,
                           uint32_t hops) {
  auto out = std::make_shared<AcceptedBatch>();
  out->id = id;
  out->origin = origin;
  out->hops = hops;
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
  response.set_hops(hops);
  std::string bytes;
  response.SerializeToString(&bytes);
  out->response = AdoptString(std::move(bytes));
  out->live_response = grpc::ByteBuffer(&out->response, 1);
  return out;
}

bool IsMatchAll(const hwcast::v1::ReadingFilter& filter) {
  return filter.kinds().empty() && filter.hosts().empty() &&
         filter.source_ids().empty();
}

int CountMatching(const AcceptedBatch& batch,
                  const hwcast::v1::ReadingFilter& filter) {
  if (IsMatchAll(filter)) return batch.batch.readings_size();
  int n = 0;
  for (const hwcast::v1::Reading& reading : batch.batch.readings()) {
    if (Matches(filter, reading)) ++n;
  }
  return n;
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
