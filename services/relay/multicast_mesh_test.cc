#include "services/relay/multicast_mesh.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/batch_verifier.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/reject_reason.h"
#include "lib/signed_batch_verifier.h"
#include "lib/signing_test_util.h"
#include "lib/testing/wait.h"
#include "lib/time_util.h"
#include "lib/trust_store.h"
#include "prometheus/registry.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using ::hwcast::testutil::WaitFor;

using hwcast::v1::PublishAck;
using test_util::Batch;
using test_util::kT0;
using test_util::Signed;
using test_util::Temperature;

// A multicast group in memory: every datagram one member sends is queued to
// every member (including the sender, like multicast loopback), with the
// sender's address.
class MemoryLan {
 public:
  class Member final : public DatagramTransport {
   public:
    Member(MemoryLan* lan, std::string address)
        : lan_(lan), address_(std::move(address)) {}
    absl::Status Send(absl::Span<const std::string> datagrams) override {
      for (const std::string& d : datagrams) lan_->Deliver(d, address_);
      sent_ += datagrams.size();
      return absl::OkStatus();
    }
    absl::Status Receive(absl::Duration timeout, size_t max,
                         std::vector<ReceivedDatagram>* out) override {
      out->clear();
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &Member::Ready), timeout);
      if (shutdown_) return absl::CancelledError("shut down");
      while (!inbox_.empty() && out->size() < max) {
        out->push_back(std::move(inbox_.front()));
        inbox_.erase(inbox_.begin());
      }
      return absl::OkStatus();
    }
    uint64_t dropped() const override { return 0; }
    void Shutdown() override {
      absl::MutexLock lock(&mu_);
      shutdown_ = true;
    }
    void Push(ReceivedDatagram d) {
      absl::MutexLock lock(&mu_);
      inbox_.push_back(std::move(d));
    }
    // Takes what arrived so far (for tests without threads).
    std::vector<ReceivedDatagram> Drain() {
      absl::MutexLock lock(&mu_);
      return std::exchange(inbox_, {});
    }
    size_t sent() const { return sent_; }

   private:
    bool Ready() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_ || !inbox_.empty();
    }
    MemoryLan* const lan_;
    const std::string address_;
    absl::Mutex mu_;
    std::vector<ReceivedDatagram> inbox_ ABSL_GUARDED_BY(mu_);
    bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
    size_t sent_ = 0;
  };

  Member* Join(const std::string& address) {
    absl::MutexLock lock(&mu_);
    members_.push_back(std::make_unique<Member>(this, address));
    return members_.back().get();
  }

  void Deliver(const std::string& datagram, const std::string& from) {
    absl::MutexLock lock(&mu_);
    for (auto& m : members_) m->Push({datagram, from + ":7433"});
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Member>> members_ ABSL_GUARDED_BY(mu_);
};

// One relay: hub + mesh on a MemoryLan member.
struct Relay {
  Relay(MemoryLan* lan, const std::string& address, const Clock* clock,
        BatchVerifier* verifier, MulticastMesh::Options options = {})
      : metrics(registry),
        hub(RelayHub::Options(), clock, verifier, &metrics),
        transport(lan->Join(address)),
        mesh(Options(std::move(options)), transport, &hub, clock, &metrics) {
    hub.set_accept_listener(&mesh);
  }
  static MulticastMesh::Options Options(MulticastMesh::Options o) {
    o.group = "memory";
    return o;
  }
  // Handles everything that arrived.
  void Pump() {
    for (const ReceivedDatagram& d : transport->Drain()) mesh.HandleDatagram(d);
  }
  double Rejected(RejectReason reason) {
    return metrics.rejected(BatchOrigin::kMulticast, reason).Value();
  }

  prometheus::Registry registry;
  RelayMetrics metrics;
  RelayHub hub;
  MemoryLan::Member* transport;
  MulticastMesh mesh;
};

class MulticastMeshTest : public ::testing::Test {
 protected:
  MulticastMeshTest() { clock_.Set(kT0); }

  hwcast::v1::ReadingBatch RoomBatch(uint64_t seq, double celsius) {
    return Batch("h1", 7, seq, {Temperature("h1", "room", seq, celsius)});
  }

