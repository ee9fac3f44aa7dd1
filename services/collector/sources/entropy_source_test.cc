#include "services/collector/sources/entropy_source.h"

#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/time_util.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// An EntropyDevice whose bytes come from `fill` (or an error queued with
// FailNext()). Counters shared with the test through a shared state.
class FakeEntropyDevice final : public EntropyDevice {
 public:
  struct State {
    std::function<void(absl::Span<uint8_t>)> fill;
    std::deque<absl::Status> errors;
    int reads = 0;
  };
  explicit FakeEntropyDevice(std::shared_ptr<State> state)
      : state_(std::move(state)) {}

  absl::Status ReadExactly(absl::Span<uint8_t> out) override {
    ++state_->reads;
    if (!state_->errors.empty()) {
      absl::Status error = state_->errors.front();
      state_->errors.pop_front();
      return error;
    }
    state_->fill(out);
    return absl::OkStatus();
  }
  hwcast::v1::DeviceStatus Info() const override {
    hwcast::v1::DeviceStatus info;
    info.set_model("fake");
    info.set_path("/dev/fake-rng");
    info.set_present(true);
    info.set_reads(state_->reads);
    (*info.mutable_errors_by_kind())["io"] = 1;
    info.set_errors(1);
    return info;
  }

 private:
  std::shared_ptr<State> state_;
};

std::function<void(absl::Span<uint8_t>)> GoodFill(uint64_t seed) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return [gen](absl::Span<uint8_t> out) {
    for (auto& b : out) b = static_cast<uint8_t>((*gen)() >> 56);
  };
}

std::function<void(absl::Span<uint8_t>)> ConstantFill(uint8_t value) {
  return [value](absl::Span<uint8_t> out) {
    for (auto& b : out) b = value;
  };
}

class EntropySourceTest : public ::testing::Test {
 protected:
  std::unique_ptr<EntropySource> Make(EntropySourceOptions options) {
    options.clock = &clock_;
    return std::make_unique<EntropySource>(
        std::move(options), std::make_unique<FakeEntropyDevice>(state_));
  }

  FakeClock clock_;
  std::shared_ptr<FakeEntropyDevice::State> state_ =
      std::make_shared<FakeEntropyDevice::State>();
};

TEST_F(EntropySourceTest, GoodDataPassesWithVerdictAndEstimate) {
  state_->fill = GoodFill(1);
  auto source = Make({.id = "rng", .chunk_bytes = 5000, .chunks_per_poll = 3});
  EXPECT_EQ(source->type(), "hwrng");
  auto readings = source->Poll();
  ASSERT_TRUE(readings.ok()) << readings.status();
  ASSERT_THAT(*readings, SizeIs(3));
  for (const Reading& r : *readings) {
    EXPECT_EQ(r.source_id(), "rng");
    EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_OK);
    ASSERT_TRUE(r.has_entropy());
    EXPECT_EQ(r.entropy().data().size(), 5000u);
    EXPECT_EQ(r.entropy().verdict(), hwcast::v1::EntropyChunk::VERDICT_PASS);
    // MCV on 5000 bytes: ~6.6 bits per byte.
    EXPECT_GT(r.entropy().entropy_bits(), 5.5 * 5000);
    EXPECT_LE(r.entropy().entropy_bits(), 8.0 * 5000);
  }
  // Chunks are distinct bytes, never repeated.
  EXPECT_NE((*readings)[0].entropy().data(), (*readings)[1].entropy().data());
  const EntropySourceStats stats = source->Stats();
  EXPECT_EQ(stats.chunks_tested, 3u);
  EXPECT_EQ(stats.chunks_passed, 3u);
  EXPECT_EQ(stats.bytes_published, 15000u);

  const auto devices = source->Devices();
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_EQ(devices[0].source_id(), "rng");
  EXPECT_EQ(devices[0].path(), "/dev/fake-rng");
  EXPECT_FALSE(devices[0].faulty());
  EXPECT_EQ(devices[0].reads(), 3u);
}

TEST_F(EntropySourceTest, EstimateCappedByMaxBitsPerByte) {
  state_->fill = GoodFill(2);
  EntropySourceOptions options;
  options.health.max_bits_per_byte = 1.5;
  auto source = Make(options);
  auto readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  ASSERT_THAT(*readings, SizeIs(1));
  EXPECT_DOUBLE_EQ((*readings)[0].entropy().entropy_bits(), 1.5 * 2500);
}

