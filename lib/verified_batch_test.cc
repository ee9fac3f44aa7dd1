#include "lib/verified_batch.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/reject_reason.h"
#include "lib/testing/readings.h"

namespace hwcast {
namespace {

using ::hwcast::testutil::Batch;
using ::hwcast::testutil::Temperature;
using ::hwcast::testutil::Unsigned;
using ::testing::HasSubstr;

// Refuses batches from one collector id, as unauthorized; counts calls.
class RefusingVerifier : public BatchVerifier {
 public:
  explicit RefusingVerifier(std::string refused) : refused_(refused) {}
  absl::Status Verify(const hwcast::v1::SignedBatch&,
                      const hwcast::v1::ReadingBatch& batch) override {
    ++calls;
    if (batch.collector_id() != refused_) return absl::OkStatus();
    return Rejection(absl::StatusCode::kPermissionDenied,
                     RejectReason::kUnauthorized, "not this one");
  }
  int calls = 0;

 private:
  std::string refused_;
};

TEST(VerifiedBatchTest, AcceptsAValidVerifiedBatch) {
  RefusingVerifier verifier("other");
  const VerifiedBatch v =
      ParseAndVerify(Unsigned(Batch("c", 3, 9, {Temperature("h", "t", 1, 20)})),
                     1 << 20, &verifier);
  ASSERT_TRUE(v.ok()) << v.status;
  EXPECT_TRUE(v.parsed);
  EXPECT_FALSE(v.refused_by_verifier());
  EXPECT_EQ(v.batch.collector_id(), "c");
  EXPECT_EQ(v.batch.readings_size(), 1);
  EXPECT_EQ(verifier.calls, 1);
}

TEST(VerifiedBatchTest, ParseFailuresNeverReachTheVerifier) {
  RefusingVerifier verifier("other");
  hwcast::v1::SignedBatch empty;
  VerifiedBatch v = ParseAndVerify(empty, 100, &verifier);
  EXPECT_THAT(v.status.message(), HasSubstr("SignedBatch.batch is empty"));
  EXPECT_EQ(RejectReasonOf(v.status), RejectReason::kMalformed);

  const hwcast::v1::SignedBatch good =
      Unsigned(Batch("c", 3, 9, {Temperature("h", "t", 1, 20)}));
  v = ParseAndVerify(good, 10, &verifier);
  EXPECT_EQ(v.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v.status.message(), HasSubstr("more than max_batch_bytes (10)"));
  EXPECT_EQ(RejectReasonOf(v.status), RejectReason::kTooLarge);

  hwcast::v1::SignedBatch garbage;
  garbage.set_batch("\xff\xff\xff\xff garbage");
  v = ParseAndVerify(garbage, kNoBatchSizeLimit, &verifier);
  EXPECT_THAT(v.status.message(), HasSubstr("(12 bytes) is not a serialized "
                                            "hwcast.v1.ReadingBatch"));
  EXPECT_EQ(RejectReasonOf(v.status), RejectReason::kMalformed);

  v = ParseAndVerify(Unsigned(Batch("c", 3, 9, {Temperature("", "t", 1, 20)})),
                     kNoBatchSizeLimit, &verifier);
  EXPECT_THAT(v.status.message(), HasSubstr("host is empty"));
  EXPECT_EQ(RejectReasonOf(v.status), RejectReason::kMalformed);
  EXPECT_FALSE(v.parsed);
  EXPECT_FALSE(v.refused_by_verifier());
  EXPECT_EQ(verifier.calls, 0);
}

TEST(VerifiedBatchTest, AVerifierRefusalKeepsTheParsedBatchAndItsReason) {
  RefusingVerifier verifier("c");
  const VerifiedBatch v =
      ParseAndVerify(Unsigned(Batch("c", 3, 9, {Temperature("h", "t", 1, 20)})),
                     kNoBatchSizeLimit, &verifier);
  EXPECT_FALSE(v.ok());
  EXPECT_TRUE(v.refused_by_verifier());
  EXPECT_EQ(v.batch.collector_id(), "c");
  EXPECT_EQ(v.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RejectReasonOf(v.status), RejectReason::kUnauthorized);
  EXPECT_EQ(v.status.message(), "not this one");
}

}  // namespace
}  // namespace hwcast
