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

TEST(RelayConfigTest, EmptyConfigIsValidAndGetsDefaults) {
  RelayConfig empty;
  EXPECT_TRUE(ValidateRelayConfig(empty).ok());
  RelayConfig effective = EffectiveRelayConfig(empty);
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
)");
  ASSERT_TRUE(ValidateRelayConfig(config).ok());
  RelayConfig effective = EffectiveRelayConfig(config);
  EXPECT_EQ(effective.server().listen_size(), 2);
  EXPECT_EQ(effective.server().listen(0), "[::1]:0");
  EXPECT_EQ(effective.server().metrics_listen(), "off");
  EXPECT_EQ(effective.subscriber_queue_batches(), 16u);
  EXPECT_EQ(effective.max_batch_bytes(), 65536u);
}

TEST(RelayConfigTest, BadListenAddressesNameTheKey) {
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:7430\", \"\"]}"),
              HasSubstr("server.listen[1]: empty address"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:99999\"]}"),
              HasSubstr("server.listen[0]: '127.0.0.1:99999': port must be"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"localhost\"]}"),
              HasSubstr("server.listen[0]: 'localhost': expected HOST:PORT"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"::1:7430\"]}"),
              HasSubstr("in brackets"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"unix:\"]}"),
              HasSubstr("server.listen[0]: empty unix socket path"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"unix:relay.sock\"]}"),
              HasSubstr("must be absolute"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:1\", \"127.0.0.1:1\"]}"),
              HasSubstr("server.listen[1]: '127.0.0.1:1' duplicates "
                        "server.listen[0]"));
  EXPECT_THAT(ErrorOf("server: {listen: [\"127.0.0.1:x\"]}"),
              HasSubstr("port must be 0..65535"));
}

TEST(RelayConfigTest, BadMetricsAddress) {
  EXPECT_THAT(ErrorOf("server: {metrics_listen: \"nope\"}"),
              HasSubstr("server.metrics_listen: 'nope': expected HOST:PORT"));
  EXPECT_THAT(ErrorOf("server: {metrics_listen: \"unix:/tmp/m\"}"),
              HasSubstr("server.metrics_listen: metrics are served over HTTP"));
}

TEST(RelayConfigTest, BadLimits) {
  EXPECT_THAT(ErrorOf("subscriber_queue_batches: 2000000"),
              HasSubstr("subscriber_queue_batches: must be at most 1000000"));
  EXPECT_THAT(ErrorOf("max_batch_bytes: 100"),
              HasSubstr("max_batch_bytes: must be between 1024 and"));
  EXPECT_THAT(ErrorOf("max_batch_bytes: 8388608"),
              HasSubstr("max_batch_bytes: must be between"));
}

TEST(RelayConfigTest, RejectsOtherMessageTypes) {
  hwcast::v1::ActuatorConfig other;
  EXPECT_FALSE(ValidateRelayConfig(other).ok());
}

}  // namespace
}  // namespace hwcast::relay
