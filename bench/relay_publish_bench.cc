// One publisher -> relay over real gRPC on loopback: accepted signed batches
// per second through RelayServiceImpl (its Publish stream, RelayHub::Ingest,
// a SignedBatchVerifier), against a plain gRPC baseline.
//
// BM_RelayPublishSigned/readings:R/pool:P: an in-process relay serves
//   127.0.0.1:0, ingesting on its IngestPool (P = 1, one worker per core) or
//   on the stream's gRPC thread one batch at a time (P = 0, as before the
//   pool). One client stream writes kBatches signed batches of R readings (from
//   a writer thread, as fast as flow control and the relay's ack window let it)
//   while the benchmark thread reads every ack and checks it is ACCEPTED. Each
//   iteration is one stream of kBatchesPerStream batches, all distinct
//   (sequences 1..kBatches), so dedup never short-circuits. items_per_second:
//   accepted batches per second; `readings_per_second` counter: the readings
//   they carry. The suite divides batches/s by libsodium's one-core verifies/s
//   (baseline_sodium_verify_bench).
// BM_BaselineGrpcStream: the same client stream API against a server that
//   only reads and counts, one reading per PublishRequest (no verification,
//   no acks): plain gRPC streaming of one reading per message.
//   items_per_second: readings (messages) per second.
//
// Real time (the relay's gRPC threads do the work, not the benchmark's).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/signed_batches.h"
#include "benchmark/benchmark.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/signed_batch_verifier.h"
#include "prometheus/registry.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/relay_service_impl.h"

namespace hwcast::relay {
namespace {

using ::hwcast::v1::PublishAck;
using ::hwcast::v1::PublishRequest;

constexpr size_t kBatchesPerStream = 512;
constexpr int kStreams = 8;  // iterations
constexpr size_t kBatches = kBatchesPerStream * kStreams;

std::unique_ptr<hwcast::v1::Relay::Stub> StubFor(const std::string& address) {
  // A channel of its own, so that runs never share a connection.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return hwcast::v1::Relay::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

void BM_RelayPublishSigned(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  const bool on_pool = state.range(1) != 0;
  std::optional<bench::Setup> setup =
      bench::MakeSetup(state, readings, kBatches);
  if (!setup) return;
  FakeClock clock(bench::BatchTime());
  SignedBatchVerifier verifier(std::move(setup->trust), FreshnessOptions{},
                               &clock);
  prometheus::Registry registry;
  RelayMetrics metrics(registry);
  RelayHub hub(RelayHub::Options{}, &clock, &verifier, &metrics);
  RelayServiceImpl::Options options;
  options.clock = &clock;
  options.ingest_on_pool = on_pool;
  RelayServiceImpl service(&hub, &metrics, options);
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service});
  if (!server.ok()) {
    state.SkipWithError(std::string(server.status().message()).c_str());
    return;
  }
  std::vector<PublishRequest> requests(kBatches);
  for (size_t i = 0; i < kBatches; ++i) {
    *requests[i].mutable_batch() = std::move(setup->sealed[i]);
  }
  auto stub = StubFor((*server)->bound_addresses()[0]);
  size_t next = 0;
  for (auto _ : state) {
    grpc::ClientContext context;
    auto stream = stub->Publish(&context);
    const size_t first = next;
    next += kBatchesPerStream;
    std::thread writer([&stream, &requests, first] {
      for (size_t i = first; i < first + kBatchesPerStream; ++i) {
        if (!stream->Write(requests[i])) break;
      }
      stream->WritesDone();
    });
    PublishAck ack;
    size_t accepted = 0;
    std::string error;
    while (stream->Read(&ack)) {
      if (ack.result() == PublishAck::RESULT_ACCEPTED) {
        ++accepted;
      } else if (error.empty()) {
        error = absl::StrCat("batch ", ack.batch_sequence(),
                             " not accepted: ", ack.error());
      }
    }
    writer.join();
    const grpc::Status status = stream->Finish();
    if (!status.ok() || accepted != kBatchesPerStream) {
      state.SkipWithError(absl::StrCat("stream ended ", status.error_message(),
                                       " with ", accepted, " of ",
                                       kBatchesPerStream, " accepted; ", error)
                              .c_str());
      break;
    }
  }
  service.BeginShutdown();
  (*server)->Shutdown(absl::Seconds(5));
  state.SetItemsProcessed(state.iterations() * kBatchesPerStream);
  state.counters["readings_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatchesPerStream * readings),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RelayPublishSigned)
    ->ArgNames({"readings", "pool"})
    ->Args({16, 1})
    ->Args({16, 0})
    ->Iterations(kStreams)
    ->UseRealTime();

// Reads PublishRequests until the client half-closes, counting them; writes
// nothing back.
class CountingReactor final
    : public grpc::ServerBidiReactor<PublishRequest, PublishAck> {
 public:
  explicit CountingReactor(std::atomic<uint64_t>* count) : count_(count) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    count_->fetch_add(1, std::memory_order_relaxed);
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  std::atomic<uint64_t>* const count_;
  PublishRequest request_;
};

class CountingService final : public hwcast::v1::Relay::CallbackService {
 public:
  grpc::ServerBidiReactor<PublishRequest, PublishAck>* Publish(
      grpc::CallbackServerContext*) override {
    return new CountingReactor(&count_);
  }
  uint64_t count() const { return count_.load(); }

 private:
  std::atomic<uint64_t> count_{0};
};

constexpr size_t kMessagesPerStream = 8192;

void BM_BaselineGrpcStream(benchmark::State& state) {
  CountingService service;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service});
  if (!server.ok()) {
    state.SkipWithError(std::string(server.status().message()).c_str());
    return;
  }
  // One reading per message, as a batch of one (same fields as the relay's
  // batches carry per reading).
  std::vector<PublishRequest> requests(kMessagesPerStream);
  for (size_t i = 0; i < kMessagesPerStream; ++i) {
    hwcast::v1::ReadingBatch batch = bench::MakeBatch(i + 1, 1);
    *requests[i].mutable_batch()->mutable_batch() = batch.SerializeAsString();
  }
  auto stub = StubFor((*server)->bound_addresses()[0]);
  for (auto _ : state) {
    grpc::ClientContext context;
    auto stream = stub->Publish(&context);
    for (const PublishRequest& request : requests) {
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) {
      state.SkipWithError(status.error_message().c_str());
      break;
    }
  }
  (*server)->Shutdown(absl::Seconds(5));
  const uint64_t expected = state.iterations() * kMessagesPerStream;
  if (service.count() != expected) {
    state.SkipWithError(absl::StrCat("server counted ", service.count(),
                                     " messages of ", expected)
                            .c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(expected));
}
BENCHMARK(BM_BaselineGrpcStream)->Iterations(4)->UseRealTime();

}  // namespace
}  // namespace hwcast::relay

BENCHMARK_MAIN();
