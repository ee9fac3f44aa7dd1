#include "services/relay/datagram.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/reject_reason.h"

namespace hwcast::relay {
namespace {

using ::testing::HasSubstr;

std::string Encode(const DatagramHeader& header, absl::string_view payload,
                   size_t max_bytes = kMaxDatagramBytes) {
  std::string out;
  absl::Status status = EncodeDatagram(header, payload, max_bytes, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

DatagramHeader BatchHeader() {
  DatagramHeader header;
  header.type = DatagramType::kBatch;
  header.hops = 3;
  header.sender_id = 0x0102030405060708u;
  return header;
}

void ExpectMalformed(absl::string_view bytes, absl::string_view what) {
  auto parsed = ParseDatagram(bytes);
  ASSERT_FALSE(parsed.ok()) << "accepted: " << what;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReasonOf(parsed.status()), RejectReason::kMalformed)
      << parsed.status();
  EXPECT_THAT(parsed.status().message(), HasSubstr(what));
}

TEST(DatagramTest, EncodesTheDocumentedLayout) {
  const std::string bytes = Encode(BatchHeader(), "xyz");
  const std::string expected(
      "HWCM"
      "\x01\x01\x03\x00"
      "\x01\x02\x03\x04\x05\x06\x07\x08"
      "\x00\x03"
      "xyz",
      21);
  EXPECT_EQ(bytes, expected);
}

TEST(DatagramTest, RoundTripsBatchAndReannounce) {
  const std::string payload(300, '\xab');
  const std::string bytes = Encode(BatchHeader(), payload);
  ASSERT_EQ(bytes.size(), kDatagramHeaderBytes + payload.size());
  auto parsed = ParseDatagram(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->header.type, DatagramType::kBatch);
  EXPECT_EQ(parsed->header.hops, 3);
  EXPECT_EQ(parsed->header.sender_id, 0x0102030405060708u);
  EXPECT_EQ(parsed->payload, payload);
  // The payload points into the parsed bytes.
  EXPECT_EQ(parsed->payload.data(), bytes.data() + kDatagramHeaderBytes);

  DatagramHeader request;
  request.type = DatagramType::kReannounceRequest;
  request.hops = 255;
  request.sender_id = ~uint64_t{0};
  auto parsed_request = ParseDatagram(Encode(request, ""));
  ASSERT_TRUE(parsed_request.ok()) << parsed_request.status();
  EXPECT_EQ(parsed_request->header.type, DatagramType::kReannounceRequest);
  EXPECT_EQ(parsed_request->header.hops, 255);
  EXPECT_EQ(parsed_request->header.sender_id, ~uint64_t{0});
  EXPECT_TRUE(parsed_request->payload.empty());
}

TEST(DatagramTest, EncodeReplacesOutput) {
  std::string out = "old contents";
  ASSERT_TRUE(EncodeDatagram(BatchHeader(), "p", 100, &out).ok());
  EXPECT_EQ(out.size(), kDatagramHeaderBytes + 1);
  EXPECT_EQ(out.substr(0, 4), "HWCM");
}

TEST(DatagramTest, EncodeRefusesWhatDoesNotFit) {
  std::string out;
  // Exactly max_bytes fits.
  EXPECT_TRUE(
      EncodeDatagram(BatchHeader(), std::string(82, 'x'), 100, &out).ok());
  absl::Status status =
      EncodeDatagram(BatchHeader(), std::string(83, 'x'), 100, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReasonOf(status), RejectReason::kTooLarge);
  EXPECT_THAT(status.message(), HasSubstr("101 bytes"));
  // The 16-bit length field bounds the payload whatever max_bytes says.
  status =
      EncodeDatagram(BatchHeader(), std::string(65536, 'x'), 1 << 20, &out);
  EXPECT_EQ(RejectReasonOf(status), RejectReason::kTooLarge) << status;
}

TEST(DatagramTest, RefusesOversizedBeforeLookingInside) {
  const std::string bytes = Encode(BatchHeader(), std::string(100, 'x'));
  auto parsed = ParseDatagram(bytes, bytes.size() - 1);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReasonOf(parsed.status()), RejectReason::kTooLarge);
  EXPECT_THAT(parsed.status().message(), HasSubstr("118 bytes"));
  EXPECT_TRUE(ParseDatagram(bytes, bytes.size()).ok());

  // Garbage over the limit is too large, not malformed.
  auto garbage = ParseDatagram(std::string(kMaxDatagramBytes + 1, '\0'));
  EXPECT_EQ(RejectReasonOf(garbage.status()), RejectReason::kTooLarge);
}

TEST(DatagramTest, RefusesEveryTruncation) {
  const std::string request =
      Encode({DatagramType::kReannounceRequest, 0, 9}, "");
  ASSERT_EQ(request.size(), kDatagramHeaderBytes);
  for (size_t length = 0; length < kDatagramHeaderBytes; ++length) {
    SCOPED_TRACE(length);
    ExpectMalformed(request.substr(0, length),
                    "shorter than the 18-byte header");
  }
  // A batch cut anywhere in its payload disagrees with its length field.
  const std::string batch = Encode(BatchHeader(), "0123456789");
  for (size_t length = kDatagramHeaderBytes; length < batch.size(); ++length) {
    SCOPED_TRACE(length);
    ExpectMalformed(batch.substr(0, length), "payload length field says 10");
  }
}

TEST(DatagramTest, RefusesBadHeaderFields) {
  const std::string good = Encode(BatchHeader(), "payload");
  ASSERT_TRUE(ParseDatagram(good).ok());
  auto with = [&](size_t at, char value) {
    std::string bytes = good;
    bytes[at] = value;
    return bytes;
  };
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    ExpectMalformed(with(i, 'x'), "bad magic");
  }
  ExpectMalformed(with(4, 0), "unsupported version 0");
  ExpectMalformed(with(4, 2), "unsupported version 2");
  ExpectMalformed(with(5, 0), "unknown type 0");
  ExpectMalformed(with(5, 3), "unknown type 3");
  ExpectMalformed(with(5, '\xff'), "unknown type 255");
  ExpectMalformed(with(7, 1), "reserved flags set (1)");
  ExpectMalformed(with(7, '\x80'), "reserved flags set (128)");
  // Length field larger and smaller than what follows, in both bytes.
  ExpectMalformed(with(16, 1), "payload length field says 263 bytes but 7");
  ExpectMalformed(with(17, 8), "says 8 bytes but 7 follow");
  ExpectMalformed(with(17, 6), "says 6 bytes but 7 follow");
  ExpectMalformed(good + "x", "says 7 bytes but 8 follow");

  // Any hops value and sender id are fine.
  auto hops = ParseDatagram(with(6, '\xff'));
  ASSERT_TRUE(hops.ok()) << hops.status();
  EXPECT_EQ(hops->header.hops, 255);
}

TEST(DatagramTest, RefusesPayloadMismatchForType) {
  ExpectMalformed(Encode({DatagramType::kBatch, 0, 1}, ""),
                  "BATCH datagram without a payload");
  ExpectMalformed(Encode({DatagramType::kReannounceRequest, 0, 1}, "x"),
                  "REANNOUNCE_REQUEST datagram with a 1-byte payload");
}

}  // namespace
}  // namespace hwcast::relay
