// The hwcast.v1.Entropy gRPC service: Draw deals chunks from the relay's
// EntropyPool to the calling host, each chunk to this one caller only.
//
// Served on gRPC's async API (lib/async_reactor.h), on the GrpcServer's one
// I/O thread: no callback method and no callback alarm, since either would
// start gRPC's callback threads, which cost the relay's async methods their
// latency gain (bench/README.md, "What an async relay would need"). A Draw
// waiting for chunks wakes on a pool waiter (the thread that added the
// chunk) or on a completion-queue alarm (the I/O thread).
//
// Draw:
//   - with Options::authorizer, needs role "entropy" (lib/rpc_authz.h;
//     PERMISSION_DENIED, logged and counted there);
//   - refuses plaintext TCP callers with PERMISSION_DENIED unless
//     `allow_plaintext` (entropy bytes must not cross the network readable):
//     only unix-socket and TLS callers get entropy (lib/tls.h CallIsPrivate);
//   - validates the request (INVALID_ARGUMENT naming the field): host
//     non-empty and at most kMaxDrawHostBytes, 0 < bytes <= kMaxDrawBytes,
//     0 <= max_wait <= kMaxDrawWait;
//   - streams one chunk per message (one write in flight; a chunk is taken
//     from the pool only when the previous write finished, so a broken
//     stream loses at most the chunk being written, which is never dealt
//     again) until `bytes` entropy bytes were sent;
//   - when the pool is dry, waits for new chunks until max_wait after the
//     call started (capped just before the call's deadline), then finishes
//     OK with what it sent (possibly fewer bytes, or none);
//   - when the host's rate budget is spent: RESOURCE_EXHAUSTED if nothing
//     was sent yet (with the time to retry), else OK with what was sent.
// Refusals are counted in hwcast_relay_entropy_draws_refused_total{reason}.
//
// BeginShutdown() finishes every open Draw with UNAVAILABLE and refuses new
// ones.
//
// Register it with GrpcServer (lib/server.h), which calls StartServing()
// once the server runs.
//
// Thread-safe. Does not own the pool or metrics, which must outlive it; the
// service must outlive the gRPC server it is registered with.
#ifndef HWCAST_SERVICES_RELAY_ENTROPY_SERVICE_IMPL_H_
#define HWCAST_SERVICES_RELAY_ENTROPY_SERVICE_IMPL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hwcast/v1/entropy.grpc.pb.h"
#include "lib/async_reactor.h"
#include "lib/rpc_authz.h"
#include "services/relay/entropy_pool.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/stream_registry.h"

namespace hwcast::relay {

inline constexpr uint32_t kMaxDrawBytes = 1 << 20;
inline constexpr size_t kMaxDrawHostBytes = 255;
inline constexpr absl::Duration kMaxDrawWait = absl::Minutes(10);

// The message Draw refuses plaintext TCP callers with.
inline constexpr char kPlaintextRefusal[] =
    "entropy is served only over TLS (server.tls_listen + server.tls) or the "
    "unix socket; set entropy.allow_plaintext: true to allow plaintext TCP";

// Checks a DrawEntropyRequest; INVALID_ARGUMENT names the field.
absl::Status ValidateDrawRequest(const hwcast::v1::DrawEntropyRequest& request);

class EntropyServiceImpl final
    : public hwcast::v1::Entropy::WithAsyncMethod_Draw<
          hwcast::v1::Entropy::Service>,
      public AsyncServing {
 public:
  struct Options {
    // Serve plaintext TCP callers too (entropy.allow_plaintext).
    bool allow_plaintext = false;
    // Decides who may call (not owned); null: everyone.
    RpcAuthorizer* authorizer = nullptr;
  };

  EntropyServiceImpl(EntropyPool* pool, RelayMetrics* metrics, Options options);
  EntropyServiceImpl(const EntropyServiceImpl&) = delete;
  EntropyServiceImpl& operator=(const EntropyServiceImpl&) = delete;

  // Finishes every open Draw (UNAVAILABLE) and refuses new ones. Idempotent;
  // does not wait for the streams to be done.
  void BeginShutdown();

  // Open Draw streams.
  size_t open_streams() const { return registry_.size(); }

  // AsyncServing: accepts Draw calls on `loop` (its queue also takes the
  // streams' alarms). Called once, by GrpcServer.
  void StartServing(AsyncLoop* loop) override;

 private:
  using DrawCall = AsyncWriteCall<hwcast::v1::DrawEntropyRequest,
                                  hwcast::v1::DrawEntropyResponse>;

  // Starts the reactor of one accepted call (refused or served). Loop only.
  void StartDraw(DrawCall* call, grpc::ServerCompletionQueue* cq);

  EntropyPool* const pool_;
  RelayMetrics* const metrics_;
  const Options options_;
  StreamRegistry registry_;
  std::atomic<uint64_t> refused_{0};
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_ENTROPY_SERVICE_IMPL_H_