  // Makes key_ and verifier_: a fresh key trusted for collector and host
  // "h1" only.
  void TrustH1() {
    absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
    ASSERT_TRUE(key.ok());
    auto store = signing_test::TrustOnly(*key, "h1", {"h1"}, {"h1"});
    ASSERT_TRUE(store.ok()) << store.status();
    key_.emplace(*std::move(key));
    verifier_ = std::make_unique<SignedBatchVerifier>(
        *std::move(store), FreshnessOptions(), &clock_);
  }

  // Mesh options with `rate` datagrams/s per sender and `ingest` checks/s
  // in all, bursts of twice each.
  static MulticastMesh::Options Limits(double rate, double ingest) {
    MulticastMesh::Options options;
    options.rate.rate = rate;
    options.rate.burst = 2 * rate;
    options.ingest_rate = ingest;
    options.ingest_burst = 2 * ingest;
    return options;
  }

  FakeClock clock_;
  AcceptAllBatchVerifier accept_all_;
  MemoryLan lan_;
  std::optional<Ed25519PrivateKey> key_;
  std::unique_ptr<SignedBatchVerifier> verifier_;
};

TEST_F(MulticastMeshTest, PublishedBatchesReachOtherRelaysOnceAndAreNotEchoed) {
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_);
  Relay b(&lan_, "10.0.0.2", &clock_, &accept_all_);
  Relay c(&lan_, "10.0.0.3", &clock_, &accept_all_);

  ASSERT_EQ(a.hub.Ingest(Signed(RoomBatch(1, 21.5)), "collector").result(),
            PublishAck::RESULT_ACCEPTED);
  a.mesh.FlushQueue();
  EXPECT_EQ(a.metrics.multicast_sent_live().Value(), 1);
  a.Pump();  // its own datagram comes back: ignored
  b.Pump();
  c.Pump();

  for (Relay* r : {&b, &c}) {
    auto latest = r->hub.ListLatest({});
    ASSERT_EQ(latest.readings_size(), 1);
    EXPECT_DOUBLE_EQ(latest.readings(0).reading().temperature().celsius(),
                     21.5);
    // Learned from the LAN: one hop, and never multicast again.
    auto batches = r->hub.state().SnapshotBatches({});
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0]->origin, BatchOrigin::kMulticast);
    EXPECT_EQ(batches[0]->hops, 1u);
    r->mesh.FlushQueue();
    EXPECT_EQ(r->metrics.multicast_sent_live().Value(), 0);
    EXPECT_EQ(r->transport->sent(), 0u);
  }
  EXPECT_EQ(a.hub.ListCollectors().collectors(0).batches_accepted(), 1u);
  EXPECT_EQ(a.metrics.batches(PublishAck::RESULT_DUPLICATE).Value(), 0);
}

TEST_F(MulticastMeshTest, JunkIsCountedByReasonAndChangesNothing) {
  Relay b(&lan_, "10.0.0.2", &clock_, &accept_all_);
  MemoryLan::Member* attacker = lan_.Join("10.0.0.66");
  std::string header_only;
  ASSERT_TRUE(
      EncodeDatagram({DatagramType::kBatch, 0, 42}, "x", 1400, &header_only)
          .ok());
  const std::string junk[] = {"", "HWCM", std::string(1400, 'A'),
                              std::string(2000, 'B'), header_only};
  ASSERT_TRUE(attacker->Send(junk).ok());
  b.Pump();
  // What a real socket hands over for a datagram longer than its buffer.
  b.mesh.HandleDatagram({std::string(1400, 'C'), "10.0.0.66:7433", true});
  EXPECT_EQ(b.Rejected(RejectReason::kMalformed), 4);  // incl. bad payload
  EXPECT_EQ(b.Rejected(RejectReason::kTooLarge), 2);
  EXPECT_EQ(b.hub.state().size(), 0u);
  EXPECT_EQ(b.metrics.multicast_received().Value(), 6);
}

