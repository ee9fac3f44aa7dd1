#include "lib/config_loader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast {
namespace {

using ::hwcast::v1::ActuatorConfig;
using ::hwcast::v1::CollectorConfig;
using ::hwcast::v1::RelayConfig;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses `text` as "cfg.yaml"; a single leading newline is dropped so that
// raw string literals can start on their own line and line 1 is the first
// line of YAML.
absl::Status Parse(std::string_view text, google::protobuf::Message* message) {
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  return ParseYamlConfig(text, "cfg.yaml", message);
}

// The error text of a status that must be INVALID_ARGUMENT.
std::string ErrorOf(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

template <typename M>
M FromText(const std::string& text) {
  M message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

void ExpectProtoEq(const google::protobuf::Message& actual,
                   const google::protobuf::Message& expected) {
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(actual, expected))
      << "actual:\n"
      << actual.DebugString() << "expected:\n"
      << expected.DebugString();
}

// --- A realistic document --------------------------------------------------

TEST(ConfigLoaderTest, FullCollectorConfig) {
  CollectorConfig config;
  ASSERT_TRUE(Parse(R"yaml(
# Collector in rack 1.
collector_id: rack1-collector
host: rack1
server:
  listen: ["127.0.0.1:7432", "unix:/run/hwcast/collector.sock"]
  metrics_listen: 127.0.0.1:9432
relays:
  - 10.0.0.2:7430
  - relay.example.net:7430
sources:
  - id: cpu
    interval: 10s
    timeout: 2s
    hwmon:
  - id: room-humidity
    interval: 1m30s
    timeout: 250ms
    file:
      path: /run/sensors/room_rh
      kind: humidity
      scale: 0.1
      offset: -1.5
      label: "Room RH"
  - hwmon:
      root: /tmp/fake-hwmon
batch_max_readings: 128
batch_max_delay: 200ms
buffer_batches: 10000
reconnect:
  initial: 200ms
  max: 2h
  multiplier: 2
  jitter: 0.2
)yaml",
                    &config)
                  .ok());
  ExpectProtoEq(config, FromText<CollectorConfig>(R"pb(
                  collector_id: "rack1-collector"
                  host: "rack1"
                  server {
                    listen: "127.0.0.1:7432"
                    listen: "unix:/run/hwcast/collector.sock"
                    metrics_listen: "127.0.0.1:9432"
                  }
                  relays: "10.0.0.2:7430"
                  relays: "relay.example.net:7430"
                  sources {
                    id: "cpu"
                    interval { seconds: 10 }
                    timeout { seconds: 2 }
                    hwmon {}
                  }
                  sources {
                    id: "room-humidity"
                    interval { seconds: 90 }
                    timeout { nanos: 250000000 }
                    file {
                      path: "/run/sensors/room_rh"
                      kind: READING_KIND_HUMIDITY
                      scale: 0.1
                      offset: -1.5
                      label: "Room RH"
                    }
                  }
                  sources { hwmon { root: "/tmp/fake-hwmon" } }
                  batch_max_readings: 128
                  batch_max_delay { nanos: 200000000 }
                  buffer_batches: 10000
                  reconnect {
                    initial { nanos: 200000000 }
                    max { seconds: 7200 }
                    multiplier: 2
                    jitter: 0.2
                  }
                )pb"));
  // The differencer compares presence too, but say it outright.
  EXPECT_TRUE(config.sources(0).has_hwmon());
  EXPECT_EQ(config.sources(0).kind_case(), v1::SourceConfig::kHwmon);
  EXPECT_EQ(config.sources(1).kind_case(), v1::SourceConfig::kFile);
}

TEST(ConfigLoaderTest, ActuatorConfigWithRepeatedEnums) {
  ActuatorConfig config;
  ASSERT_TRUE(Parse(R"yaml(
host: node7
relays: [relay-a:7430]
filter:
  kinds: [temperature, HUMIDITY, reading_kind_power, Reachability]
  hosts: [rack1]
stale_after: 1m
)yaml",
                    &config)
                  .ok());
  ExpectProtoEq(config, FromText<ActuatorConfig>(R"pb(
                  host: "node7"
                  relays: "relay-a:7430"
                  filter {
                    kinds: READING_KIND_TEMPERATURE
                    kinds: READING_KIND_HUMIDITY
                    kinds: READING_KIND_POWER
                    kinds: READING_KIND_REACHABILITY
                    hosts: "rack1"
                  }
                  stale_after { seconds: 60 }
                )pb"));
}

// --- Empty and malformed documents -----------------------------------------

TEST(ConfigLoaderTest, EmptyDocumentsLeaveMessageEmptyAndClearIt) {
  for (std::string_view text : {"", "\n\n", "# only a comment\n# and another\n",
                                "---\n", "~\n", "---\n...\n"}) {
    CollectorConfig config;
    config.set_host("stale");
    EXPECT_TRUE(Parse(text, &config).ok()) << "'" << text << "'";
    EXPECT_EQ(config.ByteSizeLong(), 0u) << "'" << text << "'";
  }
}

TEST(ConfigLoaderTest, SecondParseStartsFromScratch) {
  CollectorConfig config;
  ASSERT_TRUE(Parse("host: a\nrelays: [x]\n", &config).ok());
  ASSERT_TRUE(Parse("relays: [y]\n", &config).ok());
  EXPECT_EQ(config.host(), "");
  ASSERT_EQ(config.relays_size(), 1);
  EXPECT_EQ(config.relays(0), "y");
}

TEST(ConfigLoaderTest, MessageIsEmptyAfterAnError) {
  CollectorConfig config;
  EXPECT_FALSE(Parse("host: a\nbogus: 1\n", &config).ok());
  EXPECT_EQ(config.ByteSizeLong(), 0u);
}

TEST(ConfigLoaderTest, TopLevelScalarIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("just words\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:1:1: "));
  EXPECT_THAT(error, HasSubstr("must be a mapping"));
  EXPECT_THAT(error, HasSubstr("'just words'"));
}

TEST(ConfigLoaderTest, TopLevelSequenceIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("- host: a\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:1:1: "));
  EXPECT_THAT(error, HasSubstr("must be a mapping"));
  EXPECT_THAT(error, HasSubstr("got a sequence"));
}

