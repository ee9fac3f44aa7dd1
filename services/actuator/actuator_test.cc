// Tests of the actuator core: batch processing (direct), relay links against
// in-process fake relays, and the gRPC status service.
#include "services/actuator/actuator.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/reject_reason.h"
#include "lib/server.h"
#include "lib/signed_batch_verifier.h"
#include "lib/signing_test_util.h"
#include "lib/testing/metrics.h"
#include "lib/testing/readings.h"
#include "lib/testing/scratch_dir.h"
#include "lib/testing/wait.h"
#include "lib/time_util.h"
#include "lib/trust_store.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "services/actuator/actions/fake_command_runner.h"
#include "services/actuator/actuator_service.h"

namespace hwcast::actuator {
namespace {

using ::hwcast::testutil::WaitFor;

using hwcast::v1::Reading;
using hwcast::v1::ReadingBatch;
using hwcast::v1::SubscribeRequest;
using hwcast::v1::SubscribeResponse;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

// ---------------------------------------------------------------- helpers

Reading Temp(const std::string& source, uint64_t sequence, double celsius,
             const std::string& host = "node1") {
  return testutil::Temperature(host, source, sequence, celsius, kT0);
}

Reading Humidity(const std::string& source, uint64_t sequence, double percent) {
  return testutil::Humidity("node1", source, sequence, percent);
}

SubscribeResponse Batch(std::string collector, uint64_t epoch, uint64_t seq,
                        std::vector<Reading> readings, bool snapshot = false) {
  ReadingBatch batch;
  batch.set_collector_id(std::move(collector));
  batch.set_epoch(epoch);
  batch.set_batch_sequence(seq);
  *batch.mutable_sent_time() = ToProtoTime(kT0);
  for (Reading& r : readings) *batch.add_readings() = std::move(r);
  SubscribeResponse response;
  response.mutable_batch()->set_batch(batch.SerializeAsString());
  response.set_snapshot(snapshot);
  return response;
}

SubscribeResponse Garbage() {
  SubscribeResponse response;
  response.mutable_batch()->set_batch("\xff\xff\xff not a protobuf");
  return response;
}

using ::hwcast::testutil::MetricValue;

// Records what it is fed; proves the policy wiring.
class RecordingPolicy final : public Policy {
 public:
  std::string_view name() const override { return "recording"; }
  void OnReading(const Reading& reading, absl::Time now) override {
    readings_.push_back(
        absl::StrCat(SourceKeyOf(reading), "#", reading.sequence()));
    last_reading_time_ = now;
  }
  void OnTick(absl::Time now, const LinkContext& links) override {
    ++ticks_;
    last_tick_ = now;
    last_links_ = links;
  }
  PolicyState state() const override { return PolicyState::kNormal; }
  hwcast::v1::PolicyStatus Status(absl::Time now) const override {
    hwcast::v1::PolicyStatus status;
    status.set_state(ticks_ > 0 ? "ticking" : "idle");
    status.set_reason(
        absl::StrCat(readings_.size(), " readings, ", ticks_, " ticks"));
    return status;
  }

  // Read by the test only when the actuator is quiescent.
  std::vector<std::string> readings_;
  int ticks_ = 0;
  absl::Time last_tick_;
  absl::Time last_reading_time_;
  LinkContext last_links_;

 private:
  static std::string SourceKeyOf(const Reading& r) {
    return absl::StrCat(r.host(), "/", r.source_id());
  }
};

// A policy whose state the test sets: it moves to `next` on the next tick,
// or on a temperature reading above `shutdown_above` straight to SHUTDOWN.
class ScriptedPolicy final : public Policy {
 public:
  explicit ScriptedPolicy(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  void OnReading(const Reading& reading, absl::Time now) override {
    if (reading.has_temperature() &&
        reading.temperature().celsius() > shutdown_above) {
      Enter(PolicyState::kShutdown, now,
            absl::StrCat(reading.source_id(), " at ",
                         reading.temperature().celsius()));
    }
  }
  void OnTick(absl::Time now, const LinkContext& links) override {
    if (next.load() != state_) Enter(next.load(), now, "scripted");
  }
  PolicyState state() const override { return state_; }
  void ClearShutdown(absl::Time now) override {
    if (state_ != PolicyState::kShutdown) return;
    next = PolicyState::kNormal;
    Enter(PolicyState::kNormal, now, "cleared");
  }
  hwcast::v1::PolicyStatus Status(absl::Time now) const override {
    hwcast::v1::PolicyStatus status;
    status.set_name(name_);
    status.set_state(PolicyStateName(state_));
    status.set_reason(reason_);
    *status.mutable_since() = ToProtoTime(since_);
    if (state_ == PolicyState::kPreFail) {
      status.set_seconds_to_shutdown(
          absl::ToDoubleSeconds(since_ + absl::Seconds(30) - now));
    }
    hwcast::v1::PolicyInput* input = status.add_inputs();
    input->set_source("node1/room");
    input->set_state(state_ == PolicyState::kNormal ? "OK" : "ALARM");
    input->set_value(31.5);
    status.add_alarms("scripted alarm");
    return status;
  }

  std::string Warning(absl::Time now) const override {
    return warn.load() ? "scripted warning" : "";
  }

  // Set by the test at any time; read on the ticker thread.
  std::atomic<PolicyState> next{PolicyState::kNormal};
  std::atomic<bool> warn{false};
  double shutdown_above = 1000;

 private:
  void Enter(PolicyState state, absl::Time now, std::string why) {
    state_ = state;
    since_ = now;
    reason_ = absl::StrCat(name_, " ", why, " -> ", PolicyStateName(state));
  }

  const std::string name_;
  PolicyState state_ = PolicyState::kNormal;
  absl::Time since_;
  std::string reason_ = "all clear";
};

class FakeNetworkProbe final : public NetworkProbe {
 public:
  bool NetworkUp() override { return up.load(); }
  std::atomic<bool> up{true};
};

// Rejects every batch; records what it was given.
class RejectingVerifier final : public BatchVerifier {
 public:
  absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                      const ReadingBatch& batch) override {
    seen_collector_id = batch.collector_id();
    return Rejection(absl::StatusCode::kUnauthenticated,
                     RejectReason::kUnknownKey, "unknown key id");
  }
  std::string seen_collector_id;
};

// A signed copy of `response`'s batch bytes.
SubscribeResponse SignedBy(SubscribeResponse response,
                           const Ed25519PrivateKey& key) {
  signing_test::SignInPlace(key, response.mutable_batch());
  return response;
}

// ---------------------------------------------------------- fake relay

// A Relay service that streams whatever the test publishes. Subscribe first
// sends the snapshot (snapshot = true), then live batches.
class FakeRelay final : public hwcast::v1::Relay::Service {
 public:
  void SetSnapshot(std::vector<SubscribeResponse> snapshot) {
    absl::MutexLock lock(&mu_);
    snapshot_ = std::move(snapshot);
  }

  // Queues `response` for every open stream.
  void Deliver(const SubscribeResponse& response) {
    absl::MutexLock lock(&mu_);
    for (auto& [id, queue] : queues_) queue.push_back(response);
  }

  // Makes every running Subscribe return (before the server shuts down).
  void EndStreams() {
    absl::MutexLock lock(&mu_);
    ending_ = true;
  }

  int active_streams() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(queues_.size());
  }
  int subscribes() const {
    absl::MutexLock lock(&mu_);
    return subscribes_;
  }
  hwcast::v1::ReadingFilter last_filter() const {
    absl::MutexLock lock(&mu_);
    return last_filter_;
  }

  grpc::Status Subscribe(
      grpc::ServerContext* context, const SubscribeRequest* request,
      grpc::ServerWriter<SubscribeResponse>* writer) override {
    int id;
    std::vector<SubscribeResponse> snapshot;
    {
      absl::MutexLock lock(&mu_);
      id = ++subscribes_;
      last_filter_ = request->filter();
      snapshot = snapshot_;
      queues_[id];
    }
    writer->SendInitialMetadata();
    for (SubscribeResponse& r : snapshot) {
      r.set_snapshot(true);
      if (!writer->Write(r)) break;
    }
    while (true) {
      std::deque<SubscribeResponse> batch;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return ending_ || !queues_[id].empty();
        };
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(20));
        if (ending_ || context->IsCancelled()) {
          queues_.erase(id);
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "relay going away");
        }
        batch.swap(queues_[id]);
      }
      for (const SubscribeResponse& r : batch) {
        if (!writer->Write(r)) {
          absl::MutexLock lock(&mu_);
          queues_.erase(id);
          return grpc::Status::OK;
        }
      }
    }
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<SubscribeResponse> snapshot_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::deque<SubscribeResponse>> queues_ ABSL_GUARDED_BY(mu_);
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  int subscribes_ ABSL_GUARDED_BY(mu_) = 0;
  hwcast::v1::ReadingFilter last_filter_ ABSL_GUARDED_BY(mu_);
};

// A FakeRelay served on a loopback port (or a given address).
class FakeRelayServer {
 public:
  explicit FakeRelayServer(const std::string& listen = "127.0.0.1:0") {
    relay_ = std::make_unique<FakeRelay>();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(relay_.get());
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr) << listen;
    if (listen.rfind("unix:", 0) == 0) {
      address_ = listen;
    } else {
      EXPECT_GT(port, 0) << listen;
      address_ = absl::StrCat("127.0.0.1:", port);
    }
  }
  ~FakeRelayServer() { Stop(); }

  void Stop() {
    if (server_ == nullptr) return;
    relay_->EndStreams();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
    server_->Wait();
    server_.reset();
  }

  FakeRelay& relay() { return *relay_; }
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<FakeRelay> relay_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// ------------------------------------------------------------ fixture