TEST_F(MulticastMeshTest, OneFloodingSenderIsLimitedOthersAreNot) {
  MulticastMesh::Options options;
  options.rate.rate = 10;
  options.rate.burst = 20;
  Relay b(&lan_, "10.0.0.2", &clock_, &accept_all_, options);
  MemoryLan::Member* flooder = lan_.Join("10.0.0.66");
  // Well-formed datagrams whose batches do not parse: each would need
  // checking, so they count against the flooder's rate.
  std::vector<std::string> flood(500);
  for (size_t i = 0; i < flood.size(); ++i) {
    hwcast::v1::SignedBatch forged;
    forged.set_batch(absl::StrCat("not a batch ", i));
    ASSERT_TRUE(EncodeDatagram({DatagramType::kBatch, 0, 66},
                               forged.SerializeAsString(), 1400, &flood[i])
                    .ok());
  }
  ASSERT_TRUE(flooder->Send(flood).ok());
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_);
  a.hub.Ingest(Signed(RoomBatch(1, 30)), "collector");
  a.mesh.FlushQueue();
  b.Pump();
  EXPECT_EQ(b.Rejected(RejectReason::kRateLimited), 480);
  EXPECT_EQ(b.Rejected(RejectReason::kMalformed), 20);
  // The legitimate relay's batch got through.
  EXPECT_EQ(b.hub.state().size(), 1u);
  EXPECT_EQ(b.metrics.multicast_senders().Value(), 2);
}

// Counts signature checks.
class CountingVerifier final : public BatchVerifier {
 public:
  explicit CountingVerifier(BatchVerifier* inner) : inner_(inner) {}
  absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                      const hwcast::v1::ReadingBatch& batch) override {
    ++checks;
    return inner_->Verify(signed_batch, batch);
  }
  int checks = 0;

 private:
  BatchVerifier* const inner_;
};

// Counts signature checks, each of which waits until Release().
class GatedVerifier final : public BatchVerifier {
 public:
  explicit GatedVerifier(BatchVerifier* inner) : inner_(inner) {}
  absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                      const hwcast::v1::ReadingBatch& batch) override {
    ++checks;
    release_.WaitForNotification();
    return inner_->Verify(signed_batch, batch);
  }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  std::atomic<int> checks{0};

 private:
  BatchVerifier* const inner_;
  absl::Notification release_;
};

std::string BatchDatagram(const hwcast::v1::SignedBatch& s, uint64_t sender,
                          uint8_t hops = 0) {
  std::string out;
  EXPECT_TRUE(EncodeDatagram({DatagramType::kBatch, hops, sender},
                             s.SerializeAsString(), 1400, &out)
                  .ok());
  return out;
}

// Sum of hwcast_relay_multicast_datagrams_total over its results.
double DatagramResults(RelayMetrics& m) {
  double sum = 0;
  for (int i = 0; i < kNumDatagramResults; ++i) {
    sum += m.multicast_datagrams(static_cast<DatagramResult>(i)).Value();
  }
  return sum;
}

double MulticastRejections(RelayMetrics& m) {
  double sum =
      m.rejected(BatchOrigin::kMulticast, RejectReason::kUnspecified).Value();
  for (RejectReason reason : kAllRejectReasons) {
    sum += m.rejected(BatchOrigin::kMulticast, reason).Value();
  }
  return sum;
}

TEST_F(MulticastMeshTest, ExactReplaysAreDroppedBeforeAnySignatureWork) {
  CountingVerifier verifier(&accept_all_);
  Relay b(&lan_, "10.0.0.2", &clock_, &verifier);
  const hwcast::v1::SignedBatch genuine = Signed(RoomBatch(1, 21));
  b.mesh.HandleDatagram({BatchDatagram(genuine, 7), "10.0.0.1:7433", false});
  EXPECT_EQ(verifier.checks, 1);
  for (int i = 0; i < 100; ++i) {
    // From anywhere, with any header: the signed bytes are what count.
    b.mesh.HandleDatagram({BatchDatagram(genuine, 1000 + i, i % 3),
                           absl::StrCat("10.0.", i, ".9:7433"), false});
  }
  EXPECT_EQ(verifier.checks, 1);
  EXPECT_EQ(b.metrics.multicast_datagrams(DatagramResult::kReplayed).Value(),
            100);
  EXPECT_EQ(b.metrics.multicast_datagrams(DatagramResult::kAccepted).Value(),
            1);
  // A new batch is checked as usual.
  b.mesh.HandleDatagram(
      {BatchDatagram(Signed(RoomBatch(2, 22)), 7), "10.0.0.1:7433", false});
  EXPECT_EQ(verifier.checks, 2);
}

