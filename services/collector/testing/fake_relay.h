// An in-process Relay for collector tests: implements Publish (acks each
// batch according to a policy and records what it received; takes groups of
// batches only when told to, as a relay from after groups). Test-only.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_RELAY_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_RELAY_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/testing/wait.h"

namespace hwcast::collector::testing {

using ::hwcast::testutil::WaitFor;

// Thread-safe. One instance per server.
class FakeRelay final : public hwcast::v1::Relay::Service {
 public:
  using PublishAck = hwcast::v1::PublishAck;

  grpc::Status Publish(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<PublishAck, hwcast::v1::PublishRequest>* stream)
      override {
    hwcast::v1::PublishRequest request;
    bool grouped_acks = false;
    while (stream->Read(&request)) {
      bool takes_groups = false;
      {
        absl::MutexLock lock(&mu_);
        takes_groups = takes_groups_;
        request_sizes_.push_back(1 + request.more_batches_size());
      }
      if (!takes_groups && !request.more_batches().empty()) {
        ADD_FAILURE() << "fake relay: a group sent to a relay that never "
                         "advertised groups";
      }
      grouped_acks = grouped_acks || request.accept_grouped_acks();
      // The acks of the request's batches: one message each, or (to a
      // client that reads groups) one message for all of them.
      std::vector<PublishAck> acks;
      for (int i = 0; i <= request.more_batches_size(); ++i) {
        std::optional<PublishAck> ack =
            AckFor(i == 0 ? request.batch() : request.more_batches(i - 1));
        if (!ack.has_value()) continue;
        ack->set_takes_grouped_batches(takes_groups);
        if (grouped_acks && !acks.empty()) {
          *acks.front().add_more_acks() = *std::move(ack);
        } else {
          acks.push_back(*std::move(ack));
        }
      }
      bool ok = true;
      for (const PublishAck& ack : acks) {
        if (!(ok = stream->Write(ack))) break;
      }
      if (!ok) break;
    }
    return grpc::Status::OK;
  }

  // Advertise PublishAck.takes_grouped_batches (and read groups): a relay
  // from after groups. Off by default: a relay from before them.
  void set_takes_groups(bool takes) {
    absl::MutexLock lock(&mu_);
    takes_groups_ = takes;
  }
  // Batches per request received, in arrival order.
  std::vector<int> request_sizes() {
    absl::MutexLock lock(&mu_);
    return request_sizes_;
  }
  // Batches with a higher sequence are received but never acked.
  void set_ack_up_to(uint64_t sequence) {
    absl::MutexLock lock(&mu_);
    ack_up_to_ = sequence;
  }
  void Reject(uint64_t sequence) {
    absl::MutexLock lock(&mu_);
    reject_.insert(sequence);
  }
  std::vector<uint64_t> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  // Every batch received, in arrival order (resends included).
  std::vector<hwcast::v1::ReadingBatch> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  // Waits (real time, up to 10s) until `n` batches arrived.
  bool WaitForReceived(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() { return received_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

 private:
  // Records `signed_batch`; its ack, or nullopt when it is not to be acked.
  std::optional<PublishAck> AckFor(
      const hwcast::v1::SignedBatch& signed_batch) {
    hwcast::v1::ReadingBatch batch;
    PublishAck ack;
    absl::MutexLock lock(&mu_);
    if (!batch.ParseFromString(signed_batch.batch())) {
      ADD_FAILURE() << "fake relay: unparsable batch";
    }
    received_.push_back(batch.batch_sequence());
    batches_.push_back(batch);
    ack.set_collector_id(batch.collector_id());
    ack.set_epoch(batch.epoch());
    ack.set_batch_sequence(batch.batch_sequence());
    if (reject_.count(batch.batch_sequence()) > 0) {
      ack.set_result(PublishAck::RESULT_REJECTED);
      ack.set_error("bad batch");
    } else if (!accepted_.insert(batch.batch_sequence()).second) {
      ack.set_result(PublishAck::RESULT_DUPLICATE);
    } else {
      ack.set_result(PublishAck::RESULT_ACCEPTED);
    }
    if (batch.batch_sequence() > ack_up_to_) {
      accepted_.erase(batch.batch_sequence());
      return std::nullopt;
    }
    return ack;
  }

  absl::Mutex mu_;
  bool takes_groups_ = false;
  std::vector<int> request_sizes_;
  std::vector<uint64_t> received_;
  std::vector<hwcast::v1::ReadingBatch> batches_;
  std::set<uint64_t> accepted_;
  std::set<uint64_t> reject_;
  uint64_t ack_up_to_ = UINT64_MAX;
};

// A gRPC server on 127.0.0.1 serving one FakeRelay. Port 0 picks a free port.
class FakeRelayServer {
 public:
  // `credentials`: null for plaintext (e.g. grpc::SslServerCredentials for
  // a TLS relay).
  explicit FakeRelayServer(
      int port = 0,
      std::shared_ptr<grpc::ServerCredentials> credentials = nullptr) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             credentials != nullptr
                                 ? credentials
                                 : grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&relay_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_NE(port_, 0) << "cannot listen on 127.0.0.1:" << port;
  }
  ~FakeRelayServer() { Shutdown(); }

  // Cancels running streams at once and closes the port.
  void Shutdown() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }

  FakeRelay& relay() { return relay_; }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  FakeRelay relay_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace hwcast::collector::testing

#endif  // HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_RELAY_H_