class ActuatorTest : public ::testing::Test {
 protected:
  ActuatorOptions Options(std::vector<std::string> relays = {}) {
    ActuatorOptions options;
    options.host = "node1";
    options.relays = std::move(relays);
    options.stale_after = absl::Seconds(60);
    options.reconnect.initial = absl::Milliseconds(10);
    options.reconnect.max = absl::Milliseconds(100);
    options.reconnect.jitter = 0;
    // Ticks are driven by hand.
    options.tick_interval = absl::Hours(1);
    return options;
  }

  void Make(ActuatorOptions options,
            std::unique_ptr<BatchVerifier> verifier = nullptr) {
    auto policy = std::make_unique<RecordingPolicy>();
    policy_ = policy.get();
    std::vector<std::unique_ptr<Policy>> policies;
    policies.push_back(std::move(policy));
    actuator_ =
        std::make_unique<Actuator>(std::move(options), &clock_, registry_,
                                   std::move(verifier), std::move(policies));
  }

  hwcast::v1::RelaySubscription Link(int i) {
    return actuator_->Status().relays(i);
  }

  double Batches(const std::string& result) {
    return MetricValue(registry_, "hwcast_actuator_batches_total",
                       {{"result", result}});
  }

  double Invalid(const std::string& reason) {
    return MetricValue(registry_, "hwcast_actuator_batches_invalid_total",
                       {{"reason", reason}});
  }

  FakeClock clock_{kT0};
  prometheus::Registry registry_;
  RecordingPolicy* policy_ = nullptr;
  std::unique_ptr<Actuator> actuator_;
};

// ------------------------------------------------- batch processing

TEST_F(ActuatorTest, AcceptsBatchAndStoresItsReadings) {
  Make(Options());
  const auto outcome = actuator_->OnBatch(
      Batch("c1", 7, 1, {Temp("cpu", 1, 40), Temp("gpu", 1, 60)}), "relay-a");
  EXPECT_EQ(outcome.result, BatchSink::Result::kAccepted);
  auto cpu = actuator_->store().Get("node1/cpu");
  ASSERT_TRUE(cpu.has_value());
  EXPECT_EQ(cpu->collector_id(), "c1");
  EXPECT_EQ(cpu->epoch(), 7u);
  EXPECT_EQ(cpu->batch_sequence(), 1u);
  EXPECT_EQ(cpu->via_relay(), "relay-a");
  EXPECT_TRUE(actuator_->store().Get("node1/gpu").has_value());
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_readings_in_total"), 2);
  EXPECT_EQ(Batches("accepted"), 1);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_sources"), 2);
}

TEST_F(ActuatorTest, StoredReadingsBecomeSamplesFilteredOnesDoNot) {
  ActuatorOptions options = Options();
  options.filter.add_source_ids("cpu");
  options.metrics_source_timeout = absl::Minutes(2);
  Make(options);
  actuator_->OnBatch(
      Batch("c1", 7, 1, {Temp("cpu", 1, 40), Temp("gpu", 1, 60)}), "relay-a");
  clock_.Advance(absl::Seconds(30));
  std::string text = prometheus::TextSerializer().Serialize(
      actuator_->reading_metrics().lock()->Collect());
  EXPECT_THAT(text, HasSubstr("hwcast_temperature_celsius{host=\"node1\","));
  EXPECT_THAT(text, HasSubstr("source=\"cpu\"} 40"));
  EXPECT_THAT(text, HasSubstr("hwcast_reading_age_seconds{host=\"node1\""));
  EXPECT_THAT(text, Not(HasSubstr("gpu")));
  // Silent for the configured timeout: dropped.
  clock_.Advance(absl::Minutes(2));
  text = prometheus::TextSerializer().Serialize(
      actuator_->reading_metrics().lock()->Collect());
  EXPECT_THAT(text, Not(HasSubstr("cpu")));
}

TEST_F(ActuatorTest, MalformedBatchesAreCountedAndDropped) {
  Make(Options());
  auto garbage = actuator_->OnBatch(Garbage(), "relay-a");
  EXPECT_EQ(garbage.result, BatchSink::Result::kInvalid);
  EXPECT_THAT(garbage.error,
              HasSubstr("not a serialized hwcast.v1.ReadingBatch"));

  Reading no_quality = Temp("cpu", 1, 40);
  no_quality.set_quality(hwcast::v1::QUALITY_UNSPECIFIED);
  auto invalid = actuator_->OnBatch(Batch("c1", 7, 1, {no_quality}), "r");
  EXPECT_EQ(invalid.result, BatchSink::Result::kInvalid);
  EXPECT_THAT(invalid.error, HasSubstr("quality"));

  auto no_collector =
      actuator_->OnBatch(Batch("", 7, 2, {Temp("cpu", 1, 1)}), "r");
  EXPECT_EQ(no_collector.result, BatchSink::Result::kInvalid);
  EXPECT_THAT(no_collector.error, HasSubstr("collector_id"));

  EXPECT_EQ(Batches("invalid"), 3);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_errors_total",
                        {{"reason", "invalid_batch"}}),
            3);
  EXPECT_EQ(Invalid("malformed"), 3);
  EXPECT_EQ(Invalid("unknown_key"), 0);  // every reason is pre-created
  EXPECT_THAT(actuator_->store().Snapshot(), IsEmpty());
  // An invalid batch is not remembered as seen: a valid copy still counts.
  EXPECT_EQ(
      actuator_->OnBatch(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}), "r").result,
      BatchSink::Result::kAccepted);
}

TEST_F(ActuatorTest, VerifierSeesTheParsedBatchAndItsRejectionIsCounted) {
  auto verifier = std::make_unique<RejectingVerifier>();
  RejectingVerifier* seen = verifier.get();
  Make(Options(), std::move(verifier));
  auto outcome =
      actuator_->OnBatch(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}), "r");
  EXPECT_EQ(outcome.result, BatchSink::Result::kInvalid);
  EXPECT_EQ(outcome.error, "unknown_key: unknown key id");
  EXPECT_EQ(seen->seen_collector_id, "c1");
  EXPECT_FALSE(actuator_->store().Get("node1/cpu").has_value());
  EXPECT_EQ(Invalid("unknown_key"), 1);
  EXPECT_EQ(Batches("invalid"), 1);

  // Malformed bytes never reach the verifier.
  seen->seen_collector_id.clear();
  EXPECT_EQ(actuator_->OnBatch(Garbage(), "r").result,
            BatchSink::Result::kInvalid);
  EXPECT_EQ(seen->seen_collector_id, "");
  EXPECT_EQ(Invalid("malformed"), 1);
}

// With the real verifier: a trust file holding one key for collector c1 on
// host node1.
class SignedActuatorTest : public ActuatorTest {
 protected:
  void SetUp() override {
    trusted_.emplace(*Ed25519PrivateKey::Generate());
    absl::StatusOr<std::unique_ptr<TrustStore>> store = signing_test::TrustOnly(
        *trusted_, "node1-collector", {"c1"}, {"node1"});
    ASSERT_TRUE(store.ok()) << store.status();
    // Batches are sealed at kT0 and observed at kT0 + sequence seconds.
    clock_.Set(kT0 + absl::Seconds(5));
    Make(Options(), std::make_unique<SignedBatchVerifier>(
                        *std::move(store), FreshnessOptions(), &clock_));
  }

  std::optional<Ed25519PrivateKey> trusted_;
};

TEST_F(SignedActuatorTest, AcceptsABatchSignedByATrustedKey) {
  auto outcome = actuator_->OnBatch(
      SignedBy(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}), *trusted_), "r");
  EXPECT_EQ(outcome.result, BatchSink::Result::kAccepted) << outcome.error;
  EXPECT_TRUE(actuator_->store().Get("node1/cpu").has_value());
  EXPECT_EQ(Batches("accepted"), 1);
}

TEST_F(SignedActuatorTest, RejectsUnsignedAndUntrustedKeys) {
  auto unsigned_outcome =
      actuator_->OnBatch(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}), "r");
  EXPECT_EQ(unsigned_outcome.result, BatchSink::Result::kInvalid);
  EXPECT_EQ(Invalid("unsigned"), 1);

  const Ed25519PrivateKey stranger = *Ed25519PrivateKey::Generate();
  auto outcome = actuator_->OnBatch(
      SignedBy(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}), stranger), "r");
  EXPECT_EQ(outcome.result, BatchSink::Result::kInvalid);
  EXPECT_THAT(outcome.error, HasSubstr("unknown_key"));
  EXPECT_THAT(outcome.error, HasSubstr(stranger.public_key().KeyIdHex()));
  EXPECT_EQ(Invalid("unknown_key"), 1);
  EXPECT_FALSE(actuator_->store().Get("node1/cpu").has_value());
  EXPECT_EQ(Batches("invalid"), 2);
}