TEST_F(MulticastMeshTest, EveryDatagramEndsInExactlyOneCounter) {
  TrustH1();
  const Ed25519PrivateKey* key = &*key_;
  Relay b(&lan_, "10.0.0.2", &clock_, verifier_.get(), Limits(5, 20));

  std::vector<ReceivedDatagram> sent;
  auto add = [&](std::string bytes, std::string from, bool truncated = false) {
    sent.push_back({std::move(bytes), std::move(from), truncated});
  };
  std::string request;
  ASSERT_TRUE(EncodeDatagram({DatagramType::kReannounceRequest, 0, 9}, "", 1400,
                             &request)
                  .ok());
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    const hwcast::v1::SignedBatch genuine =
        signing_test::SignBatch(RoomBatch(seq, 20), *key);
    add(BatchDatagram(genuine, 7), "10.0.0.1:7433");     // accepted
    add(BatchDatagram(genuine, 8, 1), "10.0.0.3:7433");  // replayed
    add(BatchDatagram(genuine, b.mesh.sender_id()), "10.0.0.1:7433");  // own
    hwcast::v1::SignedBatch copy = genuine;
    (*copy.mutable_batch())[copy.batch().size() - 1] ^= 1;
    add(BatchDatagram(copy, 7), "10.0.0.1:7433");  // duplicate (tampered copy)
    // Forged batches ahead of the real ones.
    hwcast::v1::SignedBatch tampered =
        signing_test::SignBatch(RoomBatch(seq + 1000, 99), *key);
    (*tampered.mutable_batch())[tampered.batch().size() - 1] ^= 1;
    add(BatchDatagram(tampered, 7), "10.0.0.4:7433");
    for (int i = 0; i < 10; ++i) {
      hwcast::v1::SignedBatch forged = tampered;
      forged.set_signature(absl::StrCat("forged ", seq, " ", i));
      add(BatchDatagram(forged, 66), absl::StrCat("10.9.", i, ".", seq, ":1"));
    }
    add("junk", "10.0.0.66:1");
    add(std::string(1400, 'x'), "10.0.0.66:1", /*truncated=*/true);
    add(request, "10.0.0.3:7433");
  }
  // The same batch re-sent by a second relay after the first was accepted
  // (Ed25519 signatures are deterministic: the same bytes).
  add(BatchDatagram(signing_test::SignBatch(RoomBatch(1, 20), *key), 5),
      "10.0.0.3:7433");
  for (const ReceivedDatagram& d : sent) b.mesh.HandleDatagram(d);

  RelayMetrics& m = b.metrics;
  const double received = static_cast<double>(sent.size());
  EXPECT_EQ(m.multicast_received().Value(), received);
  EXPECT_EQ(DatagramResults(m), received);
  EXPECT_EQ(MulticastRejections(m),
            m.multicast_datagrams(DatagramResult::kRejected).Value());
  EXPECT_EQ(m.multicast_datagrams(DatagramResult::kAccepted).Value(), 20);
  EXPECT_EQ(m.multicast_datagrams(DatagramResult::kReplayed).Value(), 21);
  EXPECT_EQ(m.multicast_datagrams(DatagramResult::kOwn).Value(), 20);
  EXPECT_EQ(m.multicast_datagrams(DatagramResult::kReannounceRequest).Value(),
            20);
  EXPECT_EQ(m.multicast_datagrams(DatagramResult::kDuplicate).Value(), 20);
  EXPECT_GT(
      m.rejected(BatchOrigin::kMulticast, RejectReason::kOverBudget).Value(),
      0);
  EXPECT_GT(
      m.rejected(BatchOrigin::kMulticast, RejectReason::kBadSignature).Value(),
      0);
}

