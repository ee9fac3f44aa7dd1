#include "services/collector/collector_config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/config_loader.h"
#include "lib/time_util.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::CollectorConfig;
using ::testing::HasSubstr;

CollectorConfig Parse(const std::string& yaml) {
  CollectorConfig config;
  const absl::Status s = ParseYamlConfig(yaml, "collector.yaml", &config);
  EXPECT_TRUE(s.ok()) << s;
  return config;
}

absl::Status Validate(const std::string& yaml) {
  return ValidateCollectorConfig(Parse(yaml));
}

TEST(CollectorConfigTest, EmptyConfigGetsEveryDefault) {
  const CollectorConfig raw = Parse("");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok());
  const CollectorConfig config = CollectorConfigWithDefaults(raw, "rack1");
  EXPECT_EQ(config.host(), "rack1");
  EXPECT_EQ(config.collector_id(), "rack1");
  EXPECT_THAT(config.relays(), ::testing::ElementsAre("127.0.0.1:7430"));
  ASSERT_EQ(config.sources_size(), 1);
  const hwcast::v1::SourceConfig& source = config.sources(0);
  EXPECT_EQ(source.id(), "hwmon");
  EXPECT_EQ(source.hwmon().root(), "/sys/class/hwmon");
  EXPECT_EQ(FromProtoDuration(source.interval()), absl::Seconds(10));
  EXPECT_EQ(FromProtoDuration(source.timeout()), absl::Seconds(5));
  EXPECT_EQ(config.batch_max_readings(), 256u);
  EXPECT_EQ(FromProtoDuration(config.batch_max_delay()),
            absl::Milliseconds(200));
  EXPECT_EQ(config.buffer_batches(), 10000u);
  EXPECT_EQ(config.max_batch_bytes(), 1200u);
  EXPECT_TRUE(config.signing_key().empty());  // unsigned unless configured
  EXPECT_EQ(config.server().metrics_listen(), "127.0.0.1:9432");
  EXPECT_TRUE(config.server().listen().empty());  // main() decides
  // The defaulted config is itself valid.
  EXPECT_TRUE(ValidateCollectorConfig(config).ok());
}

TEST(CollectorConfigTest, FullConfigKeepsWhatIsSet) {
  const CollectorConfig raw = Parse(R"(
collector_id: rack1-collector
host: rack1.lan
server:
  listen: ["127.0.0.1:0", "unix:/tmp/hwcast/collector.sock"]
  metrics_listen: "off"
relays: ["[::1]:7430", "unix:/run/hwcast/relay.sock", "relay.lan:7430",
         "dns:///relay2.lan:7430"]
sources:
  - file: {path: /run/sensors/room.temp, kind: humidity, scale: 0.1}
    interval: 2s
    timeout: 30s
  - id: cpu
    hwmon: {root: /sys/class/hwmon}
batch_max_readings: 10
batch_max_delay: 50ms
buffer_batches: 5
reconnect: {initial: 100ms, max: 10s, multiplier: 1.5, jitter: 0.5}
signing_key: /etc/hwcast/collector.key
max_batch_bytes: 256
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok())
      << ValidateCollectorConfig(raw);
  const CollectorConfig config = CollectorConfigWithDefaults(raw, "ignored");
  EXPECT_EQ(config.host(), "rack1.lan");
  EXPECT_EQ(config.collector_id(), "rack1-collector");
  EXPECT_EQ(config.server().metrics_listen(), "off");
  ASSERT_EQ(config.sources_size(), 2);
  EXPECT_EQ(config.sources(0).id(), "room");  // base name, no extension
  EXPECT_EQ(config.sources(0).file().kind(), hwcast::v1::READING_KIND_HUMIDITY);
  EXPECT_DOUBLE_EQ(config.sources(0).file().scale(), 0.1);
  EXPECT_EQ(FromProtoDuration(config.sources(0).interval()), absl::Seconds(2));
  // A timeout longer than the interval is allowed.
  EXPECT_EQ(FromProtoDuration(config.sources(0).timeout()), absl::Seconds(30));
  EXPECT_EQ(config.sources(1).id(), "cpu");
  EXPECT_EQ(config.batch_max_readings(), 10u);
  EXPECT_EQ(config.buffer_batches(), 5u);
  EXPECT_EQ(config.signing_key(), "/etc/hwcast/collector.key");
  EXPECT_EQ(config.max_batch_bytes(), 256u);
}