TEST_F(SignedActuatorTest, RejectsAForgedHostAndTamperedBytes) {
  // The trusted key signing for a host it may not speak for.
  auto forged = actuator_->OnBatch(
      SignedBy(Batch("c1", 7, 1, {Temp("cpu", 1, 40, "db2")}), *trusted_), "r");
  EXPECT_EQ(forged.result, BatchSink::Result::kInvalid);
  EXPECT_THAT(forged.error, HasSubstr("unauthorized"));
  EXPECT_THAT(forged.error, HasSubstr("host 'db2'"));
  EXPECT_EQ(Invalid("unauthorized"), 1);
  EXPECT_FALSE(actuator_->store().Get("db2/cpu").has_value());

  // A relay changing a signed batch's bytes (here: the temperature).
  SubscribeResponse tampered =
      SignedBy(Batch("c1", 7, 2, {Temp("cpu", 2, 40)}), *trusted_);
  std::string* bytes = tampered.mutable_batch()->mutable_batch();
  (*bytes)[bytes->size() - 2] ^= 0x01;
  auto outcome = actuator_->OnBatch(tampered, "r");
  EXPECT_EQ(outcome.result, BatchSink::Result::kInvalid);
  EXPECT_EQ(Invalid("bad_signature"), 1);
  EXPECT_FALSE(actuator_->store().Get("node1/cpu").has_value());
}

TEST_F(SignedActuatorTest, RejectsStaleBatches) {
  clock_.Set(kT0 + absl::Minutes(10));
  auto outcome = actuator_->OnBatch(
      SignedBy(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}), *trusted_), "r");
  EXPECT_EQ(outcome.result, BatchSink::Result::kInvalid);
  EXPECT_EQ(Invalid("stale"), 1);
}

TEST_F(ActuatorTest, SameBatchFromTwoRelaysCountsOnce) {
  Make(Options());
  const SubscribeResponse batch = Batch("c1", 7, 1, {Temp("cpu", 1, 40)});
  EXPECT_EQ(actuator_->OnBatch(batch, "relay-a").result,
            BatchSink::Result::kAccepted);
  EXPECT_EQ(actuator_->OnBatch(batch, "relay-b").result,
            BatchSink::Result::kDuplicate);
  EXPECT_EQ(actuator_->store().Get("node1/cpu")->via_relay(), "relay-a");
  EXPECT_EQ(Batches("accepted"), 1);
  EXPECT_EQ(Batches("duplicate"), 1);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_readings_in_total"), 1);
  EXPECT_EQ(policy_->readings_.size(), 1u);
}

TEST_F(ActuatorTest, BatchOlderThanDedupWindowCountsOnceViaStore) {
  ActuatorOptions options = Options();
  options.dedup.window = 64;
  Make(options);
  const SubscribeResponse old = Batch("c1", 7, 1, {Temp("fan", 1, 30)});
  EXPECT_EQ(actuator_->OnBatch(old, "a").result, BatchSink::Result::kAccepted);
  EXPECT_EQ(
      actuator_->OnBatch(Batch("c1", 7, 500, {Temp("cpu", 1, 40)}), "a").result,
      BatchSink::Result::kAccepted);
  // Batch 1 is now below the window (e.g. the relay's snapshot after a
  // reconnect still holds it as the latest of "fan"): nothing new in it.
  EXPECT_EQ(actuator_->OnBatch(old, "a").result, BatchSink::Result::kDuplicate);
  // A never-seen old batch that does bring something new is accepted.
  EXPECT_EQ(
      actuator_->OnBatch(Batch("c1", 7, 2, {Temp("fan", 2, 31)}), "a").result,
      BatchSink::Result::kAccepted);
  EXPECT_EQ(actuator_->store().Get("node1/fan")->reading().sequence(), 2u);
  EXPECT_EQ(Batches("duplicate"), 1);
}

TEST_F(ActuatorTest, AppliesTheFilterToReadingsInside) {
  ActuatorOptions options = Options();
  options.filter.add_kinds(hwcast::v1::READING_KIND_TEMPERATURE);
  Make(options);
  EXPECT_EQ(actuator_
                ->OnBatch(Batch("c1", 7, 1,
                                {Temp("cpu", 1, 40), Humidity("room", 1, 45)}),
                          "r")
                .result,
            BatchSink::Result::kAccepted);
  EXPECT_TRUE(actuator_->store().Get("node1/cpu").has_value());
  EXPECT_FALSE(actuator_->store().Get("node1/room").has_value());
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_readings_dropped_total",
                        {{"reason", "filtered"}}),
            1);
}

TEST_F(ActuatorTest, FleetReadingsFromItsOwnHostAreDropped) {
  Make(Options());
  Reading own = Temp("fleet", 1, 0, "node1");
  own.mutable_fleet()->set_type(
      hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED);
  Reading other = Temp("fleet", 1, 0, "node2");
  other.mutable_fleet()->set_type(
      hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED);
  actuator_->OnBatch(Batch("node1-actuator", 7, 1, {own}), "r");
  actuator_->OnBatch(Batch("node2-actuator", 7, 1, {other}), "r");
  EXPECT_FALSE(actuator_->store().Get("node1/fleet").has_value());
  EXPECT_TRUE(actuator_->store().Get("node2/fleet").has_value());
  EXPECT_EQ(policy_->readings_.size(), 1u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_readings_dropped_total",
                        {{"reason", "filtered"}}),
            1);
}

// Issue 18: a follower's fleet events naming this host are its acks; a
// batch claiming to be the follower's actuator that fails verification is
// refused and shown as such.
TEST_F(SignedActuatorTest, FleetAcksFromFollowersAndForgedOnesRefused) {
  const Ed25519PrivateKey follower = *Ed25519PrivateKey::Generate();
  absl::StatusOr<std::unique_ptr<TrustStore>> store = signing_test::TrustOnly(
      follower, "node2-actuator", {"node2-actuator"}, {"node2"});
  ASSERT_TRUE(store.ok()) << store.status();
  ActuatorOptions options = Options();
  options.fleet_followers = {"node2", "node3"};
  Make(options, std::make_unique<SignedBatchVerifier>(
                    *std::move(store), FreshnessOptions(), &clock_));
  ASSERT_EQ(actuator_->Status().fleet_peers_size(), 2);
  EXPECT_EQ(actuator_->Status().fleet_peers(0).state(), "not heard");

  auto ack = [](hwcast::v1::FleetEvent::Type type) {
    Reading r = Temp("fleet", 1, 0, "node2");
    r.mutable_fleet()->set_type(type);
    r.mutable_fleet()->add_following("node1");
    return r;
  };
  // Forged: a stranger's key claiming node2's actuator.
  const Ed25519PrivateKey stranger = *Ed25519PrivateKey::Generate();
  EXPECT_EQ(
      actuator_
          ->OnBatch(
              SignedBy(Batch("node2-actuator", 7, 1,
                             {ack(hwcast::v1::FleetEvent::TYPE_COMMAND_RUN)}),
                       stranger),
              "r")
          .result,
      BatchSink::Result::kInvalid);
  hwcast::v1::FleetPeerStatus node2 = actuator_->Status().fleet_peers(0);
  EXPECT_EQ(node2.state(), "refused");
  EXPECT_EQ(node2.refused(), 1u);
  EXPECT_EQ(node2.refused_reason(), "unknown_key");
  EXPECT_EQ(node2.acks(), 0u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_fleet_acks_refused_total",
                        {{"host", "node2"}}),
            1);

  // The real one.
  EXPECT_EQ(
      actuator_
          ->OnBatch(
              SignedBy(
                  Batch("node2-actuator", 7, 1,
                        {ack(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED)}),
                  follower),
              "r")
          .result,
      BatchSink::Result::kAccepted);
  node2 = actuator_->Status().fleet_peers(0);
  EXPECT_EQ(node2.state(), "acked");
  EXPECT_EQ(node2.ack(), "countdown started");
  EXPECT_EQ(node2.acks(), 1u);
  EXPECT_EQ(actuator_->Status().fleet_peers(1).state(), "not heard");
  EXPECT_EQ(MetricValue(registry_, "hwcast_fleet_acks_total",
                        {{"host", "node2"}, {"ack", "countdown started"}}),
            1);
}

TEST_F(ActuatorTest, OlderReadingsInNewBatchesAreSuperseded) {
  Make(Options());
  actuator_->OnBatch(Batch("c1", 7, 2, {Temp("cpu", 5, 40)}), "r");
  // Batch 1 arrives late: new batch, but its reading is older.
  EXPECT_EQ(
      actuator_->OnBatch(Batch("c1", 7, 1, {Temp("cpu", 4, 99)}), "r").result,
      BatchSink::Result::kAccepted);
  EXPECT_EQ(actuator_->store().Get("node1/cpu")->reading().sequence(), 5u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_readings_dropped_total",
                        {{"reason", "superseded"}}),
            1);
  EXPECT_EQ(policy_->readings_, std::vector<std::string>{"node1/cpu#5"});
}

