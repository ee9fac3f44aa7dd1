// The Relay gRPC service end to end, in process, on 127.0.0.1:0.
#include "services/relay/relay_service_impl.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/fake_clock.h"
#include "lib/raw_rpc.h"
#include "lib/reject_reason.h"
#include "lib/relay_subscription.h"
#include "lib/rpc_metrics.h"
#include "lib/server.h"
#include "lib/testing/wait.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/relay/ingest_pool.h"
#include "services/relay/publish_reactor.h"
#include "services/relay/relay_test_util.h"
#include "services/relay/subscribe_reactor.h"

namespace hwcast::relay {
namespace {

using ::hwcast::testutil::WaitFor;

using hwcast::v1::PublishAck;
using hwcast::v1::PublishRequest;
using hwcast::v1::ReadingBatch;
using hwcast::v1::SubscribeRequest;
using hwcast::v1::SubscribeResponse;
using test_util::Batch;
using test_util::Humidity;
using test_util::Signed;
using test_util::Temperature;
using ::testing::HasSubstr;

PublishRequest RequestFor(const ReadingBatch& batch) {
  PublishRequest r;
  *r.mutable_batch() = Signed(batch);
  return r;
}

ReadingBatch BatchOf(const SubscribeResponse& response) {
  ReadingBatch b;
  EXPECT_TRUE(b.ParseFromString(response.batch().batch()));
  return b;
}

// A reading of about `bytes` bytes (a long label). Not an entropy chunk:
// those never reach subscribers (they go to the entropy pool).
hwcast::v1::Reading Bulky(const std::string& host, const std::string& source_id,
                          uint64_t sequence, size_t bytes) {
  hwcast::v1::Reading r = Temperature(host, source_id, sequence, 0);
  r.set_label(std::string(bytes, static_cast<char>('a' + sequence % 26)));
  return r;
}

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(60));
}

class GatedVerifier;

class RelayServiceTest : public ::testing::Test {
 protected:
  void Start(size_t queue_batches = 1024,
             absl::Duration stall_timeout = absl::ZeroDuration()) {
    hub_ = std::make_unique<RelayHub>(
        RelayHub::Options(), &clock_,
        verifier_override_ != nullptr ? verifier_override_ : &verifier_,
        &metrics_);
    RelayServiceImpl::Options options;
    options.max_pending_acks = max_pending_acks_;
    options.ingest_threads = ingest_threads_;
    options.subscriber_queue_batches = queue_batches;
    options.subscriber_stall_timeout = stall_timeout;
    options.clock = &clock_;
    options.publish_inline_after_idle = inline_after_idle_;
    options.publish_takes_grouped_batches = takes_grouped_;
    options.ingest_on_pool = on_pool_;
    options.rpc_metrics = rpc_metrics_;
    service_ =
        std::make_unique<RelayServiceImpl>(hub_.get(), &metrics_, options);
    auto server = GrpcServer::Start({"127.0.0.1:0"}, {service_.get()}, {}, {},
                                    rpc_metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = server_->bound_addresses()[0];
    stub_ = hwcast::v1::Relay::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (service_) service_->BeginShutdown();
    if (server_) server_->Shutdown(absl::Seconds(5));
  }

  // A stub on its own connection whose receive window never grows, so a
  // client that does not read soon stops the server's writes.
  std::unique_ptr<hwcast::v1::Relay::Stub> SmallWindowStub() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return hwcast::v1::Relay::NewStub(grpc::CreateCustomChannel(
        address_, grpc::InsecureChannelCredentials(), args));
  }

  void PublishTwentyThroughAWindowOfFour(GatedVerifier* verifier,
                                         absl::Duration pause);

  // A Subscribe call the relay refuses at once: its status, no message read.
  grpc::Status RefusedSubscribe(const SubscribeRequest& request) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto reader = stub_->Subscribe(&ctx, request);
    SubscribeResponse r;
    EXPECT_FALSE(reader->Read(&r));
    return reader->Finish();
  }

  // Publishes `batches` on one stream; returns the acks.
  std::vector<PublishAck> Publish(const std::vector<ReadingBatch>& batches) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto stream = stub_->Publish(&ctx);
    std::vector<PublishAck> acks;
    for (const auto& b : batches) {
      EXPECT_TRUE(stream->Write(RequestFor(b)));
      PublishAck ack;
      EXPECT_TRUE(stream->Read(&ack));
      acks.push_back(ack);
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    return acks;
  }

  prometheus::Registry registry_;
  RelayMetrics metrics_{registry_};
  FakeClock clock_;
  AcceptAllBatchVerifier verifier_;
  // Set before Start(): the hub's verifier instead of verifier_, the
  // Publish window and the ingest workers.
  BatchVerifier* verifier_override_ = nullptr;
  size_t max_pending_acks_ = 64;
  size_t ingest_threads_ = 2;
  bool takes_grouped_ = true;
  bool on_pool_ = true;
  // Counts the server's calls (the interceptor, and Publish and Subscribe
  // themselves), when set.
  RpcMetrics* rpc_metrics_ = nullptr;
  absl::Duration inline_after_idle_ =
      RelayServiceImpl::Options().publish_inline_after_idle;
  std::unique_ptr<RelayHub> hub_;
  std::unique_ptr<RelayServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
  std::string address_;
  std::unique_ptr<hwcast::v1::Relay::Stub> stub_;
};

TEST_F(RelayServiceTest, PublishAcksEachBatchAndSurvivesBadOnes) {
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  auto send = [&](const PublishRequest& request) {
    EXPECT_TRUE(stream->Write(request));
    PublishAck ack;
    EXPECT_TRUE(stream->Read(&ack));
    return ack;
  };

  const ReadingBatch good = Batch("c", 9, 1, {Temperature("h", "t", 1, 20)});
  PublishAck ack = send(RequestFor(good));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  EXPECT_EQ(ack.collector_id(), "c");
  EXPECT_EQ(ack.epoch(), 9u);
  EXPECT_EQ(ack.batch_sequence(), 1u);

  PublishRequest garbage;
  garbage.mutable_batch()->set_batch("\xff\xff\xff\xff\x0f");
  ack = send(garbage);
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("not a serialized"));

  ack = send(PublishRequest());  // no batch at all
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("empty"));

  ack = send(RequestFor(Batch("", 9, 2, {Temperature("h", "t", 2, 20)})));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("collector_id is empty"));

  // 1.5 MiB: over the default 1 MiB limit, under gRPC's 4 MiB.
  ack = send(RequestFor(Batch("c", 9, 3, {Bulky("h", "e", 3, 1536 * 1024)})));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("max_batch_bytes"));
  EXPECT_EQ(ack.batch_sequence(), 3u);

  ack = send(RequestFor(good));  // resend after a reconnect
  EXPECT_EQ(ack.result(), PublishAck::RESULT_DUPLICATE);

  ack = send(RequestFor(Batch("c", 9, 2, {Temperature("h", "t", 2, 21)})));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);

  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(metrics_.batches(PublishAck::RESULT_ACCEPTED).Value(), 2);
  EXPECT_EQ(metrics_.batches(PublishAck::RESULT_REJECTED).Value(), 4);
  EXPECT_EQ(metrics_.batches(PublishAck::RESULT_DUPLICATE).Value(), 1);
}

