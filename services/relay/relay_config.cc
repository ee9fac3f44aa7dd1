#include "services/relay/relay_config.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/config_checks.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/relay/datagram.h"
#include "services/relay/udp_multicast_transport.h"

namespace hwcast::relay {
namespace {

using hwcast::v1::RelayConfig;

absl::Status CheckMulticast(const hwcast::v1::MulticastConfig& m) {
  if (m.group().empty()) {
    const bool other_set = m.port() != 0 || !m.interface().empty() ||
                           m.ttl() != 0 || m.loopback() ||
                           m.has_reannounce_interval() ||
                           m.max_datagram_bytes() != 0;
    if (other_set) {
      return ConfigError("multicast.group",
                         "required when other multicast settings are given "
                         "(e.g. 239.255.70.77 or ff15::7077)");
    }
    return absl::OkStatus();
  }
  HWCAST_RETURN_IF_ERROR(CheckMulticastGroup("multicast.group", m.group()));
  if (m.port() > 65535) {
    return ConfigError("multicast.port", "must be 1..65535 (0 or unset: 7433)");
  }
  if (m.ttl() > 255) {
    return ConfigError("multicast.ttl", "must be 1..255 (0 or unset: 1)");
  }
  if (m.max_datagram_bytes() != 0 &&
      (m.max_datagram_bytes() < kMinDatagramBytes ||
       m.max_datagram_bytes() > kMaxDatagramBytes)) {
    return ConfigError("multicast.max_datagram_bytes",
                       absl::StrCat("must be between ", kMinDatagramBytes,
                                    " and ", kMaxDatagramBytes,
                                    " (0 or unset: ", kMaxDatagramBytes, ")"));
  }
  HWCAST_RETURN_IF_ERROR(CheckNonNegativeDuration(
      "multicast.reannounce_interval", m.reannounce_interval()));
  if (m.has_reannounce_interval() &&
      FromProtoDuration(m.reannounce_interval()) != absl::ZeroDuration() &&
      FromProtoDuration(m.reannounce_interval()) < absl::Milliseconds(100)) {
    return ConfigError("multicast.reannounce_interval",
                       "must be at least 100ms");
  }
  HWCAST_RETURN_IF_ERROR(
      CheckNonNegativeDuration("multicast.reannounce_request_min_interval",
                               m.reannounce_request_min_interval()));
  if (m.sender_burst() != 0 && m.sender_rate() != 0 &&
      m.sender_burst() < m.sender_rate() / 10) {
    return ConfigError("multicast.sender_burst",
                       "must be at least a tenth of sender_rate");
  }
  if (m.ingest_burst() != 0 && m.ingest_rate() != 0 &&
      m.ingest_burst() < m.ingest_rate() / 10) {
    return ConfigError("multicast.ingest_burst",
                       "must be at least a tenth of ingest_rate");
  }
  if (m.receive_buffer_bytes() != 0 &&
      (m.receive_buffer_bytes() < kMinReceiveBufferBytes ||
       m.receive_buffer_bytes() > kMaxReceiveBufferBytes)) {
    return ConfigError(
        "multicast.receive_buffer_bytes",
        absl::StrCat("must be between ", kMinReceiveBufferBytes, " and ",
                     kMaxReceiveBufferBytes,
                     " (0 or unset: ", kDefaultReceiveBufferBytes, ")"));
  }
  if (m.verify_queue_datagrams() != 0 &&
      (m.verify_queue_datagrams() < kMinVerifyQueueDatagrams ||
       m.verify_queue_datagrams() > kMaxVerifyQueueDatagrams)) {
    return ConfigError(
        "multicast.verify_queue_datagrams",
        absl::StrCat("must be between ", kMinVerifyQueueDatagrams, " and ",
                     kMaxVerifyQueueDatagrams,
                     " (0 or unset: ", kDefaultVerifyQueueDatagrams, ")"));
  }
  if (m.max_senders() > 65536) {
    return ConfigError("multicast.max_senders", "must be at most 65536");
  }
  return absl::OkStatus();
}

absl::Status CheckBridge(const hwcast::v1::BridgeConfig& bridge) {
  HWCAST_RETURN_IF_ERROR(
      CheckDialTargetList("bridge.upstream", bridge.upstream()));
  if (bridge.hop_limit() > kMaxBridgeHopLimit) {
    return ConfigError(
        "bridge.hop_limit",
        absl::StrCat("must be 1..", kMaxBridgeHopLimit,
                     " (0 or unset: ", kDefaultBridgeHopLimit, ")"));
  }
  HWCAST_RETURN_IF_ERROR(CheckTlsClient(bridge.tls(), "bridge.tls"));
  return CheckBackoffConfig("bridge.reconnect", bridge.reconnect());
}

absl::Status CheckEntropyPool(const RelayConfig& config) {
  const hwcast::v1::EntropyPoolConfig& e = config.entropy();
  if (e.max_chunks() > kMaxEntropyMaxChunks) {
    return ConfigError(
        "entropy.max_chunks",
        absl::StrCat("must be at most ", kMaxEntropyMaxChunks,
                     " (0 or unset: ", kDefaultEntropyMaxChunks, ")"));
  }
  if (e.has_max_chunk_age()) {
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration("entropy.max_chunk_age", e.max_chunk_age()));
    const absl::Duration max_age =
        FreshnessFromConfig(config.freshness()).max_age;
    if (FromProtoDuration(e.max_chunk_age()) >= max_age) {
      return ConfigError("entropy.max_chunk_age",
                         absl::StrCat("must be below freshness.max_age (",
                                      absl::FormatDuration(max_age),
                                      "): actuators refuse older batches"));
    }
  }
  if (e.host_rate_bytes() > kMaxEntropyHostBytes) {
    return ConfigError(
        "entropy.host_rate_bytes",
        absl::StrCat("must be at most ", kMaxEntropyHostBytes,
                     " (0 or unset: ", kDefaultEntropyHostRateBytes, ")"));
  }
  if (e.host_burst_bytes() > kMaxEntropyHostBytes) {
    return ConfigError(
        "entropy.host_burst_bytes",
        absl::StrCat("must be at most ", kMaxEntropyHostBytes,
                     " (0 or unset: ", kDefaultEntropyHostBurstBytes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRelayConfig(const google::protobuf::Message& message) {
  const auto* config = dynamic_cast<const RelayConfig*>(&message);
  if (config == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected hwcast.v1.RelayConfig, got ",
                     message.GetDescriptor()->full_name()));
  }
  HWCAST_RETURN_IF_ERROR(CheckServerConfig(config->server()));
  if (config->subscriber_queue_batches() > kMaxSubscriberQueueBatches) {
    return ConfigError(
        "subscriber_queue_batches",
        absl::StrCat("must be at most ", kMaxSubscriberQueueBatches,
                     " (0 or unset: ", kDefaultSubscriberQueueBatches, ")"));
  }
  HWCAST_RETURN_IF_ERROR(CheckNonNegativeDuration(
      "subscriber_stall_timeout", config->subscriber_stall_timeout()));
  if (config->has_subscriber_stall_timeout() &&
      FromProtoDuration(config->subscriber_stall_timeout()) !=
          absl::ZeroDuration() &&
      FromProtoDuration(config->subscriber_stall_timeout()) <
          absl::Seconds(1)) {
    return ConfigError("subscriber_stall_timeout", "must be at least 1s");
  }
  const uint32_t max_bytes = config->max_batch_bytes();
  if (max_bytes != 0 &&
      (max_bytes < kMinMaxBatchBytes || max_bytes > kMaxMaxBatchBytes)) {
    return ConfigError(
        "max_batch_bytes",
        absl::StrCat("must be between ", kMinMaxBatchBytes, " and ",
                     kMaxMaxBatchBytes,
                     " (gRPC's 4 MiB message limit less room for the "
                     "signature); 0 or unset: ",
                     kDefaultMaxBatchBytes));
  }
  if (config->trust_file().empty() && !config->insecure_accept_unsigned()) {
    return ConfigError("trust_file",
                       "required: the file of trusted collector keys (see "
                       "`hwcastctl keygen`); or set insecure_accept_unsigned: "
                       "true to accept readings anyone could forge");
  }
  HWCAST_RETURN_IF_ERROR(ValidateFreshnessConfig(config->freshness()));
  HWCAST_RETURN_IF_ERROR(CheckMulticast(config->multicast()));
  HWCAST_RETURN_IF_ERROR(CheckBridge(config->bridge()));
  HWCAST_RETURN_IF_ERROR(CheckEntropyPool(*config));
  return absl::OkStatus();
}

RelayConfig ApplyRelayDefaults(RelayConfig config) {
  hwcast::v1::ServerConfig* server = config.mutable_server();
  if (server->listen().empty()) {
    server->add_listen(kDefaultListenTcp);
    server->add_listen(kDefaultListenUnix);
  }
  if (server->metrics_listen().empty()) {
    server->set_metrics_listen(kDefaultMetricsListen);
  }
  if (FromProtoDuration(config.subscriber_stall_timeout()) ==
      absl::ZeroDuration()) {
    *config.mutable_subscriber_stall_timeout() =
        ToProtoDuration(kDefaultSubscriberStallTimeout);
  }
  if (config.subscriber_queue_batches() == 0) {
    config.set_subscriber_queue_batches(kDefaultSubscriberQueueBatches);
  }
  if (config.max_batch_bytes() == 0) {
    config.set_max_batch_bytes(kDefaultMaxBatchBytes);
  }
  hwcast::v1::MulticastConfig* m = config.mutable_multicast();
  if (!m->group().empty()) {
    if (m->port() == 0) m->set_port(kDefaultMulticastPort);
    if (m->ttl() == 0) m->set_ttl(kDefaultMulticastTtl);
    if (FromProtoDuration(m->reannounce_interval()) == absl::ZeroDuration()) {
      *m->mutable_reannounce_interval() =
          ToProtoDuration(kDefaultReannounceInterval);
    }
    if (FromProtoDuration(m->reannounce_request_min_interval()) ==
        absl::ZeroDuration()) {
      *m->mutable_reannounce_request_min_interval() =
          ToProtoDuration(kDefaultReannounceRequestMinInterval);
    }
    if (m->max_datagram_bytes() == 0) {
      m->set_max_datagram_bytes(kMaxDatagramBytes);
    }
    if (m->sender_rate() == 0) m->set_sender_rate(kDefaultSenderRate);
    if (m->sender_burst() == 0) m->set_sender_burst(2 * m->sender_rate());
    if (m->max_senders() == 0) m->set_max_senders(kDefaultMaxSenders);
    if (m->ingest_rate() == 0) m->set_ingest_rate(kDefaultIngestRate);
    if (m->ingest_burst() == 0) m->set_ingest_burst(2 * m->ingest_rate());
    if (m->receive_buffer_bytes() == 0) {
      m->set_receive_buffer_bytes(kDefaultReceiveBufferBytes);
    }
    if (m->verify_queue_datagrams() == 0) {
      m->set_verify_queue_datagrams(kDefaultVerifyQueueDatagrams);
    }
  }
  if (config.bridge().hop_limit() == 0) {
    config.mutable_bridge()->set_hop_limit(kDefaultBridgeHopLimit);
  }
  hwcast::v1::EntropyPoolConfig* e = config.mutable_entropy();
  if (e->max_chunks() == 0) e->set_max_chunks(kDefaultEntropyMaxChunks);
  if (FromProtoDuration(e->max_chunk_age()) == absl::ZeroDuration()) {
    const absl::Duration max_age =
        FreshnessFromConfig(config.freshness()).max_age;
    *e->mutable_max_chunk_age() =
        ToProtoDuration(std::min(kDefaultEntropyMaxChunkAge, max_age * 4 / 5));
  }
  if (e->host_rate_bytes() == 0) {
    e->set_host_rate_bytes(kDefaultEntropyHostRateBytes);
  }
  if (e->host_burst_bytes() == 0) {
    e->set_host_burst_bytes(kDefaultEntropyHostBurstBytes);
  }
  return config;
}

}  // namespace hwcast::relay