TEST_F(ActuatorTest, PoliciesGetReadingsTicksAndReportStatus) {
  Make(Options());
  clock_.Advance(absl::Seconds(2));
  actuator_->OnBatch(Batch("c1", 7, 1, {Temp("a", 1, 1), Temp("b", 1, 2)}),
                     "r");
  actuator_->OnBatch(Batch("c1", 7, 1, {Temp("a", 1, 1), Temp("b", 1, 2)}),
                     "r2");  // duplicate: not fed again
  actuator_->OnBatch(Batch("c1", 7, 2, {Temp("a", 2, 1)}), "r");
  EXPECT_EQ(policy_->readings_,
            (std::vector<std::string>{"node1/a#1", "node1/b#1", "node1/a#2"}));
  EXPECT_EQ(policy_->last_reading_time_, kT0 + absl::Seconds(2));

  clock_.Advance(absl::Seconds(1));
  actuator_->Tick();
  EXPECT_EQ(policy_->ticks_, 1);
  EXPECT_EQ(policy_->last_tick_, kT0 + absl::Seconds(3));

  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  ASSERT_EQ(status.policies_size(), 1);
  EXPECT_EQ(status.policies(0).name(), "recording");  // filled in from name()
  EXPECT_EQ(status.policies(0).state(), "ticking");
  EXPECT_EQ(status.policies(0).reason(), "3 readings, 1 ticks");
}

TEST_F(ActuatorTest, TickerThreadTicksPolicies) {
  ActuatorOptions options = Options();
  options.tick_interval = absl::Milliseconds(5);
  Make(options);
  actuator_->Start();
  EXPECT_TRUE(WaitFor(
      [&] { return actuator_->Status().policies(0).state() == "ticking"; }));
  actuator_->Stop();
}

TEST_F(ActuatorTest, StaleSourcesGauge) {
  Make(Options());
  actuator_->OnBatch(Batch("c1", 7, 1, {Temp("a", 1, 1)}), "r");
  clock_.Advance(absl::Seconds(30));
  actuator_->OnBatch(Batch("c1", 7, 2, {Temp("b", 1, 1)}), "r");
  clock_.Advance(absl::Seconds(31));
  actuator_->Tick();
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_sources"), 2);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_stale_sources"), 1);
  const auto status = actuator_->Status();
  ASSERT_EQ(status.sources_size(), 2);
  EXPECT_TRUE(status.sources(0).stale());
  EXPECT_DOUBLE_EQ(status.sources(0).age_seconds(), 61);
  EXPECT_FALSE(status.sources(1).stale());
  EXPECT_DOUBLE_EQ(status.sources(1).age_seconds(), 31);
}

// ------------------------------------------------------ relay links

TEST_F(ActuatorTest, ReadingsArriveThroughARelay) {
  FakeRelayServer relay;
  ActuatorOptions options = Options({relay.address()});
  options.filter.add_hosts("node1");
  Make(options);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_relay_connected",
                        {{"relay", relay.address()}}),
            0);
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return relay.relay().active_streams() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Link(0).connected(); }));
  // The configured filter is what the relay was asked for.
  ASSERT_EQ(relay.relay().last_filter().hosts_size(), 1);
  EXPECT_EQ(relay.relay().last_filter().hosts(0), "node1");

  relay.relay().Deliver(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}));
  relay.relay().Deliver(
      Batch("c1", 7, 2, {Temp("cpu", 2, 41), Temp("x", 1, 1, "other-host")}));
  ASSERT_TRUE(WaitFor([&] { return Link(0).batches_received() == 2; }));
  auto cpu = actuator_->store().Get("node1/cpu");
  ASSERT_TRUE(cpu.has_value());
  EXPECT_EQ(cpu->reading().temperature().celsius(), 41);
  EXPECT_EQ(cpu->via_relay(), relay.address());
  EXPECT_FALSE(actuator_->store().Get("other-host/x").has_value());

  const auto link = Link(0);
  EXPECT_EQ(link.address(), relay.address());
  EXPECT_TRUE(link.connected());
  EXPECT_EQ(link.connects(), 1u);
  EXPECT_EQ(link.duplicates(), 0u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_relay_connected",
                        {{"relay", relay.address()}}),
            1);
  actuator_->Stop();
  EXPECT_FALSE(Link(0).connected());
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_relay_connected",
                        {{"relay", relay.address()}}),
            0);
}

TEST_F(ActuatorTest, WorksOverAUnixSocket) {
  const ::hwcast::testutil::ScratchDir scratch("/tmp/", "hwcast_actuator_test");
  const std::string dir = scratch.path();
  {
    FakeRelayServer relay(absl::StrCat("unix:", dir, "/relay.sock"));
    Make(Options({relay.address()}));
    actuator_->Start();
    ASSERT_TRUE(WaitFor([&] { return relay.relay().active_streams() == 1; }));
    relay.relay().Deliver(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}));
    EXPECT_TRUE(WaitFor(
        [&] { return actuator_->store().Get("node1/cpu").has_value(); }));
    actuator_->Stop();
  }
}

TEST_F(ActuatorTest, TwoRelaysCarryingTheSameBatchesCountEachOnce) {
  FakeRelayServer relay_a;
  FakeRelayServer relay_b;
  Make(Options({relay_a.address(), relay_b.address()}));
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] {
    return relay_a.relay().active_streams() == 1 &&
           relay_b.relay().active_streams() == 1;
  }));
  constexpr int kBatches = 20;
  for (int i = 1; i <= kBatches; ++i) {
    const SubscribeResponse batch =
        Batch("c1", 7, i, {Temp("cpu", i, 40 + i), Temp("gpu", i, 60)});
    relay_a.relay().Deliver(batch);
    relay_b.relay().Deliver(batch);
  }
  ASSERT_TRUE(WaitFor([&] {
    return Link(0).batches_received() == kBatches &&
           Link(1).batches_received() == kBatches;
  }));
  EXPECT_EQ(Link(0).duplicates() + Link(1).duplicates(), kBatches);
  EXPECT_EQ(Batches("accepted"), kBatches);
  EXPECT_EQ(Batches("duplicate"), kBatches);
  // Every reading of every batch is looked at once: stored, or superseded
  // when the other link had already delivered a later batch.
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_readings_in_total") +
                MetricValue(registry_, "hwcast_actuator_readings_dropped_total",
                            {{"reason", "superseded"}}),
            2 * kBatches);
  EXPECT_EQ(actuator_->store().Get("node1/cpu")->reading().sequence(),
            static_cast<uint64_t>(kBatches));
  actuator_->Stop();
}

TEST_F(ActuatorTest, ReconnectsToARelayThatComesBackOnTheSamePort) {
  auto relay = std::make_unique<FakeRelayServer>();
  const std::string address = relay->address();
  const SubscribeResponse first = Batch("c1", 7, 1, {Temp("cpu", 1, 40)});
  relay->relay().SetSnapshot({first});
  Make(Options({address}));
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return Link(0).batches_received() == 1; }));
  EXPECT_EQ(Link(0).connects(), 1u);

  relay->Stop();
  ASSERT_TRUE(WaitFor([&] { return !Link(0).connected(); }));
  EXPECT_THAT(Link(0).last_error(), Not(IsEmpty()));
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_relay_connected",
                        {{"relay", address}}),
            0);
  // Let a few attempts fail against the closed port.
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(Link(0).connected());

  relay = std::make_unique<FakeRelayServer>(address);
  ASSERT_EQ(relay->address(), address);
  // The restarted relay re-sends its snapshot: a duplicate, not news.
  relay->relay().SetSnapshot({first});
  ASSERT_TRUE(WaitFor([&] { return relay->relay().active_streams() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Link(0).batches_received() == 2; }));
  EXPECT_TRUE(Link(0).connected());
  EXPECT_EQ(Link(0).connects(), 2u);
  EXPECT_EQ(Link(0).duplicates(), 1u);

  relay->relay().Deliver(Batch("c1", 7, 2, {Temp("cpu", 2, 45)}));
  ASSERT_TRUE(WaitFor([&] {
    return actuator_->store().Get("node1/cpu")->reading().sequence() == 2;
  }));
  EXPECT_EQ(Batches("accepted"), 2);
  actuator_->Stop();
}

TEST_F(ActuatorTest, MalformedBatchDoesNotBreakTheStream) {
  FakeRelayServer relay;
  Make(Options({relay.address()}));
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return relay.relay().active_streams() == 1; }));
  relay.relay().Deliver(Garbage());
  relay.relay().Deliver(Batch("c1", 7, 1, {Temp("cpu", 1, 40)}));
  ASSERT_TRUE(WaitFor([&] { return Link(0).batches_received() == 2; }));
  const auto link = Link(0);
  EXPECT_EQ(link.invalid_batches(), 1u);
  EXPECT_THAT(link.last_invalid_reason(),
              HasSubstr("not a serialized hwcast.v1.ReadingBatch"));
  EXPECT_TRUE(link.connected());
  EXPECT_EQ(link.connects(), 1u);
  EXPECT_EQ(relay.relay().subscribes(), 1);
  EXPECT_TRUE(actuator_->store().Get("node1/cpu").has_value());
  EXPECT_EQ(Batches("invalid"), 1);
  EXPECT_EQ(Invalid("malformed"), 1);
  actuator_->Stop();
}

TEST_F(ActuatorTest, UnreachableRelayIsReportedAndStopIsPrompt) {
  // A port that was just closed.
  std::string address;
  {
    FakeRelayServer closed;
    address = closed.address();
  }
  ActuatorOptions options = Options({address});
  // A long backoff: Stop() must not wait for it.
  options.reconnect.initial = absl::Hours(1);
  options.reconnect.max = absl::Hours(1);
  Make(options);
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return !Link(0).last_error().empty(); }));
  EXPECT_THAT(Link(0).last_error(), HasSubstr("UNAVAILABLE"));
  EXPECT_FALSE(Link(0).connected());
  EXPECT_EQ(Link(0).connects(), 0u);
  actuator_->Stop();  // would hang for an hour if the wait were not cancelled
}

