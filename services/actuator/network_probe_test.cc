#include "services/actuator/network_probe.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast::actuator {
namespace {

// A fake /sys/class/net in a temp dir.
class NetworkProbeTest : public ::testing::Test {
 protected:
  // An interface NAME with operstate STATE and ARPHRD type TYPE.
  void Interface(const std::string& name, const std::string& state,
                 const std::string& type = "1") {
    const std::filesystem::path dir = std::filesystem::path(root_) / name;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "operstate") << state << "\n";
    std::ofstream(dir / "type") << type << "\n";
  }

  bool Up() { return SysfsNetworkProbe(root_).NetworkUp(); }

  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/",
                                                "hwcast_network_probe_test"};
  const std::string root_ = scratch_.path();
};

TEST_F(NetworkProbeTest, UpWhenAnyNonLoopbackInterfaceIsUp) {
  Interface("lo", "unknown", "772");
  Interface("eth0", "down");
  Interface("eth1", "up");
  EXPECT_TRUE(Up());
}

TEST_F(NetworkProbeTest, DownWhenEveryNonLoopbackInterfaceIsDown) {
  Interface("lo", "up", "772");  // loopback never counts
  Interface("eth0", "down");
  Interface("wlan0", "dormant");
  Interface("loop-named-oddly", "up", "772");
  EXPECT_FALSE(Up());
  Interface("eth0", "up");
  EXPECT_TRUE(Up());
}

TEST_F(NetworkProbeTest, UpWhenItCanNotTell) {
  // Nothing readable at all.
  EXPECT_TRUE(SysfsNetworkProbe(root_ + "/missing").NetworkUp());
  // Only loopback: everything this host hears comes over loopback.
  Interface("lo", "unknown", "772");
  EXPECT_TRUE(Up());
  // A tunnel that reports "unknown" next to a down NIC.
  Interface("eth0", "down");
  Interface("wg0", "unknown", "65534");
  EXPECT_TRUE(Up());
}

}  // namespace
}  // namespace hwcast::actuator