TEST_F(RelayServiceTest, PublishAcksPipelinedBatchesInOrder) {
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  constexpr int kBatches = 300;  // more than the pending-ack bound
  std::thread writer([&] {
    for (int i = 1; i <= kBatches; ++i) {
      stream->Write(
          RequestFor(Batch("c", 1, i, {Temperature("h", "t", i, 20)})));
    }
    stream->WritesDone();
  });
  for (int i = 1; i <= kBatches; ++i) {
    PublishAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_sequence(), static_cast<uint64_t>(i));
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
    // A client that never set accept_grouped_acks (an older one) gets one
    // ack per message; every ack says the relay takes groups.
    EXPECT_TRUE(ack.more_acks().empty());
    EXPECT_TRUE(ack.takes_grouped_batches());
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(metrics_.publish_messages(/*grouped=*/false).Value(), kBatches);
  EXPECT_EQ(metrics_.publish_messages(/*grouped=*/true).Value(), 0);
}

TEST_F(RelayServiceTest, PublishRelayFromBeforeGroupsNeverAdvertisesThem) {
  takes_grouped_ = false;
  Start();
  for (const PublishAck& ack :
       Publish({Batch("c", 1, 1, {Temperature("h", "t", 1, 20)})})) {
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
    EXPECT_FALSE(ack.takes_grouped_batches());
  }
}

TEST_F(RelayServiceTest, SubscribeSendsSnapshotThenLiveUnchangedBytes) {
  Start();
  Publish({Batch("c", 1, 1,
                 {Temperature("h", "a", 1, 20), Temperature("h", "b", 1, 30)}),
           Batch("c", 1, 2, {Temperature("h", "a", 2, 21)})});

  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto reader = stub_->Subscribe(&ctx, SubscribeRequest());
  SubscribeResponse r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_TRUE(r.snapshot());
  EXPECT_EQ(BatchOf(r).batch_sequence(), 1u);  // latest for b
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_TRUE(r.snapshot());
  EXPECT_EQ(BatchOf(r).batch_sequence(), 2u);  // latest for a

  const ReadingBatch live = Batch("c", 1, 3, {Temperature("h", "b", 3, 31)});
  Publish({live});
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_FALSE(r.snapshot());
  // The signed bytes arrive exactly as published.
  EXPECT_EQ(r.batch().batch(), Signed(live).batch());

  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&r));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server side lets go of the subscriber.
  EXPECT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
}

TEST_F(RelayServiceTest, SubscribeFiltersByKindHostAndSource) {
  Start();
  struct Case {
    const char* name;
    std::function<void(hwcast::v1::ReadingFilter*)> set;
  };
  const std::vector<Case> cases = {
      {"kind",
       [](auto* f) { f->add_kinds(hwcast::v1::READING_KIND_HUMIDITY); }},
      {"host", [](auto* f) { f->add_hosts("h2"); }},
      {"source", [](auto* f) { f->add_source_ids("rh"); }},
  };
  uint64_t seq = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SubscribeRequest request;
    c.set(request.mutable_filter());
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto reader = stub_->Subscribe(&ctx, request);
    ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 1; }));
    // Not matching (temperature on h1), then matching (humidity rh on h2):
    // the first message must be the second batch.
    const uint64_t t_seq = ++seq;
    const uint64_t rh_seq = ++seq;
    for (const PublishAck& ack :
         Publish({Batch("c", 1, t_seq, {Temperature("h1", "t", t_seq, 20)}),
                  Batch("c", 1, rh_seq, {Humidity("h2", "rh", rh_seq, 40)})})) {
      EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED) << ack.error();
    }
    SubscribeResponse r;
    // The first case has no snapshot yet; later ones get rh's latest first.
    if (c.name != std::string("kind")) {
      ASSERT_TRUE(reader->Read(&r));
      EXPECT_TRUE(r.snapshot());
      EXPECT_EQ(BatchOf(r).readings(0).source_id(), "rh");
    }
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_FALSE(r.snapshot());
    EXPECT_EQ(BatchOf(r).batch_sequence(), rh_seq);
    ctx.TryCancel();
    while (reader->Read(&r)) {
    }
    reader->Finish();
    ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 0; }));
  }
}

// "code method service" -> count, for every hwcast_rpc_total series above 0.
std::map<std::string, double> RpcCallsCounted(prometheus::Registry& registry) {
  std::map<std::string, double> counted;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != kRpcTotalMetric) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      if (metric.counter.value == 0) continue;
      std::vector<std::string> labels;
      for (const auto& label : metric.label) labels.push_back(label.value);
      counted[absl::StrJoin(labels, " ")] = metric.counter.value;
    }
  }
  return counted;
}

