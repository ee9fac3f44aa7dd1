#include "services/collector/sources/source_kind.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::SourceConfig;
using ::testing::HasSubstr;

// Every field of SourceConfig's `kind` oneof is a registered kind of the
// same name, so that a kind added to the proto but not to the table fails
// here, not at run time.
TEST(SourceKindTest, EveryConfigKindIsRegisteredOnce) {
  const google::protobuf::OneofDescriptor* oneof =
      SourceConfig::descriptor()->FindOneofByName("kind");
  ASSERT_NE(oneof, nullptr);
  std::set<std::string> names;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = oneof->field(i);
    const SourceKind* kind =
        FindSourceKind(static_cast<SourceConfig::KindCase>(field->number()));
    ASSERT_NE(kind, nullptr) << field->name() << " has no SourceKind";
    EXPECT_EQ(kind->name, field->name());
    EXPECT_NE(kind->make, nullptr) << field->name();
    names.insert(kind->name);
  }
  EXPECT_EQ(names.size(), SourceKinds().size());
  EXPECT_EQ(FindSourceKind(SourceConfig::KIND_NOT_SET), nullptr);
}

TEST(SourceKindTest, NamesAndEntropyKinds) {
  EXPECT_THAT(SourceKindNames(), HasSubstr("'hwmon', 'file', "));
  EXPECT_THAT(SourceKindNames(), HasSubstr("'temperx232'"));
  EXPECT_THAT(SourceKindNames(), HasSubstr(" or 'chaoskey'"));
  for (const SourceKind* kind : SourceKinds()) {
    EXPECT_EQ(kind->entropy, std::string(kind->name) == "hwrng" ||
                                 std::string(kind->name) == "chaoskey")
        << kind->name;
  }
}

TEST(SourceKindTest, SharedChecks) {
  EXPECT_TRUE(CheckUsbPortPath("p", "1-1.4").ok());
  EXPECT_THAT(std::string(CheckUsbPortPath("p", "1-0").message()),
              HasSubstr("p: '1-0' is not a USB bus-port path"));
  EXPECT_TRUE(CheckAbsolutePath("k", "", /*required=*/false).ok());
  EXPECT_THAT(std::string(CheckAbsolutePath("k", "", true).message()),
              HasSubstr("k: required"));
  EXPECT_THAT(std::string(CheckAbsolutePath("k", "a/b", false).message()),
              HasSubstr("must be an absolute path, got 'a/b'"));
  EXPECT_THAT(std::string(CheckName("k", "a b").message()),
              HasSubstr("must not contain whitespace"));
  SourceConfig source;
  EXPECT_EQ(PollTimeout(source), absl::Seconds(5));
  source.mutable_timeout()->set_seconds(10);
  EXPECT_EQ(OwnTimeout(source), absl::Seconds(8));
}

}  // namespace
}  // namespace hwcast::collector
