#include "services/actuator/entropy/reseeder.h"

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/signed_batch_verifier.h"
#include "lib/signing_test_util.h"
#include "lib/testing/metrics.h"
#include "lib/testing/scratch_dir.h"
#include "prometheus/registry.h"
#include "services/actuator/entropy/entropy_test_util.h"

namespace hwcast::actuator::entropy {
namespace {

using ::hwcast::v1::SignedBatch;
using testing::ChunkSpec;
using testing::FakeEntropyClient;
using testing::GoodRandom;
using ::testing::HasSubstr;
using testing::RecordingSink;

using ::hwcast::testutil::MetricValue;

const std::string kSecret(32, 's');

class ReseederTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitSodium().ok());
    key_.emplace(*Ed25519PrivateKey::Generate());
    auto trust = signing_test::TrustOnly(*key_, "rng1", {"rng1"}, {"rng1"});
    ASSERT_TRUE(trust.ok());
    verifier_ = std::make_unique<SignedBatchVerifier>(
        *std::move(trust), FreshnessOptions{absl::Hours(24), absl::Seconds(30)},
        &clock_);
    avail_path_ = (dir_ / "entropy_avail").string();
    SetAvail(4000);
  }
  void TearDown() override { reseeder_.reset(); }

  void SetAvail(int bits) { std::ofstream(avail_path_) << bits << "\n"; }

  void Make(ReseederOptions options) {
    options.entropy_avail_path = avail_path_;
    auto client = std::make_unique<FakeEntropyClient>();
    auto sink = std::make_unique<RecordingSink>();
    client_ = client.get();
    sink_ = sink.get();
    ReseederParts parts;
    parts.client = std::move(client);
    parts.sink = std::move(sink);
    parts.mixer =
        std::make_unique<EntropyMixer>(*EntropyMixer::FromSecret(kSecret));
    parts.verifier = verifier_.get();
    reseeder_ = std::make_unique<Reseeder>(std::move(options), std::move(parts),
                                           &clock_, registry_);
  }

  ChunkSpec Spec(uint64_t sequence) {
    ChunkSpec spec;
    spec.sequence = sequence;
    spec.data = GoodRandom(2500, sequence);
    spec.entropy_bits = 12000;
    spec.time = clock_.Now();
    return spec;
  }
  // Queues chunks first..last and returns their specs.
  std::vector<ChunkSpec> Queue(uint64_t first, uint64_t last) {
    std::vector<ChunkSpec> specs;
    for (uint64_t s = first; s <= last; ++s) {
      specs.push_back(Spec(s));
      client_->Push(testing::SignedEntropyBatch(specs.back(), *key_));
    }
    return specs;
  }

  std::vector<uint8_t> Mixed(const std::string& data) {
    return EntropyMixer::FromSecret(kSecret)->Mix(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }

  FakeClock clock_;
  prometheus::Registry registry_;
  std::optional<Ed25519PrivateKey> key_;
  std::unique_ptr<SignedBatchVerifier> verifier_;
  const ::hwcast::testutil::ScratchDir scratch_{"reseeder"};
  const std::filesystem::path dir_ = scratch_.root();
  std::string avail_path_;
  FakeEntropyClient* client_ = nullptr;
  RecordingSink* sink_ = nullptr;
  std::unique_ptr<Reseeder> reseeder_;
};

TEST(KernelVersionTest, OnlyKernelsBefore518ReportRealCounts) {
  EXPECT_EQ(KernelReportsEntropyCount("5.10.0-28-amd64"), true);
  EXPECT_EQ(KernelReportsEntropyCount("4.19.260"), true);
  EXPECT_EQ(KernelReportsEntropyCount("5.17.15"), true);
  EXPECT_EQ(KernelReportsEntropyCount("5.18.0"), false);
  EXPECT_EQ(KernelReportsEntropyCount("5.18-rc1"), false);
  EXPECT_EQ(KernelReportsEntropyCount("6.1.0-13-amd64"), false);
  EXPECT_EQ(KernelReportsEntropyCount("10.0"), false);
  EXPECT_EQ(KernelReportsEntropyCount("garbage"), std::nullopt);
  EXPECT_EQ(KernelReportsEntropyCount(""), std::nullopt);
}

