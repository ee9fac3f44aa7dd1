#include "services/relay/relay_service_impl.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/grpc_status_util.h"
#include "lib/log.h"
#include "lib/raw_rpc.h"
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
  hwcast::v1::SubscribeRequest request;
  if (absl::Status s = ParseRawMessage(raw, "request", &request); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateFilter(request.filter()); !s.ok()) return s;
  return request;
}

RelayServiceImpl::RelayServiceImpl(RelayHub* hub, RelayMetrics* metrics,
                                   Options options)
    : hub_(hub),
      metrics_(metrics),
      options_(options),
      ingest_pool_(options.ingest_on_pool ? options.ingest_threads : 1) {
  if (options_.rpc_metrics != nullptr) {
    options_.rpc_metrics->CountedByService(PublishReactor::kMethod);
    options_.rpc_metrics->CountedByService(SubscribeReactor::kMethod);
  }
}

void RelayServiceImpl::BeginShutdown() { registry_.StopAll(); }

void RelayServiceImpl::BadRequest(grpc::ServerContext* context,
                                  const char* method, const absl::Status& why) {
  metrics_->Error("bad_request").Increment();
  HWCAST_LOG(DEBUG) << method << " from " << context->peer()
                    << " refused: " << why.message();
}

void RelayServiceImpl::StartServing(AsyncLoop* loop) {
  AcceptBidi<Raw, Raw>(
      loop,
      [this](grpc::ServerContext* context,
             grpc::ServerAsyncReaderWriter<Raw, Raw>* stream,
             grpc::ServerCompletionQueue* cq,
             void* tag) { RequestPublish(context, stream, cq, cq, tag); },
      [this](AsyncBidiCall<Raw, Raw>* call) { StartPublish(call); });
  AcceptWrite<Raw, Raw>(
      loop,
      [this](grpc::ServerContext* context, Raw* request,
             grpc::ServerAsyncWriter<Raw>* writer,
             grpc::ServerCompletionQueue* cq, void* tag) {
        RequestSubscribe(context, request, writer, cq, cq, tag);
      },
      [this](AsyncWriteCall<Raw, Raw>* call) { StartSubscribe(call); });
  AcceptRawUnary(loop, this, &RelayServiceImpl::RequestListLatest,
                 &RelayServiceImpl::AnswerListLatest);
  AcceptRawUnary(loop, this, &RelayServiceImpl::RequestListCollectors,
                 &RelayServiceImpl::AnswerListCollectors);
  AcceptRawUnary(loop, this, &RelayServiceImpl::RequestListDisks,
                 &RelayServiceImpl::AnswerListDisks);
}

void RelayServiceImpl::StartPublish(AsyncBidiCall<Raw, Raw>* call) {
  PublishGrant grant;
  if (options_.authorizer != nullptr) {
    if (grpc::Status denied =
            options_.authorizer->AuthorizePublish(*call->context(), &grant);
        !denied.ok()) {
      PublishReactor::Reject(call, std::move(denied), options_.rpc_metrics);
      return;
    }
  }
  PublishReactor::Start(
      call, hub_, &registry_, options_.max_pending_acks,
      PublishReactor::Ingest{
          .pool = options_.ingest_on_pool ? &ingest_pool_ : nullptr,
          .clock = options_.clock,
          .inline_after_idle = options_.publish_inline_after_idle},
      PublishReactor::Permission{options_.authorizer, std::move(grant)},
      PublishReactor::Groups{.take = options_.publish_takes_grouped_batches,
                             .metrics = metrics_},
      options_.rpc_metrics);
}

void RelayServiceImpl::StartSubscribe(AsyncWriteCall<Raw, Raw>* call) {
  if (grpc::Status denied = Authorize(options_.authorizer, *call->context(),
                                      kRoleSubscribe, "Relay.Subscribe");
      !denied.ok()) {
    SubscribeReactor::Reject(call, std::move(denied), options_.rpc_metrics);
    return;
  }
  absl::StatusOr<hwcast::v1::SubscribeRequest> parsed =
      ParseSubscribeRequest(*call->request());
  if (!parsed.ok()) {
    BadRequest(call->context(), "Subscribe", parsed.status());
    SubscribeReactor::Reject(call, ToGrpcStatus(parsed.status()),
                             options_.rpc_metrics);
    return;
  }
  SubscribeReactor::Start(call, hub_, &registry_, metrics_,
                          options_.subscriber_queue_batches,
                          std::move(*parsed->mutable_filter()), options_.clock,
                          options_.subscriber_stall_timeout,
                          parsed->accept_grouped(), options_.rpc_metrics);
}

grpc::Status RelayServiceImpl::AnswerListLatest(grpc::ServerContext* context,
                                                const Raw& request,
                                                Raw* response) {
  if (grpc::Status denied = Authorize(options_.authorizer, *context,
                                      kRoleSubscribe, "Relay.ListLatest");
      !denied.ok()) {
    return denied;
  }
  return AnswerRaw<hwcast::v1::ListLatestRequest,
                   hwcast::v1::ListLatestResponse>(
      request, response,
      [&](const hwcast::v1::ListLatestRequest& r,
          hwcast::v1::ListLatestResponse* out) {
        if (absl::Status s = ValidateFilter(r.filter()); !s.ok()) {
          BadRequest(context, "ListLatest", s);
          return ToGrpcStatus(s);
        }
        *out = hub_->ListLatest(r.filter());
        return grpc::Status::OK;
      },
      [&](const absl::Status& s) { BadRequest(context, "ListLatest", s); });
}

grpc::Status RelayServiceImpl::AnswerListCollectors(
    grpc::ServerContext* context, const Raw& request, Raw* response) {
  if (grpc::Status denied = Authorize(options_.authorizer, *context,
                                      kRoleSubscribe, "Relay.ListCollectors");
      !denied.ok()) {
    return denied;
  }
  return AnswerRaw<hwcast::v1::ListCollectorsRequest,
                   hwcast::v1::ListCollectorsResponse>(
      request, response,
      [&](const hwcast::v1::ListCollectorsRequest&,
          hwcast::v1::ListCollectorsResponse* out) {
        *out = hub_->ListCollectors();
        return grpc::Status::OK;
      },
      [&](const absl::Status& s) { BadRequest(context, "ListCollectors", s); });
}

grpc::Status RelayServiceImpl::AnswerListDisks(grpc::ServerContext* context,
                                               const Raw& request,
                                               Raw* response) {
  if (grpc::Status denied = Authorize(options_.authorizer, *context,
                                      kRoleSubscribe, "Relay.ListDisks");
      !denied.ok()) {
    return denied;
  }
  return AnswerRaw<hwcast::v1::ListDisksRequest, hwcast::v1::ListDisksResponse>(
      request, response,
      [&](const hwcast::v1::ListDisksRequest& r,
          hwcast::v1::ListDisksResponse* out) {
        if (absl::Status s = ValidateDiskFind(r.find()); !s.ok()) {
          BadRequest(context, "ListDisks", s);
          return ToGrpcStatus(s);
        }
        hwcast::v1::ReadingFilter inventories;
        inventories.add_kinds(hwcast::v1::READING_KIND_DISK_INVENTORY);
        *out = BuildDiskList(hub_->ListLatest(inventories), r.find());
        return grpc::Status::OK;
      },
      [&](const absl::Status& s) { BadRequest(context, "ListDisks", s); });
}

}  // namespace hwcast::relay