TEST_F(ActuatorTest, StopCancelsAnOpenStream) {
  FakeRelayServer relay;
  Make(Options({relay.address()}));
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return Link(0).connected(); }));
  actuator_->Stop();
  EXPECT_FALSE(Link(0).connected());
  EXPECT_TRUE(WaitFor([&] { return relay.relay().active_streams() == 0; }));
}

// --------------------------------------------------------- GetStatus

TEST_F(ActuatorTest, GetStatusOverGrpc) {
  Make(Options({"127.0.0.1:1", "unix:/nonexistent/relay.sock"}));
  actuator_->OnBatch(Batch("c1", 7, 3, {Temp("b-src", 1, 20)}), "relay-x");
  clock_.Advance(absl::Seconds(61));
  actuator_->OnBatch(Batch("c1", 7, 4, {Temp("a-src", 1, 30)}), "relay-y");
  clock_.Advance(absl::Seconds(2));

  ActuatorServiceImpl service(actuator_.get());
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = hwcast::v1::Actuator::NewStub(grpc::CreateChannel(
      (*server)->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  hwcast::v1::ActuatorStatus status;
  const grpc::Status rpc =
      stub->GetStatus(&context, hwcast::v1::GetStatusRequest(), &status);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();

  EXPECT_EQ(status.host(), "node1");
  EXPECT_EQ(FromProtoTime(status.now()), kT0 + absl::Seconds(63));
  ASSERT_EQ(status.sources_size(), 2);
  EXPECT_EQ(status.sources(0).reading().source_id(), "a-src");
  EXPECT_DOUBLE_EQ(status.sources(0).age_seconds(), 2);
  EXPECT_FALSE(status.sources(0).stale());
  EXPECT_EQ(status.sources(0).via_relay(), "relay-y");
  EXPECT_EQ(status.sources(0).batch_sequence(), 4u);
  EXPECT_EQ(status.sources(1).reading().source_id(), "b-src");
  EXPECT_DOUBLE_EQ(status.sources(1).age_seconds(), 63);
  EXPECT_TRUE(status.sources(1).stale());
  ASSERT_EQ(status.relays_size(), 2);
  EXPECT_EQ(status.relays(0).address(), "127.0.0.1:1");
  EXPECT_EQ(status.relays(1).address(), "unix:/nonexistent/relay.sock");
  EXPECT_FALSE(status.relays(0).connected());
  ASSERT_EQ(status.policies_size(), 1);
  EXPECT_EQ(status.policies(0).name(), "recording");
  EXPECT_EQ(status.policies(0).state(), "idle");
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST_F(ActuatorTest, EveryServiceMethodIsServedOnTheAsyncLoop) {
  // A callback method would start gRPC's callback threads in the actuator
  // (each wakes ten times a second, idle or not); a sync one would not be
  // served raw.
  ActuatorServiceImpl service(nullptr);
  EXPECT_TRUE(service.has_async_methods());
  EXPECT_FALSE(service.has_callback_methods());
  EXPECT_FALSE(service.has_synchronous_methods());
}

// ------------------------------------------------ policies and actions

TEST_F(ActuatorTest, TicksCarryTheLinkContext) {
  auto network = std::make_unique<FakeNetworkProbe>();
  FakeNetworkProbe* probe = network.get();
  auto policy = std::make_unique<RecordingPolicy>();
  RecordingPolicy* recording = policy.get();
  ActuatorParts parts;
  parts.policies.push_back(std::move(policy));
  parts.network = std::move(network);
  // Two relays that are never reachable (the links are not even started).
  actuator_ = std::make_unique<Actuator>(
      Options({"127.0.0.1:1", "unix:/nonexistent/relay.sock"}), &clock_,
      registry_, std::move(parts));
  actuator_->Tick();
  EXPECT_EQ(recording->last_links_.relays_total, 2);
  EXPECT_EQ(recording->last_links_.relays_connected, 0);
  EXPECT_TRUE(recording->last_links_.network_up);
  probe->up = false;
  actuator_->Tick();
  EXPECT_FALSE(recording->last_links_.network_up);
}

TEST_F(ActuatorTest, TicksCountConnectedRelays) {
  FakeRelayServer relay;
  auto policy = std::make_unique<RecordingPolicy>();
  RecordingPolicy* recording = policy.get();
  ActuatorParts parts;
  parts.policies.push_back(std::move(policy));
  actuator_ = std::make_unique<Actuator>(Options({relay.address()}), &clock_,
                                         registry_, std::move(parts));
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return relay.relay().active_streams() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Link(0).connected(); }));
  actuator_->Tick();
  EXPECT_EQ(recording->last_links_.relays_total, 1);
  EXPECT_EQ(recording->last_links_.relays_connected, 1);
  actuator_->Stop();
}

// Two scripted policies, a fake runner and an audit log in a temp dir.
class ActuatorActionsTest : public ActuatorTest {
 protected:
  void TearDown() override { actuator_.reset(); }

  std::string File(const std::string& name) const {
    return (std::filesystem::path(dir_) / name).string();
  }

  // countdown 0: the command runs on the transition into SHUTDOWN.
  void MakeWithActions(bool shutdown_enabled,
                       absl::Duration countdown = absl::ZeroDuration(),
                       absl::Duration final_delay = absl::ZeroDuration(),
                       const std::string& audit_file = "audit.jsonl") {
    ActuatorOptions options = Options();
    options.actions.shutdown_enabled = shutdown_enabled;
    options.actions.countdown = countdown;
    options.actions.final_delay = final_delay;
    options.actions.shutdown_command = {"/test/shutdown", "now"};
    options.actions.notify_command = {"/test/notify"};
    options.actions.dry_run_record = File("dry-run.jsonl");
    ActuatorParts parts;
    auto room = std::make_unique<ScriptedPolicy>("room-too-hot");
    auto ups = std::make_unique<ScriptedPolicy>("ups-on-battery");
    room_ = room.get();
    ups_ = ups.get();
    parts.policies.push_back(std::move(room));
    parts.policies.push_back(std::move(ups));
    auto runner = std::make_unique<FakeCommandRunner>();
    runner_ = runner.get();
    parts.runner = std::move(runner);
    auto audit = AuditLog::Open(File(audit_file), &clock_);
    ASSERT_TRUE(audit.ok()) << audit.status();
    parts.audit = *std::move(audit);
    options.fencing = fencing_;
    if (fencing_.has_value()) {
      options.fleet_followers = fencing_->planner.followers;
    }
    parts.fence_runner = std::move(fence_runner_);
    actuator_ = std::make_unique<Actuator>(std::move(options), &clock_,
                                           registry_, std::move(parts));
  }

  // Used by the next MakeWithActions.
  std::optional<FleetFencerOptions> fencing_;
  std::unique_ptr<FenceRunner> fence_runner_;

  double State(const std::string& policy, const std::string& state) {
    return MetricValue(registry_, "hwcast_actuator_policy_state",
                       {{"policy", policy}, {"state", state}});
  }
  double Transitions(const std::string& policy, const std::string& to) {
    return MetricValue(registry_, "hwcast_actuator_policy_transitions_total",
                       {{"policy", policy}, {"to", to}});
  }
  double Actions(const std::string& action, const std::string& result) {
    return MetricValue(registry_, "hwcast_actuator_actions_total",
                       {{"action", action}, {"result", result}});
  }
  std::vector<std::string> AuditLines() {
    std::ifstream in(File("audit.jsonl"));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  // "EVENT POLICY FROM->TO" of every notification so far.
  std::vector<std::string> Notified() {
    std::vector<std::string> notified;
    for (const auto& call : runner_->CallsOf("/test/notify")) {
      notified.push_back(absl::StrCat(
          call.env.at("HWCAST_EVENT"), " ", call.env.at("HWCAST_POLICY"), " ",
          call.env.at("HWCAST_FROM"), "->", call.env.at("HWCAST_TO")));
    }
    return notified;
  }
  size_t Shutdowns() { return runner_->CallsOf("/test/shutdown").size(); }
  // Ticks once a second for `seconds` seconds.
  void TickFor(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      clock_.Advance(absl::Seconds(1));
      actuator_->Tick();
    }
  }

  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/",
                                                "hwcast_actuator_actions"};
  const std::string dir_ = scratch_.path();
  ScriptedPolicy* room_ = nullptr;
  ScriptedPolicy* ups_ = nullptr;
  FakeCommandRunner* runner_ = nullptr;
};