TEST_F(ReseederTest, PeriodicReseedsAtStartThenEveryInterval) {
  ReseederOptions options;
  options.reseed_interval = absl::Seconds(60);
  Make(options);
  const std::vector<ChunkSpec> specs = Queue(1, 5);
  EXPECT_EQ(reseeder_->Status().sink(), "file:/fake");

  reseeder_->Tick();
  ASSERT_EQ(sink_->calls().size(), 1u);
  // What reached the sink is the mixed chunk, uncredited by default.
  EXPECT_EQ(sink_->calls()[0].bytes, Mixed(specs[0].data));
  EXPECT_EQ(sink_->calls()[0].credit, 0u);
  EXPECT_EQ(client_->asked(), std::vector<uint32_t>{2500});

  clock_.Advance(absl::Seconds(59));
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 1u);
  clock_.Advance(absl::Seconds(1));
  reseeder_->Tick();
  ASSERT_EQ(sink_->calls().size(), 2u);
  EXPECT_EQ(sink_->calls()[1].bytes, Mixed(specs[1].data));

  const hwcast::v1::EntropySinkStatus status = reseeder_->Status();
  EXPECT_EQ(status.chunks_received(), 2u);
  EXPECT_EQ(status.bytes_received(), 5000u);
  EXPECT_EQ(status.bytes_injected(), 2u * 2560);
  EXPECT_EQ(status.bits_credited(), 0u);
  EXPECT_EQ(status.last_reseed_time().seconds(),
            absl::ToUnixSeconds(clock_.Now()));
  EXPECT_FALSE(status.watermark_active());
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_entropy_reseeds_total",
                        {{"trigger", "periodic"}}),
            2);
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_bytes_injected_total"),
      5120);
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_bytes_received_total"),
      5000);
}

TEST_F(ReseederTest, AFailedPeriodicReseedIsRetriedSooner) {
  ReseederOptions options;
  options.reseed_interval = absl::Seconds(60);
  options.failure_retry = absl::Seconds(10);
  Make(options);
  reseeder_->Tick();  // nothing available yet
  EXPECT_EQ(client_->asked().size(), 1u);
  Queue(1, 3);
  clock_.Advance(absl::Seconds(9));
  reseeder_->Tick();
  EXPECT_TRUE(sink_->calls().empty());
  clock_.Advance(absl::Seconds(1));
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 1u);
  // Back to the full interval after a success.
  clock_.Advance(absl::Seconds(10));
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 1u);
  clock_.Advance(absl::Seconds(50));
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 2u);
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_reseed_failures_total",
                  {{"trigger", "periodic"}}),
      1);
}

TEST_F(ReseederTest, OnDemandDrawsTheBytesAskedAndCredits) {
  ReseederOptions options;
  options.checker.credit_fraction = 0.5;
  Make(options);
  Queue(1, 5);
  absl::StatusOr<ReseedOutcome> out =
      reseeder_->Reseed(5000, ReseedTrigger::kOnDemand);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->bytes_injected, 5120u);
  ASSERT_EQ(sink_->calls().size(), 2u);
  // Half of the chunk's estimate (12000), capped by the local estimate.
  const uint32_t credit = sink_->calls()[0].credit;
  EXPECT_GT(credit, 0u);
  EXPECT_LE(credit, 6000u);
  EXPECT_EQ(out->bits_credited,
            sink_->calls()[0].credit + sink_->calls()[1].credit);
  EXPECT_THAT(out->message, HasSubstr("injected 5120 bytes from 2 chunk(s)"));
  EXPECT_EQ(client_->queued(), 3u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_entropy_reseeds_total",
                        {{"trigger", "on_demand"}}),
            1);
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_bits_credited_total"),
      out->bits_credited);
  // 0 bytes: the configured reseed_bytes.
  ASSERT_TRUE(reseeder_->Reseed(0, ReseedTrigger::kOnDemand).ok());
  EXPECT_EQ(client_->asked().back(), 2500u);
  EXPECT_EQ(reseeder_->Reseed(kMaxReseedBytes + 1, ReseedTrigger::kOnDemand)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ReseederTest, NothingAvailableIsUnavailableAndCounted) {
  Make({});
  absl::StatusOr<ReseedOutcome> out =
      reseeder_->Reseed(0, ReseedTrigger::kOnDemand);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(reseeder_->Status().last_error(), HasSubstr("fake dry"));
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_reseed_failures_total",
                  {{"trigger", "on_demand"}}),
      1);
  EXPECT_TRUE(sink_->calls().empty());
}