TEST(CollectorConfigTest, FileSourceDefaults) {
  const CollectorConfig config = CollectorConfigWithDefaults(
      Parse("sources: [{file: {path: /r/t}}]"), "h");
  EXPECT_EQ(config.sources(0).id(), "t");
  EXPECT_EQ(config.sources(0).file().kind(),
            hwcast::v1::READING_KIND_TEMPERATURE);
  EXPECT_TRUE(config.sources(0).file().has_scale());
  EXPECT_DOUBLE_EQ(config.sources(0).file().scale(), 1.0);
}

TEST(CollectorConfigTest, PowerNodeNutAndExecDefaults) {
  const CollectorConfig raw = Parse(R"(
sources:
  - power_node: {target: "10.0.0.5:22"}
  - nut: {ups: room}
  - nut: {ups: attic, address: "[::1]:3493", username: mon,
          password_file: /etc/hwcast/nut.pw}
  - exec: {argv: [/usr/local/bin/read-temp, --bus, "1"]}
  - exec: {argv: [sensors-humidity], kind: humidity, scale: 0.1, label: RH}
    timeout: 2s
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok())
      << ValidateCollectorConfig(raw);
  const CollectorConfig config = CollectorConfigWithDefaults(raw, "h");
  ASSERT_EQ(config.sources_size(), 5);
  EXPECT_EQ(config.sources(0).id(), "power_node");
  EXPECT_EQ(config.sources(0).power_node().target(), "10.0.0.5:22");
  EXPECT_EQ(config.sources(1).id(), "nut/room");
  EXPECT_EQ(config.sources(1).nut().address(), "127.0.0.1:3493");
  EXPECT_EQ(config.sources(2).id(), "nut/attic");
  EXPECT_EQ(config.sources(2).nut().address(), "[::1]:3493");
  EXPECT_EQ(config.sources(3).id(), "read-temp");
  EXPECT_EQ(config.sources(3).exec().kind(),
            hwcast::v1::READING_KIND_TEMPERATURE);
  EXPECT_DOUBLE_EQ(config.sources(3).exec().scale(), 1.0);
  EXPECT_EQ(config.sources(4).id(), "sensors-humidity");
  EXPECT_EQ(config.sources(4).exec().kind(), hwcast::v1::READING_KIND_HUMIDITY);
  EXPECT_DOUBLE_EQ(config.sources(4).exec().scale(), 0.1);
  EXPECT_EQ(FromProtoDuration(config.sources(4).timeout()), absl::Seconds(2));
  // The defaulted config, "nut/room" ids included, is itself valid.
  EXPECT_TRUE(ValidateCollectorConfig(config).ok())
      << ValidateCollectorConfig(config);
}

struct BadCase {
  std::string yaml;
  std::string error;
};

// Names each case by the error it expects (stable, readable test names).
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.error; }

class CollectorConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(CollectorConfigErrorTest, NamesTheKey) {
  const absl::Status status = Validate(GetParam().yaml);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Bad, CollectorConfigErrorTest,
    ::testing::Values(
        BadCase{"sources: [{file: {}}]", "sources[0].file.path: required"},
        BadCase{"sources: [{hwmon: {}}, {file: {label: x}}]",
                "sources[1].file.path: required"},
        BadCase{"sources: [{file: {path: room.temp}}]",
                "sources[0].file.path: must be an absolute path, got "
                "'room.temp'"},
        BadCase{"sources: [{hwmon: {}}, {file: {path: /a/room.txt}}, "
                "{file: {path: /b/room.temp}}]",
                "sources[2].id: duplicate source id 'room' (also sources[1])"},
        BadCase{"sources: [{hwmon: {}}, {hwmon: {root: /other}}]",
                "sources[1].id: duplicate source id 'hwmon' (also "
                "sources[0])"},
        BadCase{"sources: [{id: x, hwmon: {}}, {id: x, file: {path: /y}}]",
                "sources[1].id: duplicate source id 'x'"},
        BadCase{"sources: [{interval: 0s, hwmon: {}}]",
                "sources[0].interval: must be positive"},
        BadCase{"sources: [{hwmon: {}}, {timeout: 0s, file: {path: /t}}]",
                "sources[1].timeout: must be positive"},
        BadCase{"sources: [{id: room}]",
                "sources[0]: set one of 'hwmon', 'file', 'power_node', 'nut' "
                "or 'exec'"},
        BadCase{"sources: [{power_node: {}}]",
                "sources[0].power_node.target: required (HOST:PORT"},
        BadCase{"sources: [{power_node: {target: node1}}]",
                "sources[0].power_node.target: 'node1' needs a port"},
        BadCase{"sources: [{power_node: {target: 'node1:0'}}]",
                "sources[0].power_node.target: 'node1:0': port '0' must be a "
                "number from 1 to 65535"},
        BadCase{"sources: [{power_node: {target: '::1:22'}}]",
                "sources[0].power_node.target: '::1:22': IPv6 addresses need "
                "brackets"},
        BadCase{"sources: [{power_node: {target: 'a:22'}}, "
                "{power_node: {target: 'b:22'}}]",
                "sources[1].id: duplicate source id 'power_node' (also "
                "sources[0])"},
        BadCase{"sources: [{nut: {}}]",
                "sources[0].nut.ups: required: the UPS name in upsd's "
                "ups.conf"},
        BadCase{"sources: [{nut: {ups: room@nas}}]",
                "sources[0].nut.ups: 'room@nas' may only contain letters, "
                "digits and '_', '.', '-' (give upsd's address in 'address'"},
        BadCase{"sources: [{nut: {ups: room, address: nas}}]",
                "sources[0].nut.address: 'nas' needs a port"},
        BadCase{"sources: [{nut: {ups: room, password_file: /pw}}]",
                "sources[0].nut.password_file: requires username"},
        BadCase{"sources: [{nut: {ups: room, username: mon, "
                "password_file: pw}}]",
                "sources[0].nut.password_file: must be an absolute path, got "
                "'pw'"},
        BadCase{"sources: [{nut: {ups: room, username: 'mon user'}}]",
                "sources[0].nut.username: 'mon user' must not contain "
                "whitespace"},
        BadCase{"sources: [{nut: {ups: room}}, {nut: {ups: room, "
                "address: 'nas:3493'}}]",
                "sources[1].id: duplicate source id 'nut/room' (also "
                "sources[0])"},
        BadCase{"sources: [{id: nut/x, nut: {ups: room}}]",
                "sources[0].id: 'nut/x' may only contain"},
        BadCase{"sources: [{exec: {}}]", "sources[0].exec.argv: required"},
        BadCase{"sources: [{exec: {argv: ['']}}]",
                "sources[0].exec.argv[0]: the program must not be empty"},
        BadCase{"sources: [{exec: {argv: [bin/read-temp]}}]",
                "sources[0].exec.argv[0]: 'bin/read-temp' must be an absolute "
                "path or a name looked up in PATH"},
        BadCase{"sources: [{exec: {argv: [./read-temp]}}]",
                "sources[0].exec.argv[0]: './read-temp' must be an absolute"},
        BadCase{"sources: [{exec: {argv: [/bin/x, \"a\\0b\"]}}]",
                "sources[0].exec.argv[1]: must not contain NUL characters"},
        BadCase{"sources: [{exec: {argv: [/bin/x], kind: reachability}}]",
                "sources[0].exec.kind: must be temperature or humidity, got "
                "READING_KIND_REACHABILITY"},
        BadCase{"sources: [{exec: {argv: [/bin/x], scale: 0}}]",
                "sources[0].exec.scale: must be a finite, nonzero number"},
        BadCase{"sources: [{exec: {argv: ['/opt/my tool']}}]",
                "sources[0].id: required: the default id 'my tool' taken from "
                "argv[0]"},
        BadCase{"sources: [{exec: {argv: [/a/probe, x]}}, "
                "{exec: {argv: [/b/probe]}}]",
                "sources[1].id: duplicate source id 'probe' (also "
                "sources[0])"},
        BadCase{"sources: [{id: a/b, hwmon: {}}]",
                "sources[0].id: 'a/b' may only contain"},
        BadCase{"sources: [{file: {path: '/run/my room.txt'}}]",
                "sources[0].id: required: the default id 'my room'"},
        BadCase{"sources: [{file: {path: /r, kind: power}}]",
                "sources[0].file.kind: must be temperature or humidity, got "
                "READING_KIND_POWER"},
        BadCase{"sources: [{file: {path: /r, scale: 0}}]",
                "sources[0].file.scale: must be a finite, nonzero number"},
        BadCase{"sources: [{hwmon: {root: sys/class/hwmon}}]",
                "sources[0].hwmon.root: must be an absolute path"},
        BadCase{"relays: ['']", "relays[0]: empty address"},
        BadCase{"relays: [relay]",
                "relays[0]: 'relay' needs a port, e.g. 127.0.0.1:7430"},
        BadCase{"relays: ['127.0.0.1:0']",
                "relays[0]: '127.0.0.1:0': port '0' must be a number from 1 "
                "to 65535"},
        BadCase{"relays: ['127.0.0.1:99999']", "relays[0]: '127.0.0.1:99999'"},
        BadCase{"relays: ['127.0.0.1:http']", "port 'http' must be a number"},
        BadCase{"relays: [':7430']", "relays[0]: ':7430' has no host"},
        BadCase{"relays: ['::1:7430']",
                "relays[0]: '::1:7430': IPv6 addresses need brackets"},
        BadCase{"relays: ['[::1]7430']", "relays[0]: '[::1]7430' is not of"},
        BadCase{"relays: ['unix:relay.sock']",
                "relays[0]: 'unix:relay.sock': the socket path must be "
                "absolute"},
        BadCase{"relays: ['unix:']", "relays[0]: empty unix socket path"},
        BadCase{"relays: ['relay lan:7430']", "must not contain whitespace"},
        BadCase{"relays: ['127.0.0.1:7430', '127.0.0.1:7430']",
                "relays[1]: '127.0.0.1:7430' duplicates relays[0]"},
        BadCase{"server: {listen: [localhost]}",
                "server.listen[0]: 'localhost' needs a port"},
        BadCase{"server: {metrics_listen: 'unix:/m.sock'}",
                "server.metrics_listen: 'unix:/m.sock': metrics are served "
                "over HTTP on HOST:PORT, not a unix socket"},
        BadCase{"server: {metrics_listen: nope}",
                "server.metrics_listen: 'nope' needs a port, e.g. "
                "127.0.0.1:7430 (or \"off\")"},
        BadCase{"collector_id: 'rack 1'",
                "collector_id: 'rack 1' must not contain whitespace"},
        BadCase{"host: \"a\\tb\"", "host: "},
        BadCase{"batch_max_readings: 20000",
                "batch_max_readings: must be at most 10000"},
        BadCase{"batch_max_delay: 0s", "batch_max_delay: must be positive"},
        BadCase{"batch_max_delay: 2m", "batch_max_delay: must be at most 1m"},
        BadCase{"buffer_batches: 2000000",
                "buffer_batches: must be at most 1000000"},
        BadCase{"max_batch_bytes: 255",
                "max_batch_bytes: must be between 256 and 1048576"},
        BadCase{"max_batch_bytes: 1048577",
                "max_batch_bytes: must be between 256 and 1048576"},
        BadCase{"signing_key: \"a\\nb\"",
                "signing_key: must not contain control characters"},
        BadCase{"reconnect: {initial: 10s, max: 1s}",
                "reconnect.max: must be at least reconnect.initial (10s)"},
        BadCase{"reconnect: {initial: 1m}",
                "reconnect.initial: must be at most reconnect.max (30s, the "
                "default)"},
        BadCase{"reconnect: {initial: 0s}",
                "reconnect.initial: must be positive"},
        BadCase{"reconnect: {multiplier: 0.5}",
                "reconnect.multiplier: must be at least 1"},
        BadCase{"reconnect: {jitter: 2}",
                "reconnect.jitter: must be between 0 and 1"}));