TEST_F(ActuatorActionsTest, WarningIsNotifiedAuditedAndCountedNeverActs) {
  MakeWithActions(/*shutdown_enabled=*/true);
  auto warning = [&] {
    return MetricValue(registry_, "hwcast_actuator_policy_warning",
                       {{"policy", "room-too-hot"}});
  };
  EXPECT_EQ(warning(), 0);
  room_->warn = true;
  TickFor(3);
  actuator_->WaitForActions();
  EXPECT_EQ(warning(), 1);
  EXPECT_EQ(Notified(),
            std::vector<std::string>{"warning room-too-hot OK->WARNING"});
  hwcast::v1::ActuatorStatus status = actuator_->Status();
  EXPECT_TRUE(status.policies(0).warning());
  EXPECT_EQ(status.policies(0).warning_reason(), "scripted warning");
  EXPECT_EQ(status.policies(0).state(), "NORMAL");
  EXPECT_EQ(Shutdowns(), 0u);
  EXPECT_FALSE(status.actions().has_command_deadline());
  room_->warn = false;
  TickFor(1);
  actuator_->WaitForActions();
  EXPECT_EQ(warning(), 0);
  EXPECT_EQ(Notified().back(), "warning room-too-hot WARNING->OK");
  std::vector<std::string> audit;
  for (const std::string& line : AuditLines()) {
    if (absl::StrContains(line, R"("event":"warning")")) audit.push_back(line);
  }
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_THAT(audit[0], HasSubstr(R"("event":"warning")"));
  EXPECT_THAT(audit[0], HasSubstr(R"("reason":"scripted warning")"));
  EXPECT_THAT(audit[1], HasSubstr(R"("reason":"warning cleared")"));
}

TEST_F(ActuatorActionsTest, StatusNeverWaitsForTheAuditLog) {
  // The audit log is a FIFO nobody reads, filled up: the next audit line
  // blocks, as a slow disk's fsync would.
  const std::string fifo = File("audit.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  MakeWithActions(/*shutdown_enabled=*/false, absl::Seconds(60),
                  absl::ZeroDuration(), "audit.fifo");
  const int filler = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(filler, 0);
  while (write(filler, "x", 1) == 1) {
  }
  room_->next = PolicyState::kPreFail;
  clock_.Advance(absl::Seconds(1));
  std::atomic<bool> ticked{false};
  std::thread ticker([&] {
    actuator_->Tick();
    ticked = true;
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(ticked.load());  // stuck writing the audit line
  auto status =
      std::async(std::launch::async, [&] { return actuator_->Status(); });
  EXPECT_EQ(status.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  char buffer[65536];
  while (!ticked.load()) {
    (void)!read(reader, buffer, sizeof buffer);
    absl::SleepFor(absl::Milliseconds(1));
  }
  ticker.join();
  EXPECT_EQ(status.get().policies(0).state(), "PRE_FAIL");
  // Keep draining while the actuator stops (late audit lines).
  std::atomic<bool> stopped{false};
  std::thread drain([&] {
    while (!stopped.load()) {
      (void)!read(reader, buffer, sizeof buffer);
      absl::SleepFor(absl::Milliseconds(1));
    }
  });
  actuator_.reset();
  stopped = true;
  drain.join();
  close(filler);
  close(reader);
}

TEST_F(ActuatorActionsTest, TimeLeftAndLastTransitionGauges) {
  MakeWithActions(/*shutdown_enabled=*/false, absl::Seconds(60));
  auto gauge = [&](const std::string& name) {
    return MetricValue(registry_, name, {{"policy", "room-too-hot"}});
  };
  EXPECT_EQ(gauge("hwcast_actuator_policy_last_transition_timestamp_seconds"),
            0);
  room_->next = PolicyState::kPreFail;
  TickFor(1);
  const absl::Time entered = clock_.Now();
  TickFor(10);
  // The scripted policy's grace is 30s.
  EXPECT_EQ(gauge("hwcast_actuator_policy_time_left_seconds"), 20);
  EXPECT_EQ(gauge("hwcast_actuator_policy_last_transition_timestamp_seconds"),
            absl::ToDoubleSeconds(entered - absl::UnixEpoch()));
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  EXPECT_EQ(status.policies(0).last_transition_reason(),
            "room-too-hot scripted -> PRE_FAIL");
  EXPECT_EQ(FromProtoTime(status.policies(0).last_transition_time()), entered);
  room_->next = PolicyState::kNormal;
  TickFor(1);
  EXPECT_EQ(gauge("hwcast_actuator_policy_time_left_seconds"), 0);
}

TEST_F(ActuatorActionsTest, ShutdownRunsExactlyOnceHoweverOftenItIsReached) {
  MakeWithActions(/*shutdown_enabled=*/true);
  EXPECT_EQ(State("room-too-hot", "NORMAL"), 1);
  EXPECT_EQ(State("room-too-hot", "SHUTDOWN"), 0);
  EXPECT_EQ(Transitions("room-too-hot", "SHUTDOWN"), 0);  // pre-created

  room_->next = PolicyState::kPreFail;
  clock_.Advance(absl::Seconds(1));
  actuator_->Tick();
  EXPECT_EQ(State("room-too-hot", "PRE_FAIL"), 1);
  EXPECT_EQ(State("room-too-hot", "NORMAL"), 0);

  room_->next = PolicyState::kShutdown;
  clock_.Advance(absl::Seconds(30));
  for (int i = 0; i < 5; ++i) {
    actuator_->Tick();
    clock_.Advance(absl::Seconds(1));
  }
  // The other policy reaches SHUTDOWN too; and the first one leaves and
  // re-enters it.
  ups_->next = PolicyState::kShutdown;
  actuator_->Tick();
  room_->next = PolicyState::kUnknown;
  actuator_->Tick();
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  actuator_->WaitForActions();

  const auto shutdowns = runner_->CallsOf("/test/shutdown");
  ASSERT_EQ(shutdowns.size(), 1u);
  EXPECT_EQ(shutdowns[0].argv,
            (std::vector<std::string>{"/test/shutdown", "now"}));
  EXPECT_EQ(shutdowns[0].env.at("HWCAST_POLICY"), "room-too-hot");
  EXPECT_EQ(shutdowns[0].env.at("HWCAST_HOST"), "node1");
  EXPECT_EQ(Actions("shutdown", "ok"), 1);
  // Every change was notified: room NORMAL->PRE_FAIL->SHUTDOWN->UNKNOWN->
  // SHUTDOWN, ups NORMAL->SHUTDOWN.
  std::vector<std::string> notified;
  for (const auto& call : runner_->CallsOf("/test/notify")) {
    notified.push_back(absl::StrCat(
        call.env.at("HWCAST_EVENT"), " ", call.env.at("HWCAST_POLICY"), " ",
        call.env.at("HWCAST_FROM"), "->", call.env.at("HWCAST_TO")));
  }
  EXPECT_EQ(notified, (std::vector<std::string>{
                          "transition room-too-hot NORMAL->PRE_FAIL",
                          "shutdown room-too-hot PRE_FAIL->SHUTDOWN",
                          "shutdown ups-on-battery NORMAL->SHUTDOWN",
                          "transition room-too-hot SHUTDOWN->UNKNOWN",
                          "shutdown room-too-hot UNKNOWN->SHUTDOWN"}));
  EXPECT_EQ(Transitions("room-too-hot", "SHUTDOWN"), 2);
  EXPECT_EQ(Transitions("room-too-hot", "PRE_FAIL"), 1);
  EXPECT_EQ(State("room-too-hot", "SHUTDOWN"), 1);
  EXPECT_EQ(State("room-too-hot", "UNKNOWN"), 0);
  EXPECT_EQ(State("ups-on-battery", "SHUTDOWN"), 1);

  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  ASSERT_EQ(status.policies_size(), 2);
  EXPECT_EQ(status.policies(0).name(), "room-too-hot");
  EXPECT_EQ(status.policies(0).state(), "SHUTDOWN");
  ASSERT_EQ(status.policies(0).inputs_size(), 1);
  EXPECT_EQ(status.policies(0).inputs(0).state(), "ALARM");
  EXPECT_EQ(status.policies(0).alarms(0), "scripted alarm");
  EXPECT_TRUE(status.actions().shutdown_enabled());
  EXPECT_TRUE(status.actions().shutdown_started());
  EXPECT_EQ(status.actions().shutdown_reason(),
            "room-too-hot: room-too-hot scripted -> SHUTDOWN");
  EXPECT_EQ(FromProtoTime(status.actions().shutdown_time()),
            kT0 + absl::Seconds(31));
  EXPECT_EQ(status.actions().last_error(), "");

  // Audit: 5 transitions with their inputs, the shutdown started and ok,
  // 5 notifications.
  const std::vector<std::string> lines = AuditLines();
  EXPECT_EQ(lines.size(), 12u);
  EXPECT_THAT(lines[0], HasSubstr("\"event\":\"transition\""));
  EXPECT_THAT(lines[0], HasSubstr("\"inputs\":[{\"source\":\"node1/room\""));
}

TEST_F(ActuatorActionsTest, DryRunFromAReadingRunsNothingAndRecordsIt) {
  MakeWithActions(/*shutdown_enabled=*/false);
  room_->shutdown_above = 30;
  room_->next = PolicyState::kShutdown;  // stays there on ticks
  actuator_->OnBatch(Batch("c1", 7, 1, {Temp("room", 1, 35)}), "r");
  actuator_->OnBatch(Batch("c1", 7, 2, {Temp("room", 2, 36)}), "r");
  actuator_->Tick();
  actuator_->WaitForActions();

  EXPECT_TRUE(runner_->CallsOf("/test/shutdown").empty());
  ASSERT_EQ(runner_->CallsOf("/test/notify").size(), 1u);
  EXPECT_EQ(runner_->CallsOf("/test/notify")[0].env.at("HWCAST_DRY_RUN"),
            "true");
  std::ifstream record(File("dry-run.jsonl"));
  std::vector<std::string> recorded;
  for (std::string line; std::getline(record, line);) recorded.push_back(line);
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_THAT(recorded[0], HasSubstr("\"argv\":[\"/test/shutdown\",\"now\"]"));
  EXPECT_THAT(recorded[0], HasSubstr("room at 35"));
  EXPECT_EQ(Actions("shutdown", "dry_run"), 1);
  EXPECT_EQ(Actions("shutdown", "ok"), 0);
  const hwcast::v1::ActionStatus actions = actuator_->Status().actions();
  EXPECT_FALSE(actions.shutdown_enabled());
  EXPECT_TRUE(actions.shutdown_started());
}

TEST_F(ActuatorActionsTest, StatusAnswersWhileTheShutdownCommandRuns) {
  MakeWithActions(/*shutdown_enabled=*/true);
  runner_->Block();
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();       // returns although the command has not finished
  runner_->AwaitCalls(2);  // shutdown and notify are both under way
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  EXPECT_TRUE(status.actions().shutdown_started());
  EXPECT_EQ(status.policies(0).state(), "SHUTDOWN");
  // Readings and ticks keep flowing meanwhile.
  EXPECT_EQ(
      actuator_->OnBatch(Batch("c1", 7, 1, {Temp("room", 1, 20)}), "r").result,
      BatchSink::Result::kAccepted);
  actuator_->Tick();
  runner_->Release();
  actuator_->WaitForActions();
  EXPECT_EQ(runner_->CallsOf("/test/shutdown").size(), 1u);
}

TEST_F(ActuatorActionsTest, CountdownRunsTheCommandAtTheDeadlineExactlyOnce) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();  // kT0: SHUTDOWN, countdown to kT0 + 10s
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
  hwcast::v1::ActionStatus actions = actuator_->Status().actions();
  EXPECT_EQ(FromProtoTime(actions.command_deadline()), kT0 + absl::Seconds(10));
  EXPECT_FALSE(actions.shutdown_started());
  EXPECT_FALSE(actions.cancelled());
  const auto notes = runner_->CallsOf("/test/notify");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].env.at("HWCAST_EVENT"), "shutdown");
  EXPECT_EQ(notes[0].env.at("HWCAST_DEADLINE"), "2023-11-14T22:13:30.000Z");

  TickFor(9);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
  // A second policy entering SHUTDOWN joins the running countdown.
  ups_->next = PolicyState::kShutdown;
  TickFor(1);  // kT0 + 10s: the deadline
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 1u);
  TickFor(30);
  ups_->next = PolicyState::kNormal;
  room_->next = PolicyState::kNormal;
  TickFor(1);
  room_->next = PolicyState::kShutdown;
  TickFor(30);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 1u);
  actions = actuator_->Status().actions();
  EXPECT_TRUE(actions.shutdown_started());
  EXPECT_EQ(FromProtoTime(actions.shutdown_time()), kT0 + absl::Seconds(10));
  EXPECT_FALSE(actions.cancelled());
  // The command ran: too late to cancel.
  EXPECT_EQ(actuator_->Cancel("too late").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ActuatorActionsTest, FinalDelayIsAddedToTheCountdown) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10),
                  absl::Seconds(5));
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  EXPECT_EQ(FromProtoTime(actuator_->Status().actions().command_deadline()),
            kT0 + absl::Seconds(15));
  TickFor(14);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
  TickFor(1);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 1u);
}

