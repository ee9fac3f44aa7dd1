// Validation and defaults for the relay's configuration
// (hwcast.v1.RelayConfig in proto/hwcast/v1/config.proto).
//
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_RELAY_RELAY_CONFIG_H_
#define HWCAST_SERVICES_RELAY_RELAY_CONFIG_H_

#include <cstdint>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast::relay {

inline constexpr char kDefaultListenTcp[] = "127.0.0.1:7430";
inline constexpr char kDefaultListenUnix[] = "unix:/run/hwcast/relay.sock";
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9430";
inline constexpr char kMetricsOff[] = "off";
inline constexpr uint32_t kDefaultSubscriberQueueBatches = 1024;
inline constexpr uint32_t kMaxSubscriberQueueBatches = 1'000'000;
inline constexpr uint32_t kDefaultMaxBatchBytes = 1 << 20;
inline constexpr uint32_t kMinMaxBatchBytes = 1024;
// gRPC refuses messages over 4 MiB; leave room for the signature and the
// PublishRequest framing around the batch.
inline constexpr uint32_t kMaxMaxBatchBytes = (4 << 20) - (64 << 10);

// Checks an hwcast.v1.RelayConfig as loaded from YAML (before defaults are
// applied). Returns INVALID_ARGUMENT naming the offending key, e.g.
// "server.listen[1]: '127.0.0.1:99999': port must be 0..65535". Suitable as
// the validator passed to LoadConfigOrExit.
absl::Status ValidateRelayConfig(const google::protobuf::Message& config);

// The configuration the relay runs with: `config` with every unset field
// given its default: server.listen ([kDefaultListenTcp, kDefaultListenUnix]),
// server.metrics_listen (kDefaultMetricsListen; "off" stays "off"),
// subscriber_queue_batches and max_batch_bytes.
hwcast::v1::RelayConfig EffectiveRelayConfig(hwcast::v1::RelayConfig config);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_CONFIG_H_
