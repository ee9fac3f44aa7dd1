#include "services/actuator/actions/json_line.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast::actuator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Parses `json` with protobuf's JSON parser (a real one).
google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct out;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return out;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class TempDir : public ::hwcast::testutil::ScratchDir {
 public:
  TempDir() : ScratchDir("hwcast_json_line_test") {}
  std::string File(const std::string& name) const { return Path(name); }
};

TEST(JsonStringTest, EscapesWhatJsonRequiresAndKeepsUtf8) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
  EXPECT_EQ(JsonString(std::string("nul\0bell\a", 9)),
            "\"nul\\u0000bell\\u0007\"");
  EXPECT_EQ(JsonString("31.5 °C"), "\"31.5 °C\"");
  // Invalid UTF-8 (a lone continuation byte, a truncated sequence, an
  // overlong encoding) becomes U+FFFD so that the line still parses.
  EXPECT_EQ(JsonString("a\x80z"), "\"a\xEF\xBF\xBDz\"");
  EXPECT_EQ(JsonString("a\xE2\x82"), "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");

  const std::string nasty = std::string("q\"\\\n\x01\xff\x80 °", 10);
  const auto parsed = Parse("{\"s\":" + JsonString(nasty) + "}");
  EXPECT_EQ(parsed.fields().at("s").string_value(),
            "q\"\\\n\x01\xEF\xBF\xBD\xEF\xBF\xBD \xC2\xB0");
}

TEST(JsonObjectTest, BuildsOneParseableObjectInOrder) {
  const std::string json =
      JsonObject()
          .AddString("action", "shutdown")
          .AddTime("time", absl::FromUnixMillis(1'700'000'000'250))
          .AddNumber("value", 31.5)
          .AddNumber("nan", std::nan(""))
          .AddInt("count", -3)
          .AddBool("enabled", true)
          .AddStrings("argv", {"systemctl", "power off;"})
          .AddRaw("inner", JsonObject().AddInt("x", 1).Build())
          .Build();
  EXPECT_EQ(json,
            "{\"action\":\"shutdown\",\"time\":\"2023-11-14T22:13:20.250Z\","
            "\"value\":31.5,\"nan\":null,\"count\":-3,\"enabled\":true,"
            "\"argv\":[\"systemctl\",\"power off;\"],\"inner\":{\"x\":1}}");
  const auto parsed = Parse(json);
  EXPECT_EQ(parsed.fields().at("argv").list_value().values(1).string_value(),
            "power off;");
  EXPECT_EQ(JsonObject().Build(), "{}");
}

TEST(JsonLinesFileTest, AppendsWholeLinesToAnExistingOrNewFile) {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  { std::ofstream(path) << "{\"old\":1}\n"; }
  auto file = JsonLinesFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->Append("{\"a\":1}").ok());
  EXPECT_TRUE((*file)->Append("{\"b\":2}").ok());
  EXPECT_THAT(ReadLines(path),
              ElementsAre("{\"old\":1}", "{\"a\":1}", "{\"b\":2}"));

  const std::string record = dir.File("record.jsonl");
  EXPECT_TRUE(AppendJsonLine(record, "{\"c\":3}").ok());
  EXPECT_TRUE(AppendJsonLine(record, "{\"d\":4}").ok());
  EXPECT_THAT(ReadLines(record), ElementsAre("{\"c\":3}", "{\"d\":4}"));
}

TEST(JsonLinesFileTest, OpenFailsNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/audit.jsonl");
  auto file = JsonLinesFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(path));
  EXPECT_FALSE(AppendJsonLine(path, "{}").ok());
  EXPECT_FALSE(JsonLinesFile::Open("").ok());
}

TEST(JsonLinesFileTest, ReopenAfterRotationWritesANewFile) {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  auto file = JsonLinesFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("{\"a\":1}").ok());
  // logrotate without copytruncate: rename, then tell the daemon.
  std::filesystem::rename(path, path + ".1");
  ASSERT_TRUE((*file)->Append("{\"b\":2}").ok());
  ASSERT_TRUE((*file)->Reopen().ok());
  ASSERT_TRUE((*file)->Append("{\"c\":3}").ok());
  EXPECT_THAT(ReadLines(path + ".1"), ElementsAre("{\"a\":1}", "{\"b\":2}"));
  EXPECT_THAT(ReadLines(path), ElementsAre("{\"c\":3}"));
}

TEST(JsonLinesFileTest, FailedReopenKeepsWritingTheOldFile) {
  TempDir dir;
  const std::string sub = dir.File("logs");
  std::filesystem::create_directory(sub);
  const std::string path = sub + "/audit.jsonl";
  auto file = JsonLinesFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::filesystem::rename(sub, sub + ".gone");
  const absl::Status reopened = (*file)->Reopen();
  EXPECT_FALSE(reopened.ok());
  EXPECT_THAT(reopened.message(), HasSubstr(path));
  ASSERT_TRUE((*file)->Append("{\"a\":1}").ok());
  EXPECT_THAT(ReadLines(sub + ".gone/audit.jsonl"), ElementsAre("{\"a\":1}"));
}

}  // namespace
}  // namespace hwcast::actuator