// Publish and Subscribe count their own calls: the interceptor, which
// would cost every message of those streams one more thread wake-up, is
// not on them, and each call is counted exactly once, in the series the
// interceptor would have used; the other methods are still counted by it.
TEST_F(RelayServiceTest, PublishAndSubscribeCountTheirOwnCallsOnce) {
  prometheus::Registry rpc_registry;
  RpcMetrics rpc_metrics(rpc_registry);
  rpc_metrics_ = &rpc_metrics;
  Start();
  Publish({Batch("c", 5, 1, {Temperature("h", "t", 1, 20)})});  // OK
  SubscribeRequest bad;
  bad.mutable_filter()->add_kinds(hwcast::v1::READING_KIND_UNSPECIFIED);
  EXPECT_EQ(RefusedSubscribe(bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto reader = stub_->Subscribe(&ctx, SubscribeRequest());
    SubscribeResponse snapshot;
    ASSERT_TRUE(reader->Read(&snapshot));
    ctx.TryCancel();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The relay has seen the cancel (else the shutdown below could end the
  // stream first, with OK).
  ASSERT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
  {
    grpc::ClientContext ctx;
    hwcast::v1::ListCollectorsResponse collectors;
    ASSERT_TRUE(stub_
                    ->ListCollectors(&ctx, hwcast::v1::ListCollectorsRequest(),
                                     &collectors)
                    .ok());
  }
  service_->BeginShutdown();
  server_->Shutdown(absl::Seconds(5));  // every call has ended
  server_.reset();

  EXPECT_EQ(RpcCallsCounted(rpc_registry),
            (std::map<std::string, double>{
                {"OK Publish hwcast.v1.Relay", 1},
                {"INVALID_ARGUMENT Subscribe hwcast.v1.Relay", 1},
                {"CANCELLED Subscribe hwcast.v1.Relay", 1},
                {"OK ListCollectors hwcast.v1.Relay", 1}}));
}

TEST_F(RelayServiceTest, EveryMethodIsServedOnTheAsyncLoop) {
  Start();
  // A callback method would start gRPC's callback threads in the relay, a
  // sync one would be served off the loop's thread.
  EXPECT_TRUE(service_->has_async_methods());
  EXPECT_FALSE(service_->has_callback_methods());
  EXPECT_FALSE(service_->has_synchronous_methods());
}

TEST_F(RelayServiceTest, SubscribeRejectsBadRequests) {
  Start();
  SubscribeRequest request;
  request.mutable_filter()->add_kinds(hwcast::v1::READING_KIND_UNSPECIFIED);
  grpc::Status status = RefusedSubscribe(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("filter.kinds[0]"));

  // Raw bytes that are no SubscribeRequest at all.
  grpc::GenericStub generic(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext raw_ctx;
  SetDeadline(&raw_ctx);
  grpc::CompletionQueue cq;
  const std::string junk = "\xff\xff\xff";
  grpc::Slice slice(junk);
  grpc::ByteBuffer raw_request(&slice, 1);
  auto call = generic.PrepareUnaryCall(&raw_ctx, "/hwcast.v1.Relay/Subscribe",
                                       raw_request, &cq);
  call->StartCall();
  grpc::ByteBuffer raw_response;
  grpc::Status raw_status;
  call->Finish(&raw_response, &raw_status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(raw_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(raw_status.error_message(), HasSubstr("not a serialized"));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  EXPECT_EQ(hub_->subscriber_count(), 0u);
}

// Waits for the completion of the operation tagged `tag` on `cq`.
bool Await(grpc::CompletionQueue* cq, void* tag) {
  void* got = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq->Next(&got, &ok));
  EXPECT_EQ(got, tag);
  return ok;
}

grpc::ByteBuffer Raw(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

TEST_F(RelayServiceTest, UnaryRequestsThatDoNotDecodeAreInvalidArgument) {
  Start();
  grpc::GenericStub generic(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  for (const std::string method :
       {"ListLatest", "ListCollectors", "ListDisks"}) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::CompletionQueue cq;
    auto call = generic.PrepareUnaryCall(&ctx, "/hwcast.v1.Relay/" + method,
                                         Raw("\xff\xff\xff"), &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, &ctx);
    Await(&cq, &ctx);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(),
                HasSubstr("request (3 bytes) is not a serialized "
                          "hwcast.v1." +
                          method + "Request"));
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
  }
  EXPECT_EQ(metrics_.Error("bad_request").Value(), 3);
  // A good request still works.
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  hwcast::v1::ListCollectorsResponse collectors;
  EXPECT_TRUE(stub_->ListCollectors(&ctx, {}, &collectors).ok());
}

TEST_F(RelayServiceTest, PublishOfAnUndecodableMessageEndsTheStreamSaysWhy) {
  Start();
  grpc::GenericStub generic(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  grpc::CompletionQueue cq;
  int tags[8];
  auto call = generic.PrepareCall(&ctx, "/hwcast.v1.Relay/Publish", &cq);
  call->StartCall(&tags[0]);
  ASSERT_TRUE(Await(&cq, &tags[0]));
  // A good batch is acked.
  call->Write(
      Raw(RequestFor(Batch("c1", 7, 1, {Temperature("h1", "room", 1, 20)}))
              .SerializeAsString()),
      &tags[1]);
  ASSERT_TRUE(Await(&cq, &tags[1]));
  grpc::ByteBuffer raw_ack;
  call->Read(&raw_ack, &tags[2]);
  ASSERT_TRUE(Await(&cq, &tags[2]));
  PublishAck ack;
  ASSERT_TRUE(ParseRawMessage(raw_ack, "ack", &ack).ok());
  EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  // Then garbage, then another good batch, which is never taken in.
  call->Write(Raw("\x0a\xff\xff"), &tags[3]);
  Await(&cq, &tags[3]);
  call->Write(
      Raw(RequestFor(Batch("c1", 7, 2, {Temperature("h1", "room", 2, 21)}))
              .SerializeAsString()),
      &tags[4]);
  Await(&cq, &tags[4]);
  call->WritesDone(&tags[5]);
  Await(&cq, &tags[5]);
  call->Read(&raw_ack, &tags[6]);
  EXPECT_FALSE(Await(&cq, &tags[6]));  // no ack for either
  grpc::Status status;
  call->Finish(&status, &tags[7]);
  Await(&cq, &tags[7]);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr("message 2 on this stream (3 bytes) is not a "
                        "serialized hwcast.v1.PublishRequest"));
  EXPECT_EQ(metrics_.rejected(BatchOrigin::kPublish, RejectReason::kMalformed)
                .Value(),
            1);
  EXPECT_EQ(hub_->ListCollectors().collectors(0).batches_accepted(), 1u);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(RelayServiceTest, StalledSubscriberIsClosedLoggedAndCounted) {
  Start(/*queue_batches=*/8, /*stall_timeout=*/absl::Seconds(10));
  auto slow_stub = SmallWindowStub();
  grpc::ClientContext slow_ctx;
  SetDeadline(&slow_ctx);
  auto slow = slow_stub->Subscribe(&slow_ctx, SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 1; }));

  grpc::ClientContext pub_ctx;
  SetDeadline(&pub_ctx);
  auto publisher = stub_->Publish(&pub_ctx);
  auto publish = [&](int i) {
    ASSERT_TRUE(publisher->Write(
        RequestFor(Batch("c", 1, i, {Bulky("h", "big", i, 16 * 1024)}))));
    PublishAck ack;
    ASSERT_TRUE(publisher->Read(&ack));
  };
  // Far more than the client's window: the relay's write gets stuck.
  for (int i = 1; i <= 100; ++i) publish(i);
  ASSERT_GT(metrics_.slow_subscriber_drops().Value(), 0);
  EXPECT_EQ(metrics_.subscribers_closed_stalled().Value(), 0);
  EXPECT_EQ(hub_->subscriber_count(), 1u);

  clock_.Advance(absl::Seconds(11));
  testing::internal::CaptureStderr();
  publish(101);
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 0; }));
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("closing subscriber"));
  EXPECT_THAT(log, HasSubstr("stalled (took no batch for 11s"));
  EXPECT_EQ(metrics_.subscribers_closed_stalled().Value(), 1);
  SubscribeResponse r;
  while (slow->Read(&r)) {
  }
  EXPECT_FALSE(slow->Finish().ok());
  publisher->WritesDone();
  EXPECT_TRUE(publisher->Finish().ok());
}

TEST_F(RelayServiceTest, SlowSubscriberBlocksNeitherIngestNorOthers) {
  Start(/*queue_batches=*/8);
  // Two sources in every batch, one only in the first.
  constexpr int kBatches = 300;
  auto slow_stub = SmallWindowStub();
  grpc::ClientContext slow_ctx;
  SetDeadline(&slow_ctx);
  auto slow = slow_stub->Subscribe(&slow_ctx, SubscribeRequest());

  grpc::ClientContext fast_ctx;
  SetDeadline(&fast_ctx);
  auto fast = stub_->Subscribe(&fast_ctx, SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 2; }));
  EXPECT_EQ(metrics_.subscribers().Value(), 2);

  // Publish in lock step with the fast subscriber (it sees batch i before
  // batch i + 1 is sent, so its own queue never fills), while the slow one
  // reads nothing at all.
  grpc::ClientContext pub_ctx;
  SetDeadline(&pub_ctx);
  auto publisher = stub_->Publish(&pub_ctx);
  for (int i = 1; i <= kBatches; ++i) {
    std::vector<hwcast::v1::Reading> readings = {
        Bulky("h", "big", i, 16 * 1024), Temperature("h", "t", i, i)};
    if (i == 1) readings.push_back(Temperature("h", "once", 1, 1));
    ASSERT_TRUE(publisher->Write(RequestFor(Batch("c", 1, i, readings))));
    PublishAck ack;
    ASSERT_TRUE(publisher->Read(&ack));
    ASSERT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
    SubscribeResponse fast_response;
    ASSERT_TRUE(fast->Read(&fast_response));
    ASSERT_EQ(BatchOf(fast_response).batch_sequence(),
              static_cast<uint64_t>(i));
  }
  publisher->WritesDone();
  EXPECT_TRUE(publisher->Finish().ok());
  EXPECT_GT(metrics_.slow_subscriber_drops().Value(), 0);

  // The slow one now reads: batches stay in order, intermediate ones are
  // skipped, and the latest of every source arrives.
  std::vector<uint64_t> slow_seen;
  bool saw_once = false;
  SubscribeResponse r;
  while (slow_seen.empty() || slow_seen.back() != kBatches) {
    ASSERT_TRUE(slow->Read(&r));
    const ReadingBatch b = BatchOf(r);
    slow_seen.push_back(b.batch_sequence());
    for (const auto& reading : b.readings()) {
      saw_once = saw_once || reading.source_id() == "once";
    }
  }
  EXPECT_TRUE(saw_once);
  EXPECT_LT(slow_seen.size(), static_cast<size_t>(kBatches));
  EXPECT_TRUE(std::is_sorted(slow_seen.begin(), slow_seen.end()));
  EXPECT_EQ(std::adjacent_find(slow_seen.begin(), slow_seen.end()),
            slow_seen.end());
  // Every reading went out to the fast one, some to the slow one.
  EXPECT_TRUE(WaitFor(
      [&] { return metrics_.readings_out().Value() > 2.0 * kBatches + 1; }));
  EXPECT_EQ(metrics_.readings_in().Value(), 2.0 * kBatches + 1);

  slow_ctx.TryCancel();
  fast_ctx.TryCancel();
  while (slow->Read(&r)) {
  }
  while (fast->Read(&r)) {
  }
  slow->Finish();
  fast->Finish();
}