TEST_F(EntropySourceTest, ConstantBytesDisabledThenRetriedAfterRetryAfter) {
  state_->fill = ConstantFill(0);
  auto source = Make({.id = "rng",
                      .chunks_per_poll = 2,
                      .disable_after_failures = 5,
                      .retry_after = absl::Minutes(10)});
  // Polls 1 and 2: 4 failed chunks, nothing sent, one fault per poll.
  for (int poll = 0; poll < 2; ++poll) {
    auto readings = source->Poll();
    ASSERT_TRUE(readings.ok());
    ASSERT_THAT(*readings, SizeIs(1));
    EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE((*readings)[0].has_entropy());
    EXPECT_THAT((*readings)[0].error(), HasSubstr("rct, apt, monobit"));
  }
  // Poll 3: the fifth failure disables the source.
  auto readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  ASSERT_THAT(*readings, SizeIs(1));
  EXPECT_THAT((*readings)[0].error(),
              HasSubstr("disabled after 5 failed health tests; retry at "));
  EXPECT_EQ(state_->reads, 5);
  auto devices = source->Devices();
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_TRUE(devices[0].faulty());
  EXPECT_EQ(devices[0].errors_by_kind().at("rct"), 5u);
  EXPECT_EQ(devices[0].errors_by_kind().at("long_run"), 5u);
  EXPECT_EQ(devices[0].errors_by_kind().at("io"), 1u);  // the device's own
  EXPECT_EQ(devices[0].errors(), 6u);
  EXPECT_TRUE(source->Stats().disabled);

  // While disabled nothing is read, even when the device got better.
  state_->fill = GoodFill(3);
  clock_.Advance(absl::Minutes(9));
  readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  ASSERT_THAT(*readings, SizeIs(1));
  EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT((*readings)[0].error(),
              HasSubstr("disabled after 5 failed health tests; retry at "));
  EXPECT_EQ(state_->reads, 5);

  // After retry_after it is tried again and, healthy now, publishes.
  clock_.Advance(absl::Minutes(1));
  readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  ASSERT_THAT(*readings, SizeIs(2));
  EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_FALSE(source->Devices()[0].faulty());
  EXPECT_EQ(source->Stats().times_disabled, 1u);
}

TEST_F(EntropySourceTest, StillBrokenAfterRetryIsDisabledAgain) {
  state_->fill = ConstantFill(0xAB);
  auto source =
      Make({.disable_after_failures = 2, .retry_after = absl::Seconds(30)});
  ASSERT_TRUE(source->Poll().ok());
  ASSERT_TRUE(source->Poll().ok());
  ASSERT_TRUE(source->Stats().disabled);
  clock_.Advance(absl::Seconds(30));
  // The retry starts counting from zero: one failure is not enough.
  auto readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_FALSE(source->Stats().disabled);
  EXPECT_THAT((*readings)[0].error(), HasSubstr("1 consecutive of 2"));
  readings = source->Poll();
  EXPECT_TRUE(source->Stats().disabled);
  EXPECT_EQ(source->Stats().times_disabled, 2u);
}

TEST_F(EntropySourceTest, OneBadChunkAmongGoodIsDiscardedAndCounted) {
  auto good = GoodFill(4);
  int call = 0;
  state_->fill = [&](absl::Span<uint8_t> out) {
    good(out);
    if (++call == 2) {
      for (auto& b : out) b &= 0x0f;  // biased: monobit fails
    }
  };
  auto source = Make({.chunks_per_poll = 3});
  auto readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  ASSERT_THAT(*readings, SizeIs(2));
  for (const Reading& r : *readings) {
    EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_OK);
  }
  const EntropySourceStats stats = source->Stats();
  EXPECT_EQ(stats.chunks_failed, 1u);
  EXPECT_EQ(stats.failed_by_test.at("monobit"), 1u);
  EXPECT_FALSE(stats.disabled);
}

TEST_F(EntropySourceTest, ReadErrorIsSensorFault) {
  state_->fill = GoodFill(5);
  state_->errors.push_back(absl::UnavailableError("read /dev/x: I/O error"));
  auto source = Make({.chunks_per_poll = 2});
  auto readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  ASSERT_THAT(*readings, SizeIs(1));
  EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT((*readings)[0].error(),
              HasSubstr("read failed: read /dev/x: I/O error"));
  EXPECT_EQ(source->Stats().read_errors, 1u);
  readings = source->Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_THAT(*readings, SizeIs(2));
}

TEST(MakeEntropySourceTest, FromConfigWithDefaultsAndErrors) {
  hwcast::v1::SourceConfig source;
  source.set_id("rng0");
  source.mutable_hwrng()->set_path("/dev/hwrng");
  hwcast::v1::EntropySourceConfig entropy;
  const EntropySourceOptions options =
      EntropySourceOptionsFromConfig(source, entropy);
  EXPECT_EQ(options.id, "rng0");
  EXPECT_EQ(options.type, "hwrng");
  EXPECT_EQ(options.chunk_bytes, 2500u);
  EXPECT_EQ(options.chunks_per_poll, 1);
  EXPECT_EQ(options.health.assessed_bits_per_byte, 1.0);
  EXPECT_EQ(options.health.max_bits_per_byte, 8.0);
  EXPECT_EQ(options.disable_after_failures, 25);
  EXPECT_EQ(options.retry_after, absl::Minutes(10));

  auto state = std::make_shared<FakeEntropyDevice::State>();
  state->fill = GoodFill(6);
  FakeClock clock;
  auto made = MakeEntropySource(
      source, entropy, std::make_unique<FakeEntropyDevice>(state), &clock);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ((*made)->type(), "hwrng");

  EXPECT_FALSE(MakeEntropySource(source, entropy, nullptr, &clock).ok());
  entropy.set_chunk_bytes(3000);
  auto bad = MakeEntropySource(
      source, entropy, std::make_unique<FakeEntropyDevice>(state), &clock);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("multiple of 2500"));

  hwcast::v1::SourceConfig chaoskey;
  chaoskey.mutable_chaoskey();
  EXPECT_EQ(EntropySourceOptionsFromConfig(chaoskey, {}).type, "chaoskey");
  EXPECT_EQ(EntropySourceOptionsFromConfig(chaoskey, {}).id, "chaoskey");
}

}  // namespace
}  // namespace hwcast::collector
