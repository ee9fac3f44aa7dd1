// One publisher -> relay over real gRPC on loopback: accepted signed batches
// per second through RelayServiceImpl (its Publish stream, RelayHub::Ingest,
// a SignedBatchVerifier), against a plain gRPC baseline.
//
// BM_RelayPublishSigned/readings:R/pool:P/grouped:G: an in-process relay
//   serves 127.0.0.1:0, ingesting on its IngestPool (P = 1, one worker per
//   core) or on the stream's gRPC thread one batch at a time (P = 0, as
//   before the pool). G = 0: one batch per PublishRequest (a publisher
//   before groups, or one without a backlog); G > 0: G batches per request
//   (`batch` and more_batches) and grouped acks read, what a collector with
//   a backlog sends a relay that takes groups (up to 64 per request).
//   One client stream writes kBatches signed batches of R readings (from
//   a writer thread, as fast as flow control and the relay's ack window let it)
//   while the benchmark thread reads every ack and checks it is ACCEPTED. Each
//   iteration is one stream of kBatchesPerStream batches, all distinct
//   (sequences 1..kBatches), so dedup never short-circuits. items_per_second:
//   accepted batches per second; `readings_per_second` counter: the readings
//   they carry. The suite divides batches/s by libsodium's one-core verifies/s
//   (baseline_sodium_verify_bench).
// BM_RelayPublishFromAnotherProcess/readings:R/grouped:G: the same relay
//   (on its pool), fed by a publisher in a process of its own (this binary
//   run with --publisher-child, writing the same kBatches batches over
//   kStreams streams, G per message as above), so that the relay process
//   does only the relay's work.
//   MeasureProcessCPUTime: cpu_time is the relay process's CPU over the
//   child's whole run (the relay idles while the child starts), and
//   items_per_second accepted batches per second of it: the suite divides
//   it by libsodium's verifies per CPU second. A relay whose collectors are
//   other hosts takes cores x that ratio x one core's verify rate.
// BM_BaselineGrpcStream: the same client stream API against a server that
//   only reads and counts, one reading per PublishRequest (no verification,
//   no acks): plain gRPC streaming of one reading per message.
//   items_per_second: readings (messages) per second.
//
// BM_RelayFanoutSigned/subscribers:S/grouped:G: the same relay (on its pool)
//   with S Subscribe streams (empty filter, each read by a client thread)
//   while one publisher stream writes signed 16-reading batches; an iteration
//   ends when every subscriber received every batch. G = 1: the subscribers
//   set accept_grouped (as every hwcast client does), so one that fell behind
//   gets the waiting batches in one message; G = 0: one batch per message
//   (an older client). items_per_second: readings delivered, summed over the
//   subscribers; `messages_per_second`: SubscribeResponses read;
//   `batches_per_second`: batches published (each to all S).
// BM_BaselineGrpcFanout/subscribers:S: S streams of the same Subscribe
//   method from a server that writes pre-serialized SubscribeResponses of
//   one reading each (no relay): plain gRPC server streaming of one reading
//   per message to S clients at once. items_per_second: readings delivered,
//   summed; `rounds_per_second`: messages per client (each to all S).
// BM_LatencyPublishToSubscriber: one publisher writes signed 16-reading
//   batches paced at 1,000 readings/s into the relay; one Subscribe client
//   parses each SubscribeResponse and its ReadingBatch and checks the
//   signature (what an actuator does before acting); the latency is from
//   the publisher's Write() to the end of that check. pool:1 ingests as
//   the relay does by default (on its pool, but a batch of an idle stream
//   on the gRPC thread), pool:0 every batch on the gRPC thread, pool:2
//   every batch on the pool (as before the idle-stream path).
// BM_LatencyPublishOneReading/pool:P: the same with one reading per batch,
//   one batch every 1 ms: the hop baseline's message rate (gap_ms:1).
// BM_BaselineGrpcHopLatency/gap_ms:G: one plain gRPC hop: a client writes
//   one reading per PublishRequest every G ms to a server that only parses
//   it; the latency is from Write() to the server's parse. gap_ms:1 is
//   1,000 readings/s one per message; gap_ms:16 the relay path's message
//   rate (62.5 batches/s): on a VM an idle gap that long costs every
//   wake-up on the path far more (p50 ~260 us against ~75 us at 1 ms).
//   Both report counters p50_us, p99_us and, for the suite's ratio,
//   latency_p50 / latency_p99 as rates (1 / latency: the suite divides the
//   hop's rate by the relay path's, i.e. the relay path's latency by the
//   hop's; at most 3 is the target for p99).
//
// Real time (the relay's gRPC threads do the work, not the benchmark's).
#include <grpcpp/grpcpp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/latency_percentiles.h"
#include "bench/signed_batches.h"
#include "benchmark/benchmark.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/signed_batch_verifier.h"
#include "prometheus/registry.h"
#include "services/relay/publish_reactor.h"
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

