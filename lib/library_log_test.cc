#include "lib/library_log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast {
namespace {

using ::testing::HasSubstr;

TEST(LibraryLogTest, BurstThenRefillAndSaysHowManyWereSuppressed) {
  RouteLibraryLogs({/*burst=*/3, /*per_minute=*/60});
  double t = 1000;
  int written = 0;
  for (int i = 0; i < 10; ++i) {
    written += LibraryLogLine("grpc", "line", t).empty() ? 0 : 1;
  }
  EXPECT_EQ(written, 3);
  EXPECT_EQ(LibraryLogSuppressed("grpc"), 7u);
  // One line a second comes back; it carries the count of dropped ones.
  EXPECT_EQ(LibraryLogLine("grpc", "again", t + 0.5), "");
  EXPECT_EQ(LibraryLogLine("grpc", "again", t + 1.1),
            "again (8 more grpc lines suppressed before this one)");
  EXPECT_EQ(LibraryLogLine("grpc", "plain", t + 2.2), "plain");
}

TEST(LibraryLogTest, ProtobufParseErrorsGoThroughTheLimiter) {
  RouteLibraryLogs({/*burst=*/2, /*per_minute=*/0});
  // collector_id (field 1, a proto3 string) holding invalid UTF-8: protobuf
  // logs an ERROR line for every parse.
  const std::string bad("\x0a\x02\xff\xfe", 4);
  const uint64_t before = LibraryLogSuppressed("protobuf");
  testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) {
    hwcast::v1::ReadingBatch batch;
    batch.ParseFromString(bad);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  int lines = 0;
  for (size_t at = err.find("protobuf: "); at != std::string::npos;
       at = err.find("protobuf: ", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2) << err;
  EXPECT_THAT(err, HasSubstr("UTF-8"));
  EXPECT_EQ(LibraryLogSuppressed("protobuf") - before, 48u);
}

}  // namespace
}  // namespace hwcast
