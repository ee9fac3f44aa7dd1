// End-to-end tests of the collector pipeline (real threads, real gRPC on
// loopback, fake sensor files, in-process fake relay).
#include "services/collector/collector.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/collector.grpc.pb.h"
#include "lib/clock_impl.h"
#include "lib/server.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/collector/collector_config.h"
#include "services/collector/collector_service.h"
#include "services/collector/testing/fake_relay.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::collector::testing::Eventually;
using ::hwcast::collector::testing::FakeRelayServer;
using ::hwcast::collector::testing::TempTree;
using ::hwcast::v1::CollectorConfig;
using ::hwcast::v1::Reading;
using ::hwcast::v1::ReadingBatch;
using ::testing::HasSubstr;

class CollectorTest : public ::testing::Test {
 protected:
  CollectorConfig Config(const std::vector<std::string>& relays) {
    tree_.Write("sensors/room.temp", "23.5\n");
    tree_.Write("hwmon/hwmon0/name", "coretemp");
    tree_.Write("hwmon/hwmon0/temp1_input", "45000");
    tree_.Write("hwmon/hwmon0/temp1_label", "Package id 0");
    CollectorConfig config;
    config.set_host("rack1");
    for (const std::string& relay : relays) config.add_relays(relay);
    hwcast::v1::SourceConfig* file = config.add_sources();
    file->mutable_file()->set_path(tree_.Path("sensors/room.temp"));
    *file->mutable_interval() = ToProtoDuration(absl::Milliseconds(20));
    hwcast::v1::SourceConfig* hwmon = config.add_sources();
    hwmon->mutable_hwmon()->set_root(tree_.Path("hwmon"));
    *hwmon->mutable_interval() = ToProtoDuration(absl::Milliseconds(30));
    *config.mutable_batch_max_delay() = ToProtoDuration(absl::Milliseconds(5));
    config.mutable_reconnect()->mutable_initial()->set_nanos(20'000'000);
    config.mutable_reconnect()->mutable_max()->set_nanos(100'000'000);
    EXPECT_TRUE(ValidateCollectorConfig(config).ok());
    return CollectorConfigWithDefaults(config, "unused");
  }

  std::unique_ptr<Collector> Make(const CollectorConfig& config) {
    CollectorOptions options;
    options.config = config;
    options.clock = RealClock::Get();
    options.metrics = &metrics_;
    absl::StatusOr<std::unique_ptr<Collector>> collector =
        Collector::Create(std::move(options));
    EXPECT_TRUE(collector.ok()) << collector.status();
    return collector.ok() ? *std::move(collector) : nullptr;
  }

  TempTree tree_;
  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  CollectorMetrics metrics_{*registry_};
};

// Checks batch sequences 1..N each arrived (resends allowed) and returns the
// distinct batches by sequence.
std::map<uint64_t, ReadingBatch> Distinct(
    const std::vector<ReadingBatch>& batches) {
  std::map<uint64_t, ReadingBatch> by_sequence;
  for (const ReadingBatch& b : batches) by_sequence[b.batch_sequence()] = b;
  return by_sequence;
}

TEST_F(CollectorTest, ReadingsFlowToEveryRelayAndNothingIsLost) {
  FakeRelayServer relay_a;
  FakeRelayServer relay_b;
  const absl::Time before = absl::Now();
  std::unique_ptr<Collector> collector =
      Make(Config({relay_a.address(), relay_b.address()}));
  ASSERT_NE(collector, nullptr);
  // The epoch is the start time in microseconds.
  EXPECT_GE(collector->epoch(),
            static_cast<uint64_t>(absl::ToUnixMicros(before)));
  EXPECT_LE(collector->epoch(),
            static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())));
  collector->Start();
  ASSERT_TRUE(relay_a.relay().WaitForReceived(5));
  ASSERT_TRUE(relay_b.relay().WaitForReceived(5));
  collector->Shutdown(absl::Seconds(5));

  const std::map<uint64_t, ReadingBatch> a =
      Distinct(relay_a.relay().batches());
  const std::map<uint64_t, ReadingBatch> b =
      Distinct(relay_b.relay().batches());
  // Same batches, same bytes semantics, contiguous from 1.
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.begin()->first, 1u);
  EXPECT_EQ(a.rbegin()->first, a.size());
  EXPECT_EQ(a.size(), b.size());

  std::map<std::string, std::vector<uint64_t>> sequences;
  size_t readings = 0;
  for (const auto& [sequence, batch] : a) {
    EXPECT_EQ(batch.collector_id(), "rack1");
    EXPECT_EQ(batch.epoch(), collector->epoch());
    for (const Reading& r : batch.readings()) {
      ++readings;
      EXPECT_EQ(r.host(), "rack1");
      EXPECT_TRUE(r.has_observed_time());
      sequences[r.source_id()].push_back(r.sequence());
      if (r.source_id() == "room") {
        EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_OK);
        EXPECT_DOUBLE_EQ(r.temperature().celsius(), 23.5);
      } else {
        EXPECT_EQ(r.source_id(), "hwmon/coretemp/temp1");
        EXPECT_EQ(r.label(), "Package id 0");
        EXPECT_DOUBLE_EQ(r.temperature().celsius(), 45.0);
      }
    }
  }
  // Per-source sequences 1, 2, 3, ... without gaps.
  ASSERT_EQ(sequences.size(), 2u);
  for (const auto& [source_id, seqs] : sequences) {
    for (size_t i = 0; i < seqs.size(); ++i) {
      EXPECT_EQ(seqs[i], i + 1) << source_id;
    }
  }
  // Every reading produced was delivered (flushed at shutdown), counted once.
  EXPECT_EQ(metrics_.service().readings_in().Value(), readings);
  EXPECT_EQ(metrics_.service().readings_out().Value(), readings);

  const hwcast::v1::CollectorStatus status = collector->GetStatus();
  EXPECT_EQ(status.next_batch_sequence(), a.size() + 1);
  ASSERT_EQ(status.relays_size(), 2);
  EXPECT_EQ(status.relays(0).pending_batches(), 0u);
  EXPECT_EQ(status.relays(0).last_acked_sequence(), a.size());
}

