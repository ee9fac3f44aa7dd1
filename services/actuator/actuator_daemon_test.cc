// ActuatorDaemon::Reload with the real parts (policies from YAML, the
// dispatcher, the audit log, relay links), batches fed to its actuator.
#include "services/actuator/actuator_daemon.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/config_loader.h"
#include "lib/testing/scratch_dir.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ActuatorDaemonTest : public ::testing::Test {
 protected:
  void TearDown() override { daemon_.reset(); }

  std::string File(const std::string& name) const {
    return (std::filesystem::path(dir_) / name).string();
  }

  // A config: loopback only, no metrics, unsigned batches accepted, the
  // shutdown a dry run; `extra` YAML appended.
  hwcast::v1::ActuatorConfig Config(const std::string& extra) {
    const std::string yaml = absl::StrCat(R"(
host: node1
server: {listen: ["127.0.0.1:0"], metrics_listen: "off"}
insecure_accept_unsigned: true
)",
                                          extra);
    hwcast::v1::ActuatorConfig config;
    const absl::Status status = ParseYamlConfig(yaml, "test.yaml", &config);
    EXPECT_TRUE(status.ok()) << status;
    return config;
  }

  absl::Status Start(const hwcast::v1::ActuatorConfig& config) {
    ActuatorResources resources;
    if (absl::Status s = PrepareActuatorConfig(config, &resources); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::unique_ptr<ActuatorDaemon>> made =
        ActuatorDaemon::Create(config, std::move(resources));
    if (!made.ok()) return made.status();
    daemon_ = *std::move(made);
    return absl::OkStatus();
  }

  absl::Status Reload(const hwcast::v1::ActuatorConfig& config) {
    ActuatorResources resources;
    if (absl::Status s = PrepareActuatorConfig(config, &resources); !s.ok()) {
      return s;
    }
    return daemon_->Reload(config, std::move(resources));
  }

  // One unsigned batch with the room's temperature, now.
  void Room(double celsius) {
    hwcast::v1::ReadingBatch batch;
    batch.set_collector_id("c1");
    batch.set_epoch(1);
    batch.set_batch_sequence(++sequence_);
    *batch.mutable_sent_time() = ToProtoTime(absl::Now());
    hwcast::v1::Reading* r = batch.add_readings();
    r->set_host("h1");
    r->set_source_id("room");
    r->set_sequence(sequence_);
    *r->mutable_observed_time() = ToProtoTime(absl::Now());
    r->set_quality(hwcast::v1::QUALITY_OK);
    r->mutable_temperature()->set_celsius(celsius);
    hwcast::v1::SubscribeResponse response;
    response.mutable_batch()->set_batch(batch.SerializeAsString());
    ASSERT_EQ(daemon_->actuator().OnBatch(response, "test").result,
              BatchSink::Result::kAccepted);
  }

  std::map<std::string, std::string> States() {
    std::map<std::string, std::string> states;
    const hwcast::v1::ActuatorStatus status = daemon_->actuator().Status();
    for (const auto& p : status.policies()) {
      states[p.name()] = p.state();
    }
    return states;
  }

  static std::string Lines(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  testutil::ScratchDir scratch_{"hwcast_actuator_daemon"};
  const std::string dir_ = scratch_.path();
  uint64_t sequence_ = 0;
  std::unique_ptr<ActuatorDaemon> daemon_;
};

constexpr char kRoom[] = R"(
  - name: room-too-hot
    grace: 10m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      leave_below: 28
)";
constexpr char kRoomWarm[] = R"(
  - name: room-warm
    grace: 10m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 27
      leave_below: 25
)";

TEST_F(ActuatorDaemonTest, ReloadKeepsUnchangedPoliciesAndAppliesTheRest) {
  const std::string audit = File("audit.jsonl");
  ASSERT_TRUE(Start(Config(absl::StrCat("relays: ['127.0.0.1:1']\n",
                                        "actions: {audit_log: ", audit,
                                        "}\npolicies:", kRoom, kRoomWarm)))
                  .ok());
  Room(35);
  EXPECT_EQ(States()["room-too-hot"], "PRE_FAIL");
  EXPECT_EQ(States()["room-warm"], "PRE_FAIL");

  // room-too-hot unchanged; room-warm changed; a UPS policy added; another
  // audit log; another relay list.
  const std::string audit2 = File("audit2.jsonl");
  std::string warm = kRoomWarm;
  warm.replace(warm.find("enter_above: 27"), 15, "enter_above: 26");
  ASSERT_TRUE(
      Reload(Config(absl::StrCat("relays: ['127.0.0.1:2', '127.0.0.1:1']\n",
                                 "actions: {audit_log: ", audit2,
                                 "}\npolicies:", kRoom, warm, R"(
  - name: ups
    ups: {input: {host: h1, source_id: ups}}
)")))
          .ok());
  std::map<std::string, std::string> states = States();
  EXPECT_EQ(states["room-too-hot"], "PRE_FAIL");
  EXPECT_NE(states["room-warm"], "PRE_FAIL");
  EXPECT_EQ(states.count("ups"), 1u);
  const hwcast::v1::ActuatorStatus status = daemon_->actuator().Status();
  ASSERT_EQ(status.relays_size(), 2);
  EXPECT_EQ(status.relays(0).address(), "127.0.0.1:2");

  // The next transitions go to the new audit log.
  Room(20);
  daemon_->actuator().WaitForActions();
  EXPECT_EQ(States()["room-too-hot"], "NORMAL");
  EXPECT_THAT(Lines(audit2), HasSubstr("\"policy\":\"room-too-hot\""));
  EXPECT_THAT(Lines(audit), Not(HasSubstr("\"to\":\"NORMAL\"")));

  // Removing a policy drops it; a relay removed.
  ASSERT_TRUE(Reload(Config(absl::StrCat("relays: ['127.0.0.1:1']\n",
                                         "actions: {audit_log: ", audit2,
                                         "}\npolicies:", kRoom)))
                  .ok());
  EXPECT_EQ(States().size(), 1u);
  ASSERT_EQ(daemon_->actuator().Status().relays_size(), 1);
  EXPECT_EQ(daemon_->actuator().Status().relays(0).address(), "127.0.0.1:1");
}

}  // namespace
}  // namespace hwcast::actuator
