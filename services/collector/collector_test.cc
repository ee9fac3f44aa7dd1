// End-to-end tests of the collector pipeline (real threads, real gRPC on
// loopback, fake sensor files, in-process fake relay).
#include "services/collector/collector.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/collector.grpc.pb.h"
#include "lib/clock_impl.h"
#include "lib/server.h"
#include "lib/testing/wait.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/collector/collector_config.h"
#include "services/collector/collector_service.h"
#include "services/collector/sources/source_factory.h"
#include "services/collector/testing/fake_relay.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::collector::testing::FakeRelayServer;
using ::hwcast::collector::testing::TempTree;
using ::hwcast::testutil::WaitFor;
using ::hwcast::v1::CollectorConfig;
using ::hwcast::v1::Reading;
using ::hwcast::v1::ReadingBatch;
using ::testing::HasSubstr;

class CollectorTest : public ::testing::Test {
 protected:
  CollectorConfig Config(const std::vector<std::string>& relays) {
    tree_.Write("sensors/room.temp", "23.5\n");
    tree_.Write("hwmon/hwmon0/name", "coretemp\n");
    tree_.Write("hwmon/hwmon0/temp1_input", "45000\n");
    tree_.Write("hwmon/hwmon0/temp1_label", "Package id 0\n");
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
    return ApplyCollectorDefaults(config, "unused");
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
  ASSERT_TRUE(WaitFor(
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

// A disk source polled on demand over gRPC (Collector.PollNow): the
// response carries the inventory, which also goes to the relay; an unknown
// source is NOT_FOUND and a poll outliving its timeout DEADLINE_EXCEEDED.
TEST_F(CollectorTest, PollNowOverGrpc) {
  FakeRelayServer relay;
  tree_.Write("disk.img", std::string(128 * 1024, '\0'));
  tree_.Write("mountinfo", "50 22 0:99 / /mnt/img rw - ext4 " +
                               tree_.Path("disk.img") + " rw\n");
  CollectorConfig config;
  config.set_host("rack1");
  config.add_relays(relay.address());
  hwcast::v1::SourceConfig* disks = config.add_sources();
  disks->mutable_disks()->add_devices(tree_.Path("disk.img"));
  disks->mutable_disks()->set_mountinfo(tree_.Path("mountinfo"));
  *disks->mutable_interval() = ToProtoDuration(absl::Hours(1));
  hwcast::v1::SourceConfig* slow = config.add_sources();
  slow->set_id("slow");
  slow->mutable_file()->set_path(tree_.Path("unused"));
  *slow->mutable_timeout() = ToProtoDuration(absl::Milliseconds(100));
  *config.mutable_batch_max_delay() = ToProtoDuration(absl::Milliseconds(5));
  ASSERT_TRUE(ValidateCollectorConfig(config).ok());
  config = ApplyCollectorDefaults(config, "unused");

  // "slow" blocks until released on every poll but the first.
  auto release = std::make_shared<absl::Notification>();
  auto slow_polls = std::make_shared<std::atomic<int>>(0);
  class SlowSource final : public Source {
   public:
    SlowSource(std::shared_ptr<absl::Notification> release,
               std::shared_ptr<std::atomic<int>> polls)
        : release_(std::move(release)), polls_(std::move(polls)) {}
    std::string_view type() const override { return "slow"; }
    absl::StatusOr<std::vector<Reading>> Poll() override {
      if ((*polls_)++ > 0) release_->WaitForNotification();
      Reading r;
      r.set_quality(hwcast::v1::QUALITY_OK);
      r.mutable_temperature()->set_celsius(20);
      return std::vector<Reading>{r};
    }

   private:
    std::shared_ptr<absl::Notification> release_;
    std::shared_ptr<std::atomic<int>> polls_;
  };
  CollectorOptions options;
  options.config = config;
  options.clock = RealClock::Get();
  options.make_source = [release,
                         slow_polls](const hwcast::v1::SourceConfig& source)
      -> absl::StatusOr<std::unique_ptr<Source>> {
    if (source.id() == "slow") {
      return std::make_unique<SlowSource>(release, slow_polls);
    }
    return MakeSource(source, RealClock::Get());
  };
  absl::StatusOr<std::unique_ptr<Collector>> made =
      Collector::Create(std::move(options));
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<Collector> collector = *std::move(made);
  collector->Start();
  ASSERT_TRUE(WaitFor([&] {
    return collector->GetStatus().sources(0).polls() == 1 && *slow_polls == 1;
  }));

  CollectorServiceImpl service(collector.get(), collector.get());
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = hwcast::v1::Collector::NewStub(grpc::CreateChannel(
      (*server)->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  auto poll_now = [&](const std::string& id,
                      hwcast::v1::PollNowResponse* response) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    hwcast::v1::PollNowRequest request;
    request.set_source_id(id);
    return stub->PollNow(&context, request, response);
  };

  hwcast::v1::PollNowResponse response;
  grpc::Status rpc = poll_now("disks", &response);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  ASSERT_EQ(response.readings_size(), 1);
  const Reading& reading = response.readings(0);
  EXPECT_EQ(reading.source_id(), "disks");
  EXPECT_EQ(reading.host(), "rack1");
  EXPECT_EQ(reading.sequence(), 2u);
  ASSERT_EQ(reading.disk_inventory().disks_size(), 1);
  EXPECT_EQ(reading.disk_inventory().disks(0).device(), tree_.Path("disk.img"));
  EXPECT_EQ(reading.disk_inventory().disks(0).mount_point(), "/mnt/img");
  EXPECT_EQ(collector->GetStatus().sources(0).polls(), 2u);
  // Published like any poll's.
  ASSERT_TRUE(WaitFor([&] {
    for (const ReadingBatch& batch : relay.relay().batches()) {
      for (const Reading& r : batch.readings()) {
        if (r.source_id() == "disks" && r.sequence() == 2) return true;
      }
    }
    return false;
  }));

  rpc = poll_now("nope", &response);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(rpc.error_message(), HasSubstr("no source 'nope'"));
  EXPECT_THAT(rpc.error_message(), HasSubstr("disks, slow"));

  rpc = poll_now("slow", &response);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(rpc.error_message(), HasSubstr("did not finish within 100ms"));

  rpc = poll_now("", &response);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  release->Notify();
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

// Good random bytes (fixed seed) for a hwrng source reading a file.
std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() >> 56);
  return out;
}

// Adds a hwrng source reading `chunks` good chunks from a file.
void AddHwrngSource(const TempTree& tree, int chunks, CollectorConfig* config) {
  tree.Write("rng.bin", RandomBytes(2500 * chunks, 42));
  hwcast::v1::SourceConfig* rng = config->add_sources();
  rng->set_id("rng");
  rng->mutable_hwrng()->set_path(tree.Path("rng.bin"));
  *rng->mutable_interval() = ToProtoDuration(absl::Milliseconds(10));
  config->set_allow_plaintext_entropy(true);  // loopback test relays
}

// The entropy chunks each relay received (data), in arrival order.
std::vector<std::string> EntropyChunks(
    const std::vector<ReadingBatch>& batches) {
  std::vector<std::string> out;
  for (const ReadingBatch& b : batches) {
    for (const Reading& r : b.readings()) {
      if (r.has_entropy()) {
        EXPECT_EQ(b.readings_size(), 1) << "entropy must travel alone";
        out.push_back(r.entropy().data());
      }
    }
  }
  return out;
}

TEST_F(CollectorTest, EntropyGoesToExactlyOneRelay) {
  FakeRelayServer relay_a;
  FakeRelayServer relay_b;
  CollectorConfig config = Config({relay_a.address(), relay_b.address()});
  AddHwrngSource(tree_, 8, &config);
  ASSERT_TRUE(ValidateCollectorConfig(config).ok());
  std::unique_ptr<Collector> collector = Make(config);
  ASSERT_NE(collector, nullptr);
  collector->Start();
  ASSERT_TRUE(WaitFor([&] {
    return EntropyChunks(relay_a.relay().batches()).size() +
               EntropyChunks(relay_b.relay().batches()).size() >=
           8;
  }));
  // Temperatures still reach both relays.
  ASSERT_TRUE(relay_b.relay().WaitForReceived(3));
  const hwcast::v1::CollectorStatus status = collector->GetStatus();
  collector->Shutdown(absl::Seconds(5));

  const std::vector<std::string> a = EntropyChunks(relay_a.relay().batches());
  const std::vector<std::string> b = EntropyChunks(relay_b.relay().batches());
  // Every chunk of the file exactly once, in one relay (the first connected
  // one when it was sealed), never in both.
  std::multiset<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  const std::string file = RandomBytes(2500 * 8, 42);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(all.count(file.substr(2500 * i, 2500)), 1u) << "chunk " << i;
  }
  EXPECT_EQ(all.size(), 8u);
  // Status shows the entropy source, never its bytes.
  bool saw_rng = false;
  for (const hwcast::v1::SourceStatus& source : status.sources()) {
    for (const Reading& r : source.last_readings()) {
      if (r.has_entropy()) {
        saw_rng = true;
        EXPECT_TRUE(r.entropy().data().empty());
      }
    }
  }
  EXPECT_TRUE(saw_rng);
}

TEST_F(CollectorTest, EntropyPrefersAConnectedRelay) {
  FakeRelayServer live;
  const std::string dead = absl::StrCat("127.0.0.1:", FakeRelayServer().port());
  CollectorConfig config = Config({dead, live.address()});
  AddHwrngSource(tree_, 30, &config);
  std::unique_ptr<Collector> collector = Make(config);
  ASSERT_NE(collector, nullptr);
  collector->Start();
  // Once the live relay is connected, chunks go there, not to the dead one.
  ASSERT_TRUE(WaitFor(
      [&] { return EntropyChunks(live.relay().batches()).size() >= 10; }));
  collector->Shutdown(absl::Milliseconds(50));
  const std::vector<std::string> got = EntropyChunks(live.relay().batches());
  const std::set<std::string> distinct(got.begin(), got.end());
  EXPECT_EQ(distinct.size(), got.size());
}

// The sequences of `source_id`'s readings in `batches`, in order.
std::vector<uint64_t> SequencesOf(const std::vector<ReadingBatch>& batches,
                                  const std::string& source_id) {
  std::vector<uint64_t> out;
  for (const ReadingBatch& batch : batches) {
    for (const Reading& r : batch.readings()) {
      if (r.source_id() == source_id) out.push_back(r.sequence());
    }
  }
  return out;
}

TEST_F(CollectorTest, ReconfigureKeepsUnchangedSourcesAndRelayStreams) {
  FakeRelayServer relay_a;
  FakeRelayServer relay_b;
  const CollectorConfig config = Config({relay_a.address()});
  std::unique_ptr<Collector> collector = Make(config);
  ASSERT_NE(collector, nullptr);
  collector->Start();
  ASSERT_TRUE(relay_a.relay().WaitForReceived(3));
  ASSERT_TRUE(
      WaitFor([&] { return collector->GetStatus().sources(0).polls() >= 3; }));
  const uint64_t room_polls = collector->GetStatus().sources(0).polls();

  // room unchanged, hwmon removed, aisle added; relay B added.
  tree_.Write("sensors/aisle.temp", "21\n");
  CollectorConfig next = config;
  next.mutable_sources()->DeleteSubrange(1, 1);
  hwcast::v1::SourceConfig* aisle = next.add_sources();
  aisle->mutable_file()->set_path(tree_.Path("sensors/aisle.temp"));
  *aisle->mutable_interval() = ToProtoDuration(absl::Milliseconds(20));
  next.add_relays(relay_b.address());
  next = ApplyCollectorDefaults(next, "unused");
  ASSERT_TRUE(collector->Reconfigure(next).ok());

  hwcast::v1::CollectorStatus status = collector->GetStatus();
  ASSERT_EQ(status.sources_size(), 2);
  EXPECT_EQ(status.sources(0).source_id(), "room");
  // The same runner: its poll count goes on.
  EXPECT_GE(status.sources(0).polls(), room_polls);
  EXPECT_EQ(status.sources(1).source_id(), "aisle");
  ASSERT_EQ(status.relays_size(), 2);
  ASSERT_TRUE(WaitFor([&] {
    return !SequencesOf(relay_b.relay().batches(), "aisle").empty() &&
           !SequencesOf(relay_a.relay().batches(), "aisle").empty();
  }));
  // Relay A's stream was never reopened.
  EXPECT_EQ(collector->GetStatus().relays(0).connects(), 1u);

  // room changed (a new interval): restarted, its sequence goes on; relay
  // A removed.
  next.mutable_sources(0)->mutable_interval()->set_nanos(25'000'000);
  next.mutable_relays()->DeleteSubrange(0, 1);
  ASSERT_TRUE(
      WaitFor([&] { return collector->GetStatus().sources(0).polls() >= 8; }));
  const uint64_t polls_before = collector->GetStatus().sources(0).polls();
  const size_t room_before =
      SequencesOf(relay_b.relay().batches(), "room").size();
  ASSERT_TRUE(collector->Reconfigure(next).ok());
  status = collector->GetStatus();
  ASSERT_EQ(status.relays_size(), 1);
  EXPECT_EQ(status.relays(0).address(), relay_b.address());
  // A new runner: its poll count started over.
  EXPECT_LT(status.sources(0).polls(), polls_before);
  ASSERT_TRUE(WaitFor([&] {
    return SequencesOf(relay_b.relay().batches(), "room").size() >=
           room_before + 3;
  }));
  collector->Shutdown(absl::Seconds(5));
  const std::vector<uint64_t> room =
      SequencesOf(relay_b.relay().batches(), "room");
  for (size_t i = 1; i < room.size(); ++i) {
    EXPECT_GT(room[i], room[i - 1]) << i;
  }
}

TEST_F(CollectorTest, ReconfigureWithASourceThatCannotBeBuiltChangesNothing) {
  FakeRelayServer relay;
  CollectorOptions options;
  options.config = Config({relay.address()});
  options.clock = RealClock::Get();
  options.make_source = [](const hwcast::v1::SourceConfig& source)
      -> absl::StatusOr<std::unique_ptr<Source>> {
    if (source.id() == "aisle") {
      return absl::FailedPreconditionError("no such device");
    }
    return MakeSource(source, RealClock::Get());
  };
  CollectorConfig next = options.config;
  absl::StatusOr<std::unique_ptr<Collector>> collector =
      Collector::Create(std::move(options));
  ASSERT_TRUE(collector.ok()) << collector.status();
  (*collector)->Start();
  next.mutable_sources()->DeleteSubrange(1, 1);
  hwcast::v1::SourceConfig* aisle = next.add_sources();
  aisle->set_id("aisle");
  aisle->mutable_file()->set_path(tree_.Path("sensors/aisle.temp"));
  const absl::Status status = (*collector)->Reconfigure(next);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("source 'aisle': no such device"));
  EXPECT_EQ((*collector)->GetStatus().sources_size(), 2);
  ASSERT_TRUE(relay.relay().WaitForReceived(3));
  (*collector)->Shutdown(absl::Seconds(1));
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