TEST_F(ReseederTest, RefusedChunksAreCountedAndSkipped) {
  Make({});
  // A replay, a constant chunk, then a good one.
  const ChunkSpec good = Spec(1);
  const SignedBatch good_batch = testing::SignedEntropyBatch(good, *key_);
  client_->Push(good_batch);
  ASSERT_TRUE(reseeder_->Reseed(0, ReseedTrigger::kOnDemand).ok());
  client_->Push(good_batch);
  ChunkSpec constant = Spec(2);
  constant.data = std::string(2500, '\0');
  client_->Push(testing::SignedEntropyBatch(constant, *key_));
  const ChunkSpec next = Spec(3);
  client_->Push(testing::SignedEntropyBatch(next, *key_));
  absl::StatusOr<ReseedOutcome> out =
      reseeder_->Reseed(0, ReseedTrigger::kOnDemand);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(sink_->calls().size(), 2u);
  EXPECT_EQ(sink_->calls()[1].bytes, Mixed(next.data));

  const hwcast::v1::EntropySinkStatus status = reseeder_->Status();
  EXPECT_EQ(status.chunks_received(), 4u);
  EXPECT_EQ(status.rejected().at("duplicate"), 1u);
  EXPECT_EQ(status.rejected().at("rct"), 1u);
  EXPECT_EQ(status.rejected().at("monobit"), 1u);
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_chunks_rejected_total",
                  {{"reason", "duplicate"}}),
      1);
  EXPECT_EQ(
      MetricValue(registry_, "hwcast_actuator_entropy_chunks_rejected_total",
                  {{"reason", "health"}}),
      1);
  // All zeros fail every test.
  for (const char* test :
       {"rct", "apt", "monobit", "poker", "runs", "long_run"}) {
    EXPECT_EQ(
        MetricValue(registry_, "hwcast_actuator_entropy_health_failures_total",
                    {{"test", test}}),
        1)
        << test;
  }
}

TEST_F(ReseederTest, ASinkErrorEndsTheDraw) {
  Make({});
  Queue(1, 3);
  sink_->Fail(absl::PermissionDeniedError(
      "RNDADDENTROPY on /dev/random needs CAP_SYS_ADMIN"));
  absl::StatusOr<ReseedOutcome> out =
      reseeder_->Reseed(7500, ReseedTrigger::kOnDemand);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kPermissionDenied);
  // Only the first chunk was taken from the relay.
  EXPECT_EQ(client_->queued(), 2u);
  EXPECT_THAT(reseeder_->Status().last_error(), HasSubstr("CAP_SYS_ADMIN"));
}

TEST_F(ReseederTest, WatermarkOnKernelsThatReportRealCounts) {
  ReseederOptions options;
  options.fill_watermark_bits = 1024;
  options.kernel_release = "5.10.0-28-amd64";
  options.reseed_interval = absl::Hours(1);
  options.watermark_min_interval = absl::Seconds(5);
  Make(options);
  EXPECT_TRUE(reseeder_->watermark_active());
  EXPECT_TRUE(reseeder_->Status().watermark_active());
  Queue(1, 10);
  reseeder_->Tick();  // periodic, at start
  ASSERT_EQ(sink_->calls().size(), 1u);

  clock_.Advance(absl::Seconds(10));
  reseeder_->Tick();  // 4000 >= 1024: nothing
  EXPECT_EQ(sink_->calls().size(), 1u);

  SetAvail(200);
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 2u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_entropy_reseeds_total",
                        {{"trigger", "watermark"}}),
            1);
  // Not again within watermark_min_interval.
  clock_.Advance(absl::Seconds(2));
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 2u);
  clock_.Advance(absl::Seconds(3));
  reseeder_->Tick();
  EXPECT_EQ(sink_->calls().size(), 3u);
}

TEST_F(ReseederTest, WatermarkIgnoredOnNewKernels) {
  ReseederOptions options;
  options.fill_watermark_bits = 1024;
  options.kernel_release = "6.1.0-13-amd64";
  options.reseed_interval = absl::Hours(1);
  Make(options);
  EXPECT_FALSE(reseeder_->watermark_active());
  EXPECT_FALSE(reseeder_->Status().watermark_active());
  Queue(1, 10);
  reseeder_->Tick();
  ASSERT_EQ(sink_->calls().size(), 1u);
  SetAvail(10);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(10));
    reseeder_->Tick();
  }
  EXPECT_EQ(sink_->calls().size(), 1u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_entropy_reseeds_total",
                        {{"trigger", "watermark"}}),
            0);
}

TEST_F(ReseederTest, TheThreadReseedsAtStartAndStops) {
  ReseederOptions options;
  options.poll_interval = absl::Milliseconds(10);
  Make(options);
  Queue(1, 3);
  reseeder_->Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (sink_->calls().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(sink_->calls().size(), 1u);
  // The fake clock does not move: no second periodic reseed.
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(sink_->calls().size(), 1u);
  reseeder_->Stop();
  reseeder_->Stop();
}

}  // namespace
}  // namespace hwcast::actuator::entropy
