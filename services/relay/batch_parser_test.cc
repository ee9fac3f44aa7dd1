#include "services/relay/batch_parser.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using test_util::Batch;
using test_util::Temperature;
using ::testing::HasSubstr;

TEST(BatchParserTest, ParsesAValidBatch) {
  std::string bytes;
  Batch("c", 3, 9, {Temperature("h", "t", 1, 20)}).SerializeToString(&bytes);
  auto batch = ParseBatch(bytes, 1 << 20);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->collector_id(), "c");
  EXPECT_EQ(batch->readings_size(), 1);
}

TEST(BatchParserTest, RejectsEmptyOversizeGarbageAndInvalid) {
  EXPECT_THAT(ParseBatch("", 100).status().message(), HasSubstr("empty"));

  std::string big;
  Batch("c", 3, 9, {Temperature("h", "t", 1, 20)}).SerializeToString(&big);
  auto oversize = ParseBatch(big, 10);
  EXPECT_EQ(oversize.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(oversize.status().message(), HasSubstr("max_batch_bytes (10)"));

  auto garbage = ParseBatch("\xff\xff\xff\xff garbage", 1 << 20);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(),
              HasSubstr("not a serialized hwcast.v1.ReadingBatch"));

  hwcast::v1::Reading no_host = Temperature("", "t", 1, 20);
  std::string invalid;
  Batch("c", 3, 9, {no_host}).SerializeToString(&invalid);
  auto bad = ParseBatch(invalid, 1 << 20);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("host is empty"));
}

TEST(BatchParserTest, PeeksIdentityEvenWhenTheRestIsBroken) {
  std::string bytes;
  hwcast::v1::ReadingBatch header = Batch("coll", 42, 7, {});
  header.clear_sent_time();
  header.SerializeToString(&bytes);
  const std::string good = bytes;
  bytes += "\x2a\x7f";  // field 5, length 127, but nothing follows
  BatchIdentity id = PeekBatchIdentity(bytes);
  EXPECT_EQ(id.collector_id, "coll");
  EXPECT_EQ(id.epoch, 42u);
  EXPECT_EQ(id.batch_sequence, 7u);

  BatchIdentity none = PeekBatchIdentity("\xff\xff\xff");
  EXPECT_EQ(none.collector_id, "");
  EXPECT_EQ(none.epoch, 0u);

  // Fields after a skipped one are still found.
  std::string with_readings;
  Batch("x", 5, 6, {Temperature("h", "t", 1, 20)})
      .SerializeToString(&with_readings);
  BatchIdentity full = PeekBatchIdentity(with_readings);
  EXPECT_EQ(full.collector_id, "x");
  EXPECT_EQ(full.batch_sequence, 6u);
}

}  // namespace
}  // namespace hwcast::relay