TEST_F(ActuatorActionsTest, CancelBeforeTheDeadlineRunsNothing) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  EXPECT_EQ(actuator_->Cancel("nothing yet").status().code(),
            absl::StatusCode::kFailedPrecondition);
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  TickFor(5);
  const absl::StatusOr<std::string> done = actuator_->Cancel("maintenance");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_THAT(*done, HasSubstr("policies reset to NORMAL: room-too-hot"));
  EXPECT_EQ(actuator_->Cancel("again").status().code(),
            absl::StatusCode::kFailedPrecondition);
  TickFor(60);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  EXPECT_EQ(status.policies(0).state(), "NORMAL");
  EXPECT_TRUE(status.actions().cancelled());
  EXPECT_EQ(status.actions().cancel_reason(),
            "cancelled by an operator: maintenance");
  EXPECT_FALSE(status.actions().shutdown_started());
  EXPECT_EQ(Notified(), (std::vector<std::string>{
                            "shutdown room-too-hot NORMAL->SHUTDOWN",
                            "transition room-too-hot SHUTDOWN->NORMAL",
                            "cancel room-too-hot ->"}));
  const auto notes = runner_->CallsOf("/test/notify");
  EXPECT_EQ(notes[2].env.at("HWCAST_REASON"),
            "cancelled by an operator: maintenance");
  int cancel_lines = 0;
  for (const std::string& line : AuditLines()) {
    if (line.find("\"event\":\"cancel\"") != std::string::npos) {
      ++cancel_lines;
      EXPECT_THAT(line, HasSubstr("\"deadline\":\"2023-11-14T22:13:30.000Z\""));
    }
  }
  EXPECT_EQ(cancel_lines, 1);

  // The condition comes back: a new countdown, which runs.
  room_->next = PolicyState::kShutdown;
  TickFor(1);
  EXPECT_FALSE(actuator_->Status().actions().cancelled());
  TickFor(10);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 1u);
}

// Records the hosts it fences (exit 0).
class RecordingFenceRunner final : public FenceRunner {
 public:
  FenceRun Run(const FenceTarget& target, absl::Duration) override {
    absl::MutexLock lock(&mu_);
    hosts_.push_back(target.host);
    return {true, "exit 0"};
  }
  std::vector<std::string> hosts() const {
    absl::MutexLock lock(&mu_);
    return hosts_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> hosts_;
};

// Issue 18: the countdown's announcement starts a fencing round; a
// follower acking "command run" is spared, a silent one fenced after the
// deadline; announcements say whether this actuator runs dry.
TEST_F(ActuatorActionsTest, SilentFollowerIsFencedAfterTheDeadline) {
  FleetFencerOptions fencing;
  fencing.enabled = true;
  fencing.planner.self = "node1";
  fencing.planner.followers = {"node2", "node3"};
  fencing.planner.targets = {"node2", "node3"};
  fencing.planner.deadline = absl::Seconds(5);
  fencing.planner.quorum = 2;
  for (const char* host : {"node2", "node3"}) {
    FenceTarget target;
    target.host = host;
    target.command = {"/usr/sbin/fence_ipmilan"};
    fencing.targets.push_back(target);
  }
  fencing_ = fencing;
  auto runner = std::make_unique<RecordingFenceRunner>();
  RecordingFenceRunner* fences = runner.get();
  fence_runner_ = std::move(runner);
  MakeWithActions(/*shutdown_enabled=*/false, absl::Seconds(30));
  EXPECT_EQ(actuator_->Status().fencing().state(), "idle");
  EXPECT_EQ(MetricValue(registry_, "hwcast_fence_attempts_total",
                        {{"host", "node3"}, {"result", "fenced"}}),
            0);

  room_->next = PolicyState::kShutdown;
  actuator_->Tick();  // kT0: the countdown starts, a round too
  Reading ack = Temp("fleet", 1, 0, "node2");
  ack.mutable_fleet()->set_type(hwcast::v1::FleetEvent::TYPE_COMMAND_RUN);
  ack.mutable_fleet()->add_following("node1");
  actuator_->OnBatch(Batch("node2-actuator", 7, 1, {ack}), "r");
  TickFor(4);
  EXPECT_EQ(actuator_->Status().fencing().state(), "waiting");
  TickFor(1);
  ASSERT_TRUE(WaitFor([&] { return !fences->hosts().empty(); }));
  ASSERT_EQ(actuator_->Status().fleet_peers_size(), 2);
  ASSERT_TRUE(WaitFor([&] {
    return actuator_->Status().fleet_peers(1).fence_state() == "fenced";
  }));
  EXPECT_EQ(fences->hosts(), std::vector<std::string>{"node3"});
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  EXPECT_EQ(status.fleet_peers(0).fence_state(), "acked");
  EXPECT_EQ(status.fencing().in_shutdown(), 2u);
  EXPECT_EQ(MetricValue(registry_, "hwcast_fence_attempts_total",
                        {{"host", "node3"}, {"result", "fenced"}}),
            1);
  int fence_lines = 0;
  for (const std::string& line : AuditLines()) {
    if (line.find("\"event\":\"fence\"") != std::string::npos) {
      ++fence_lines;
      EXPECT_THAT(line, HasSubstr("\"target\":\"node3\""));
    }
  }
  EXPECT_EQ(fence_lines, 2);  // started, fenced
}

TEST_F(ActuatorActionsTest, ConditionClearedCancelsTheCountdown) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  room_->next = PolicyState::kShutdown;
  ups_->next = PolicyState::kShutdown;
  actuator_->Tick();
  room_->next = PolicyState::kNormal;
  TickFor(2);
  // One policy still in SHUTDOWN: the countdown runs on.
  EXPECT_FALSE(actuator_->Status().actions().cancelled());
  ups_->next = PolicyState::kPreFail;
  TickFor(1);
  hwcast::v1::ActionStatus actions = actuator_->Status().actions();
  EXPECT_TRUE(actions.cancelled());
  EXPECT_EQ(actions.cancel_reason(), "condition cleared");
  TickFor(60);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
  EXPECT_EQ(Notified().back(), "cancel room-too-hot ->");
}

