#include "services/relay/relay_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"
#include "lib/config_loader.h"

namespace hwcast::relay {
namespace {

using hwcast::v1::RelayConfig;
using ::testing::HasSubstr;

RelayConfig Parse(const std::string& yaml) {
  RelayConfig config;
  absl::Status s = ParseYamlConfig(yaml, "relay.yaml", &config);
  EXPECT_TRUE(s.ok()) << s;
  return config;
}

std::string ErrorOf(const std::string& yaml) {
  absl::Status s = ValidateRelayConfig(Parse(yaml));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << yaml;
  return std::string(s.message());
}

TEST(RelayConfigTest, EmptyConfigLacksTheTrustFile) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("trust_file: required"));
  EXPECT_THAT(ErrorOf("server: {metrics_listen: \"off\"}"),
              HasSubstr("insecure_accept_unsigned: true"));
}

TEST(RelayConfigTest, MinimalConfigGetsDefaults) {
  RelayConfig minimal = Parse("trust_file: /etc/hwcast/trust.yaml");
  EXPECT_TRUE(ValidateRelayConfig(minimal).ok());
  EXPECT_TRUE(
      ValidateRelayConfig(Parse("insecure_accept_unsigned: true")).ok());
  RelayConfig effective = ApplyRelayDefaults(minimal);
  EXPECT_TRUE(effective.multicast().group().empty());  // off unless set
  EXPECT_EQ(effective.bridge().hop_limit(), 2u);
  ASSERT_EQ(effective.server().listen_size(), 2);
  EXPECT_EQ(effective.server().listen(0), "127.0.0.1:7430");
  EXPECT_EQ(effective.server().listen(1), "unix:/run/hwcast/relay.sock");
  EXPECT_EQ(effective.server().metrics_listen(), "127.0.0.1:9430");
  EXPECT_EQ(effective.subscriber_queue_batches(), 1024u);
  EXPECT_EQ(effective.max_batch_bytes(), 1u << 20);
}

TEST(RelayConfigTest, ExplicitValuesAreKept) {
  RelayConfig config = Parse(R"(
server:
  listen: ["[::1]:0", "unix:/tmp/r.sock"]
  metrics_listen: "off"
subscriber_queue_batches: 16
max_batch_bytes: 65536
trust_file: trust.yaml
freshness: {max_age: 2m, max_clock_skew: 5s}
multicast:
  group: ff15::7077
  port: 9999
  interface: eth0
  ttl: 4
  loopback: true
  reannounce_interval: 2s
  max_datagram_bytes: 1200
  sender_rate: 50
bridge: {upstream: ["far:7430", "dns:///relay.lan:7430"], hop_limit: 3}
)");
  ASSERT_TRUE(ValidateRelayConfig(config).ok());
  RelayConfig effective = ApplyRelayDefaults(config);
  EXPECT_EQ(effective.server().listen_size(), 2);
  EXPECT_EQ(effective.server().listen(0), "[::1]:0");
  EXPECT_EQ(effective.server().metrics_listen(), "off");
  EXPECT_EQ(effective.subscriber_queue_batches(), 16u);
  EXPECT_EQ(effective.max_batch_bytes(), 65536u);
  const auto& m = effective.multicast();
  EXPECT_EQ(m.group(), "ff15::7077");
  EXPECT_EQ(m.port(), 9999u);
  EXPECT_EQ(m.ttl(), 4u);
  EXPECT_TRUE(m.loopback());
  EXPECT_EQ(m.reannounce_interval().seconds(), 2);
  EXPECT_EQ(m.reannounce_request_min_interval().seconds(), 5);  // default
  EXPECT_EQ(m.max_datagram_bytes(), 1200u);
  EXPECT_EQ(m.sender_rate(), 50u);
  EXPECT_EQ(m.sender_burst(), 100u);  // default 2 x rate
  EXPECT_EQ(m.max_senders(), 256u);
  EXPECT_EQ(effective.bridge().hop_limit(), 3u);
}

TEST(RelayConfigTest, MulticastDefaultsWhenOnlyTheGroupIsSet) {
  RelayConfig config =
      Parse("trust_file: t.yaml\nmulticast: {group: 239.255.70.77}");
  ASSERT_TRUE(ValidateRelayConfig(config).ok());
  const auto m = ApplyRelayDefaults(config).multicast();
  EXPECT_EQ(m.port(), 7433u);
  EXPECT_EQ(m.ttl(), 1u);
  EXPECT_FALSE(m.loopback());
  EXPECT_EQ(m.reannounce_interval().seconds(), 30);
  EXPECT_EQ(m.max_datagram_bytes(), 1400u);
  EXPECT_EQ(m.sender_rate(), 200u);
  EXPECT_EQ(m.sender_burst(), 400u);
  EXPECT_EQ(m.ingest_rate(), 2000u);
  EXPECT_EQ(m.ingest_burst(), 4000u);
  EXPECT_EQ(m.receive_buffer_bytes(), 16u << 20);
  EXPECT_EQ(m.verify_queue_datagrams(), 4096u);
}