// Two subscribers that read nothing while 150 batches are published (their
// small receive windows stop the relay's writes after a few), then read
// everything: the one that set accept_grouped gets the batches that waited
// in groups (at most kMaxGroupBatches each), the other one batch per message
// as always; both get the same batches, in order, none lost or repeated,
// with the bytes exactly as published.
TEST_F(RelayServiceTest, SubscriberThatFellBehindGetsWaitingBatchesGrouped) {
  Start(/*queue_batches=*/1024);
  constexpr int kBatches = 150;
  // One snapshot batch, before anyone subscribes.
  Publish({Batch("c", 1, 1, {Temperature("h", "before", 1, 1)})});
  auto grouped_stub = SmallWindowStub();
  auto plain_stub = SmallWindowStub();
  grpc::ClientContext grouped_ctx;
  grpc::ClientContext plain_ctx;
  SetDeadline(&grouped_ctx);
  SetDeadline(&plain_ctx);
  SubscribeRequest opt_in;
  opt_in.set_accept_grouped(true);
  auto grouped = grouped_stub->Subscribe(&grouped_ctx, opt_in);
  auto plain = plain_stub->Subscribe(&plain_ctx, SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 2; }));

  std::vector<ReadingBatch> published;
  for (int i = 2; i <= kBatches + 1; ++i) {
    published.push_back(Batch("c", 1, i, {Bulky("h", "big", i, 1024)}));
  }
  for (const PublishAck& ack : Publish(published)) {
    ASSERT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }

  // Reads until batch kBatches + 1; returns the batches one per element,
  // and the number of batches in each message.
  struct Received {
    std::vector<SubscribeResponse> batches;
    std::vector<int> per_message;
  };
  auto read_all = [&](grpc::ClientReader<SubscribeResponse>* reader) {
    Received got;
    SubscribeResponse r;
    while (got.batches.empty() ||
           BatchOf(got.batches.back()).batch_sequence() != kBatches + 1) {
      if (!reader->Read(&r)) {
        ADD_FAILURE() << "stream ended after " << got.batches.size();
        break;
      }
      if (r.grouped().empty()) {
        got.batches.push_back(r);
        got.per_message.push_back(1);
        continue;
      }
      EXPECT_FALSE(r.has_batch());
      for (const SubscribeResponse& e : r.grouped()) {
        EXPECT_TRUE(e.grouped().empty());
        got.batches.push_back(e);
      }
      got.per_message.push_back(r.grouped_size());
    }
    return got;
  };
  const Received g = read_all(grouped.get());
  const Received p = read_all(plain.get());

  // The plain subscriber: today's messages, one batch each.
  EXPECT_EQ(p.per_message, std::vector<int>(kBatches + 1, 1));
  // The grouped one fell behind and got groups, bounded.
  EXPECT_LT(g.per_message.size(), p.per_message.size());
  EXPECT_EQ(*std::max_element(g.per_message.begin(), g.per_message.end()),
            static_cast<int>(SubscribeReactor::kMaxGroupBatches));
  // The same batches in the same order, bytes and flags unchanged.
  ASSERT_EQ(g.batches.size(), static_cast<size_t>(kBatches + 1));
  ASSERT_EQ(p.batches.size(), static_cast<size_t>(kBatches + 1));
  for (size_t i = 0; i < g.batches.size(); ++i) {
    EXPECT_EQ(g.batches[i].SerializeAsString(),
              p.batches[i].SerializeAsString())
        << "batch " << i;
    EXPECT_EQ(BatchOf(g.batches[i]).batch_sequence(), i + 1);
    EXPECT_EQ(g.batches[i].snapshot(), i == 0) << "batch " << i;
  }
  EXPECT_EQ(g.batches[5].batch().batch(), Signed(published[4]).batch());
  // Every reading counted out once per subscriber.
  EXPECT_TRUE(WaitFor(
      [&] { return metrics_.readings_out().Value() == 2.0 * (kBatches + 1); }));
  // And the messages by form (a group holds at least 2 batches).
  double groups = 0;
  double grouped_batches = 0;
  for (int n : g.per_message) {
    if (n > 1) {
      ++groups;
      grouped_batches += n;
    }
  }
  EXPECT_EQ(metrics_.subscriber_messages(/*grouped=*/true).Value(), groups);
  EXPECT_EQ(metrics_.subscriber_grouped_batches().Value(), grouped_batches);
  EXPECT_EQ(metrics_.subscriber_messages(/*grouped=*/false).Value(),
            2.0 * (kBatches + 1) - grouped_batches);

  grouped_ctx.TryCancel();
  plain_ctx.TryCancel();
  SubscribeResponse r;
  while (grouped->Read(&r)) {
  }
  while (plain->Read(&r)) {
  }
  grouped->Finish();
  plain->Finish();
}