// An in-process relay on 127.0.0.1:0: RelayServiceImpl with `options`, a
// RelayHub and a SignedBatchVerifier over `trust`, their clock at the
// batches' time (the service keeps the real clock of `options`: it times
// idle Publish streams). Serve() starts it (false: `state` skipped with the
// error).
struct InProcessRelay {
  InProcessRelay(std::unique_ptr<TrustStore> trust,
                 RelayServiceImpl::Options options)
      : verifier(std::move(trust), FreshnessOptions{}, &clock),
        metrics(registry),
        hub(RelayHub::Options{}, &clock, &verifier, &metrics),
        service(&hub, &metrics, std::move(options)) {}
  ~InProcessRelay() { Stop(); }

  bool Serve(benchmark::State& state) {
    absl::StatusOr<std::unique_ptr<GrpcServer>> started =
        GrpcServer::Start({"127.0.0.1:0"}, {&service});
    if (!started.ok()) {
      state.SkipWithError(std::string(started.status().message()).c_str());
      return false;
    }
    server = *std::move(started);
    return true;
  }
  std::string address() const { return server->bound_addresses()[0]; }
  void Stop() {
    if (server == nullptr) return;
    service.BeginShutdown();
    server->Shutdown(absl::Seconds(5));
    server.reset();
  }

  FakeClock clock{bench::BatchTime()};
  SignedBatchVerifier verifier;
  prometheus::Registry registry;
  RelayMetrics metrics;
  RelayHub hub;
  RelayServiceImpl service;
  std::unique_ptr<GrpcServer> server;
};