TEST(RelayConfigTest, BadMulticastAndBridgeSettingsNameTheKey) {
  const std::string t = "trust_file: t.yaml\n";
  EXPECT_THAT(ErrorOf(t + "multicast: {group: 10.0.0.1}"),
              HasSubstr("multicast.group"));
  EXPECT_THAT(ErrorOf(t + "multicast: {group: nope}"),
              HasSubstr("multicast.group"));
  EXPECT_THAT(ErrorOf(t + "multicast: {port: 7433}"),
              HasSubstr("multicast.group: required"));
  EXPECT_THAT(ErrorOf(t + "multicast: {group: 239.1.2.3, port: 70000}"),
              HasSubstr("multicast.port: must be 1..65535"));
  EXPECT_THAT(ErrorOf(t + "multicast: {group: 239.1.2.3, ttl: 300}"),
              HasSubstr("multicast.ttl"));
  EXPECT_THAT(
      ErrorOf(t + "multicast: {group: 239.1.2.3, max_datagram_bytes: 9000}"),
      HasSubstr("multicast.max_datagram_bytes: must be between 512 and 1400"));
  EXPECT_THAT(
      ErrorOf(t + "multicast: {group: 239.1.2.3, reannounce_interval: 1ms}"),
      HasSubstr("multicast.reannounce_interval: must be at least 100ms"));
  EXPECT_THAT(ErrorOf(t + "multicast: {group: 239.1.2.3, ingest_rate: 1000, "
                          "ingest_burst: 10}"),
              HasSubstr("multicast.ingest_burst: must be at least a tenth"));
  EXPECT_THAT(
      ErrorOf(t + "multicast: {group: 239.1.2.3, receive_buffer_bytes: 1000}"),
      HasSubstr("multicast.receive_buffer_bytes: must be between 65536 and "
                "268435456"));
  EXPECT_TRUE(ValidateRelayConfig(Parse(t + "multicast: {group: 239.1.2.3, "
                                            "receive_buffer_bytes: 16777216}"))
                  .ok());
  EXPECT_THAT(
      ErrorOf(t + "multicast: {group: 239.1.2.3, verify_queue_datagrams: 8}"),
      HasSubstr("multicast.verify_queue_datagrams: must be between 16 and "
                "1048576"));
  EXPECT_THAT(ErrorOf(t + "bridge: {upstream: [\"nohost\"]}"),
              HasSubstr("bridge.upstream[0]: 'nohost' needs a port"));
  EXPECT_THAT(ErrorOf(t + "bridge: {upstream: [\"far:0\"]}"),
              HasSubstr("bridge.upstream[0]: 'far:0': port '0' must be a "
                        "number from 1 to 65535"));
  EXPECT_THAT(ErrorOf(t + "bridge: {upstream: [\"a:1\", \"a:1\"]}"),
              HasSubstr("bridge.upstream[1]: 'a:1' duplicates"));
  EXPECT_THAT(ErrorOf(t + "bridge: {hop_limit: 17}"),
              HasSubstr("bridge.hop_limit: must be 1..16"));
  EXPECT_THAT(ErrorOf(t + "bridge: {reconnect: {initial: 10s, max: 1s}}"),
              HasSubstr("bridge.reconnect.max: must be at least "
                        "bridge.reconnect.initial (10s)"));
  EXPECT_THAT(ErrorOf(t + "freshness: {max_age: 1s}"),
              HasSubstr("freshness.max_age"));
}

TEST(RelayConfigTest, BadListenAddressesNameTheKey) {
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:7430\", \"\"]}"),
              HasSubstr("server.listen[1]: empty address"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:99999\"]}"),
              HasSubstr("server.listen[0]: '127.0.0.1:99999': port '99999' "
                        "must be a number from 0 to 65535"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"localhost\"]}"),
              HasSubstr("server.listen[0]: 'localhost' needs a port"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"::1:7430\"]}"),
              HasSubstr("IPv6 addresses need brackets"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"unix:\"]}"),
              HasSubstr("server.listen[0]: empty unix socket path"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"unix:relay.sock\"]}"),
              HasSubstr("must be absolute"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:1\", \"127.0.0.1:1\"]}"),
              HasSubstr("server.listen[1]: '127.0.0.1:1' duplicates "
                        "server.listen[0]"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:x\"]}"),
              HasSubstr("port 'x' must be a number from 0 to 65535"));
}

TEST(RelayConfigTest, BadMetricsAddress) {
  EXPECT_THAT(ErrorOf("server: {metrics_listen: \"nope\"}"),
              HasSubstr("server.metrics_listen: 'nope' needs a port"));
  EXPECT_THAT(ErrorOf("server: {metrics_listen: \"unix:/tmp/m\"}"),
              HasSubstr("server.metrics_listen: 'unix:/tmp/m': metrics are "
                        "served over HTTP"));
}

