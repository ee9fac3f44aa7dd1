#include "services/relay/relay_service_impl.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/grpc_status_util.h"
#include "lib/log.h"
#include "services/relay/disk_view.h"
#include "services/relay/publish_reactor.h"
#include "services/relay/subscribe_reactor.h"

namespace hwcast::relay {
namespace {

absl::Status CheckListSize(const char* key, int size) {
  if (size > kMaxFilterEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        key, ": ", size, " entries, at most ", kMaxFilterEntries, " allowed"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateFilter(const hwcast::v1::ReadingFilter& filter) {
  if (absl::Status s = CheckListSize("filter.kinds", filter.kinds_size());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckListSize("filter.hosts", filter.hosts_size());
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckListSize("filter.source_ids", filter.source_ids_size());
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < filter.kinds_size(); ++i) {
    const int kind = filter.kinds(i);
    if (kind == hwcast::v1::READING_KIND_UNSPECIFIED ||
        !hwcast::v1::ReadingKind_IsValid(kind)) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.kinds[", i, "]: ", kind,
                       " is not a reading kind (temperature, humidity, power, "
                       "reachability, entropy, disk_inventory)"));
    }
  }
  for (int i = 0; i < filter.hosts_size(); ++i) {
    if (filter.hosts(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.hosts[", i, "]: empty host"));
    }
  }
  for (int i = 0; i < filter.source_ids_size(); ++i) {
    if (filter.source_ids(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.source_ids[", i, "]: empty source id"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<hwcast::v1::SubscribeRequest> ParseSubscribeRequest(
    const grpc::ByteBuffer& raw) {
  std::vector<grpc::Slice> slices;
  if (!raw.Valid() || !raw.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("SubscribeRequest missing");
  }
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  hwcast::v1::SubscribeRequest request;
  if (!request.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request (", bytes.size(),
                     " bytes) is not a serialized hwcast.v1.SubscribeRequest"));
  }
  if (absl::Status s = ValidateFilter(request.filter()); !s.ok()) return s;
  return request;
}

RelayServiceImpl::RelayServiceImpl(RelayHub* hub, RelayMetrics* metrics,
                                   Options options)
    : hub_(hub), metrics_(metrics), options_(options) {}

void RelayServiceImpl::BeginShutdown() { registry_.StopAll(); }

grpc::ServerBidiReactor<hwcast::v1::PublishRequest, hwcast::v1::PublishAck>*
RelayServiceImpl::Publish(grpc::CallbackServerContext* context) {
  return PublishReactor::Start(hub_, &registry_, options_.max_pending_acks,
                               context->peer());
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RelayServiceImpl::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  absl::StatusOr<hwcast::v1::SubscribeRequest> parsed =
      ParseSubscribeRequest(*request);
  if (!parsed.ok()) {
    metrics_->Error("bad_request").Increment();
    HWCAST_LOG(DEBUG) << "Subscribe from " << context->peer()
                      << " refused: " << parsed.status().message();
    return SubscribeReactor::Rejected(ToGrpcStatus(parsed.status()));
  }
  return SubscribeReactor::Start(
      hub_, &registry_, metrics_, options_.subscriber_queue_batches,
      std::move(*parsed->mutable_filter()), context->peer());
}

grpc::ServerUnaryReactor* RelayServiceImpl::ListLatest(
    grpc::CallbackServerContext* context,
    const hwcast::v1::ListLatestRequest* request,
    hwcast::v1::ListLatestResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateFilter(request->filter()); !s.ok()) {
    metrics_->Error("bad_request").Increment();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  *response = hub_->ListLatest(request->filter());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* RelayServiceImpl::ListCollectors(
    grpc::CallbackServerContext* context,
    const hwcast::v1::ListCollectorsRequest* request,
    hwcast::v1::ListCollectorsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  *response = hub_->ListCollectors();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* RelayServiceImpl::ListDisks(
    grpc::CallbackServerContext* context,
    const hwcast::v1::ListDisksRequest* request,
    hwcast::v1::ListDisksResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateDiskFind(request->find()); !s.ok()) {
    metrics_->Error("bad_request").Increment();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  hwcast::v1::ReadingFilter inventories;
  inventories.add_kinds(hwcast::v1::READING_KIND_DISK_INVENTORY);
  *response = BuildDiskList(hub_->ListLatest(inventories), request->find());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace hwcast::relay