// Batches too large to share a group's 1 MiB go one per message even to a
// subscriber that accepts groups and fell behind.
TEST_F(RelayServiceTest, BatchesThatDoNotFitAGroupTogetherGoAlone) {
  Start(/*queue_batches=*/1024);
  auto stub = SmallWindowStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  SubscribeRequest opt_in;
  opt_in.set_accept_grouped(true);
  auto reader = stub->Subscribe(&ctx, opt_in);
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 1; }));
  constexpr int kBatches = 4;
  std::vector<ReadingBatch> batches;
  for (int i = 1; i <= kBatches; ++i) {
    batches.push_back(Batch("c", 1, i, {Bulky("h", "big", i, 600 * 1024)}));
  }
  for (const PublishAck& ack : Publish(batches)) {
    ASSERT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }
  SubscribeResponse r;
  for (int i = 1; i <= kBatches; ++i) {
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_TRUE(r.grouped().empty());
    EXPECT_EQ(BatchOf(r).batch_sequence(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(metrics_.subscriber_messages(/*grouped=*/true).Value(), 0);
  ctx.TryCancel();
  while (reader->Read(&r)) {
  }
  reader->Finish();
}

// What an actuator or a bridge uses (lib/relay_subscription) against this
// relay: its sink holds the link's thread (so the link stops reading) while
// 600 batches of 16 KB are published, more than the connection's
// flow-control window takes (gRPC grows it to a few MB); the relay then sends
// the waiting batches grouped, and the sink gets every batch once, in order.
class GatedSink final : public BatchSink {
 public:
  Outcome OnBatch(const SubscribeResponse& response,
                  std::string_view) override {
    absl::MutexLock lock(&mu_);
    sequences_.push_back(BatchOf(response).batch_sequence());
    mu_.Await(absl::Condition(&open_));
    return Outcome{Result::kAccepted, ""};
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  std::vector<uint64_t> sequences() const {
    absl::MutexLock lock(&mu_);
    return sequences_;
  }

 private:
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<uint64_t> sequences_ ABSL_GUARDED_BY(mu_);
};

TEST_F(RelayServiceTest, RelaySubscriptionThatFellBehindGetsEveryBatchOnce) {
  Start(/*queue_batches=*/1024);
  constexpr int kBatches = 600;
  GatedSink sink;
  RelaySubscriptionOptions options;
  options.address = address_;
  options.reconnect.initial = absl::Milliseconds(10);
  options.reconnect.max = absl::Milliseconds(100);
  RelaySubscription link(options, &sink, nullptr);
  link.Start();
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 1; }));
  std::vector<ReadingBatch> batches;
  for (int i = 1; i <= kBatches; ++i) {
    batches.push_back(Batch("c", 1, i, {Bulky("h", "big", i, 16 * 1024)}));
  }
  for (const PublishAck& ack : Publish(batches)) {
    ASSERT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }
  sink.Open();
  ASSERT_TRUE(WaitFor([&] { return sink.sequences().size() >= kBatches; }));
  std::vector<uint64_t> expected(kBatches);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(sink.sequences(), expected);
  EXPECT_GT(metrics_.subscriber_grouped_batches().Value(), 0);
  EXPECT_EQ(link.Status().batches_received(), static_cast<uint64_t>(kBatches));
  EXPECT_EQ(link.Status().invalid_batches(), 0u);
  link.Stop();
  // The relay lets go of the stream.
  EXPECT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
}

TEST_F(RelayServiceTest, ListLatestAndListCollectors) {
  Start();
  Publish({Batch("c", 5, 1,
                 {Temperature("h", "t", 1, 20), Humidity("h", "rh", 1, 40)}),
           Batch("c", 5, 3, {Temperature("h", "t", 2, 22)})});

  hwcast::v1::ListLatestRequest request;
  request.mutable_filter()->add_kinds(hwcast::v1::READING_KIND_TEMPERATURE);
  hwcast::v1::ListLatestResponse latest;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ListLatest(&ctx, request, &latest).ok());
  }
  ASSERT_EQ(latest.readings_size(), 1);
  EXPECT_DOUBLE_EQ(latest.readings(0).reading().temperature().celsius(), 22);
  EXPECT_EQ(latest.readings(0).batch_sequence(), 3u);
  EXPECT_EQ(FromProtoTime(latest.readings(0).received_time()), clock_.Now());

  hwcast::v1::ListCollectorsResponse collectors;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ListCollectors(&ctx, {}, &collectors).ok());
  }
  ASSERT_EQ(collectors.collectors_size(), 1);
  EXPECT_EQ(collectors.collectors(0).epoch(), 5u);
  EXPECT_EQ(collectors.collectors(0).batches_accepted(), 2u);
  EXPECT_EQ(collectors.collectors(0).missing_batches(), 1u);

  request.mutable_filter()->add_hosts("");
  grpc::ClientContext ctx;
  grpc::Status bad = stub_->ListLatest(&ctx, request, &latest);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("filter.hosts[0]"));
}

// Relay.ListDisks: the newest inventory of every host, over gRPC.
TEST_F(RelayServiceTest, ListDisksAcrossHosts) {
  Start();
  auto inventory = [](const std::string& host, uint64_t sequence,
                      const std::vector<std::pair<std::string, std::string>>&
                          devices_and_uuids) {
    hwcast::v1::Reading r = Temperature(host, "disks", sequence, 0);
    hwcast::v1::DiskInventory* inv = r.mutable_disk_inventory();
    for (const auto& [device, uuid] : devices_and_uuids) {
      hwcast::v1::Disk* disk = inv->add_disks();
      disk->set_device(device);
      disk->set_uuid(uuid);
      disk->set_label("data");
      disk->set_mount_point("/srv/" + device.substr(5));
    }
    return r;
  };
  // nas's second inventory replaces its first (the disk moved to sdc1).
  Publish({Batch("nas", 1, 1, {inventory("nas", 1, {{"/dev/sdb1", "AB-12"}})}),
           Batch("nas", 1, 2, {inventory("nas", 2, {{"/dev/sdc1", "AB-12"}})}),
           Batch("desk", 1, 1,
                 {inventory("desk", 1, {{"/dev/sda1", "CD-34"}}),
                  Temperature("desk", "cpu", 1, 40)})});

  auto list = [&](const std::string& find,
                  hwcast::v1::ListDisksResponse* response) {
    grpc::ClientContext ctx;
    hwcast::v1::ListDisksRequest request;
    request.set_find(find);
    return stub_->ListDisks(&ctx, request, response);
  };
  hwcast::v1::ListDisksResponse all;
  ASSERT_TRUE(list("", &all).ok());
  ASSERT_EQ(all.disks_size(), 2);
  EXPECT_EQ(all.disks(0).host(), "desk");
  EXPECT_EQ(all.disks(1).host(), "nas");
  EXPECT_EQ(all.disks(1).collector_id(), "nas");
  EXPECT_EQ(all.disks(1).disk().device(), "/dev/sdc1");
  EXPECT_EQ(all.disks(1).disk().mount_point(), "/srv/sdc1");
  EXPECT_EQ(FromProtoTime(all.disks(1).received_time()), clock_.Now());

  hwcast::v1::ListDisksResponse found;
  ASSERT_TRUE(list("ab-12", &found).ok());
  ASSERT_EQ(found.disks_size(), 1);
  EXPECT_EQ(found.disks(0).host(), "nas");
  ASSERT_TRUE(list("data", &found).ok());
  EXPECT_EQ(found.disks_size(), 2);
  ASSERT_TRUE(list("nothing", &found).ok());
  EXPECT_EQ(found.disks_size(), 0);

  grpc::Status bad = list("a\tb", &found);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("find:"));
}

