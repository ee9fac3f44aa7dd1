// Validation and defaults for the relay's configuration
// (hwcast.v1.RelayConfig in proto/hwcast/v1/config.proto).
//
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_RELAY_RELAY_CONFIG_H_
#define HWCAST_SERVICES_RELAY_RELAY_CONFIG_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast::relay {

inline constexpr char kDefaultListenTcp[] = "127.0.0.1:7430";
inline constexpr char kDefaultListenUnix[] = "unix:/run/hwcast/relay.sock";
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9430";
inline constexpr uint32_t kDefaultSubscriberQueueBatches = 1024;
inline constexpr uint32_t kMaxSubscriberQueueBatches = 1'000'000;
inline constexpr uint32_t kDefaultMaxBatchBytes = 1 << 20;
inline constexpr uint32_t kMinMaxBatchBytes = 1024;
// gRPC refuses messages over 4 MiB; leave room for the signature and the
// PublishRequest framing around the batch.
inline constexpr uint32_t kMaxMaxBatchBytes = (4 << 20) - (64 << 10);

// Multicast and bridge defaults (hwcast.v1.MulticastConfig, BridgeConfig).
inline constexpr uint32_t kDefaultMulticastPort = 7433;
inline constexpr uint32_t kDefaultMulticastTtl = 1;
inline constexpr absl::Duration kDefaultReannounceInterval = absl::Seconds(30);
inline constexpr absl::Duration kDefaultReannounceRequestMinInterval =
    absl::Seconds(5);
inline constexpr uint32_t kDefaultSenderRate = 200;
inline constexpr uint32_t kDefaultMaxSenders = 256;
inline constexpr uint32_t kDefaultIngestRate = 2000;
// The multicast socket's receive buffer: about 3,000 datagrams of 1,400
// bytes by default (a second of a 1,000-host room at 3/s).
inline constexpr uint32_t kDefaultReceiveBufferBytes = 16 << 20;
inline constexpr uint32_t kMinReceiveBufferBytes = 64 << 10;
inline constexpr uint32_t kMaxReceiveBufferBytes = 256 << 20;
// multicast.verify_queue_datagrams: admitted datagrams waiting for a check.
inline constexpr uint32_t kDefaultVerifyQueueDatagrams = 4096;
inline constexpr uint32_t kMinVerifyQueueDatagrams = 16;
inline constexpr uint32_t kMaxVerifyQueueDatagrams = 1 << 20;
inline constexpr absl::Duration kDefaultSubscriberStallTimeout =
    absl::Seconds(30);
inline constexpr uint32_t kDefaultBridgeHopLimit = 2;
inline constexpr uint32_t kMaxBridgeHopLimit = 16;

// Entropy pool defaults and limits (hwcast.v1.EntropyPoolConfig).
inline constexpr uint32_t kDefaultEntropyMaxChunks = 256;
inline constexpr uint32_t kMaxEntropyMaxChunks = 65536;
inline constexpr absl::Duration kDefaultEntropyMaxChunkAge = absl::Minutes(4);
inline constexpr uint32_t kDefaultEntropyHostRateBytes = 1024;
inline constexpr uint32_t kDefaultEntropyHostBurstBytes = 16384;
inline constexpr uint32_t kMaxEntropyHostBytes = 1u << 30;

// Checks an hwcast.v1.RelayConfig as loaded from YAML (before defaults are
// applied). Returns INVALID_ARGUMENT naming the offending key, e.g.
// "server.listen[1]: '127.0.0.1:99999': port '99999' must be a number from 0
// to 65535". Addresses, server, bridge.upstream and bridge.reconnect are
// checked as in lib/config_checks.h (server.tls_listen and server.tls by
// CheckServerConfig); entropy.max_chunk_age, when set, must be below
// freshness.max_age (so actuators still accept the chunks they are dealt).
// Suitable as the validator passed to LoadConfigOrExit.
absl::Status ValidateRelayConfig(const google::protobuf::Message& config);

// The configuration the relay runs with: `config` with every unset field
// given its default: server.listen ([kDefaultListenTcp, kDefaultListenUnix]),
// server.metrics_listen (kDefaultMetricsListen; "off" stays "off"),
// subscriber_queue_batches, subscriber_stall_timeout and max_batch_bytes; when
// multicast is on, its port, ttl, reannounce intervals, max_datagram_bytes,
// sender_rate, sender_burst (2 x rate), max_senders, ingest_rate and
// ingest_burst (2 x rate); bridge.hop_limit; entropy max_chunks (256),
// max_chunk_age (4m, or 4/5 of freshness.max_age when that is shorter),
// host_rate_bytes (1024) and host_burst_bytes (16384).
hwcast::v1::RelayConfig ApplyRelayDefaults(hwcast::v1::RelayConfig config);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_CONFIG_H_