// One Publish stream of messages[first .. first + count), written from a
// thread as fast as flow control and the ack window let it while this
// thread reads the acks (grouped ones too: more_acks). Empty when all
// `batches` batches the messages carry were ACCEPTED, else what went wrong
// (a batch not ACCEPTED, the stream's end).
std::string PublishMessages(hwcast::v1::Relay::Stub* stub,
                            const std::vector<PublishRequest>& messages,
                            size_t first, size_t count, size_t batches) {
  grpc::ClientContext context;
  auto stream = stub->Publish(&context);
  std::thread writer([&stream, &messages, first, count] {
    for (size_t i = first; i < first + count; ++i) {
      if (!stream->Write(messages[i])) break;
    }
    stream->WritesDone();
  });
  PublishAck ack;
  size_t accepted = 0;
  std::string error;
  auto take = [&](const PublishAck& one) {
    if (one.result() == PublishAck::RESULT_ACCEPTED) {
      ++accepted;
    } else if (error.empty()) {
      error = absl::StrCat("batch ", one.batch_sequence(),
                           " not accepted: ", one.error());
    }
  };
  while (stream->Read(&ack)) {
    take(ack);
    for (const PublishAck& more : ack.more_acks()) take(more);
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  if (status.ok() && accepted == batches) return "";
  return absl::StrCat("stream ended ", status.error_message(), " with ",
                      accepted, " of ", batches, " accepted; ", error);
}

// One Publish stream of requests[first .. first + kBatchesPerStream), one
// batch per message.
std::string PublishStream(hwcast::v1::Relay::Stub* stub,
                          const std::vector<PublishRequest>& requests,
                          size_t first) {
  return PublishMessages(stub, requests, first, kBatchesPerStream,
                         kBatchesPerStream);
}

// `requests` (one batch each) as messages of `group` batches each (`batch`
// and more_batches, accept_grouped_acks set: what a collector with a
// backlog sends a relay that takes groups); `group` 0 or 1: unchanged.
// `group` must divide kBatchesPerStream, so that no message spans two
// streams.
std::vector<PublishRequest> GroupRequests(std::vector<PublishRequest> requests,
                                          size_t group) {
  if (group <= 1) return requests;
  std::vector<PublishRequest> messages;
  messages.reserve(requests.size() / group);
  for (size_t i = 0; i < requests.size(); ++i) {
    if (i % group == 0) {
      messages.push_back(std::move(requests[i]));
      messages.back().set_accept_grouped_acks(true);
    } else {
      *messages.back().add_more_batches() =
          std::move(*requests[i].mutable_batch());
    }
  }
  return messages;
}

// One stream's worth of `group`-batch messages (kBatchesPerStream batches)
// from messages[stream * that], as PublishStream.
std::string PublishGroupedStream(hwcast::v1::Relay::Stub* stub,
                                 const std::vector<PublishRequest>& messages,
                                 size_t stream, size_t group) {
  const size_t per_stream = kBatchesPerStream / std::max<size_t>(group, 1);
  return PublishMessages(stub, messages, stream * per_stream, per_stream,
                         kBatchesPerStream);
}

// Whether `group` batches per message fits the benchmark (else skips).
bool GroupFits(benchmark::State& state, size_t group) {
  if (group <= 1 || (kBatchesPerStream % group == 0 &&
                     group <= PublishReactor::kMaxGroupBatches)) {
    return true;
  }
  state.SkipWithError(absl::StrCat("grouped:", group, " must divide ",
                                   kBatchesPerStream, " and be at most ",
                                   PublishReactor::kMaxGroupBatches)
                          .c_str());
  return false;
}

void BM_RelayPublishSigned(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  const bool on_pool = state.range(1) != 0;
  const size_t group = static_cast<size_t>(state.range(2));
  if (!GroupFits(state, group)) return;
  std::optional<bench::Setup> setup =
      bench::MakeSetup(state, readings, kBatches);
  if (!setup) return;
  RelayServiceImpl::Options options;
  options.ingest_on_pool = on_pool;
  InProcessRelay relay(std::move(setup->trust), options);
  if (!relay.Serve(state)) return;
  std::vector<PublishRequest> requests(kBatches);
  for (size_t i = 0; i < kBatches; ++i) {
    *requests[i].mutable_batch() = std::move(setup->sealed[i]);
  }
  const std::vector<PublishRequest> messages =
      GroupRequests(std::move(requests), group);
  auto stub = StubFor(relay.address());
  size_t stream = 0;
  for (auto _ : state) {
    const std::string error =
        PublishGroupedStream(stub.get(), messages, stream++, group);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
  relay.Stop();
  state.SetItemsProcessed(state.iterations() * kBatchesPerStream);
  state.counters["readings_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatchesPerStream * readings),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RelayPublishSigned)
    ->ArgNames({"readings", "pool", "grouped"})
    ->Args({16, 1, 0})
    ->Args({16, 0, 0})
    ->Args({16, 1, 16})
    ->Args({16, 1, 32})
    ->Args({16, 1, 64})
    ->Iterations(kStreams)
    ->UseRealTime();

// The child's side of BM_RelayPublishFromAnotherProcess: publishes the
// PublishRequests of `path` (each a 4-byte little-endian length, then the
// message) to the relay at `address`, kBatchesPerStream per stream, in
// messages of `group` batches (0: one per message). Exit code 0 when every
// batch was ACCEPTED; else 1, with the reason on stderr.
int RunPublisherChild(const std::string& address, const std::string& path,
                      size_t group) {
  std::ifstream in(path, std::ios::binary);
  std::vector<PublishRequest> requests;
  uint8_t length_bytes[4];
  while (in.read(reinterpret_cast<char*>(length_bytes), 4)) {
    const uint32_t length = length_bytes[0] | (length_bytes[1] << 8) |
                            (length_bytes[2] << 16) |
                            (static_cast<uint32_t>(length_bytes[3]) << 24);
    std::string bytes(length, '\0');
    if (!in.read(bytes.data(), length) ||
        !requests.emplace_back().ParseFromString(bytes)) {
      std::fprintf(stderr, "publisher: %s: request %zu is cut short\n",
                   path.c_str(), requests.size());
      return 1;
    }
  }
  if (requests.size() != kBatches) {
    std::fprintf(stderr, "publisher: %s holds %zu requests, not %zu\n",
                 path.c_str(), requests.size(), kBatches);
    return 1;
  }
  const std::vector<PublishRequest> messages =
      GroupRequests(std::move(requests), group);
  auto stub = StubFor(address);
  for (size_t stream = 0; stream < static_cast<size_t>(kStreams); ++stream) {
    const std::string error =
        PublishGroupedStream(stub.get(), messages, stream, group);
    if (!error.empty()) {
      std::fprintf(stderr, "publisher: %s\n", error.c_str());
      return 1;
    }
  }
  return 0;
}

void BM_RelayPublishFromAnotherProcess(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  const size_t group = static_cast<size_t>(state.range(1));
  if (!GroupFits(state, group)) return;
  std::optional<bench::Setup> setup =
      bench::MakeSetup(state, readings, kBatches);
  if (!setup) return;
  char path[] = "/tmp/hwcast-publish-bench-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) {
    state.SkipWithError(
        absl::StrCat("mkstemp: ", std::strerror(errno)).c_str());
    return;
  }
  ::close(fd);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (size_t i = 0; i < kBatches; ++i) {
      PublishRequest request;
      *request.mutable_batch() = std::move(setup->sealed[i]);
      const std::string bytes = request.SerializeAsString();
      const uint32_t n = static_cast<uint32_t>(bytes.size());
      const char length[4] = {static_cast<char>(n), static_cast<char>(n >> 8),
                              static_cast<char>(n >> 16),
                              static_cast<char>(n >> 24)};
      out.write(length, 4);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
  }
  RelayServiceImpl::Options options;
  InProcessRelay relay(std::move(setup->trust), options);
  if (!relay.Serve(state)) {
    ::unlink(path);
    return;
  }
  std::string address = relay.address();
  std::string self = "/proc/self/exe";
  std::string flag = "--publisher-child";
  std::string file = path;
  std::string group_arg = std::to_string(group);
  char* argv[] = {self.data(), flag.data(),      address.data(),
                  file.data(), group_arg.data(), nullptr};
  std::string error;
  for (auto _ : state) {
    pid_t child = 0;
    if (const int e = ::posix_spawn(&child, self.c_str(), nullptr, nullptr,
                                    argv, environ);
        e != 0) {
      error = absl::StrCat("posix_spawn: ", std::strerror(e));
      break;
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      error = "the publisher process failed (its stderr says why)";
      break;
    }
  }
  relay.Stop();
  ::unlink(path);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  state.SetItemsProcessed(state.iterations() * kBatches);
}
BENCHMARK(BM_RelayPublishFromAnotherProcess)
    ->ArgNames({"readings", "grouped"})
    ->Args({16, 0})
    ->Args({16, 64})
    ->Iterations(1)
    ->MeasureProcessCPUTime();

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

constexpr int kFanoutReadings = 16;

// S client threads reading Subscribe streams of `stub` and counting the
// batches (a grouped response counts its elements) and the messages;
// Stop() cancels and joins them. `grouped`: set accept_grouped.
class SubscriberClients {
 public:
  SubscriberClients(hwcast::v1::Relay::Stub* stub, int count,
                    bool grouped = false) {
    for (int i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<grpc::ClientContext>());
    }
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this, stub, i, grouped] {
        hwcast::v1::SubscribeRequest request;
        request.set_accept_grouped(grouped);
        auto reader = stub->Subscribe(contexts_[i].get(), request);
        hwcast::v1::SubscribeResponse response;
        while (reader->Read(&response)) {
          const size_t batches =
              response.grouped().empty() ? 1 : response.grouped_size();
          received_.fetch_add(batches, std::memory_order_relaxed);
          messages_.fetch_add(1, std::memory_order_relaxed);
        }
        reader->Finish();
      });
    }
  }
  ~SubscriberClients() { Stop(); }
  uint64_t received() const { return received_.load(); }
  uint64_t messages() const { return messages_.load(); }
  // Waits until `n` responses arrived in all, or nothing came for 2 s.
  bool AwaitReceived(uint64_t n) const {
    uint64_t last = 0;
    absl::Time progress = absl::Now();
    while (received() < n) {
      if (received() != last) {
        last = received();
        progress = absl::Now();
      } else if (absl::Now() - progress > absl::Seconds(2)) {
        return false;
      }
      absl::SleepFor(absl::Microseconds(200));
    }
    return true;
  }
  // Waits for every stream to end.
  void Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  void Stop() {
    for (auto& c : contexts_) c->TryCancel();
    Join();
  }

 private:
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> messages_{0};
};