TEST_F(ActuatorActionsTest, CancelOverGrpc) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  ActuatorServiceImpl service(actuator_.get());
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = hwcast::v1::Actuator::NewStub(grpc::CreateChannel(
      (*server)->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  hwcast::v1::CancelRequest request;
  request.set_reason("ops");
  {
    grpc::ClientContext context;
    hwcast::v1::CancelResponse response;
    EXPECT_EQ(stub->Cancel(&context, request, &response).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  {
    grpc::ClientContext context;
    hwcast::v1::CancelResponse response;
    ASSERT_TRUE(stub->Cancel(&context, request, &response).ok());
    EXPECT_TRUE(response.cancelled());
  }
  (*server)->Shutdown(absl::ZeroDuration());
}

// ------------------------------------------------------------ reload

// Slots for ReplacePolicies: `kept` names keep their running policy, `fresh`
// ones get a new ScriptedPolicy (returned through `made`).
std::vector<PolicyEngine::Slot> Slots(
    const std::vector<std::string>& kept, const std::vector<std::string>& fresh,
    std::map<std::string, ScriptedPolicy*>* made = nullptr) {
  std::vector<PolicyEngine::Slot> slots;
  for (const std::string& name : kept) slots.push_back({name, nullptr});
  for (const std::string& name : fresh) {
    auto policy = std::make_unique<ScriptedPolicy>(name);
    if (made != nullptr) (*made)[name] = policy.get();
    slots.push_back({name, std::move(policy)});
  }
  return slots;
}

TEST_F(ActuatorActionsTest, ReloadKeepsUnchangedPoliciesAndRestartsTheOthers) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(60));
  room_->next = PolicyState::kPreFail;
  ups_->next = PolicyState::kPreFail;
  TickFor(5);
  actuator_->WaitForActions();
  const size_t notified = Notified().size();

  // room-too-hot unchanged, ups-on-battery changed, cooling-power added.
  ASSERT_TRUE(actuator_
                  ->ReplacePolicies(Slots({"room-too-hot"},
                                          {"ups-on-battery", "cooling-power"}))
                  .ok());
  TickFor(1);
  actuator_->WaitForActions();
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  ASSERT_EQ(status.policies_size(), 3);
  EXPECT_EQ(status.policies(0).name(), "room-too-hot");
  EXPECT_EQ(status.policies(0).state(), "PRE_FAIL");
  EXPECT_EQ(FromProtoTime(status.policies(0).since()), kT0 + absl::Seconds(1));
  EXPECT_EQ(status.policies(1).name(), "ups-on-battery");
  EXPECT_EQ(status.policies(1).state(), "NORMAL");
  EXPECT_EQ(status.policies(2).name(), "cooling-power");
  EXPECT_EQ(State("room-too-hot", "PRE_FAIL"), 1);
  EXPECT_EQ(State("ups-on-battery", "NORMAL"), 1);
  EXPECT_EQ(State("ups-on-battery", "PRE_FAIL"), 0);
  EXPECT_EQ(State("cooling-power", "NORMAL"), 1);
  // A reload is not a transition: nothing notified.
  EXPECT_EQ(Notified().size(), notified);

  // A slot keeping a policy that does not run is refused, nothing changed.
  EXPECT_EQ(actuator_->ReplacePolicies(Slots({"no-such"}, {})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(actuator_->Status().policies_size(), 3);
}

TEST_F(ActuatorActionsTest, RemovedPolicyCancelsTheCountdownItOwned) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  ASSERT_TRUE(actuator_->ReplacePolicies(Slots({"ups-on-battery"}, {})).ok());
  actuator_->WaitForActions();
  hwcast::v1::ActuatorStatus status = actuator_->Status();
  ASSERT_EQ(status.policies_size(), 1);
  EXPECT_TRUE(status.actions().cancelled());
  EXPECT_EQ(status.actions().cancel_reason(),
            "policy room-too-hot removed by a reload");
  EXPECT_EQ(State("room-too-hot", "SHUTDOWN"), -1);
  EXPECT_EQ(Notified().back(), "cancel room-too-hot ->");
  int cancel_lines = 0;
  for (const std::string& line : AuditLines()) {
    if (line.find("\"event\":\"cancel\"") != std::string::npos &&
        line.find("removed by a reload") != std::string::npos) {
      ++cancel_lines;
    }
  }
  EXPECT_EQ(cancel_lines, 1);
  TickFor(60);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
}

TEST_F(ActuatorActionsTest, ChangedOwnerWithAnotherInShutdownKeepsCountdown) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  ups_->next = PolicyState::kShutdown;
  TickFor(1);
  // room-too-hot changed (starts fresh), ups-on-battery still in SHUTDOWN:
  // the countdown runs on to its deadline.
  ASSERT_TRUE(
      actuator_->ReplacePolicies(Slots({"ups-on-battery"}, {"room-too-hot"}))
          .ok());
  EXPECT_FALSE(actuator_->Status().actions().cancelled());
  TickFor(8);
  actuator_->WaitForActions();
  EXPECT_EQ(Shutdowns(), 0u);
  TickFor(1);
  actuator_->WaitForActions();
  ASSERT_EQ(Shutdowns(), 1u);
  EXPECT_EQ(runner_->CallsOf("/test/shutdown")[0].env.at("HWCAST_POLICY"),
            "ups-on-battery");
}

TEST_F(ActuatorActionsTest, RunningShutdownFinishesUnderTheOldActions) {
  MakeWithActions(/*shutdown_enabled=*/true);
  runner_->Block();
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  // The notification and the shutdown command are both held by the runner.
  runner_->AwaitCalls(2);

  ActionsOptions next;
  next.shutdown_enabled = false;
  next.shutdown_command = {"/test/new-shutdown"};
  next.notify_command = {"/test/new-notify"};
  next.countdown = absl::Seconds(30);
  auto audit = AuditLog::Open(File("new-audit.jsonl"), &clock_);
  ASSERT_TRUE(audit.ok()) << audit.status();
  actuator_->ReconfigureActions(next, *std::move(audit));
  runner_->Release();
  actuator_->WaitForActions();

  // The running command finished as it started: the old argv, audited in
  // the old log.
  EXPECT_EQ(Shutdowns(), 1u);
  EXPECT_EQ(Actions("shutdown", "ok"), 1);
  bool old_audit_has_result = false;
  for (const std::string& line : AuditLines()) {
    if (line.find("\"/test/shutdown\"") != std::string::npos &&
        line.find("\"result\":\"ok\"") != std::string::npos) {
      old_audit_has_result = true;
    }
  }
  EXPECT_TRUE(old_audit_has_result);

  // Events from now on use the new set.
  EXPECT_FALSE(actuator_->Status().actions().shutdown_enabled());
  ups_->warn = true;
  TickFor(1);
  actuator_->WaitForActions();
  ASSERT_EQ(runner_->CallsOf("/test/new-notify").size(), 1u);
  std::ifstream in(File("new-audit.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_THAT(line, HasSubstr("ups-on-battery"));
}

TEST_F(ActuatorActionsTest, ReloadedCountdownAppliesToTheNextOne) {
  MakeWithActions(/*shutdown_enabled=*/true, absl::Seconds(10));
  ActionsOptions next;
  next.shutdown_enabled = true;
  next.shutdown_command = {"/test/shutdown", "now"};
  next.countdown = absl::Seconds(40);
  actuator_->ReconfigureActions(next, std::nullopt);
  room_->next = PolicyState::kShutdown;
  actuator_->Tick();
  EXPECT_EQ(FromProtoTime(actuator_->Status().actions().command_deadline()),
            kT0 + absl::Seconds(40));
  // The audit log was kept (nullopt).
  actuator_->WaitForActions();
  EXPECT_FALSE(AuditLines().empty());
}

TEST_F(ActuatorTest, SetRelaysKeepsUnchangedLinksAndTheirStreams) {
  FakeRelayServer relay_a;
  FakeRelayServer relay_b;
  Make(Options({relay_a.address()}));
  actuator_->Start();
  ASSERT_TRUE(WaitFor([&] { return relay_a.relay().active_streams() == 1; }));

  actuator_->SetRelays({relay_b.address(), relay_a.address()}, {});
  ASSERT_TRUE(WaitFor([&] { return relay_b.relay().active_streams() == 1; }));
  // relay A's stream was never reopened, and it still carries batches.
  EXPECT_EQ(relay_a.relay().subscribes(), 1);
  relay_a.relay().Deliver(Batch("c1", 1, 1, {Temp("cpu", 1, 40)}));
  ASSERT_TRUE(WaitFor([&] { return Batches("accepted") == 1; }));
  hwcast::v1::ActuatorStatus status = actuator_->Status();
  ASSERT_EQ(status.relays_size(), 2);
  EXPECT_EQ(status.relays(0).address(), relay_b.address());
  EXPECT_EQ(status.relays(1).address(), relay_a.address());

  actuator_->SetRelays({relay_b.address()}, {});
  ASSERT_TRUE(WaitFor([&] { return relay_a.relay().active_streams() == 0; }));
  EXPECT_EQ(actuator_->Status().relays_size(), 1);
  EXPECT_EQ(MetricValue(registry_, "hwcast_actuator_relay_connected",
                        {{"relay", relay_a.address()}}),
            -1);
  EXPECT_EQ(relay_b.relay().subscribes(), 1);
  actuator_->Stop();
}

}  // namespace
}  // namespace hwcast::actuator