TEST(ConfigLoaderTest, SyntaxErrorHasLocation) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
host: a
relays: [a, b
buffer_batches: 3
)yaml",
                                          &config));
  EXPECT_THAT(error, testing::MatchesRegex(
                         "cfg\\.yaml:[0-9]+:[0-9]+: YAML syntax error: .+"));
}

TEST(ConfigLoaderTest, SyntaxErrorLineAndColumnAreOneBased) {
  CollectorConfig config;
  // yaml-cpp reports "illegal map value" at the second ':'.
  const std::string error = ErrorOf(Parse("host: a\nserver: b: c\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:2:10: YAML syntax error: "));
}

TEST(ConfigLoaderTest, MoreThanOneDocumentIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("host: a\n---\nhost: b\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:2:1: only one YAML document is allowed, found another "
            "after '---'");
}

TEST(ConfigLoaderTest, StrayTopLevelCommaIsASyntaxError) {
  // yaml-cpp 0.7's LoadAll loops forever on these (jbeder/yaml-cpp#1040).
  CollectorConfig config;
  EXPECT_EQ(ErrorOf(Parse(",", &config)),
            "cfg.yaml:1:1: YAML syntax error: unexpected ','");
  EXPECT_EQ(ErrorOf(Parse("# comment\n  , host: a\n", &config)),
            "cfg.yaml:2:3: YAML syntax error: unexpected ','");
}

// --- Keys --------------------------------------------------------------------

TEST(ConfigLoaderTest, UnknownNestedKeyNamesPathAndKnownKeys) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
sources:
  - hwmon:
  - id: x
    fiel: /tmp/t
)yaml",
                                          &config));
  EXPECT_EQ(error,
            "cfg.yaml:4:5: key 'sources[1].fiel': unknown key; known keys: "
            "id, interval, timeout, hwmon, file, power_node, nut, exec, "
            "usb_temper, chaoskey, hwrng, temperature_alert, disks, "
            "temperx232");
}

TEST(ConfigLoaderTest, UnknownTopLevelKey) {
  RelayConfig config;
  const std::string error =
      ErrorOf(Parse("server: {}\nrelays: [a]\n", &config));
  EXPECT_EQ(
      error,
      "cfg.yaml:2:1: key 'relays': unknown key; known keys: server, "
      "subscriber_queue_batches, subscriber_stall_timeout, max_batch_bytes, "
      "trust_file, "
      "insecure_accept_unsigned, freshness, multicast, bridge, entropy");
}