void BM_RelayFanoutSigned(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const bool grouped = state.range(1) != 0;
  std::optional<bench::Setup> setup =
      bench::MakeSetup(state, kFanoutReadings, kBatches);
  if (!setup) return;
  RelayServiceImpl::Options options;
  // Every batch reaches every subscriber (nothing coalesced away).
  options.subscriber_queue_batches = 2 * kBatchesPerStream;
  InProcessRelay relay(std::move(setup->trust), options);
  if (!relay.Serve(state)) return;
  std::vector<PublishRequest> requests(kBatches);
  for (size_t i = 0; i < kBatches; ++i) {
    *requests[i].mutable_batch() = std::move(setup->sealed[i]);
  }
  auto stub = StubFor(relay.address());
  auto publisher = StubFor(relay.address());
  SubscriberClients clients(stub.get(), subscribers, grouped);
  for (int i = 0; i < 500 && relay.hub.subscriber_count() <
                                 static_cast<size_t>(subscribers);
       ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  size_t next = 0;
  for (auto _ : state) {
    const std::string error = PublishStream(publisher.get(), requests, next);
    next += kBatchesPerStream;
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    if (!clients.AwaitReceived(next * subscribers)) {
      state.SkipWithError(absl::StrCat("subscribers received ",
                                       clients.received(), " of ",
                                       next * subscribers)
                              .c_str());
      break;
    }
  }
  const uint64_t messages = clients.messages();
  clients.Stop();
  relay.Stop();
  state.SetItemsProcessed(state.iterations() * kBatchesPerStream * subscribers *
                          kFanoutReadings);
  state.counters["messages_per_second"] = benchmark::Counter(
      static_cast<double>(messages), benchmark::Counter::kIsRate);
  // Batches published (each went to all S): 1 / this is the time per batch,
  // whose slope over S is the cost per added subscriber.
  state.counters["batches_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kBatchesPerStream,
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RelayFanoutSigned)
    ->ArgNames({"subscribers", "grouped"})
    ->ArgsProduct({{1, 10}, {0, 1}})
    ->Iterations(kStreams)
    ->UseRealTime();

// Writes `count` copies of one pre-serialized response per Subscribe
// stream, then finishes.
class FanoutWriter final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  FanoutWriter(const grpc::ByteBuffer* message, size_t count)
      : message_(message), left_(count) {
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (left_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    --left_;
    StartWrite(message_);
  }
  const grpc::ByteBuffer* const message_;
  size_t left_;
};

// Raw (ByteBuffer) Subscribe: no per-message serialization on the server.
class FanoutService final
    : public hwcast::v1::Relay::WithRawCallbackMethod_Subscribe<
          hwcast::v1::Relay::Service> {
 public:
  explicit FanoutService(size_t count) : count_(count) {
    hwcast::v1::SubscribeResponse response;
    *response.mutable_batch()->mutable_batch() =
        bench::MakeBatch(1, 1).SerializeAsString();
    const std::string bytes = response.SerializeAsString();
    grpc::Slice slice(bytes);
    message_ = grpc::ByteBuffer(&slice, 1);
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(
      grpc::CallbackServerContext*, const grpc::ByteBuffer*) override {
    return new FanoutWriter(&message_, count_);
  }

 private:
  const size_t count_;
  grpc::ByteBuffer message_;
};

void BM_BaselineGrpcFanout(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  constexpr size_t kMessages = 8192;
  FanoutService service(kMessages);
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service});
  if (!server.ok()) {
    state.SkipWithError(std::string(server.status().message()).c_str());
    return;
  }
  auto stub = StubFor((*server)->bound_addresses()[0]);
  uint64_t total = 0;
  for (auto _ : state) {
    SubscriberClients clients(stub.get(), subscribers);
    clients.Join();
    total += clients.received();
  }
  (*server)->Shutdown(absl::Seconds(5));
  if (total != state.iterations() * kMessages * subscribers) {
    state.SkipWithError(
        absl::StrCat("clients received ", total, " of ",
                     state.iterations() * kMessages * subscribers)
            .c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
  state.counters["rounds_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kMessages,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BaselineGrpcFanout)
    ->ArgName("subscribers")
    ->Arg(1)
    ->Arg(10)
    ->Iterations(4)
    ->UseRealTime();

// Latencies in microseconds, from any thread.
class Latencies {
 public:
  void Add(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    us_.push_back(absl::ToDoubleMicroseconds(d));
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return us_.size();
  }
  // p50 and p99 into `state`'s counters (bench/latency_percentiles.h).
  void Report(benchmark::State& state) {
    absl::MutexLock lock(&mu_);
    bench::ReportLatencyPercentiles(state, us_);
  }

 private:
  absl::Mutex mu_;
  std::vector<double> us_;
};

constexpr size_t kLatencyBatches = 250;  // 4 s at 62.5 batches/s
constexpr absl::Duration kLatencyBatchGap = absl::Milliseconds(16);

// Where the relay ingests in the latency benchmarks (arg "pool").
enum LatencyIngest : int64_t {
  kLatencyInline = 0,      // every batch on the gRPC thread
  kLatencyPoolIdle = 1,    // the default: the pool, an idle stream inline
  kLatencyPoolAlways = 2,  // every batch on the pool (before idle-inline)
};

// Publishes `count` signed batches of `readings` readings, one every `gap`,
// through the relay; a Subscribe client checks each; p50 / p99 of the
// publisher's Write() -> the end of that check.
void RunPublishLatency(benchmark::State& state, int readings, size_t count,
                       absl::Duration gap) {
  std::optional<bench::Setup> setup = bench::MakeSetup(state, readings, count);
  if (!setup) return;
  const Ed25519PublicKey key = setup->key->public_key();
  RelayServiceImpl::Options options;
  options.ingest_on_pool = state.range(0) != kLatencyInline;
  if (state.range(0) == kLatencyPoolAlways) {
    options.publish_inline_after_idle = absl::InfiniteDuration();
  }
  InProcessRelay relay(std::move(setup->trust), options);
  if (!relay.Serve(state)) return;
  std::vector<std::atomic<int64_t>> sent_ns(count + 1);
  Latencies latencies;
  auto sub_stub = StubFor(relay.address());
  grpc::ClientContext sub_context;
  std::thread subscriber([&] {
    hwcast::v1::SubscribeRequest request;
    auto reader = sub_stub->Subscribe(&sub_context, request);
    hwcast::v1::SubscribeResponse response;
    hwcast::v1::ReadingBatch batch;
    while (reader->Read(&response)) {
      if (!batch.ParseFromString(response.batch().batch()) ||
          !key.Verify(response.batch().batch(), response.batch().signature()) ||
          batch.batch_sequence() > count) {
        continue;
      }
      latencies.Add(absl::Now() - absl::FromUnixNanos(
                                      sent_ns[batch.batch_sequence()].load()));
    }
    reader->Finish();
  });
  for (int i = 0; i < 500 && relay.hub.subscriber_count() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto stub = StubFor(relay.address());
  for (auto _ : state) {
    grpc::ClientContext context;
    auto stream = stub->Publish(&context);
    std::thread acks([&stream] {
      PublishAck ack;
      while (stream->Read(&ack)) {
      }
    });
    absl::Time due = absl::Now();
    for (size_t i = 0; i < count; ++i) {
      PublishRequest request;
      *request.mutable_batch() = setup->sealed[i];
      absl::SleepFor(due - absl::Now());
      due += gap;
      sent_ns[i + 1].store(absl::ToUnixNanos(absl::Now()));
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
    acks.join();
    stream->Finish();
    for (int i = 0; i < 200 && latencies.size() < count; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  sub_context.TryCancel();
  subscriber.join();
  relay.Stop();
  latencies.Report(state);
  state.SetItemsProcessed(count * readings);
}

void BM_LatencyPublishToSubscriber(benchmark::State& state) {
  RunPublishLatency(state, kFanoutReadings, kLatencyBatches, kLatencyBatchGap);
}
BENCHMARK(BM_LatencyPublishToSubscriber)
    ->ArgName("pool")
    ->Arg(kLatencyPoolIdle)
    ->Arg(kLatencyInline)
    ->Arg(kLatencyPoolAlways)
    ->Iterations(1)
    ->UseRealTime();

// The same path at the hop baseline's message rate: one reading per batch,
// one batch every 1 ms (2 s).
void BM_LatencyPublishOneReading(benchmark::State& state) {
  RunPublishLatency(state, 1, 2000, absl::Milliseconds(1));
}
BENCHMARK(BM_LatencyPublishOneReading)
    ->ArgName("pool")
    ->Arg(kLatencyPoolIdle)
    ->Arg(kLatencyPoolAlways)
    ->Iterations(1)
    ->UseRealTime();

// Records the latency of every PublishRequest (one reading each) it reads.
class LatencyReactor final
    : public grpc::ServerBidiReactor<PublishRequest, PublishAck> {
 public:
  LatencyReactor(const std::vector<std::atomic<int64_t>>* sent_ns,
                 Latencies* latencies)
      : sent_ns_(sent_ns), latencies_(latencies) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    hwcast::v1::ReadingBatch batch;
    if (batch.ParseFromString(request_.batch().batch()) &&
        batch.batch_sequence() < sent_ns_->size()) {
      latencies_->Add(
          absl::Now() -
          absl::FromUnixNanos((*sent_ns_)[batch.batch_sequence()].load()));
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const std::vector<std::atomic<int64_t>>* const sent_ns_;
  Latencies* const latencies_;
  PublishRequest request_;
};

class LatencyService final : public hwcast::v1::Relay::CallbackService {
 public:
  LatencyService(const std::vector<std::atomic<int64_t>>* sent_ns,
                 Latencies* latencies)
      : sent_ns_(sent_ns), latencies_(latencies) {}
  grpc::ServerBidiReactor<PublishRequest, PublishAck>* Publish(
      grpc::CallbackServerContext*) override {
    return new LatencyReactor(sent_ns_, latencies_);
  }

 private:
  const std::vector<std::atomic<int64_t>>* const sent_ns_;
  Latencies* const latencies_;
};

void BM_BaselineGrpcHopLatency(benchmark::State& state) {
  const absl::Duration gap = absl::Milliseconds(state.range(0));
  // 2 s at 1,000/s; as many messages as BM_LatencyPublishToSubscriber's
  // batches at its pace.
  const size_t messages = state.range(0) == 1 ? 2000 : kLatencyBatches;
  std::vector<std::atomic<int64_t>> sent_ns(messages + 1);
  Latencies latencies;
  LatencyService service(&sent_ns, &latencies);
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service});
  if (!server.ok()) {
    state.SkipWithError(std::string(server.status().message()).c_str());
    return;
  }
  std::vector<PublishRequest> requests(messages);
  for (size_t i = 0; i < messages; ++i) {
    *requests[i].mutable_batch()->mutable_batch() =
        bench::MakeBatch(i + 1, 1).SerializeAsString();
  }
  auto stub = StubFor((*server)->bound_addresses()[0]);
  for (auto _ : state) {
    grpc::ClientContext context;
    auto stream = stub->Publish(&context);
    absl::Time due = absl::Now();
    for (size_t i = 0; i < messages; ++i) {
      absl::SleepFor(due - absl::Now());
      due += gap;
      sent_ns[i + 1].store(absl::ToUnixNanos(absl::Now()));
      if (!stream->Write(requests[i])) break;
    }
    stream->WritesDone();
    stream->Finish();
  }
  (*server)->Shutdown(absl::Seconds(5));
  latencies.Report(state);
  state.SetItemsProcessed(messages);
}
BENCHMARK(BM_BaselineGrpcHopLatency)
    ->ArgName("gap_ms")
    ->Arg(1)
    ->Arg(absl::ToInt64Milliseconds(kLatencyBatchGap))
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
}  // namespace hwcast::relay

int main(int argc, char** argv) {
  if (argc == 5 && std::string_view(argv[1]) == "--publisher-child") {
    size_t group = 0;
    if (!absl::SimpleAtoi(argv[4], &group)) {
      std::fprintf(stderr, "publisher: group %s is not a number\n", argv[4]);
      return 1;
    }
    return hwcast::relay::RunPublisherChild(argv[2], argv[3], group);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
