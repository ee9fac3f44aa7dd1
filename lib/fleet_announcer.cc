#include "lib/fleet_announcer.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/log.h"
#include "lib/reconnect.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

using hwcast::v1::PublishAck;

constexpr char kFleetSource[] = "fleet";

}  // namespace

std::string FleetCollectorId(const std::string& host) {
  return absl::StrCat(host, "-actuator");
}

FleetAnnouncer::FleetAnnouncer(FleetAnnouncerOptions options,
                               Ed25519PrivateKey key, const Clock* clock)
    : options_(std::move(options)),
      key_(std::move(key)),
      clock_(clock),
      epoch_(static_cast<uint64_t>(absl::ToUnixMicros(clock->Now()))) {
  if (options_.collector_id.empty()) {
    options_.collector_id = FleetCollectorId(options_.host);
  }
  for (const std::string& address : options_.relays) {
    auto link = std::make_unique<Link>();
    link->address = address;
    links_.push_back(std::move(link));
  }
}

FleetAnnouncer::~FleetAnnouncer() { Stop(); }

void FleetAnnouncer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  for (auto& link : links_) {
    Link* l = link.get();
    l->thread = std::thread([this, l] { Run(l); });
  }
}

void FleetAnnouncer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& link : links_) {
      if (link->context != nullptr) link->context->TryCancel();
    }
  }
  for (auto& link : links_) {
    if (link->thread.joinable()) link->thread.join();
  }
}

void FleetAnnouncer::Announce(const hwcast::v1::FleetEvent& event) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  const uint64_t sequence = ++sequence_;
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id(options_.collector_id);
  batch.set_epoch(epoch_);
  batch.set_batch_sequence(sequence);
  *batch.mutable_sent_time() = ToProtoTime(now);
  hwcast::v1::Reading* reading = batch.add_readings();
  reading->set_host(options_.host);
  reading->set_source_id(kFleetSource);
  reading->set_sequence(sequence);
  *reading->mutable_observed_time() = ToProtoTime(now);
  reading->set_quality(hwcast::v1::QUALITY_OK);
  *reading->mutable_fleet() = event;
  auto signed_batch = std::make_shared<hwcast::v1::SignedBatch>();
  signed_batch->set_batch(batch.SerializeAsString());
  signed_batch->set_signature(key_.Sign(signed_batch->batch()));
  signed_batch->set_key_id(key_.public_key().key_id());
  for (auto& link : links_) {
    link->pending = signed_batch;
    link->pending_sequence = sequence;
  }
}

bool FleetAnnouncer::Send(Link* link, const hwcast::v1::SignedBatch& batch,
                          uint64_t sequence) {
  // A fresh subchannel per attempt: gRPC's own backoff never adds to ours.
  auto channel =
      CreateFreshChannel(link->address, grpc::InsecureChannelCredentials());
  auto stub = hwcast::v1::Relay::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMicroseconds(options_.attempt_timeout));
  context.set_wait_for_ready(true);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return true;
    link->context = &context;
  }
  auto stream = stub->Publish(&context);
  hwcast::v1::PublishRequest request;
  *request.mutable_batch() = batch;
  bool done = false;
  std::string error;
  if (!stream->Write(request)) {
    error = "write failed";
  } else {
    stream->WritesDone();
    PublishAck ack;
    if (!stream->Read(&ack)) {
      error = "no ack";
    } else if (ack.result() == PublishAck::RESULT_REJECTED) {
      HWCAST_LOG(ERROR) << "fleet announcement #" << sequence << " rejected by "
                        << link->address << ": " << ack.error();
      done = true;
    } else {
      done = true;
      absl::MutexLock lock(&mu_);
      ++acked_;
    }
  }
  if (!done) {
    // Drain so Finish does not wait for messages we do not want.
    PublishAck ignored;
    while (stream->Read(&ignored)) {
    }
  }
  const grpc::Status status = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    link->context = nullptr;
  }
  if (!done) {
    HWCAST_LOG(WARNING) << "fleet announcement #" << sequence << " to "
                        << link->address << ": " << error << ": "
                        << status.error_message() << " (will retry)";
  }
  return done;
}

void FleetAnnouncer::Run(Link* link) {
  Backoff backoff(options_.backoff);
  while (true) {
    std::shared_ptr<const hwcast::v1::SignedBatch> batch;
    uint64_t sequence = 0;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, link]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || link->pending != nullptr;
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      batch = link->pending;
      sequence = link->pending_sequence;
    }
    const bool done = Send(link, *batch, sequence);
    absl::MutexLock lock(&mu_);
    if (done) {
      backoff.Reset();
      // Unless a newer event came meanwhile.
      if (link->pending_sequence == sequence) link->pending = nullptr;
      continue;
    }
    if (WaitUnlessStopping(mu_, &stopping_, backoff.Next())) return;
  }
}

bool FleetAnnouncer::AllDelivered() const {
  for (const auto& link : links_) {
    if (link->pending != nullptr) return false;
  }
  return true;
}

bool FleetAnnouncer::WaitDelivered(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      absl::Condition(this, &FleetAnnouncer::AllDelivered), timeout);
}

uint64_t FleetAnnouncer::acked() const {
  absl::MutexLock lock(&mu_);
  return acked_;
}

}  // namespace hwcast