TEST(ConfigLoaderTest, KeysAreCaseSensitiveFieldNames) {
  CollectorConfig config;
  EXPECT_THAT(ErrorOf(Parse("Host: a\n", &config)),
              HasSubstr("key 'Host': unknown key"));
  EXPECT_THAT(ErrorOf(Parse("collectorId: a\n", &config)),
              HasSubstr("key 'collectorId': unknown key"));
}

TEST(ConfigLoaderTest, DuplicateKeyIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
host: a
relays: [x]
host: b
)yaml",
                                          &config));
  EXPECT_EQ(error,
            "cfg.yaml:3:1: key 'host': duplicate key (first given at line 1)");
}

TEST(ConfigLoaderTest, DuplicateNestedKeyInFlowMapping) {
  CollectorConfig config;
  const std::string error =
      ErrorOf(Parse("reconnect: {initial: 1s, initial: 2s}\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:1:26: key 'reconnect.initial': "
                                "duplicate key"));
}

TEST(ConfigLoaderTest, NonScalarKeyIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("? [a, b]\n: c\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:1:3: "));
  EXPECT_THAT(error, HasSubstr("keys must be plain names, got a sequence"));
}

// --- Null values -------------------------------------------------------------

TEST(ConfigLoaderTest, NullMessageSelectsOneofMemberWithDefaults) {
  CollectorConfig config;
  ASSERT_TRUE(Parse(R"yaml(
server:
sources:
  - hwmon:
  - file: ~
)yaml",
                    &config)
                  .ok());
  EXPECT_TRUE(config.has_server());
  EXPECT_FALSE(config.has_reconnect());
  ASSERT_EQ(config.sources_size(), 2);
  EXPECT_EQ(config.sources(0).kind_case(), v1::SourceConfig::kHwmon);
  EXPECT_EQ(config.sources(0).hwmon().root(), "");
  EXPECT_EQ(config.sources(1).kind_case(), v1::SourceConfig::kFile);
}

TEST(ConfigLoaderTest, NullSequenceElementIsAnEmptyMessage) {
  CollectorConfig config;
  ASSERT_TRUE(Parse("sources:\n  -\n  - id: b\n", &config).ok());
  ASSERT_EQ(config.sources_size(), 2);
  EXPECT_EQ(config.sources(0).ByteSizeLong(), 0u);
  EXPECT_EQ(config.sources(1).id(), "b");
}

TEST(ConfigLoaderTest, NullScalarIsAnErrorAtTheKey) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
host:

# comment
buffer_batches: 3
)yaml",
                                          &config));
  EXPECT_EQ(error,
            "cfg.yaml:1:1: key 'host': missing value; expected a string");
}

TEST(ConfigLoaderTest, NullDurationIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("batch_max_delay: null\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:1:1: key 'batch_max_delay': "
                                "missing value; expected a duration"));
}

TEST(ConfigLoaderTest, NullRepeatedFieldIsEmpty) {
  CollectorConfig config;
  ASSERT_TRUE(Parse("relays:\n#  - commented out\nhost: h\n", &config).ok());
  EXPECT_EQ(config.relays_size(), 0);
  EXPECT_EQ(config.host(), "h");
}

TEST(ConfigLoaderTest, NullElementOfScalarListIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("relays: [a, ~]\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:1:13: key 'relays[1]': missing value; expected a string");
}

TEST(ConfigLoaderTest, QuotedNullIsAString) {
  CollectorConfig config;
  ASSERT_TRUE(Parse("host: 'null'\n", &config).ok());
  EXPECT_EQ(config.host(), "null");
}

// --- Oneof -------------------------------------------------------------------

TEST(ConfigLoaderTest, TwoOneofMembersAreAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
sources:
  - id: a
    hwmon:
    file:
      path: /x
)yaml",
                                          &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:4:5: key 'sources[0].file': "));
  EXPECT_THAT(error, HasSubstr("'hwmon' and 'file' cannot both be given"));
}

// --- Wrong types
// ---------------------------------------------------------------

TEST(ConfigLoaderTest, MappingWhereScalarExpected) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("host: {name: a}\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:1:7: key 'host': expected a string, got a mapping");
}

TEST(ConfigLoaderTest, ScalarWhereMappingExpected) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
sources:
  - id: a
    file: /tmp/x
)yaml",
                                          &config));
  EXPECT_EQ(error,
            "cfg.yaml:3:11: key 'sources[0].file': expected a mapping with "
            "keys: path, kind, scale, offset, label, got '/tmp/x'");
}