TEST_F(MulticastMeshTest, SpoofingAVerifiedRelaysAddressDoesNotStarveIt) {
  TrustH1();
  const Ed25519PrivateKey* key = &*key_;
  Relay b(&lan_, "10.0.0.2", &clock_, verifier_.get(), Limits(10, 1000));
  // A batch sealed now (RoomBatch's times are fixed).
  auto fresh = [&](uint64_t seq, double celsius) {
    hwcast::v1::ReadingBatch batch = RoomBatch(seq, celsius);
    *batch.mutable_sent_time() = ToProtoTime(clock_.Now());
    *batch.mutable_readings(0)->mutable_observed_time() =
        ToProtoTime(clock_.Now());
    return batch;
  };
  auto genuine = [&](uint64_t seq) {
    return ReceivedDatagram{
        BatchDatagram(signing_test::SignBatch(fresh(seq, 20), *key), 7),
        "10.0.0.1:7433", false};
  };
  // h1's relay was heard before the attack started.
  b.mesh.HandleDatagram(genuine(1));
  ASSERT_EQ(b.metrics.multicast_trusted_lanes().Value(), 1);

  int accepted = 0;
  for (uint64_t seq = 2; seq <= 51; ++seq) {
    clock_.Advance(absl::Milliseconds(100));
    // Per 100 ms: 100 junk datagrams and 10 forged h1 batches (10 x
    // sender_rate) with the relay's own address, and 100 forged batches
    // from addresses all over; all of it ahead of the real one.
    for (int i = 0; i < 100; ++i) {
      b.mesh.HandleDatagram(
          {absl::StrCat("junk ", seq, " ", i), "10.0.0.1:7433", false});
      hwcast::v1::SignedBatch forged =
          signing_test::SignBatch(fresh(seq + (i % 3), 99), *key);
      forged.set_signature(absl::StrCat("forged ", seq, " ", i));
      if (i % 10 == 0) {
        b.mesh.HandleDatagram(
            {BatchDatagram(forged, 7), "10.0.0.1:7433", false});
      }
      b.mesh.HandleDatagram({BatchDatagram(forged, 66),
                             absl::StrCat("10.", i, ".", seq, ".1:9"), false});
    }
    const double before =
        b.metrics.multicast_datagrams(DatagramResult::kAccepted).Value();
    b.mesh.HandleDatagram(genuine(seq));
    accepted +=
        b.metrics.multicast_datagrams(DatagramResult::kAccepted).Value() >
                before
            ? 1
            : 0;
  }
  EXPECT_EQ(accepted, 50);
  EXPECT_GT(b.Rejected(RejectReason::kOverBudget) +
                b.Rejected(RejectReason::kRateLimited),
            0);
}

TEST_F(MulticastMeshTest, ReannouncesFreshLatestBatchesSoLateJoinersConverge) {
  MulticastMesh::Options options;
  options.max_age = absl::Minutes(5);
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_, options);
  // An old source (sealed 10 minutes ago) and a fresh one.
  auto old_batch = Batch("h1", 7, 1, {Temperature("h1", "old", 1, 19)});
  *old_batch.mutable_sent_time() = ToProtoTime(kT0 - absl::Minutes(10));
  a.hub.Ingest(Signed(old_batch), "collector");
  a.hub.Ingest(Signed(RoomBatch(2, 22)), "collector");
  a.hub.Ingest(Signed(RoomBatch(3, 23)), "collector");
  a.mesh.FlushQueue();

  Relay late(&lan_, "10.0.0.9", &clock_, &accept_all_);
  EXPECT_EQ(late.hub.state().size(), 0u);
  EXPECT_EQ(a.mesh.Reannounce(), 1u);  // room's latest only; "old" is stale
  EXPECT_EQ(a.metrics.multicast_sent_reannounce().Value(), 1);
  late.Pump();
  auto latest = late.hub.ListLatest({});
  ASSERT_EQ(latest.readings_size(), 1);
  EXPECT_DOUBLE_EQ(latest.readings(0).reading().temperature().celsius(), 23);
}

TEST_F(MulticastMeshTest, AnswersReannounceRequestsAtMostOncePerInterval) {
  MulticastMesh::Options options;
  options.reannounce_request_min_interval = absl::Seconds(5);
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_, options);
  MemoryLan::Member* peer = lan_.Join("10.0.0.2");
  std::string request;
  ASSERT_TRUE(EncodeDatagram({DatagramType::kReannounceRequest, 0, 99}, "",
                             1400, &request)
                  .ok());
  const std::string requests[] = {request, request, request};
  ASSERT_TRUE(peer->Send(requests).ok());
  a.Pump();
  EXPECT_EQ(a.metrics.reannounce_requests_answered().Value(), 1);
  EXPECT_EQ(a.metrics.reannounce_requests_ignored().Value(), 2);
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(peer->Send(absl::MakeConstSpan(requests, 1)).ok());
  a.Pump();
  EXPECT_EQ(a.metrics.reannounce_requests_answered().Value(), 2);
}