TEST_F(CollectorTest, DeadRelayDoesNotStallReadingsOrTheOtherRelay) {
  FakeRelayServer live;
  const std::string dead = absl::StrCat("127.0.0.1:", FakeRelayServer().port());
  std::unique_ptr<Collector> collector = Make(Config({dead, live.address()}));
  ASSERT_NE(collector, nullptr);
  collector->Start();
  ASSERT_TRUE(live.relay().WaitForReceived(10));
  ASSERT_TRUE(Eventually(
      [&] { return collector->GetStatus().relays(0).pending_batches() >= 5; }));
  const hwcast::v1::CollectorStatus status = collector->GetStatus();
  EXPECT_FALSE(status.relays(0).connected());
  EXPECT_THAT(status.relays(0).last_error(), HasSubstr("UNAVAILABLE"));
  EXPECT_TRUE(status.relays(1).connected());
  collector->Shutdown(absl::Milliseconds(50));
}

TEST_F(CollectorTest, StatusOverGrpc) {
  FakeRelayServer relay;
  CollectorConfig config = Config({relay.address()});
  tree_.Write("hwmon/hwmon0/temp2_input", "oops");
  std::unique_ptr<Collector> collector = Make(config);
  ASSERT_NE(collector, nullptr);
  collector->Start();
  ASSERT_TRUE(relay.relay().WaitForReceived(3));

  CollectorServiceImpl service(collector.get());
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = hwcast::v1::Collector::NewStub(grpc::CreateChannel(
      (*server)->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  hwcast::v1::CollectorStatus status;
  const grpc::Status rpc = stub->GetStatus(
      &context, hwcast::v1::GetCollectorStatusRequest(), &status);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();

  EXPECT_EQ(status.collector_id(), "rack1");
  EXPECT_EQ(status.host(), "rack1");
  EXPECT_EQ(status.epoch(), collector->epoch());
  EXPECT_GE(status.next_batch_sequence(), 2u);
  EXPECT_TRUE(status.has_now());
  ASSERT_EQ(status.sources_size(), 2);
  EXPECT_EQ(status.sources(0).source_id(), "room");
  EXPECT_EQ(status.sources(0).type(), "file");
  EXPECT_GE(status.sources(0).polls(), 1u);
  ASSERT_EQ(status.sources(0).last_readings_size(), 1);
  EXPECT_EQ(status.sources(0).last_readings(0).source_id(), "room");
  EXPECT_EQ(status.sources(1).source_id(), "hwmon");
  EXPECT_EQ(status.sources(1).type(), "hwmon");
  EXPECT_GE(status.sources(1).errors(), 1u);
  EXPECT_THAT(status.sources(1).last_error(),
              HasSubstr("hwmon/coretemp/temp2: "));
  ASSERT_EQ(status.relays_size(), 1);
  EXPECT_EQ(status.relays(0).address(), relay.address());
  EXPECT_TRUE(status.relays(0).connected());
  EXPECT_GE(status.relays(0).acked_batches(), 1u);
  EXPECT_EQ(status.relays(0).connects(), 1u);

  (*server)->Shutdown(absl::ZeroDuration());
  collector->Shutdown(absl::Seconds(1));
}

TEST_F(CollectorTest, BadSourceFailsCreateNamingIt) {
  CollectorOptions options;
  options.config = Config({"127.0.0.1:7430"});
  options.clock = RealClock::Get();
  options.make_source = [](const hwcast::v1::SourceConfig& source)
      -> absl::StatusOr<std::unique_ptr<Source>> {
    return absl::FailedPreconditionError("no such device");
  };
  absl::StatusOr<std::unique_ptr<Collector>> collector =
      Collector::Create(std::move(options));
  EXPECT_EQ(collector.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(collector.status().message(),
              HasSubstr("source 'room': no such device"));
}

TEST(EpochTest, StartTimeInMicrosecondsUniqueAndNonzero) {
  const absl::Time t = absl::FromUnixMicros(1'800'000'000'123'456);
  EXPECT_EQ(NextEpoch(t, 0), 1'800'000'000'123'456u);
  EXPECT_EQ(NextEpoch(t, 1'700'000'000'000'000), 1'800'000'000'123'456u);
  // The same instant again, or an earlier one: still a new, larger epoch.
  EXPECT_EQ(NextEpoch(t, 1'800'000'000'123'456), 1'800'000'000'123'457u);
  EXPECT_EQ(NextEpoch(t - absl::Seconds(1), 1'800'000'000'123'457),
            1'800'000'000'123'458u);
  EXPECT_EQ(NextEpoch(absl::UnixEpoch(), 0), 1u);
  EXPECT_EQ(NextEpoch(absl::UnixEpoch() - absl::Hours(1), 0), 1u);

  const absl::Time now = absl::Now();
  const uint64_t a = EpochAt(now);
  const uint64_t b = EpochAt(now);
  EXPECT_GE(a, static_cast<uint64_t>(absl::ToUnixMicros(now)));
  EXPECT_GT(b, a);
}

}  // namespace
}  // namespace hwcast::collector
