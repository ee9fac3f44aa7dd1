// CollectorDaemon::Reload with the real pipeline: file sources, relay links
// to a fake relay on loopback.
#include "services/collector/collector_daemon.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/config_loader.h"
#include "lib/testing/wait.h"
#include "services/collector/testing/fake_relay.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::collector::testing::FakeRelayServer;
using ::hwcast::collector::testing::TempTree;
using ::hwcast::testutil::WaitFor;

class CollectorDaemonTest : public ::testing::Test {
 protected:
  // Loopback only, no metrics, unsigned; `extra` YAML appended.
  hwcast::v1::CollectorConfig Config(const std::string& extra) {
    const std::string yaml = absl::StrCat(R"(
host: rack1
server: {listen: ["127.0.0.1:0"], metrics_listen: "off"}
batch_max_delay: 5ms
)",
                                          extra);
    hwcast::v1::CollectorConfig config;
    const absl::Status status = ParseYamlConfig(yaml, "test.yaml", &config);
    EXPECT_TRUE(status.ok()) << status;
    return config;
  }

  std::string Source(const std::string& id) {
    tree_.Write(id + ".temp", "21\n");
    return absl::StrCat("  - {id: ", id, ", interval: 20ms, file: {path: ",
                        tree_.Path(id + ".temp"), "}}\n");
  }

  absl::Status Apply(const hwcast::v1::CollectorConfig& config) {
    CollectorResources resources;
    if (absl::Status s = PrepareCollectorConfig(config, &resources); !s.ok()) {
      return s;
    }
    if (daemon_ == nullptr) {
      absl::StatusOr<std::unique_ptr<CollectorDaemon>> made =
          CollectorDaemon::Create(config, std::move(resources));
      if (!made.ok()) return made.status();
      daemon_ = *std::move(made);
      return absl::OkStatus();
    }
    return daemon_->Reload(config, std::move(resources));
  }

  hwcast::v1::CollectorStatus Status() {
    return daemon_->collector().GetStatus();
  }

  TempTree tree_;
  std::unique_ptr<CollectorDaemon> daemon_;
};

TEST_F(CollectorDaemonTest, ReloadChangesSourcesAndRelaysKeepingTheRest) {
  FakeRelayServer relay_a;
  FakeRelayServer relay_b;
  ASSERT_TRUE(Apply(Config(absl::StrCat("relays: ['", relay_a.address(),
                                        "']\nsources:\n", Source("room"),
                                        Source("hall"))))
                  .ok());
  ASSERT_TRUE(relay_a.relay().WaitForReceived(3));
  ASSERT_TRUE(WaitFor([&] { return Status().sources(0).polls() >= 5; }));
  const uint64_t polls = Status().sources(0).polls();

  // room unchanged, hall removed, aisle added; relay B added.
  ASSERT_TRUE(Apply(Config(absl::StrCat("relays: ['", relay_a.address(), "', '",
                                        relay_b.address(), "']\nsources:\n",
                                        Source("room"), Source("aisle"))))
                  .ok());
  hwcast::v1::CollectorStatus status = Status();
  ASSERT_EQ(status.sources_size(), 2);
  EXPECT_EQ(status.sources(0).source_id(), "room");
  EXPECT_GE(status.sources(0).polls(), polls);
  EXPECT_EQ(status.sources(1).source_id(), "aisle");
  ASSERT_TRUE(relay_b.relay().WaitForReceived(3));
  EXPECT_EQ(Status().relays(0).connects(), 1u);

  // A reload that only changes a restart-only key changes no source.
  ASSERT_TRUE(Apply(Config(absl::StrCat("batch_max_readings: 7\nrelays: ['",
                                        relay_a.address(), "', '",
                                        relay_b.address(), "']\nsources:\n",
                                        Source("room"), Source("aisle"))))
                  .ok());
  EXPECT_GE(Status().sources(0).polls(), polls);
  daemon_->Shutdown();
}

}  // namespace
}  // namespace hwcast::collector