TEST_F(MulticastMeshTest, BatchTooLargeForADatagramIsNotMulticast) {
  MulticastMesh::Options options;
  options.max_datagram_bytes = 512;
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_, options);
  std::vector<hwcast::v1::Reading> readings;
  for (int i = 1; i <= 40; ++i) {
    readings.push_back(Temperature("h1", "s" + std::to_string(i), 1, i));
  }
  ASSERT_EQ(a.hub.Ingest(Signed(Batch("h1", 7, 1, readings)), "c").result(),
            PublishAck::RESULT_ACCEPTED);
  a.mesh.FlushQueue();
  EXPECT_EQ(a.metrics.multicast_skipped_too_large().Value(), 1);
  EXPECT_EQ(a.metrics.multicast_sent_live().Value(), 0);
}

TEST_F(MulticastMeshTest, BridgedBatchesAreMulticastWithinTheHopLimit) {
  MulticastMesh::Options options;
  options.bridge_hop_limit = 2;
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_, options);
  a.hub.Ingest(Signed(RoomBatch(1, 20)),
               IngestOrigin{BatchOrigin::kBridge, "far:7430", 2});
  a.hub.Ingest(Signed(RoomBatch(2, 20)),
               IngestOrigin{BatchOrigin::kBridge, "far:7430", 3});
  a.mesh.FlushQueue();
  EXPECT_EQ(a.metrics.multicast_sent_live().Value(), 1);
  Relay b(&lan_, "10.0.0.2", &clock_, &accept_all_);
  a.mesh.FlushQueue();
  a.hub.Ingest(Signed(RoomBatch(3, 20)),
               IngestOrigin{BatchOrigin::kBridge, "far:7430", 1});
  a.mesh.FlushQueue();
  b.Pump();
  auto batches = b.hub.state().SnapshotBatches({});
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0]->hops, 2u);  // the bridge's hop count travels on
}

TEST_F(MulticastMeshTest, ForgedAndTamperedBatchesAreRefusedBySignature) {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  absl::StatusOr<Ed25519PrivateKey> rogue = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok() && rogue.ok());
  auto store = signing_test::TrustOnly(*key, "h1", {"h1"}, {"h1"});
  ASSERT_TRUE(store.ok()) << store.status();
  SignedBatchVerifier verifier(*std::move(store), FreshnessOptions(), &clock_);
  Relay b(&lan_, "10.0.0.2", &clock_, &verifier);
  MemoryLan::Member* attacker = lan_.Join("10.0.0.66");

  auto sign = [](const Ed25519PrivateKey& k, hwcast::v1::ReadingBatch batch) {
    return signing_test::SignBatch(batch, k);
  };
  auto datagram = [](const hwcast::v1::SignedBatch& s) {
    std::string out;
    EXPECT_TRUE(EncodeDatagram({DatagramType::kBatch, 0, 66},
                               s.SerializeAsString(), 1400, &out)
                    .ok());
    return out;
  };
  hwcast::v1::SignedBatch genuine = sign(*key, RoomBatch(1, 21));
  hwcast::v1::SignedBatch tampered = genuine;
  (*tampered.mutable_batch())[tampered.batch().size() - 1] ^= 1;
  hwcast::v1::SignedBatch rogue_signed = sign(*rogue, RoomBatch(2, 90));
  hwcast::v1::SignedBatch stolen_id = rogue_signed;
  stolen_id.set_key_id(key->public_key().key_id());
  const std::string attack[] = {datagram(tampered), datagram(rogue_signed),
                                datagram(stolen_id)};
  ASSERT_TRUE(attacker->Send(attack).ok());
  b.Pump();
  EXPECT_EQ(b.Rejected(RejectReason::kBadSignature), 2);
  EXPECT_EQ(b.Rejected(RejectReason::kUnknownKey), 1);
  EXPECT_EQ(b.hub.state().size(), 0u);

  const std::string good[] = {datagram(genuine)};
  ASSERT_TRUE(attacker->Send(good).ok());  // a genuine batch, whoever sends it
  b.Pump();
  EXPECT_EQ(b.hub.state().size(), 1u);
}