TEST_F(RelayServiceTest, ShutdownFinishesOpenStreams) {
  Start();
  grpc::ClientContext sub_ctx;
  SetDeadline(&sub_ctx);
  auto subscriber = stub_->Subscribe(&sub_ctx, SubscribeRequest());
  grpc::ClientContext pub_ctx;
  SetDeadline(&pub_ctx);
  auto publisher = stub_->Publish(&pub_ctx);
  ASSERT_TRUE(publisher->Write(
      RequestFor(Batch("c", 1, 1, {Temperature("h", "t", 1, 20)}))));
  PublishAck ack;
  ASSERT_TRUE(publisher->Read(&ack));
  SubscribeResponse r;
  ASSERT_TRUE(subscriber->Read(&r));  // the live batch
  ASSERT_EQ(service_->open_streams(), 2u);

  service_->BeginShutdown();
  EXPECT_FALSE(subscriber->Read(&r));
  EXPECT_TRUE(subscriber->Finish().ok());
  EXPECT_FALSE(publisher->Read(&ack));
  grpc::Status pub_status = publisher->Finish();
  EXPECT_EQ(pub_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(pub_status.error_message(), HasSubstr("shutting down"));

  // New streams are refused while the server winds down.
  grpc::ClientContext late_ctx;
  SetDeadline(&late_ctx);
  auto late = stub_->Subscribe(&late_ctx, SubscribeRequest());
  EXPECT_FALSE(late->Read(&r));
  EXPECT_EQ(late->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);

  server_->Shutdown(absl::Seconds(5));
  EXPECT_EQ(service_->open_streams(), 0u);
  EXPECT_EQ(hub_->subscriber_count(), 0u);
}

TEST_F(RelayServiceTest, ShutdownDoesNotHangOnASubscriberThatNeverReads) {
  Start(/*queue_batches=*/4);
  auto slow_stub = SmallWindowStub();
  grpc::ClientContext slow_ctx;
  SetDeadline(&slow_ctx);
  auto slow = slow_stub->Subscribe(&slow_ctx, SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return hub_->subscriber_count() == 1; }));
  std::vector<ReadingBatch> batches;
  for (int i = 1; i <= 20; ++i) {
    batches.push_back(Batch("c", 1, i, {Bulky("h", "big", i, 16 * 1024)}));
  }
  Publish(batches);  // the subscriber's write is now stuck in flow control

  service_->BeginShutdown();
  // The stuck write keeps the stream open until the server's grace period
  // ends; then the call is cancelled and every reactor is released.
  server_->Shutdown(absl::Milliseconds(200));
  EXPECT_EQ(hub_->subscriber_count(), 0u);
  EXPECT_EQ(service_->open_streams(), 0u);
  SubscribeResponse r;
  while (slow->Read(&r)) {
  }
  const grpc::Status status = slow->Finish();
  EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

// Verifies by batch_sequence, counting who is inside Verify at once: waits
// while the gate is closed (only sequences in `held`, when given); an odd
// sequence N also waits until N + 1 was verified (so with two workers
// batches finish out of order); sequences in `reject` are rejected. Notes
// whether each sequence was verified on an IngestPool worker.
class GatedVerifier final : public BatchVerifier {
 public:
  explicit GatedVerifier(bool open, std::vector<uint64_t> reject = {},
                         bool pairs_out_of_order = false,
                         std::vector<uint64_t> held = {})
      : open_(open),
        reject_(std::move(reject)),
        pairs_out_of_order_(pairs_out_of_order),
        held_(std::move(held)) {}

  absl::Status Verify(const hwcast::v1::SignedBatch&,
                      const ReadingBatch& batch) override {
    const uint64_t seq = batch.batch_sequence();
    absl::MutexLock lock(&mu_);
    on_pool_[seq] = IngestPool::OnWorkerThread();
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    if (held_.empty() ||
        std::find(held_.begin(), held_.end(), seq) != held_.end()) {
      mu_.Await(absl::Condition(&open_));
    }
    if (pairs_out_of_order_ && seq % 2 == 1) {
      auto next_done = [this, seq]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return std::find(done_.begin(), done_.end(), seq + 1) != done_.end();
      };
      mu_.Await(absl::Condition(&next_done));
    }
    --inside_;
    done_.push_back(seq);
    if (std::find(reject_.begin(), reject_.end(), seq) != reject_.end()) {
      return Rejection(absl::StatusCode::kPermissionDenied,
                       RejectReason::kBadSignature, "test rejects it");
    }
    return absl::OkStatus();
  }

  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  int inside() {
    absl::MutexLock lock(&mu_);
    return inside_;
  }
  int max_inside() {
    absl::MutexLock lock(&mu_);
    return max_inside_;
  }
  std::vector<uint64_t> done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  // Sequence -> verified on a pool worker (false: on the gRPC thread).
  std::map<uint64_t, bool> on_pool() {
    absl::MutexLock lock(&mu_);
    return on_pool_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_);
  const std::vector<uint64_t> reject_;
  const bool pairs_out_of_order_;
  const std::vector<uint64_t> held_;
  std::map<uint64_t, bool> on_pool_ ABSL_GUARDED_BY(mu_);
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
  int max_inside_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> done_ ABSL_GUARDED_BY(mu_);
};

std::vector<PublishRequest> Requests(uint64_t first, uint64_t last) {
  std::vector<PublishRequest> requests;
  for (uint64_t seq = first; seq <= last; ++seq) {
    requests.push_back(
        RequestFor(Batch("c1", 7, seq, {Temperature("h1", "room", seq, 20)})));
  }
  return requests;
}