TEST(ConfigLoaderTest, ScalarWhereSequenceExpected) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("relays: 10.0.0.1:7430\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:1:9: key 'relays': expected a sequence (list) of a "
            "string, got '10.0.0.1:7430'");
}

TEST(ConfigLoaderTest, MappingWhereSequenceExpected) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("sources:\n  id: a\n", &config));
  EXPECT_THAT(error, StartsWith("cfg.yaml:2:3: key 'sources': expected a "
                                "sequence (list) of a mapping"));
  EXPECT_THAT(error, HasSubstr("got a mapping"));
}

TEST(ConfigLoaderTest, NestedSequenceInListIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("relays: [a, [b]]\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:1:13: key 'relays[1]': expected a string, got a "
            "sequence");
}

TEST(ConfigLoaderTest, ErrorInsideListOfMessagesNamesIndex) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
sources:
  - hwmon:
  - hwmon:
  - interval: often
    hwmon:
)yaml",
                                          &config));
  EXPECT_THAT(error,
              StartsWith("cfg.yaml:4:15: key 'sources[2].interval': expected "
                         "a duration"));
  EXPECT_THAT(error, HasSubstr("got 'often'"));
}

// --- Integers ----------------------------------------------------------------

TEST(ConfigLoaderTest, Uint32AcceptsItsRange) {
  CollectorConfig config;
  ASSERT_TRUE(
      Parse("buffer_batches: 4294967295\nbatch_max_readings: +0\n", &config)
          .ok());
  EXPECT_EQ(config.buffer_batches(), 4294967295u);
  EXPECT_EQ(config.batch_max_readings(), 0u);
}

TEST(ConfigLoaderTest, Uint32OutOfRangeIsNotTruncated) {
  CollectorConfig config;
  const std::string error =
      ErrorOf(Parse("host: a\nbuffer_batches: 4294967296\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:2:17: key 'buffer_batches': '4294967296' is out of "
            "range for uint32 (0 to 4294967295)");
}

TEST(ConfigLoaderTest, NegativeUnsignedIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse("buffer_batches: -1\n", &config));
  EXPECT_EQ(error,
            "cfg.yaml:1:17: key 'buffer_batches': expected a non-negative "
            "integer (uint32), got '-1'");
}

TEST(ConfigLoaderTest, NonIntegersAreErrors) {
  for (std::string_view value :
       {"abc", "1.5", "1e3", "0x10", "10k", "''", "1 000", "true"}) {
    CollectorConfig config;
    const std::string text = "buffer_batches: " + std::string(value) + "\n";
    const std::string error = ErrorOf(Parse(text, &config));
    EXPECT_THAT(error, StartsWith("cfg.yaml:1:17: key 'buffer_batches': "
                                  "expected a non-negative integer (uint32)"))
        << value;
  }
}

TEST(ConfigLoaderTest, Int32Range) {
  google::protobuf::Int32Value v;
  ASSERT_TRUE(Parse("value: -2147483648\n", &v).ok());
  EXPECT_EQ(v.value(), -2147483648);
  ASSERT_TRUE(Parse("value: 2147483647\n", &v).ok());
  EXPECT_EQ(v.value(), 2147483647);
  EXPECT_EQ(ErrorOf(Parse("value: 2147483648\n", &v)),
            "cfg.yaml:1:8: key 'value': '2147483648' is out of range for "
            "int32 (-2147483648 to 2147483647)");
  EXPECT_THAT(ErrorOf(Parse("value: -2147483649\n", &v)),
              HasSubstr("out of range for int32"));
  EXPECT_EQ(ErrorOf(Parse("value: twelve\n", &v)),
            "cfg.yaml:1:8: key 'value': expected an integer (int32), got "
            "'twelve'");
}

