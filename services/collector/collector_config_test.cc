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
  const CollectorConfig config = ApplyCollectorDefaults(raw, "rack1");
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
  const CollectorConfig config = ApplyCollectorDefaults(raw, "ignored");
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
  const CollectorConfig config =
      ApplyCollectorDefaults(Parse("sources: [{file: {path: /r/t}}]"), "h");
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
  const CollectorConfig config = ApplyCollectorDefaults(raw, "h");
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
                "sources[0]: set one of 'hwmon', 'file', 'power_node', 'nut', "
                "'exec', 'usb_temper', 'temperature_alert', 'temperx232', "
                "'disks', 'hwrng' or 'chaoskey'"},
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
        BadCase{"sources: [{hwmon: {config_file: sensors3.conf}}]",
                "sources[0].hwmon.config_file: must be an absolute path"},
        BadCase{"sources: [{nut: {ups: room, ca_file: /ca.pem}}]",
                "sources[0].nut.ca_file: only used with starttls: true"},
        BadCase{"sources: [{nut: {ups: room, login: true}}]",
                "sources[0].nut.login: needs username and password_file"},
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

TEST(CollectorConfigTest, TemperatureAlertDefaultsAndValidation) {
  const CollectorConfig raw = Parse(R"(
sources:
  - temperature_alert: {device: /dev/ttyUSB0}
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok());
  const CollectorConfig config = ApplyCollectorDefaults(raw, "h");
  const hwcast::v1::SourceConfig& source = config.sources(0);
  EXPECT_EQ(source.id(), "temperature_alert");
  EXPECT_EQ(FromProtoDuration(source.temperature_alert().reply_timeout()),
            absl::Seconds(2));
  EXPECT_EQ(source.temperature_alert().scale(), 1.0);
  EXPECT_TRUE(ValidateCollectorConfig(config).ok());

  EXPECT_THAT(
      std::string(Validate("sources: [{temperature_alert: {}}]").message()),
      HasSubstr("sources[0].temperature_alert.device: required"));
  EXPECT_THAT(
      std::string(Validate("sources: [{temperature_alert: {device: ttyUSB0}}]")
                      .message()),
      HasSubstr("sources[0].temperature_alert.device: must be an absolute "
                "path"));
  EXPECT_THAT(std::string(Validate(R"(
sources:
  - timeout: 2s
    temperature_alert: {device: /dev/ttyUSB0, reply_timeout: 2s}
)")
                              .message()),
              HasSubstr("sources[0].temperature_alert.reply_timeout: must be "
                        "below the source's timeout (2s)"));
  EXPECT_THAT(std::string(Validate(R"(
sources:
  - temperature_alert: {device: /dev/ttyUSB0, scale: 0}
)")
                              .message()),
              HasSubstr("sources[0].temperature_alert.scale"));
}

TEST(CollectorConfigTest, TemperX232DefaultsAndValidation) {
  const CollectorConfig raw = Parse(R"(
sources:
  - temperx232: {device: /dev/temperx232, offset: -0.5}
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok());
  const CollectorConfig config = ApplyCollectorDefaults(raw, "h");
  const hwcast::v1::SourceConfig& source = config.sources(0);
  EXPECT_EQ(source.id(), "temperx232");
  EXPECT_EQ(FromProtoDuration(source.temperx232().reply_timeout()),
            absl::Seconds(2));
  EXPECT_EQ(source.temperx232().scale(), 1.0);
  EXPECT_EQ(source.temperx232().offset(), -0.5);
  EXPECT_TRUE(ValidateCollectorConfig(config).ok());

  EXPECT_THAT(std::string(Validate("sources: [{temperx232: {}}]").message()),
              HasSubstr("sources[0].temperx232.device: required"));
  EXPECT_THAT(std::string(Validate(R"(
sources:
  - timeout: 2s
    temperx232: {device: /dev/ttyUSB0, reply_timeout: 1600ms}
)")
                              .message()),
              HasSubstr("sources[0].temperx232.reply_timeout: must be below "
                        "the source's timeout (2s) minus 500ms for the "
                        "firmware id query"));
  EXPECT_THAT(std::string(Validate(R"(
sources:
  - temperx232: {device: /dev/ttyUSB0, scale: 0}
)")
                              .message()),
              HasSubstr("sources[0].temperx232.scale: must be a finite, "
                        "nonzero number"));
}

