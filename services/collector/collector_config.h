// Validation and defaults of the collector's configuration
// (hwcast.v1.CollectorConfig).
#ifndef HWCAST_SERVICES_COLLECTOR_COLLECTOR_CONFIG_H_
#define HWCAST_SERVICES_COLLECTOR_COLLECTOR_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast::collector {

inline constexpr char kDefaultRelayAddress[] = "127.0.0.1:7430";
inline constexpr char kDefaultListenTcp[] = "127.0.0.1:7432";
inline constexpr char kDefaultListenUnix[] = "unix:/run/hwcast/collector.sock";
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9432";
inline constexpr absl::Duration kDefaultInterval = absl::Seconds(10);
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);
inline constexpr absl::Duration kDefaultTemperatureAlertReplyTimeout =
    absl::Seconds(2);
// usb_temper and chaoskey sources.
inline constexpr absl::Duration kDefaultUsbRescanInterval = absl::Seconds(5);
inline constexpr uint32_t kDefaultUsbTemperMaxFailures = 3;
inline constexpr absl::Duration kDefaultUsbTemperRetryAfter = absl::Seconds(30);
inline constexpr absl::Duration kDefaultUsbTemperTransferTimeout =
    absl::Seconds(1);
inline constexpr absl::Duration kDefaultChaosKeyTransferTimeout =
    absl::Seconds(1);
inline constexpr uint32_t kDefaultBatchMaxReadings = 256;
inline constexpr uint32_t kMaxBatchMaxReadings = 10000;
inline constexpr absl::Duration kDefaultBatchMaxDelay = absl::Milliseconds(200);
inline constexpr absl::Duration kMaxBatchMaxDelay = absl::Minutes(1);
inline constexpr uint32_t kDefaultBufferBatches = 10000;
inline constexpr uint32_t kMaxBufferBatches = 1000000;
inline constexpr uint32_t kDefaultMaxBatchBytes = 1200;
inline constexpr uint32_t kMinMaxBatchBytes = 256;
inline constexpr uint32_t kMaxMaxBatchBytes = 1 << 20;

// Checks a CollectorConfig as loaded from YAML (before defaults). Returns
// INVALID_ARGUMENT naming the key, e.g. "sources[1].file.path: required" or
// "relays[0]: 'relay' needs a port, e.g. 127.0.0.1:7430". Rules:
//   - collector_id, host: no whitespace or control characters;
//   - server.listen[i]: "HOST:PORT" (port 0 allowed) or "unix:/abs/path";
//     server.metrics_listen: "", "off" or "HOST:PORT";
//   - relays[i]: "HOST:PORT" (port 1..65535, IPv6 in brackets),
//     "unix:/abs/path" or "dns:..."; no duplicates;
//   - sources[i]: exactly one of hwmon / file / power_node / nut / exec;
//     interval and timeout positive when set (timeout may exceed interval);
//     id of letters, digits and "_.:-" (no '/', it separates sensor ids;
//     only a nut source's default "nut/UPS" has one); effective ids unique
//     (see DefaultSourceId);
//     file.path required and absolute; file/exec kind temperature or
//     humidity, scale finite and nonzero, offset finite; hwmon.root absolute
//     when set; power_node.target required, HOST:PORT (port 1..65535);
//     nut.address HOST:PORT when set, nut.ups required (letters, digits,
//     "_.-"), nut.username without whitespace, nut.password_file absolute
//     and only with a username; exec.argv non-empty, argv[0] an absolute
//     path or a name looked up in PATH (no relative path), no NUL;
//   - batch_max_readings <= 10000; batch_max_delay in (0, 1m];
//     buffer_batches <= 1000000; max_batch_bytes 0 (default 1200) or in
//     [256, 1048576];
//   - signing_key: a path without control characters (the file itself is
//     loaded at start-up by Ed25519BatchSigner::FromFile);
//   - reconnect: durations positive, max >= initial, multiplier >= 1,
//     jitter in [0, 1].
// Addresses, server, durations and reconnect are checked (and worded) as in
// lib/config_checks.h. Suitable for LoadConfigOrExit.
absl::Status ValidateCollectorConfig(const google::protobuf::Message& config);

// The id a source gets when none is configured: "hwmon" for hwmon sources,
// the file's base name without extension for file sources
// ("/run/room.temp" -> "room"), "power_node" for power nodes, "nut/UPS" for
// nut sources, and argv[0]'s base name for exec sources
// ("/usr/local/bin/read-temp" -> "read-temp").
std::string DefaultSourceId(const hwcast::v1::SourceConfig& source);

// A validated config with every default filled in explicitly: host and
// collector_id (`system_host`), relays, one hwmon source if none, source ids,
// intervals, timeouts, hwmon root, file and exec kind and scale, nut address,
// batch limits, buffer size, metrics address. server.listen is left as
// configured (main() applies the default listen addresses and their fallback).
hwcast::v1::CollectorConfig ApplyCollectorDefaults(
    const hwcast::v1::CollectorConfig& config, const std::string& system_host);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_COLLECTOR_CONFIG_H_