TEST(ConfigLoaderTest, Int64AndUint64Range) {
  google::protobuf::Int64Value i;
  ASSERT_TRUE(Parse("value: -9223372036854775808\n", &i).ok());
  EXPECT_EQ(i.value(), INT64_MIN);
  ASSERT_TRUE(Parse("value: 9223372036854775807\n", &i).ok());
  EXPECT_EQ(i.value(), INT64_MAX);
  EXPECT_THAT(ErrorOf(Parse("value: 9223372036854775808\n", &i)),
              HasSubstr("out of range for int64"));
  EXPECT_THAT(ErrorOf(Parse("value: -9223372036854775809\n", &i)),
              HasSubstr("out of range for int64"));

  google::protobuf::UInt64Value u;
  ASSERT_TRUE(Parse("value: 18446744073709551615\n", &u).ok());
  EXPECT_EQ(u.value(), UINT64_MAX);
  EXPECT_THAT(ErrorOf(Parse("value: 18446744073709551616\n", &u)),
              HasSubstr("out of range for uint64"));
  EXPECT_THAT(ErrorOf(Parse("value: 99999999999999999999999\n", &u)),
              HasSubstr("out of range for uint64"));
}

// --- Floating point
// ------------------------------------------------------------

TEST(ConfigLoaderTest, Doubles) {
  CollectorConfig config;
  ASSERT_TRUE(
      Parse("reconnect: {multiplier: 1.5e0, jitter: .25}\n", &config).ok());
  EXPECT_EQ(config.reconnect().multiplier(), 1.5);
  EXPECT_EQ(config.reconnect().jitter(), 0.25);
  ASSERT_TRUE(Parse("reconnect: {multiplier: -3}\n", &config).ok());
  EXPECT_EQ(config.reconnect().multiplier(), -3);
}

TEST(ConfigLoaderTest, BadDoublesAreErrors) {
  for (std::string_view value : {"abc", ".inf", "-.inf", ".nan", "inf", "nan",
                                 "1.5x", "0x1p3", "1e999", "1,5"}) {
    CollectorConfig config;
    const std::string text =
        "reconnect:\n  jitter: " + std::string(value) + "\n";
    const std::string error = ErrorOf(Parse(text, &config));
    EXPECT_THAT(error, StartsWith("cfg.yaml:2:11: key 'reconnect.jitter': "))
        << value;
  }
  CollectorConfig config;
  EXPECT_EQ(ErrorOf(Parse("reconnect: {jitter: lots}\n", &config)),
            "cfg.yaml:1:21: key 'reconnect.jitter': expected a number, got "
            "'lots'");
  EXPECT_THAT(ErrorOf(Parse("reconnect: {jitter: 1e999}\n", &config)),
              HasSubstr("out of range for double"));
}

TEST(ConfigLoaderTest, FloatRangeIsChecked) {
  google::protobuf::FloatValue v;
  ASSERT_TRUE(Parse("value: 0.5\n", &v).ok());
  EXPECT_EQ(v.value(), 0.5f);
  EXPECT_THAT(ErrorOf(Parse("value: 1e39\n", &v)),
              HasSubstr("out of range for float"));
  EXPECT_THAT(ErrorOf(Parse("value: -1e39\n", &v)),
              HasSubstr("out of range for float"));
}

// --- Booleans, strings, bytes
// --------------------------------------------------

TEST(ConfigLoaderTest, BoolAcceptsOnlyTrueAndFalse) {
  google::protobuf::BoolValue v;
  ASSERT_TRUE(Parse("value: true\n", &v).ok());
  EXPECT_TRUE(v.value());
  ASSERT_TRUE(Parse("value: false\n", &v).ok());
  EXPECT_FALSE(v.value());
  for (std::string_view value : {"yes", "no", "on", "off", "1", "0", "y"}) {
    EXPECT_EQ(ErrorOf(Parse("value: " + std::string(value) + "\n", &v)),
              "cfg.yaml:1:8: key 'value': expected true or false, got '" +
                  std::string(value) + "'")
        << value;
  }
}

TEST(ConfigLoaderTest, StringsTakeAnyScalarVerbatim) {
  CollectorConfig config;
  ASSERT_TRUE(
      Parse("host: 12\ncollector_id: true\nrelays: ['', \"a b\"]\n", &config)
          .ok());
  EXPECT_EQ(config.host(), "12");
  EXPECT_EQ(config.collector_id(), "true");
  ASSERT_EQ(config.relays_size(), 2);
  EXPECT_EQ(config.relays(0), "");
  EXPECT_EQ(config.relays(1), "a b");
}

