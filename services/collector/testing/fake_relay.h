// An in-process Relay for collector tests: implements Publish (acks each
// batch according to a policy and records what it received). Test-only.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_RELAY_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_RELAY_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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
    while (stream->Read(&request)) {
      hwcast::v1::ReadingBatch batch;
      PublishAck ack;
      bool send = true;
      {
        absl::MutexLock lock(&mu_);
        if (!batch.ParseFromString(request.batch().batch())) {
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
        send = batch.batch_sequence() <= ack_up_to_;
        if (!send) accepted_.erase(batch.batch_sequence());
      }
      if (send && !stream->Write(ack)) break;
    }
    return grpc::Status::OK;
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
  absl::Mutex mu_;
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