TEST_F(MulticastMeshTest, ThreadsCarryBatchesBetweenStartedMeshes) {
  MulticastMesh::Options options;
  options.reannounce_interval = absl::Hours(1);
  Relay a(&lan_, "10.0.0.1", &clock_, &accept_all_, options);
  Relay b(&lan_, "10.0.0.2", &clock_, &accept_all_, options);
  a.mesh.Start();
  b.mesh.Start();
  a.hub.Ingest(Signed(RoomBatch(1, 24)), "collector");
  for (int i = 0; i < 500 && b.hub.state().size() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(b.hub.state().size(), 1u);
  // Each asked the other to re-announce on start.
  EXPECT_GE(a.metrics.reannounce_requests_answered().Value() +
                b.metrics.reannounce_requests_answered().Value(),
            1);
  a.mesh.Stop();
  b.mesh.Stop();
}

TEST_F(MulticastMeshTest, ChecksRunOnThePoolAndCopiesBeingCheckedAreReplays) {
  GatedVerifier verifier(&accept_all_);
  MulticastMesh::Options options;
  options.reannounce_interval = absl::Hours(1);
  options.verify_threads = 2;
  Relay b(&lan_, "10.0.0.2", &clock_, &verifier, options);
  absl::Cleanup release = [&] { verifier.Release(); };
  const std::string genuine = BatchDatagram(Signed(RoomBatch(1, 21)), 7);
  for (int i = 0; i < 50; ++i) {
    b.transport->Push({genuine, absl::StrCat("10.0.", i, ".1:7433"), false});
  }
  for (uint64_t seq = 2; seq <= 4; ++seq) {
    b.transport->Push(
        {BatchDatagram(Signed(RoomBatch(seq, 21)), 7), "10.0.0.1:7433", false});
  }
  b.mesh.Start();  // its re-announce request comes back too: 54 datagrams
  // Every datagram is taken off the socket while no check has finished: the
  // receiving thread does not wait for signatures.
  EXPECT_TRUE(
      WaitFor([&] { return b.metrics.multicast_received().Value() >= 54; }));
  EXPECT_EQ(b.metrics.multicast_datagrams(DatagramResult::kAccepted).Value(),
            0);
  // The 49 copies of a payload being checked never reach the verifier.
  EXPECT_EQ(b.metrics.multicast_datagrams(DatagramResult::kReplayed).Value(),
            49);
  verifier.Release();
  EXPECT_TRUE(WaitFor([&] {
    return b.metrics.multicast_datagrams(DatagramResult::kAccepted).Value() ==
           4;
  }));
  b.mesh.Stop();
  EXPECT_EQ(verifier.checks, 4);
  EXPECT_EQ(DatagramResults(b.metrics), b.metrics.multicast_received().Value());
  EXPECT_EQ(b.hub.state().size(), 1u);
}

TEST_F(MulticastMeshTest, AFullVerificationQueueDropsAndCountsEveryDatagram) {
  GatedVerifier verifier(&accept_all_);
  MulticastMesh::Options options = Limits(1000, 1000);
  options.reannounce_interval = absl::Hours(1);
  options.verify_threads = 1;
  options.verify_queue_datagrams = 2;
  Relay b(&lan_, "10.0.0.2", &clock_, &verifier, options);
  absl::Cleanup release = [&] { verifier.Release(); };
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    b.transport->Push(
        {BatchDatagram(Signed(RoomBatch(seq, 21)), 7), "10.0.0.1:7433", false});
  }
  b.mesh.Start();
  EXPECT_TRUE(
      WaitFor([&] { return b.metrics.multicast_received().Value() >= 11; }));
  EXPECT_EQ(b.metrics.multicast_datagrams(DatagramResult::kQueueFull).Value(),
            8);
  // Dropped before the gate: only the two admitted ones were charged.
  EXPECT_EQ(b.metrics.multicast_checks(false).Value() +
                b.metrics.multicast_checks(true).Value(),
            2);
  verifier.Release();
  b.mesh.Stop();  // runs what is queued
  EXPECT_EQ(verifier.checks, 2);
  EXPECT_EQ(b.metrics.multicast_datagrams(DatagramResult::kAccepted).Value(),
            2);
  EXPECT_EQ(DatagramResults(b.metrics), b.metrics.multicast_received().Value());
  EXPECT_EQ(MulticastRejections(b.metrics),
            b.metrics.multicast_datagrams(DatagramResult::kRejected).Value());
}

}  // namespace
}  // namespace hwcast::relay