TEST(ConfigLoaderTest, StringMustBeUtf8) {
  CollectorConfig config;
  ASSERT_TRUE(Parse("host: \"r\u00e4ck\"\n", &config).ok());
  EXPECT_EQ(config.host(), "r\u00e4ck");
  EXPECT_EQ(ErrorOf(Parse("host: a\xff\xfe"
                          "b\n",
                          &config)),
            "cfg.yaml:1:7: key 'host': string is not valid UTF-8");
}

TEST(ConfigLoaderTest, BytesTakeTheScalarText) {
  google::protobuf::BytesValue v;
  ASSERT_TRUE(Parse("value: raw bytes\n", &v).ok());
  EXPECT_EQ(v.value(), "raw bytes");
}

// --- Enums -------------------------------------------------------------------

TEST(ConfigLoaderTest, EnumNamesAnyCaseWithOrWithoutPrefix) {
  for (std::string_view name :
       {"temperature", "TEMPERATURE", "Temperature", "READING_KIND_TEMPERATURE",
        "reading_kind_temperature"}) {
    CollectorConfig config;
    ASSERT_TRUE(Parse("sources:\n  - file: {path: /x, kind: " +
                          std::string(name) + "}\n",
                      &config)
                    .ok())
        << name;
    EXPECT_EQ(config.sources(0).file().kind(), v1::READING_KIND_TEMPERATURE)
        << name;
  }
}

TEST(ConfigLoaderTest, UnknownEnumListsShortNames) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
sources:
  - file:
      kind: pressure
)yaml",
                                          &config));
  EXPECT_EQ(error,
            "cfg.yaml:3:13: key 'sources[0].file.kind': unknown value "
            "'pressure'; expected one of: unspecified, temperature, "
            "humidity, power, reachability, entropy, disk_inventory, fleet, "
            "fan, voltage, electric_power, current");
}

TEST(ConfigLoaderTest, EnumRejectsNumbersAndPrefixAlone) {
  CollectorConfig config;
  EXPECT_THAT(
      ErrorOf(Parse("sources: [{file: {kind: 1}}]\n", &config)),
      HasSubstr("key 'sources[0].file.kind': unknown value '1'; expected"));
  EXPECT_THAT(
      ErrorOf(Parse("sources: [{file: {kind: reading_kind_}}]\n", &config)),
      HasSubstr("unknown value 'reading_kind_'"));
  EXPECT_THAT(ErrorOf(Parse("sources: [{file: {kind: ''}}]\n", &config)),
              HasSubstr("unknown value ''"));
}

TEST(ConfigLoaderTest, UnknownEnumInRepeatedFieldNamesIndex) {
  ActuatorConfig config;
  const std::string error =
      ErrorOf(Parse("filter:\n  kinds: [temperature, wind]\n", &config));
  EXPECT_THAT(error,
              StartsWith("cfg.yaml:2:24: key 'filter.kinds[1]': unknown value "
                         "'wind'; expected one of: unspecified, temperature"));
}

// --- Durations
// -----------------------------------------------------------------

TEST(ConfigLoaderTest, DurationSpellings) {
  struct Case {
    std::string_view text;
    int64_t seconds;
    int32_t nanos;
  };
  for (const Case& c :
       {Case{"250ms", 0, 250000000}, Case{"10s", 10, 0}, Case{"1m30s", 90, 0},
        Case{"2h", 7200, 0}, Case{"1.5s", 1, 500000000}, Case{"0", 0, 0},
        Case{"100us", 0, 100000}, Case{"\"5s\"", 5, 0}}) {
    CollectorConfig config;
    ASSERT_TRUE(
        Parse("batch_max_delay: " + std::string(c.text) + "\n", &config).ok())
        << c.text;
    EXPECT_TRUE(config.has_batch_max_delay()) << c.text;
    EXPECT_EQ(config.batch_max_delay().seconds(), c.seconds) << c.text;
    EXPECT_EQ(config.batch_max_delay().nanos(), c.nanos) << c.text;
  }
}

TEST(ConfigLoaderTest, NegativeDurationIsAnError) {
  CollectorConfig config;
  const std::string error = ErrorOf(Parse(R"yaml(
sources:
  - hwmon:
    interval: -5s
)yaml",
                                          &config));
  EXPECT_EQ(error,
            "cfg.yaml:3:15: key 'sources[0].interval': duration '-5s' must "
            "not be negative");
}