TEST(RelayConfigTest, BadLimits) {
  EXPECT_THAT(ErrorOf("subscriber_queue_batches: 2000000"),
              HasSubstr("subscriber_queue_batches: must be at most 1000000"));
  EXPECT_THAT(ErrorOf("max_batch_bytes: 100"),
              HasSubstr("max_batch_bytes: must be between 1024 and"));
  EXPECT_THAT(ErrorOf("max_batch_bytes: 8388608"),
              HasSubstr("max_batch_bytes: must be between"));
}

TEST(RelayConfigTest, EntropyPoolDefaultsAndExplicitValues) {
  RelayConfig effective =
      ApplyRelayDefaults(Parse("trust_file: /etc/hwcast/trust.yaml"));
  EXPECT_EQ(effective.entropy().max_chunks(), 256u);
  EXPECT_EQ(effective.entropy().max_chunk_age().seconds(), 240);
  EXPECT_EQ(effective.entropy().host_rate_bytes(), 1024u);
  EXPECT_EQ(effective.entropy().host_burst_bytes(), 16384u);
  EXPECT_FALSE(effective.entropy().allow_plaintext());

  // A shorter freshness.max_age shortens the default chunk age with it.
  effective =
      ApplyRelayDefaults(Parse("trust_file: t.yaml\nfreshness: {max_age: 1m}"));
  EXPECT_EQ(effective.entropy().max_chunk_age().seconds(), 48);

  RelayConfig config = Parse(R"(
trust_file: t.yaml
server:
  tls_listen: ["0.0.0.0:7431"]
  tls: {cert_file: /etc/hwcast/relay.pem, key_file: /etc/hwcast/relay.key}
entropy:
  max_chunks: 1000
  max_chunk_age: 90s
  host_rate_bytes: 4096
  host_burst_bytes: 65536
  allow_plaintext: true
)");
  ASSERT_TRUE(ValidateRelayConfig(config).ok()) << ValidateRelayConfig(config);
  effective = ApplyRelayDefaults(config);
  EXPECT_EQ(effective.entropy().max_chunks(), 1000u);
  EXPECT_EQ(effective.entropy().max_chunk_age().seconds(), 90);
  EXPECT_EQ(effective.entropy().host_rate_bytes(), 4096u);
  EXPECT_EQ(effective.entropy().host_burst_bytes(), 65536u);
  EXPECT_TRUE(effective.entropy().allow_plaintext());
  ASSERT_EQ(effective.server().tls_listen_size(), 1);
}

TEST(RelayConfigTest, BadEntropyPool) {
  EXPECT_THAT(
      ErrorOf("trust_file: t\nentropy: {max_chunk_age: 5m}"),
      HasSubstr("entropy.max_chunk_age: must be below freshness.max_age"));
  EXPECT_THAT(ErrorOf("trust_file: t\nfreshness: {max_age: 1m}\n"
                      "entropy: {max_chunk_age: 2m}"),
              HasSubstr("entropy.max_chunk_age: must be below"));
  EXPECT_THAT(ErrorOf("trust_file: t\nentropy: {max_chunks: 100000}"),
              HasSubstr("entropy.max_chunks: must be at most 65536"));
  EXPECT_THAT(ErrorOf("trust_file: t\nentropy: {host_rate_bytes: 2000000000}"),
              HasSubstr("entropy.host_rate_bytes: must be at most"));
  EXPECT_THAT(ErrorOf("trust_file: t\nentropy: {host_burst_bytes: 2000000000}"),
              HasSubstr("entropy.host_burst_bytes: must be at most"));
}

TEST(RelayConfigTest, BadTlsListen) {
  // lib/config_checks.h CheckServerTls, through CheckServerConfig.
  EXPECT_THAT(
      ErrorOf("trust_file: t\nserver: {tls_listen: [\"0.0.0.0:7431\"]}"),
      HasSubstr("server.tls.cert_file: required"));
  EXPECT_THAT(ErrorOf("trust_file: t\nserver: {tls: {cert_file: c.pem, "
                      "key_file: k.pem}}"),
              HasSubstr("server.tls: set, but server.tls_listen is empty"));
  EXPECT_THAT(ErrorOf("trust_file: t\nserver: {tls_listen: [\"relay\"], "
                      "tls: {cert_file: c.pem, key_file: k.pem}}"),
              HasSubstr("server.tls_listen[0]: 'relay' needs a port"));
}

TEST(RelayConfigTest, RejectsOtherMessageTypes) {
  hwcast::v1::ActuatorConfig other;
  EXPECT_FALSE(ValidateRelayConfig(other).ok());
}

}  // namespace
}  // namespace hwcast::relay