TEST(CollectorConfigTest, DisksDefaultsAndValidation) {
  const CollectorConfig raw = Parse(R"(
sources:
  - hwmon: {}
  - disks: {}
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok());
  const CollectorConfig config = ApplyCollectorDefaults(raw, "h");
  const hwcast::v1::SourceConfig& source = config.sources(1);
  EXPECT_EQ(source.id(), "disks");
  EXPECT_EQ(source.disks().sys_block(), "/sys/class/block");
  EXPECT_EQ(source.disks().dev_dir(), "/dev");
  EXPECT_EQ(source.disks().mountinfo(), "/proc/self/mountinfo");
  EXPECT_THAT(source.disks().exclude(),
              ::testing::ElementsAre("loop*", "ram*", "zram*"));
  // 80% of the default 5s poll timeout.
  EXPECT_EQ(FromProtoDuration(source.disks().probe_timeout()),
            absl::Seconds(4));
  EXPECT_TRUE(ValidateCollectorConfig(config).ok());

  const CollectorConfig images = ApplyCollectorDefaults(Parse(R"(
sources:
  - timeout: 20s
    disks: {devices: [/srv/a.img]}
)"),
                                                        "h");
  EXPECT_TRUE(images.sources(0).disks().exclude().empty());
  EXPECT_EQ(FromProtoDuration(images.sources(0).disks().probe_timeout()),
            absl::Seconds(5));
  EXPECT_TRUE(ValidateCollectorConfig(images).ok());

  EXPECT_THAT(std::string(Validate(R"(
sources:
  - hwmon: {}
  - hwmon: {root: /x}
    id: h2
  - disks: {probe_timeout: 0s}
)")
                              .message()),
              HasSubstr("sources[2].disks.probe_timeout: must be positive"));
  EXPECT_THAT(std::string(Validate(R"(
sources:
  - timeout: 2s
    disks: {probe_timeout: 2s}
)")
                              .message()),
              HasSubstr("sources[0].disks.probe_timeout: must be below the "
                        "source's timeout (2s)"));
  EXPECT_THAT(
      std::string(Validate("sources: [{disks: {devices: [a.img]}}]").message()),
      HasSubstr("sources[0].disks.devices[0]: must be an absolute path"));
  EXPECT_THAT(
      std::string(
          Validate("sources: [{disks: {devices: [/a, /b, /a]}}]").message()),
      HasSubstr("sources[0].disks.devices[2]: '/a' is also "
                "devices[0]"));
  EXPECT_THAT(
      std::string(Validate("sources: [{disks: {sys_block: sys}}]").message()),
      HasSubstr("sources[0].disks.sys_block: must be an absolute"));
  EXPECT_THAT(
      std::string(Validate("sources: [{disks: {exclude: ['s*d']}}]").message()),
      HasSubstr("sources[0].disks.exclude[0]: 's*d' must be"));
  EXPECT_THAT(std::string(Validate("sources: [{disks: {devices: [/a], exclude: "
                                   "[sd*]}}]")
                              .message()),
              HasSubstr("sources[0].disks.exclude: only applies"));
}