TEST(ConfigLoaderTest, MalformedDurationsAreErrors) {
  for (std::string_view value :
       {"10", "ten seconds", "5 s", "1d", "inf", "s", "1e3s", "99999999999h"}) {
    CollectorConfig config;
    const std::string error = ErrorOf(
        Parse("batch_max_delay: " + std::string(value) + "\n", &config));
    EXPECT_THAT(error, StartsWith("cfg.yaml:1:18: key 'batch_max_delay': "))
        << value;
  }
  CollectorConfig config;
  EXPECT_EQ(ErrorOf(Parse("batch_max_delay: 10\n", &config)),
            "cfg.yaml:1:18: key 'batch_max_delay': expected a duration such "
            "as \"250ms\", \"10s\", \"1m30s\" or \"2h\", got '10'");
}

TEST(ConfigLoaderTest, DurationAsMappingIsAnError) {
  CollectorConfig config;
  EXPECT_THAT(ErrorOf(Parse("batch_max_delay: {seconds: 1}\n", &config)),
              HasSubstr("key 'batch_max_delay': expected a duration such as "
                        "\"250ms\", \"10s\", \"1m30s\" or \"2h\", got a "
                        "mapping"));
}

// --- proto3 optional
// -------------------------------------------------------------

TEST(ConfigLoaderTest, OptionalScalarGetsPresence) {
  CollectorConfig config;
  ASSERT_TRUE(Parse(R"yaml(
sources:
  - file: {path: /a, scale: 1}
  - file: {path: /b, scale: 0}
  - file: {path: /c, offset: 0}
)yaml",
                    &config)
                  .ok());
  ASSERT_EQ(config.sources_size(), 3);
  EXPECT_TRUE(config.sources(0).file().has_scale());
  EXPECT_EQ(config.sources(0).file().scale(), 1);
  EXPECT_TRUE(config.sources(1).file().has_scale());
  EXPECT_EQ(config.sources(1).file().scale(), 0);
  EXPECT_FALSE(config.sources(2).file().has_scale());
}

// --- Map fields (generic support; no config schema uses them yet)
// -----------------

TEST(ConfigLoaderTest, MapFieldTakesMapping) {
  google::protobuf::Struct s;
  ASSERT_TRUE(Parse(R"yaml(
fields:
  a: {number_value: 1.5}
  b: {string_value: x}
)yaml",
                    &s)
                  .ok());
  ASSERT_EQ(s.fields().size(), 2u);
  EXPECT_EQ(s.fields().at("a").number_value(), 1.5);
  EXPECT_EQ(s.fields().at("b").string_value(), "x");
  EXPECT_EQ(ErrorOf(Parse("fields:\n  a: {bool_value: true}\n  a: {}\n", &s)),
            "cfg.yaml:3:3: key 'fields.a': duplicate key (first given at "
            "line 2)");
  EXPECT_THAT(ErrorOf(Parse("fields:\n  a: {bogus: 1}\n", &s)),
              StartsWith("cfg.yaml:2:7: key 'fields.a.bogus': unknown key"));
}

// --- Abuse
// -------------------------------------------------------------------------

TEST(ConfigLoaderTest, DeepNestingIsRefused) {
  // A recursive schema: each level adds "a.struct_value.fields".
  std::string text;
  for (int i = 0; i < 100; ++i) text += "{a: {struct_value: {fields: ";
  text += "{}";
  for (int i = 0; i < 100; ++i) text += "}}}";
  google::protobuf::Struct s;
  EXPECT_THAT(ErrorOf(Parse("fields: " + text + "\n", &s)),
              HasSubstr("nested more than 64 levels deep"));
}

TEST(ConfigLoaderTest, VeryDeepFlowNestingIsASyntaxErrorNotACrash) {
  CollectorConfig config;
  const std::string text = "relays: " + std::string(100000, '[');
  EXPECT_THAT(ErrorOf(Parse(text, &config)),
              StartsWith("cfg.yaml:1:1: YAML syntax error: nested too deeply"));
}

TEST(ConfigLoaderTest, AliasExpansionIsBounded) {
  // Ten levels of ten aliases each would be 10^10 values.
  std::string text = "fields:\n  k0: {list_value: {values: &l0 [";
  for (int i = 0; i < 10; ++i) text += "{number_value: 1}, ";
  text += "]}}\n";
  for (int level = 1; level < 10; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    text += "  k" + std::to_string(level) + ": {list_value: {values: &l" +
            std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) {
      text += "{list_value: {values: " + prev + "}}, ";
    }
    text += "]}}\n";
  }
  google::protobuf::Struct s;
  EXPECT_THAT(ErrorOf(Parse(text, &s)), HasSubstr("more than 100000 values"));
  EXPECT_EQ(s.ByteSizeLong(), 0u);
}

