// Relay fan-out: the cost of ingesting one batch and handing it to S
// subscribers, against a baseline that serializes the response once per
// subscriber (what a relay using the generated message API per write does).
//
// Arguments: subscribers, readings per batch. Both sides parse and validate
// the batch; the hub also deduplicates, updates the state table and counts.
// Compare the slopes (cost per added subscriber), not the absolute times.
// Figures and their ratio are in bench/README.md.
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/batch_verifier.h"
#include "lib/fake_clock.h"
#include "lib/raw_rpc.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/relay/batch_subscriber.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"

namespace hwcast::relay {
namespace {

hwcast::v1::SignedBatch MakeBatch(uint64_t sequence, int readings) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("bench");
  batch.set_epoch(42);
  batch.set_batch_sequence(sequence);
  for (int i = 0; i < readings; ++i) {
    hwcast::v1::Reading* r = batch.add_readings();
    r->set_host("rack1");
    r->set_source_id("hwmon/coretemp/temp" + std::to_string(i));
    r->set_label("Core " + std::to_string(i));
    r->set_sequence(sequence);
    *r->mutable_observed_time() =
        ToProtoTime(absl::FromUnixSeconds(1'700'000'000 + sequence));
    r->set_quality(hwcast::v1::QUALITY_OK);
    r->mutable_temperature()->set_celsius(40.0 + i);
  }
  hwcast::v1::SignedBatch signed_batch;
  signed_batch.set_batch(batch.SerializeAsString());
  return signed_batch;
}

// Takes what gRPC takes of a Subscribe reactor's write (a copy of the
// batch's shared live message: references to its slice), and keeps it as
// the write in flight.
class WritingSubscriber final : public BatchSubscriber {
 public:
  bool Offer(const BatchPtr& batch, bool snapshot) override {
    in_flight_ = snapshot ? batch->ToByteBuffer(true) : batch->live_response;
    return false;
  }
  void StartPendingWrite() override {}

 private:
  grpc::ByteBuffer in_flight_;
};

void BM_HubIngestFanout(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const int readings = static_cast<int>(state.range(1));
  prometheus::Registry registry;
  RelayMetrics metrics(registry);
  FakeClock clock;
  AcceptAllBatchVerifier verifier;
  RelayHub hub({}, &clock, &verifier, &metrics);
  std::vector<std::unique_ptr<WritingSubscriber>> subs;
  for (int i = 0; i < subscribers; ++i) {
    subs.push_back(std::make_unique<WritingSubscriber>());
    hub.AddSubscriber(subs.back().get(), {});
  }
  uint64_t sequence = 0;
  for (auto _ : state) {
    state.PauseTiming();
    hwcast::v1::SignedBatch batch = MakeBatch(++sequence, readings);
    state.ResumeTiming();
    benchmark::DoNotOptimize(hub.Ingest(std::move(batch), "bench"));
  }
  state.SetItemsProcessed(state.iterations());
  for (auto& s : subs) hub.RemoveSubscriber(s.get());
}
BENCHMARK(BM_HubIngestFanout)->ArgsProduct({{1, 10, 16, 64}, {8, 256}});

// Baseline: the same parse and validation, then one SubscribeResponse message
// built and serialized per subscriber.
void BM_BaselineSerializePerSubscriber(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const int readings = static_cast<int>(state.range(1));
  uint64_t sequence = 0;
  std::string out;
  for (auto _ : state) {
    state.PauseTiming();
    hwcast::v1::SignedBatch batch = MakeBatch(++sequence, readings);
    state.ResumeTiming();
    hwcast::v1::ReadingBatch parsed;
    parsed.ParseFromString(batch.batch());
    benchmark::DoNotOptimize(ValidateBatch(parsed));
    for (int i = 0; i < subscribers; ++i) {
      hwcast::v1::SubscribeResponse response;
      *response.mutable_batch() = batch;
      response.SerializeToString(&out);
      benchmark::DoNotOptimize(out);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineSerializePerSubscriber)
    ->ArgsProduct({{1, 10, 16, 64}, {8, 256}});

// What a ListLatest of the whole state table costs the relay's I/O thread
// (it answers on that thread): the hub's copy of every source's latest
// reading and the response's serialization. Argument: sources (16 per
// collector, as a room of hosts with 16 sensors each).
void BM_HubListLatest(benchmark::State& state) {
  const int sources = static_cast<int>(state.range(0));
  constexpr int kPerCollector = 16;
  prometheus::Registry registry;
  RelayMetrics metrics(registry);
  FakeClock clock;
  AcceptAllBatchVerifier verifier;
  RelayHub hub({}, &clock, &verifier, &metrics);
  for (int c = 0; c < sources / kPerCollector; ++c) {
    hwcast::v1::SignedBatch signed_batch = MakeBatch(1, kPerCollector);
    hwcast::v1::ReadingBatch batch;
    batch.ParseFromString(signed_batch.batch());
    batch.set_collector_id("collector-" + std::to_string(c));
    for (hwcast::v1::Reading& r : *batch.mutable_readings()) {
      r.set_host("host-" + std::to_string(c));
    }
    signed_batch.set_batch(batch.SerializeAsString());
    const hwcast::v1::PublishAck ack = hub.Ingest(signed_batch, "bench");
    if (ack.result() != hwcast::v1::PublishAck::RESULT_ACCEPTED) {
      state.SkipWithError(ack.error().c_str());
      return;
    }
  }
  size_t bytes = 0;
  for (auto _ : state) {
    const hwcast::v1::ListLatestResponse response = hub.ListLatest({});
    grpc::ByteBuffer buffer = SerializeToByteBuffer(response);
    bytes = buffer.Length();
    benchmark::DoNotOptimize(buffer);
  }
  state.counters["response_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_HubListLatest)
    ->Arg(160)
    ->Arg(16000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hwcast::relay

BENCHMARK_MAIN();