TEST(CollectorConfigTest, UsbTemperDefaultsAndValidation) {
  const CollectorConfig raw = Parse(R"(
allow_plaintext_entropy: true
sources:
  - usb_temper:
      ports: ["1-2", "1-1.4"]
      calibration: [{port: "1-2", offset: -0.5}, {port: "1-1.4", scale: 1.02}]
  - chaoskey: {port: "2-1"}
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok())
      << ValidateCollectorConfig(raw);
  const CollectorConfig config = ApplyCollectorDefaults(raw, "h");
  const hwcast::v1::UsbTemperSourceConfig& temper =
      config.sources(0).usb_temper();
  EXPECT_EQ(config.sources(0).id(), "usb_temper");
  EXPECT_EQ(FromProtoDuration(temper.rescan_interval()), absl::Seconds(5));
  EXPECT_EQ(temper.max_failures(), 3u);
  EXPECT_EQ(FromProtoDuration(temper.retry_after()), absl::Seconds(30));
  EXPECT_EQ(FromProtoDuration(temper.transfer_timeout()), absl::Seconds(1));
  EXPECT_EQ(temper.calibration(0).scale(), 1.0);
  EXPECT_EQ(temper.calibration(1).scale(), 1.02);
  EXPECT_EQ(config.sources(1).id(), "chaoskey");
  EXPECT_EQ(config.sources(1).chaoskey().endpoint(),
            hwcast::v1::ChaosKeySourceConfig::ENDPOINT_COOKED);
  EXPECT_EQ(FromProtoDuration(config.sources(1).chaoskey().transfer_timeout()),
            absl::Seconds(1));
}

TEST(CollectorConfigTest, UsbErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"sources: [{usb_temper: {ports: ['1']}}]",
       "sources[0].usb_temper.ports[0]: '1' is not a USB bus-port path"},
      {"sources: [{usb_temper: {ports: ['1-2.0']}}]",
       "sources[0].usb_temper.ports[0]"},
      {"sources: [{usb_temper: {ports: ['1-2', '1-2']}}]",
       "sources[0].usb_temper.ports[1]: '1-2' is also ports[0]"},
      {"sources: [{usb_temper: {serials: ['a b']}}]",
       "sources[0].usb_temper.serials[0]"},
      {"sources: [{usb_temper: {calibration: [{port: '1-2'}, {port: 'x'}]}}]",
       "sources[0].usb_temper.calibration[1].port: 'x' is not a USB bus-port"},
      {"sources: [{usb_temper: {ports: ['1-2'], calibration: [{port: "
       "'1-3'}]}}]",
       "sources[0].usb_temper.calibration[0].port: '1-3' is not one of the "
       "source's ports"},
      {"sources: [{usb_temper: {calibration: [{port: '1-2', scale: 0}]}}]",
       "sources[0].usb_temper.calibration[0].scale"},
      {"sources: [{usb_temper: {retry_after: 0s}}]",
       "sources[0].usb_temper.retry_after"},
      {"sources: [{usb_temper: {transfer_timeout: 0s}}]",
       "sources[0].usb_temper.transfer_timeout"},
      {"sources: [{chaoskey: {port: '1-1.4.'}}]",
       "sources[0].chaoskey.port: '1-1.4.' is not a USB bus-port path"},
      {"sources: [{chaoskey: {transfer_timeout: 0s}}]",
       "sources[0].chaoskey.transfer_timeout"},
  };
  for (const auto& [yaml, error] : cases) {
    const absl::Status s = Validate(yaml);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(s.message(), HasSubstr(error)) << yaml;
  }
}