TEST(CollectorConfigTest, RejectsOtherMessageTypes) {
  hwcast::v1::RelayConfig relay;
  EXPECT_FALSE(ValidateCollectorConfig(relay).ok());
}

TEST(CollectorConfigTest, DefaultSourceIds) {
  hwcast::v1::SourceConfig source;
  source.mutable_hwmon();
  EXPECT_EQ(DefaultSourceId(source), "hwmon");
  source.mutable_file()->set_path("/var/lib/sensors/rack.front.temp");
  EXPECT_EQ(DefaultSourceId(source), "rack.front");
  source.mutable_file()->set_path("/run/room");
  EXPECT_EQ(DefaultSourceId(source), "room");
  source.mutable_power_node()->set_target("10.0.0.5:22");
  EXPECT_EQ(DefaultSourceId(source), "power_node");
  source.mutable_nut()->set_ups("room");
  EXPECT_EQ(DefaultSourceId(source), "nut/room");
  source.mutable_exec()->add_argv("/usr/local/bin/read-temp.sh");
  EXPECT_EQ(DefaultSourceId(source), "read-temp.sh");
  source.mutable_exec()->set_argv(0, "sensors");
  EXPECT_EQ(DefaultSourceId(source), "sensors");
}

}  // namespace
}  // namespace hwcast::collector
