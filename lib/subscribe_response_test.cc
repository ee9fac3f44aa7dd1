#include "lib/subscribe_response.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hwcast {
namespace {

using ::hwcast::v1::SubscribeResponse;
using ::testing::HasSubstr;

SubscribeResponse OneBatch(const std::string& bytes, bool snapshot = false,
                           uint32_t hops = 0) {
  SubscribeResponse response;
  response.mutable_batch()->set_batch(bytes);
  response.set_snapshot(snapshot);
  response.set_hops(hops);
  return response;
}

TEST(SubscribeResponseBatchesTest, OneBatchMessageIsItself) {
  const SubscribeResponse response = OneBatch("a", /*snapshot=*/true, 2);
  auto batches = SubscribeResponseBatches(response);
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_EQ(batches->size(), 1u);
  EXPECT_EQ((*batches)[0], &response);
}

TEST(SubscribeResponseBatchesTest, GroupGivesItsElementsInOrder) {
  SubscribeResponse group;
  *group.add_grouped() = OneBatch("a", /*snapshot=*/true);
  *group.add_grouped() = OneBatch("b", false, 1);
  *group.add_grouped() = OneBatch("c");
  // The wire form a relay builds: each element's own encoding behind the
  // field's tag and length, concatenated.
  SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(group.SerializeAsString()));
  auto batches = SubscribeResponseBatches(parsed);
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_EQ(batches->size(), 3u);
  EXPECT_EQ((*batches)[0]->batch().batch(), "a");
  EXPECT_TRUE((*batches)[0]->snapshot());
  EXPECT_EQ((*batches)[1]->batch().batch(), "b");
  EXPECT_EQ((*batches)[1]->hops(), 1u);
  EXPECT_EQ((*batches)[2]->batch().batch(), "c");
  EXPECT_FALSE((*batches)[2]->snapshot());
}

TEST(SubscribeResponseBatchesTest, ElementWithoutBatchIsNamed) {
  SubscribeResponse group;
  *group.add_grouped() = OneBatch("a");
  group.add_grouped()->set_hops(1);
  auto batches = SubscribeResponseBatches(group);
  ASSERT_EQ(batches.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(batches.status().message(),
              HasSubstr("SubscribeResponse.grouped[1] (of 2): it carries no "
                        "batch"));
}

TEST(SubscribeResponseBatchesTest, NestedGroupIsRejected) {
  SubscribeResponse group;
  *group.add_grouped()->add_grouped() = OneBatch("a");
  auto batches = SubscribeResponseBatches(group);
  ASSERT_EQ(batches.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(batches.status().message(),
              HasSubstr("grouped[0] (of 1): it is a group of 1 itself"));
}

TEST(SubscribeResponseBatchesTest, GroupThatAlsoCarriesABatchIsRejected) {
  SubscribeResponse group = OneBatch("x");
  *group.add_grouped() = OneBatch("a");
  auto batches = SubscribeResponseBatches(group);
  ASSERT_EQ(batches.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(batches.status().message(),
              HasSubstr("a group of 1 batches that also sets batch"));
}

}  // namespace
}  // namespace hwcast