TEST(ConfigLoaderTest, GarbageNeverThrows) {
  const std::string inputs[] = {"{",
                                "[",
                                "a: [",
                                "? ",
                                "- - -",
                                ":",
                                "&a *a",
                                "*unknown",
                                "a: *nope",
                                "\t",
                                "!!x a",
                                "host: !t x",
                                "\xff\xfe\x00",
                                "%YAML 1.2",
                                "%BOGUS\n---\n",
                                "'a",
                                "\"\\q\"",
                                "host: |\n x",
                                "[a]: b",
                                "{? a}",
                                "a: &x 1",
                                "<<: {}",
                                "host: >-",
                                "\x01\x02",
                                "- ]",
                                std::string("host: a\0b", 9)};
  for (const std::string& input : inputs) {
    CollectorConfig config;
    absl::Status status;
    EXPECT_NO_THROW(status = ParseYamlConfig(input, "g.yaml", &config));
    if (!status.ok()) {
      EXPECT_THAT(std::string(status.message()), StartsWith("g.yaml"));
    }
  }
}

// --- Files
// -------------------------------------------------------------------------

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  const ::hwcast::testutil::ScratchDir scratch_{"config_loader_test"};
  const std::string dir_ = scratch_.path();
};

TEST_F(ConfigFileTest, LoadsFile) {
  const std::string path = Write("ok.yaml", "host: h\nrelays: [r]\n");
  CollectorConfig config;
  ASSERT_TRUE(LoadYamlConfigFile(path, &config).ok());
  EXPECT_EQ(config.host(), "h");
  EXPECT_EQ(config.relays(0), "r");
}

TEST_F(ConfigFileTest, ErrorsNameTheFile) {
  const std::string path = Write("bad.yaml", "host: h\nhots: x\n");
  CollectorConfig config;
  const std::string error = ErrorOf(LoadYamlConfigFile(path, &config));
  EXPECT_THAT(error, StartsWith(path + ":2:1: key 'hots': unknown key"));
}

TEST_F(ConfigFileTest, MissingFileIsNotFound) {
  const std::string path = dir_ + "/missing.yaml";
  CollectorConfig config;
  const absl::Status status = LoadYamlConfigFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(path));
}

TEST_F(ConfigFileTest, MissingDirectoryIsNotFound) {
  const std::string path = dir_ + "/nodir/x.yaml";
  CollectorConfig config;
  const absl::Status status = LoadYamlConfigFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(path));
}

TEST_F(ConfigFileTest, DirectoryIsAnError) {
  const std::string path = dir_ + "/sub";
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  CollectorConfig config;
  const absl::Status status = LoadYamlConfigFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(path));
  EXPECT_THAT(std::string(status.message()), HasSubstr("directory"));
}

TEST_F(ConfigFileTest, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root can read any file";
  const std::string path = Write("secret.yaml", "host: h\n");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  CollectorConfig config;
  const absl::Status status = LoadYamlConfigFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(path));
}

}  // namespace
}  // namespace hwcast

namespace hwcast {
namespace {

TEST(ConfigKeyLocationsTest, RecordsWhereKeysWereGivenAndFallsBackToParents) {
  hwcast::v1::CollectorConfig config;
  ConfigKeyLocations locations;
  ASSERT_TRUE(ParseYamlConfig("relays: [\"a:1\"]\n"
                              "sources:\n"
                              "  - id: room\n"
                              "    file:\n"
                              "      label: x\n",
                              "c.yaml", &config, &locations)
                  .ok());
  EXPECT_EQ(LocateConfigKey(locations, "relays"), "1:1");
  EXPECT_EQ(LocateConfigKey(locations, "sources[0].id"), "3:5");
  EXPECT_EQ(LocateConfigKey(locations, "sources[0].file"), "4:5");
  // Not given: the deepest given parent.
  EXPECT_EQ(LocateConfigKey(locations, "sources[0].file.path"), "4:5");
  EXPECT_EQ(LocateConfigKey(locations, "sources[3].interval"), "2:1");
  EXPECT_EQ(LocateConfigKey(locations, "batch_max_delay"), "");
}

}  // namespace
}  // namespace hwcast