TEST(CollectorConfigTest, HwrngDefaultsAndValidation) {
  const CollectorConfig raw = Parse(R"(
relays: ["unix:/run/hwcast/relay.sock"]
sources:
  - hwrng: {}
)");
  ASSERT_TRUE(ValidateCollectorConfig(raw).ok());
  const CollectorConfig config = ApplyCollectorDefaults(raw, "h");
  const hwcast::v1::SourceConfig& source = config.sources(0);
  EXPECT_EQ(source.id(), "hwrng");
  EXPECT_EQ(source.hwrng().path(), "/dev/hwrng");
  const hwcast::v1::EntropySourceConfig& entropy = source.hwrng().entropy();
  EXPECT_EQ(entropy.chunk_bytes(), 2500u);
  EXPECT_EQ(entropy.chunks_per_poll(), 1u);
  EXPECT_EQ(entropy.assessed_bits_per_byte(), 1.0);
  EXPECT_EQ(entropy.max_bits_per_byte(), 8.0);
  EXPECT_EQ(entropy.disable_after_failures(), 25u);
  EXPECT_EQ(FromProtoDuration(entropy.retry_after()), absl::Minutes(10));
  EXPECT_TRUE(ValidateCollectorConfig(config).ok());

  const std::string unix_relay = "relays: [\"unix:/r.sock\"]\n";
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"sources: [{id: a, hwrng: {}}, {hwrng: {path: /dev/urandom}}]",
       "sources[1].hwrng.path: /dev/urandom is the kernel's CSPRNG, not a "
       "hardware RNG"},
      {"sources: [{hwrng: {path: /dev/random}}]",
       "sources[0].hwrng.path: /dev/random is the kernel's CSPRNG"},
      {"sources: [{hwrng: {path: dev/hwrng}}]",
       "sources[0].hwrng.path: must be an absolute path"},
      {"sources: [{hwrng: {entropy: {chunk_bytes: 3000}}}]",
       "sources[0].hwrng.entropy.chunk_bytes: must be a multiple of 2500"},
      {"sources: [{hwrng: {entropy: {assessed_bits_per_byte: 9}}}]",
       "sources[0].hwrng.entropy.assessed_bits_per_byte: must be above 0"},
      {"sources: [{hwrng: {entropy: {max_bits_per_byte: -1}}}]",
       "sources[0].hwrng.entropy.max_bits_per_byte: must be above 0"},
      {"sources: [{hwrng: {entropy: {retry_after: 0s}}}]",
       "sources[0].hwrng.entropy.retry_after"},
      {"sources: [{chaoskey: {entropy: {chunk_bytes: 100}}}]",
       "sources[0].chaoskey.entropy.chunk_bytes: must be a multiple of 2500"},
  };
  for (const Case& c : cases) {
    const absl::Status status = Validate(unix_relay + c.yaml);
    EXPECT_FALSE(status.ok()) << c.yaml;
    EXPECT_THAT(status.message(), HasSubstr(c.error)) << c.yaml;
  }
}

TEST(CollectorConfigTest, EntropyNeedsTlsOrUnixRelays) {
  // Plaintext TCP relay with an entropy source: refused, naming the relay.
  absl::Status status = Validate(R"(
relays: ["unix:/r.sock", "10.0.0.1:7430"]
sources: [{hwrng: {}}]
)");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("relays[1]"));
  EXPECT_THAT(status.message(), HasSubstr("plaintext TCP"));
  status = Validate(R"(
relays: ["10.0.0.1:7430"]
sources: [{chaoskey: {}}]
)");
  EXPECT_THAT(status.message(), HasSubstr("relays[0]"));
  // The default relay is plaintext TCP too.
  status = Validate("sources: [{hwrng: {}}]");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("relays:"));
  // TLS, unix sockets or the explicit opt-in are fine.
  EXPECT_TRUE(Validate(R"(
relays: ["10.0.0.1:7430", "unix:/r.sock"]
relay_tls: {ca_file: /etc/hwcast/ca.pem}
sources: [{hwrng: {}}]
)")
                  .ok());
  EXPECT_TRUE(Validate(R"(
relays: ["10.0.0.1:7430"]
allow_plaintext_entropy: true
sources: [{hwrng: {}}]
)")
                  .ok());
  // Without an entropy source plaintext stays allowed.
  EXPECT_TRUE(Validate("relays: [\"10.0.0.1:7430\"]").ok());
}

}  // namespace
}  // namespace hwcast::collector