// Writes `requests` on `stream` from a thread of its own, then half-closes.
std::thread WriteAllThenHalfClose(
    grpc::ClientReaderWriter<PublishRequest, PublishAck>* stream,
    const std::vector<PublishRequest>& requests) {
  return std::thread([stream, &requests] {
    for (const PublishRequest& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
  });
}

TEST_F(RelayServiceTest, PublishAcksStayInOrderWhenIngestFinishesOutOfOrder) {
  // Batch 1 is verified only after batch 2, 3 after 4, ...: that needs two
  // batches of the stream on the two workers at once. Batch 5 is rejected.
  GatedVerifier verifier(/*open=*/true, /*reject=*/{5},
                         /*pairs_out_of_order=*/true);
  verifier_override_ = &verifier;
  ingest_threads_ = 2;
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  const std::vector<PublishRequest> requests = Requests(1, 16);
  std::thread writer = WriteAllThenHalfClose(stream.get(), requests);
  std::vector<uint64_t> acked;
  PublishAck ack;
  while (stream->Read(&ack)) {
    acked.push_back(ack.batch_sequence());
    EXPECT_EQ(ack.result(), ack.batch_sequence() == 5
                                ? PublishAck::RESULT_REJECTED
                                : PublishAck::RESULT_ACCEPTED)
        << ack.batch_sequence();
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  std::vector<uint64_t> in_order(16);
  for (uint64_t i = 0; i < 16; ++i) in_order[i] = i + 1;
  EXPECT_EQ(acked, in_order);
  // They were verified out of order (2 before 1), two at a time.
  const std::vector<uint64_t> done = verifier.done();
  ASSERT_GE(done.size(), 2u);
  EXPECT_EQ(done[0], 2u);
  EXPECT_EQ(done[1], 1u);
  EXPECT_EQ(verifier.max_inside(), 2);
}

// Eight workers, but a window of 4: publishes batches 1-20 on one stream
// (after the stream stood idle for `pause`) while `verifier` holds them,
// expects the relay to take 4 and read no further, then opens the gate and
// expects every ack, in order.
void RelayServiceTest::PublishTwentyThroughAWindowOfFour(
    GatedVerifier* verifier, absl::Duration pause) {
  verifier_override_ = verifier;
  ingest_threads_ = 8;
  max_pending_acks_ = 4;
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  // The stream's start counts as a read: pause only once it started.
  ASSERT_TRUE(WaitFor([&] { return service_->open_streams() == 1; }));
  clock_.Advance(pause);
  const std::vector<PublishRequest> requests = Requests(1, 20);
  std::thread writer = WriteAllThenHalfClose(stream.get(), requests);
  ASSERT_TRUE(WaitFor([&] { return verifier->inside() == 4; }));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(verifier->max_inside(), 4);
  verifier->Open();
  uint64_t expected = 1;
  PublishAck ack;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.batch_sequence(), expected++);
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(expected, 21u);
  EXPECT_LE(verifier->max_inside(), 4);
}

TEST_F(RelayServiceTest, PublishWindowBoundsBatchesInFlight) {
  // With verification stuck, the relay takes 4 batches of the stream and
  // reads no further.
  GatedVerifier verifier(/*open=*/false);
  PublishTwentyThroughAWindowOfFour(&verifier, absl::ZeroDuration());
}

TEST_F(RelayServiceTest, PublishErrorMidWindowEndsAfterTheAcksDue) {
  // Batches 1-3 are being verified (held) when garbage arrives: their acks
  // still come, in order, then INVALID_ARGUMENT; batch 5 after the garbage
  // is never ingested.
  GatedVerifier verifier(/*open=*/false);
  verifier_override_ = &verifier;
  ingest_threads_ = 4;
  Start();
  grpc::GenericStub generic(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  grpc::CompletionQueue cq;
  int tags[16];
  auto call = generic.PrepareCall(&ctx, "/hwcast.v1.Relay/Publish", &cq);
  call->StartCall(&tags[0]);
  ASSERT_TRUE(Await(&cq, &tags[0]));
  int tag = 1;
  for (const PublishRequest& r : Requests(1, 3)) {
    call->Write(Raw(r.SerializeAsString()), &tags[tag]);
    ASSERT_TRUE(Await(&cq, &tags[tag++]));
  }
  ASSERT_TRUE(WaitFor([&] { return verifier.inside() == 3; }));
  call->Write(Raw("\x0a\xff\xff"), &tags[tag]);
  Await(&cq, &tags[tag++]);
  call->Write(Raw(Requests(5, 5)[0].SerializeAsString()), &tags[tag]);
  Await(&cq, &tags[tag++]);
  call->WritesDone(&tags[tag]);
  Await(&cq, &tags[tag++]);
  verifier.Open();
  std::vector<uint64_t> acked;
  while (true) {
    grpc::ByteBuffer raw_ack;
    call->Read(&raw_ack, &tags[tag]);
    if (!Await(&cq, &tags[tag++])) break;
    PublishAck ack;
    ASSERT_TRUE(ParseRawMessage(raw_ack, "ack", &ack).ok());
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
    acked.push_back(ack.batch_sequence());
  }
  grpc::Status status;
  call->Finish(&status, &tags[tag]);
  Await(&cq, &tags[tag]);
  EXPECT_EQ(acked, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("message 4 on this stream"));
  EXPECT_EQ(verifier.done().size(), 3u);
  cq.Shutdown();
  void* t = nullptr;
  bool ok = false;
  while (cq.Next(&t, &ok)) {
  }
}

// The tests above never move clock_, so every batch of theirs went to the
// pool: to the reactor a stream is never idle while Steady() stands still.

TEST_F(RelayServiceTest, PublishIdleStreamIngestsOnItsGrpcThread) {
  GatedVerifier verifier(/*open=*/true);
  verifier_override_ = &verifier;
  Start();
  const absl::Duration idle =
      RelayServiceImpl::Options().publish_inline_after_idle;
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  // The stream's start counts as a read: pause only once it started.
  ASSERT_TRUE(WaitFor([&] { return service_->open_streams() == 1; }));
  const std::vector<PublishRequest> requests = Requests(1, 5);
  // Before each batch: how long the stream stays idle.
  const absl::Duration pauses[] = {idle, absl::Milliseconds(1000),
                                   absl::ZeroDuration(), idle / 2, idle};
  for (size_t i = 0; i < requests.size(); ++i) {
    clock_.Advance(pauses[i]);
    ASSERT_TRUE(stream->Write(requests[i]));
    PublishAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_sequence(), i + 1);
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(verifier.on_pool(),
            (std::map<uint64_t, bool>{
                {1, false}, {2, false}, {3, true}, {4, true}, {5, false}}));
}

TEST_F(RelayServiceTest, PublishNeverInlineWhenTheIdleTimeIsInfinite) {
  GatedVerifier verifier(/*open=*/true);
  verifier_override_ = &verifier;
  inline_after_idle_ = absl::InfiniteDuration();
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  ASSERT_TRUE(WaitFor([&] { return service_->open_streams() == 1; }));
  for (const PublishRequest& request : Requests(1, 2)) {
    clock_.Advance(absl::Hours(1));
    ASSERT_TRUE(stream->Write(request));
    PublishAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(verifier.on_pool(),
            (std::map<uint64_t, bool>{{1, true}, {2, true}}));
}

TEST_F(RelayServiceTest, PublishBurstAfterIdleGoesToThePoolWindowBounded) {
  // Batch 1 (after a pause) is ingested inline; 2-20 come right after it
  // and go to the pool, where 2 onwards are held: the window of 4 bounds
  // them as without the inline path.
  std::vector<uint64_t> held;
  for (uint64_t seq = 2; seq <= 20; ++seq) held.push_back(seq);
  GatedVerifier verifier(/*open=*/false, {}, false, held);
  PublishTwentyThroughAWindowOfFour(&verifier, absl::Seconds(1));
  const std::map<uint64_t, bool> on_pool = verifier.on_pool();
  ASSERT_EQ(on_pool.size(), 20u);
  EXPECT_FALSE(on_pool.at(1));
  for (uint64_t seq = 2; seq <= 20; ++seq) EXPECT_TRUE(on_pool.at(seq)) << seq;
}

TEST_F(RelayServiceTest, PublishAcksStayInOrderAcrossPoolAndInline) {
  // Batch 1 is held on the pool; batch 2 follows a pause, but with 1 in
  // flight it goes to the pool too and is verified first, yet acked after
  // 1. Batch 3, after another pause with nothing in flight, goes inline.
  GatedVerifier verifier(/*open=*/false, {}, false, /*held=*/{1});
  verifier_override_ = &verifier;
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  const std::vector<PublishRequest> requests = Requests(1, 3);
  ASSERT_TRUE(stream->Write(requests[0]));
  ASSERT_TRUE(WaitFor([&] { return verifier.inside() == 1; }));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(stream->Write(requests[1]));
  ASSERT_TRUE(WaitFor([&] { return verifier.done().size() == 1; }));
  EXPECT_EQ(verifier.done(), std::vector<uint64_t>{2});
  verifier.Open();
  PublishAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_sequence(), 1u);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_sequence(), 2u);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(stream->Write(requests[2]));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_sequence(), 3u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(verifier.on_pool(),
            (std::map<uint64_t, bool>{{1, true}, {2, true}, {3, false}}));
}

}  // namespace
}  // namespace hwcast::relay

