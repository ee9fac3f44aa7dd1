// The hwcast.v1.Relay gRPC service, every method served on the server's
// async loop (lib/async_reactor.h: one thread, no gRPC callback threads;
// a relay's path from Publish to Subscribe takes no thread hand-off inside
// gRPC). GrpcServer::Start calls StartServing().
//
//   Publish        one PublishReactor per stream -> RelayHub::Ingest
//   Subscribe      raw method (grpc::ByteBuffer): one SubscribeReactor per
//                  stream, writing pre-serialized responses shared by all
//                  subscribers
//   ListLatest     RelayHub::ListLatest
//   ListCollectors RelayHub::ListCollectors
//   ListDisks      the latest DISK_INVENTORY readings through disk_view.h
// The List* methods answer on the loop's answering thread, not its I/O one.
//
// Every method is checked by Options::authorizer (lib/rpc_authz.h) when set:
// role "publish" for Publish (and each batch's collector id against the
// caller's collector_ids), "subscribe" for the others; a refusal is
// PERMISSION_DENIED.
//
// BeginShutdown() finishes every open stream (subscribers with OK,
// publishers with UNAVAILABLE) so that GrpcServer::Shutdown() does not wait
// for its grace period; streams that arrive later are refused.
//
// Thread-safe. Does not own the hub or metrics, which must outlive it; the
// service itself must outlive the gRPC server it is registered with.
#ifndef HWCAST_SERVICES_RELAY_RELAY_SERVICE_IMPL_H_
#define HWCAST_SERVICES_RELAY_RELAY_SERVICE_IMPL_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/async_reactor.h"
#include "lib/clock.h"
#include "lib/clock_impl.h"
#include "lib/rpc_authz.h"
#include "lib/rpc_metrics.h"
#include "services/relay/ingest_pool.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/stream_registry.h"

namespace hwcast::relay {

// Every method raw (lib/raw_rpc.h): a request that does not decode is
// answered INVALID_ARGUMENT saying so (gRPC's generated code would answer
// UNIMPLEMENTED with no message, or end a Publish stream with OK).
using RelayAsyncBase = hwcast::v1::Relay::WithRawMethod_Publish<
    hwcast::v1::Relay::WithRawMethod_Subscribe<
        hwcast::v1::Relay::WithRawMethod_ListLatest<
            hwcast::v1::Relay::WithRawMethod_ListCollectors<
                hwcast::v1::Relay::WithRawMethod_ListDisks<
                    hwcast::v1::Relay::Service>>>>>;

// Checks a request's filter: kinds must name a kind, hosts and source ids must
// not be empty, and no list may hold more than kMaxFilterEntries entries.
// INVALID_ARGUMENT names the field, e.g. "filter.kinds[0]: ...".
absl::Status ValidateFilter(const hwcast::v1::ReadingFilter& filter);
inline constexpr int kMaxFilterEntries = 1024;

// Parses the raw bytes of a SubscribeRequest and validates its filter.
absl::StatusOr<hwcast::v1::SubscribeRequest> ParseSubscribeRequest(
    const grpc::ByteBuffer& raw);

class RelayServiceImpl final : public RelayAsyncBase, public AsyncServing {
 public:
  struct Options {
    // Batches queued per subscriber before superseded ones are skipped.
    size_t subscriber_queue_batches = 1024;
    // Acks queued per Publish stream (batches being ingested plus acks not
    // yet written) before it stops reading.
    size_t max_pending_acks = 64;
    // Workers ingesting (verifying) published batches, shared by every
    // Publish stream; 0: one per core.
    size_t ingest_threads = 0;
    // false: each Publish stream ingests on its gRPC thread, one batch at a
    // time (how the relay worked before the pool; benchmarks compare).
    bool ingest_on_pool = true;
    // On the pool, a Publish stream that read nothing for this long (and
    // has no batch in flight) ingests its next batch on its gRPC thread:
    // no hand-off for a lone batch (publish_reactor.h). Above one ingest
    // (~100-150 us on a loaded core) so that a stream feeding faster than
    // one core verifies stays on the pool; below 1 ms so that a stream of
    // 1,000 batches/s takes the short path. InfiniteDuration(): never.
    absl::Duration publish_inline_after_idle = absl::Microseconds(500);
    // Publish streams advertise PublishAck.takes_grouped_batches, so that
    // a publisher with a backlog sends several batches per request
    // (publish_reactor.h). false: as a relay from before groups (tests and
    // benchmarks compare).
    bool publish_takes_grouped_batches = true;
    // A subscriber whose write is stuck this long is closed (0: never).
    absl::Duration subscriber_stall_timeout = absl::Seconds(30);
    // Times stalled writes and idle Publish streams (not owned).
    const Clock* clock = RealClock::Get();
    // Decides who may call (not owned); null: everyone.
    RpcAuthorizer* authorizer = nullptr;
    // Counts Publish and Subscribe calls (hwcast_rpc_total) from their
    // reactors instead of the server's interceptor, which would cost every
    // message of those streams one more thread wake-up (not owned; set up
    // before the server starts: the constructor marks both methods
    // CountedByService). Null: the interceptor counts them.
    RpcMetrics* rpc_metrics = nullptr;
  };

  RelayServiceImpl(RelayHub* hub, RelayMetrics* metrics, Options options);
  RelayServiceImpl(const RelayServiceImpl&) = delete;
  RelayServiceImpl& operator=(const RelayServiceImpl&) = delete;

  // Finishes every open stream and refuses new ones. Idempotent; returns
  // without waiting for the streams to be done.
  void BeginShutdown();

  // Open Publish and Subscribe streams.
  size_t open_streams() const { return registry_.size(); }

  // AsyncServing.
  void StartServing(AsyncLoop* loop) override;

 private:
  using Raw = grpc::ByteBuffer;

  void StartPublish(AsyncBidiCall<Raw, Raw>* call);
  void StartSubscribe(AsyncWriteCall<Raw, Raw>* call);
  grpc::Status AnswerListLatest(grpc::ServerContext* context,
                                const Raw& request, Raw* response);
  grpc::Status AnswerListCollectors(grpc::ServerContext* context,
                                    const Raw& request, Raw* response);
  grpc::Status AnswerListDisks(grpc::ServerContext* context, const Raw& request,
                               Raw* response);

  // Counts and logs (at debug) a request that did not decode or validate.
  void BadRequest(grpc::ServerContext* context, const char* method,
                  const absl::Status& why);

  RelayHub* const hub_;
  RelayMetrics* const metrics_;
  const Options options_;
  StreamRegistry registry_;
  // Destroyed before registry_ is; outlives every Publish stream (they end
  // before the server lets the service go).
  IngestPool ingest_pool_;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_SERVICE_IMPL_H_