namespace hwcast::relay {
namespace {

// One PublishRequest of batches first..last of collector c1 (`batch` and
// more_batches), with accept_grouped_acks as given.
PublishRequest GroupOf(uint64_t first, uint64_t last, bool accept_grouped) {
  PublishRequest group;
  group.set_accept_grouped_acks(accept_grouped);
  for (PublishRequest& one : Requests(first, last)) {
    if (!group.has_batch()) {
      *group.mutable_batch() = std::move(*one.mutable_batch());
    } else {
      *group.add_more_batches() = std::move(*one.mutable_batch());
    }
  }
  return group;
}

// Publishes batches 1-8 in one request (element 5 garbage, sequence 3
// rejected by the verifier) while batch 1 is held until 2-8 are verified,
// so all eight acks wait to be written at once. Returns the ack messages.
std::vector<PublishAck> PublishHeldGroupOfEight(hwcast::v1::Relay::Stub* stub,
                                                GatedVerifier* verifier,
                                                bool accept_grouped) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Publish(&ctx);
  PublishRequest group = GroupOf(1, 8, accept_grouped);
  group.mutable_more_batches(3)->set_batch("\xff\xff\xff\xff\x0f");
  EXPECT_TRUE(stream->Write(group));
  EXPECT_TRUE(WaitFor([&] { return verifier->done().size() == 6; }));
  verifier->Open();
  stream->WritesDone();
  std::vector<PublishAck> messages;
  PublishAck ack;
  while (stream->Read(&ack)) messages.push_back(ack);
  EXPECT_TRUE(stream->Finish().ok());
  return messages;
}

// The acks of `messages`, flattened: (sequence, result) in stream order.
std::vector<std::pair<uint64_t, PublishAck::Result>> Flatten(
    const std::vector<PublishAck>& messages) {
  std::vector<std::pair<uint64_t, PublishAck::Result>> acks;
  for (const PublishAck& message : messages) {
    acks.emplace_back(message.batch_sequence(), message.result());
    for (const PublishAck& more : message.more_acks()) {
      EXPECT_TRUE(more.more_acks().empty());
      acks.emplace_back(more.batch_sequence(), more.result());
    }
  }
  return acks;
}

const std::vector<std::pair<uint64_t, PublishAck::Result>> kHeldGroupAcks = {
    {1, PublishAck::RESULT_ACCEPTED}, {2, PublishAck::RESULT_ACCEPTED},
    {3, PublishAck::RESULT_REJECTED}, {4, PublishAck::RESULT_ACCEPTED},
    {0, PublishAck::RESULT_REJECTED},  // the garbage element
    {6, PublishAck::RESULT_ACCEPTED}, {7, PublishAck::RESULT_ACCEPTED},
    {8, PublishAck::RESULT_ACCEPTED}};

TEST_F(RelayServiceTest, PublishGroupIsBatchByBatchWithAcksInOneMessage) {
  GatedVerifier verifier(/*open=*/false, /*reject=*/{3},
                         /*pairs_out_of_order=*/false, /*held=*/{1});
  verifier_override_ = &verifier;
  Start();
  const std::vector<PublishAck> messages =
      PublishHeldGroupOfEight(stub_.get(), &verifier, true);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].more_acks_size(), 7);
  EXPECT_TRUE(messages[0].takes_grouped_batches());
  EXPECT_EQ(Flatten(messages), kHeldGroupAcks);
  EXPECT_EQ(metrics_.publish_messages(/*grouped=*/true).Value(), 1);
  EXPECT_EQ(metrics_.publish_grouped_batches().Value(), 8);
  EXPECT_EQ(metrics_.batches(PublishAck::RESULT_ACCEPTED).Value(), 6);
  EXPECT_EQ(metrics_.batches(PublishAck::RESULT_REJECTED).Value(), 2);
}

TEST_F(RelayServiceTest, PublishGroupAcksOneByOneForAClientThatReadsNoGroups) {
  GatedVerifier verifier(/*open=*/false, /*reject=*/{3},
                         /*pairs_out_of_order=*/false, /*held=*/{1});
  verifier_override_ = &verifier;
  Start();
  const std::vector<PublishAck> messages =
      PublishHeldGroupOfEight(stub_.get(), &verifier, false);
  EXPECT_EQ(messages.size(), 8u);
  EXPECT_EQ(Flatten(messages), kHeldGroupAcks);
}

TEST_F(RelayServiceTest, PublishGroupedAcksWaitForHalfTheWindowWhileIngesting) {
  // Window 8: a client that reads grouped acks gets them 4 at a time while
  // batches of its stream are being ingested. Acks 1-3 are due while 4 is
  // held: they wait, and come with 4-6 in one message once 4 is done.
  GatedVerifier verifier(/*open=*/false, /*reject=*/{},
                         /*pairs_out_of_order=*/false, /*held=*/{4});
  verifier_override_ = &verifier;
  max_pending_acks_ = 8;
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  ASSERT_TRUE(stream->Write(GroupOf(1, 6, /*accept_grouped=*/true)));
  ASSERT_TRUE(WaitFor([&] { return verifier.done().size() == 5; }));
  verifier.Open();
  stream->WritesDone();
  std::vector<PublishAck> messages;
  PublishAck ack;
  while (stream->Read(&ack)) messages.push_back(ack);
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(messages.size(), 1u);
  std::vector<std::pair<uint64_t, PublishAck::Result>> all_accepted;
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    all_accepted.emplace_back(seq, PublishAck::RESULT_ACCEPTED);
  }
  EXPECT_EQ(Flatten(messages), all_accepted);
}

TEST_F(RelayServiceTest, PublishGroupWithoutAPoolIsIngestedInOrder) {
  on_pool_ = false;
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  ASSERT_TRUE(stream->Write(GroupOf(1, 5, /*accept_grouped=*/true)));
  ASSERT_TRUE(stream->Write(GroupOf(3, 6, /*accept_grouped=*/true)));
  stream->WritesDone();
  std::vector<PublishAck> messages;
  PublishAck ack;
  while (stream->Read(&ack)) messages.push_back(ack);
  EXPECT_TRUE(stream->Finish().ok());
  using R = PublishAck;
  EXPECT_EQ(Flatten(messages),
            (std::vector<std::pair<uint64_t, PublishAck::Result>>{
                {1, R::RESULT_ACCEPTED},
                {2, R::RESULT_ACCEPTED},
                {3, R::RESULT_ACCEPTED},
                {4, R::RESULT_ACCEPTED},
                {5, R::RESULT_ACCEPTED},
                {3, R::RESULT_DUPLICATE},
                {4, R::RESULT_DUPLICATE},
                {5, R::RESULT_DUPLICATE},
                {6, R::RESULT_ACCEPTED}}));
}

TEST_F(RelayServiceTest, PublishGroupOverTheCapEndsTheStreamSaysWhy) {
  Start();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub_->Publish(&ctx);
  const size_t cap = PublishReactor::kMaxGroupBatches;
  ASSERT_TRUE(stream->Write(GroupOf(1, cap, /*accept_grouped=*/false)));
  stream->Write(GroupOf(cap + 1, 2 * cap + 1, /*accept_grouped=*/false));
  stream->WritesDone();
  size_t acked = 0;
  PublishAck ack;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.batch_sequence(), ++acked);
    EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(acked, cap);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("message 2 on this stream (a PublishRequest) carries "
                        "65 batches"));
  EXPECT_THAT(status.error_message(), HasSubstr("at most 64 per request"));
  EXPECT_EQ(metrics_.rejected(BatchOrigin::kPublish, RejectReason::kMalformed)
                .Value(),
            1);
  EXPECT_EQ(metrics_.batches(PublishAck::RESULT_ACCEPTED).Value(), cap);
}

}  // namespace
}  // namespace hwcast::relay
