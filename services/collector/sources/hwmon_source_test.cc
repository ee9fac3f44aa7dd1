// libsensors reads /sys/class/hwmon only (its sysfs root is fixed at "/sys"
// and must be a sysfs mount), so these tests give it a fake tree through the
// source's `root` seam: each poll runs on a thread in a private mount
// namespace with the tree bind-mounted over /sys/class/hwmon. That needs
// CAP_SYS_ADMIN (root, as in CI); without it the tests are skipped.
#include "services/collector/sources/hwmon_source.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/subprocess.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::map<std::string, Reading> ById(const std::vector<Reading>& readings) {
  std::map<std::string, Reading> by_id;
  for (const Reading& r : readings) by_id[r.source_id()] = r;
  return by_id;
}

std::vector<std::string> Ids(const std::vector<Reading>& readings) {
  std::vector<std::string> ids;
  for (const Reading& r : readings) ids.push_back(r.source_id());
  return ids;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class HwmonSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root: libsensors reads /sys/class/hwmon only, "
                      "the test tree is bind-mounted over it in a private "
                      "mount namespace";
    }
  }

  HwmonSourceOptions Options() {
    HwmonSourceOptions options;
    options.root = tree_.Path("class/hwmon");
    return options;
  }

  absl::StatusOr<std::vector<Reading>> Poll(HwmonSourceOptions options) {
    HwmonSource source(std::move(options));
    return source.Poll();
  }

  std::vector<Reading> PollOk(HwmonSourceOptions options) {
    absl::StatusOr<std::vector<Reading>> readings = Poll(std::move(options));
    EXPECT_TRUE(readings.ok()) << readings.status();
    return readings.ok() ? *readings : std::vector<Reading>{};
  }
  std::vector<Reading> PollOk() { return PollOk(Options()); }

  // A config file in the tree (outside class/hwmon).
  std::string Config(const std::string& text) {
    tree_.Write("sensors.conf", text);
    return tree_.Path("sensors.conf");
  }

  // A chip like an nct6775 Super-I/O: every kind of feature.
  void WriteSuperIo() {
    const std::string chip = "class/hwmon/hwmon0/";
    tree_.Write(chip + "name", "nct6775\n");
    tree_.Write(chip + "temp1_input", "45000\n");
    tree_.Write(chip + "temp1_label", "SYSTIN\n");
    tree_.Write(chip + "temp1_max", "80000\n");
    tree_.Write(chip + "fan1_input", "1200\n");
    tree_.Write(chip + "fan2_input", "0\n");
    tree_.Write(chip + "in0_input", "1104\n");
    tree_.Write(chip + "in1_input", "6050\n");
    tree_.Write(chip + "power1_input", "5250000\n");
    tree_.Write(chip + "power2_average", "12500000\n");
    tree_.Write(chip + "curr1_input", "1500\n");
    tree_.Write(chip + "humidity1_input", "40500\n");
    tree_.Write(chip + "intrusion0_alarm", "0\n");  // no value: not reported
  }

  testing::TempTree tree_;
};

TEST_F(HwmonSourceTest, EveryKindInItsUnit) {
  WriteSuperIo();
  const std::vector<Reading> readings = PollOk();
  // libsensors' order: in, fan, temp, power, curr, humidity.
  ASSERT_THAT(Ids(readings),
              ElementsAre("hwmon/nct6775/in0", "hwmon/nct6775/in1",
                          "hwmon/nct6775/fan1", "hwmon/nct6775/fan2",
                          "hwmon/nct6775/temp1", "hwmon/nct6775/power1",
                          "hwmon/nct6775/power2", "hwmon/nct6775/curr1",
                          "hwmon/nct6775/humidity1"));
  for (const Reading& r : readings) {
    EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_OK) << r.source_id();
    EXPECT_TRUE(r.error().empty()) << r.source_id() << ": " << r.error();
  }
  auto by_id = ById(readings);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/in0"].voltage().volts(), 1.104);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/in1"].voltage().volts(), 6.05);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/fan1"].fan().rpm(), 1200);
  ASSERT_TRUE(by_id["hwmon/nct6775/fan2"].has_fan());
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/fan2"].fan().rpm(), 0);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/temp1"].temperature().celsius(), 45);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/power1"].electric_power().watts(),
                   5.25);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/power2"].electric_power().watts(),
                   12.5);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/curr1"].current().amperes(), 1.5);
  EXPECT_DOUBLE_EQ(
      by_id["hwmon/nct6775/humidity1"].humidity().relative_percent(), 40.5);
  // Labels: the chip's label file, else the feature name.
  EXPECT_EQ(by_id["hwmon/nct6775/temp1"].label(), "SYSTIN");
  EXPECT_EQ(by_id["hwmon/nct6775/fan1"].label(), "fan1");
}

TEST_F(HwmonSourceTest, ConfigLabelsComputesAndIgnores) {
  WriteSuperIo();
  HwmonSourceOptions options = Options();
  options.config_file = Config(R"(# as a sysadmin tunes an nct6775
chip "nct6775-*"
    label temp1 "Room intake"
    label fan1 "Front fan"
    # a 12 V rail behind a 1:2 divider (in1 reads 6.05 V)
    compute in1 @*2, @/2
    compute temp1 @-5, @+5
    ignore fan2
    ignore humidity1

chip "coretemp-*"
    label temp1 "not this chip"
)");
  const std::vector<Reading> readings = PollOk(options);
  auto by_id = ById(readings);
  EXPECT_EQ(by_id.count("hwmon/nct6775/fan2"), 0);
  EXPECT_EQ(by_id.count("hwmon/nct6775/humidity1"), 0);
  EXPECT_EQ(readings.size(), 7u);
  EXPECT_EQ(by_id["hwmon/nct6775/temp1"].label(), "Room intake");
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/temp1"].temperature().celsius(), 40);
  EXPECT_EQ(by_id["hwmon/nct6775/fan1"].label(), "Front fan");
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/in1"].voltage().volts(), 12.1);
  EXPECT_DOUBLE_EQ(by_id["hwmon/nct6775/in0"].voltage().volts(), 1.104);
}

TEST_F(HwmonSourceTest, SetsAreAppliedOnlyWhenAsked) {
  WriteSuperIo();
  const std::string config = Config(R"(chip "nct6775-*"
    set temp1_max 70
)");
  HwmonSourceOptions options = Options();
  options.config_file = config;
  PollOk(options);
  EXPECT_EQ(ReadAll(tree_.Path("class/hwmon/hwmon0/temp1_max")), "80000\n");

  options.apply_sets = true;
  HwmonSource source(options);
  ASSERT_TRUE(source.Poll().ok());
  EXPECT_EQ(ReadAll(tree_.Path("class/hwmon/hwmon0/temp1_max")), "70000");
  // Once: a later change on the chip is not overwritten by every poll.
  tree_.Write("class/hwmon/hwmon0/temp1_max", "75000\n");
  ASSERT_TRUE(source.Poll().ok());
  EXPECT_EQ(ReadAll(tree_.Path("class/hwmon/hwmon0/temp1_max")), "75000\n");
}

// A statement libsensors skips, or a file it cannot read: the poll fails
// naming the file (and line), rather than report values a skipped `compute`
// would make wrong.
TEST_F(HwmonSourceTest, ConfigErrorsFailThePollNamingFileAndLine) {
  WriteSuperIo();
  const std::string broken = Config(R"(chip "nct6775-*"
    label temp1 "ok"
    compute in1 @*2 @/2
)");
  for (const auto& [file, expected] :
       {std::pair<std::string, std::string>{broken, broken + ":3: syntax"},
        {tree_.Path("nope.conf"), tree_.Path("nope.conf") + ": No such"}}) {
    HwmonSourceOptions options = Options();
    options.config_file = file;
    absl::StatusOr<std::vector<Reading>> readings = Poll(options);
    EXPECT_EQ(readings.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(readings.status().message(), HasSubstr(expected));
  }
}

// The default configuration is what `sensors` reads: /etc/sensors3.conf,
// then /etc/sensors.d/*. The test thread gets its own mount namespace with
// test files over those two (the source's poll thread inherits it).
TEST_F(HwmonSourceTest, DefaultConfigIsEtcSensors3ConfAndSensorsD) {
  WriteSuperIo();
  tree_.Write("etc/sensors3.conf", "chip \"nct6775-*\"\n  label fan1 \"F\"\n");
  tree_.Write("etc/sensors.d/room.conf",
              "chip \"nct6775-*\"\n  label temp1 \"Room\"\n  ignore in0\n");
  tree_.Write("etc/sensors.d/broken.conf",
              "chip \"nct6775-*\"\n  label in1 \"x\"\n  compute in1 @*2 @/2\n");
  absl::StatusOr<std::vector<Reading>> good;
  absl::StatusOr<std::vector<Reading>> bad;
  std::thread thread([&] {
    auto bind = [](const std::string& from, const char* to) {
      return mount(from.c_str(), to, nullptr, MS_BIND, nullptr) == 0;
    };
    ASSERT_EQ(unshare(CLONE_NEWNS), 0) << strerror(errno);
    ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    ASSERT_TRUE(bind(tree_.Path("etc/sensors3.conf"), "/etc/sensors3.conf"))
        << strerror(errno);
    tree_.MakeDir("etc/sensors.d.good");
    ASSERT_TRUE(
        std::filesystem::copy_file(tree_.Path("etc/sensors.d/room.conf"),
                                   tree_.Path("etc/sensors.d.good/room.conf")));
    ASSERT_TRUE(bind(tree_.Path("etc/sensors.d.good"), "/etc/sensors.d"));
    good = Poll(Options());
    ASSERT_TRUE(bind(tree_.Path("etc/sensors.d"), "/etc/sensors.d"));
    bad = Poll(Options());
  });
  thread.join();
  ASSERT_TRUE(good.ok()) << good.status();
  auto by_id = ById(*good);
  EXPECT_EQ(by_id["hwmon/nct6775/fan1"].label(), "F");
  EXPECT_EQ(by_id["hwmon/nct6775/temp1"].label(), "Room");
  EXPECT_EQ(by_id.count("hwmon/nct6775/in0"), 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("/etc/sensors.d/broken.conf:3: "));
}

TEST_F(HwmonSourceTest, FaultySensorsAffectOnlyThemselves) {
  tree_.Write("class/hwmon/hwmon0/name", "lm90\n");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "garbage\n");
  tree_.Write("class/hwmon/hwmon0/temp2_input", "41000\n");
  tree_.Write("class/hwmon/hwmon0/temp3_input", "");
  tree_.Write("class/hwmon/hwmon0/temp4_input", "44000\n");
  tree_.Write("class/hwmon/hwmon0/temp4_fault", "1\n");
  tree_.Write("class/hwmon/hwmon0/fan1_input", "900\n");
  tree_.Write("class/hwmon/hwmon0/fan1_fault", "1\n");
  auto by_id = ById(PollOk());
  for (const char* id : {"hwmon/lm90/temp1", "hwmon/lm90/temp3",
                         "hwmon/lm90/temp4", "hwmon/lm90/fan1"}) {
    EXPECT_EQ(by_id[id].quality(), hwcast::v1::QUALITY_SENSOR_FAULT) << id;
    EXPECT_FALSE(by_id[id].has_temperature()) << id;
    EXPECT_FALSE(by_id[id].has_fan()) << id;
  }
  EXPECT_THAT(by_id["hwmon/lm90/temp1"].error(),
              HasSubstr("hwmon0/temp1_input: "));
  EXPECT_THAT(by_id["hwmon/lm90/temp4"].error(), HasSubstr("temp4_fault is 1"));
  EXPECT_THAT(by_id["hwmon/lm90/fan1"].error(), HasSubstr("fan1_fault is 1"));
  EXPECT_EQ(by_id["hwmon/lm90/temp2"].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(by_id["hwmon/lm90/temp2"].temperature().celsius(), 41);
}

TEST_F(HwmonSourceTest, ComputeThatDividesByZeroIsAFault) {
  WriteSuperIo();
  HwmonSourceOptions options = Options();
  options.config_file =
      Config("chip \"nct6775-*\"\n  compute in0 @/(in1-in1), @\n");
  auto by_id = ById(PollOk(options));
  EXPECT_EQ(by_id["hwmon/nct6775/in0"].quality(),
            hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(by_id["hwmon/nct6775/in0"].error(), HasSubstr("in0_input: "));
  EXPECT_EQ(by_id["hwmon/nct6775/in1"].quality(), hwcast::v1::QUALITY_OK);
}

TEST_F(HwmonSourceTest, ImplausibleValuesAreOutOfRange) {
  tree_.Write("class/hwmon/hwmon0/name", "acpitz\n");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "250001\n");
  tree_.Write("class/hwmon/hwmon0/temp2_input", "-100000\n");
  tree_.Write("class/hwmon/hwmon0/humidity1_input", "100500\n");
  tree_.Write("class/hwmon/hwmon0/fan1_input", "-5\n");
  auto by_id = ById(PollOk());
  for (const char* id :
       {"hwmon/acpitz/temp1", "hwmon/acpitz/humidity1", "hwmon/acpitz/fan1"}) {
    EXPECT_EQ(by_id[id].quality(), hwcast::v1::QUALITY_OUT_OF_RANGE) << id;
    EXPECT_THAT(by_id[id].error(), HasSubstr("_input: ")) << id;
  }
  EXPECT_DOUBLE_EQ(by_id["hwmon/acpitz/temp1"].temperature().celsius(),
                   250.001);
  EXPECT_EQ(by_id["hwmon/acpitz/temp2"].quality(), hwcast::v1::QUALITY_OK);
}

TEST_F(HwmonSourceTest, ChipsSharingANameAreToldApartByDevice) {
  for (const char* n : {"1", "2"}) {
    const std::string dev =
        std::string("devices/pci/0000:0") + n + ":00.0/nvme/nvme" + n;
    tree_.Write(dev + "/hwmon/hwmon" + n + "/name", "nvme\n");
    tree_.Write(dev + "/hwmon/hwmon" + n + "/temp1_input", "35000\n");
    tree_.Symlink("../..", dev + "/hwmon/hwmon" + n + "/device");
    tree_.Symlink(tree_.Path(dev + "/hwmon/hwmon" + n),
                  std::string("class/hwmon/hwmon") + n);
  }
  tree_.Write("class/hwmon/hwmon0/name", "acpitz\n");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "30000\n");
  EXPECT_THAT(Ids(PollOk()),
              ElementsAre("hwmon/acpitz/temp1", "hwmon/nvme@nvme1/temp1",
                          "hwmon/nvme@nvme2/temp1"));
}

TEST_F(HwmonSourceTest, SharedNameWithoutDeviceUsesHwmonDirectory) {
  for (const char* chip : {"hwmon2", "hwmon10"}) {
    tree_.Write(std::string("class/hwmon/") + chip + "/name", "drivetemp\n");
    tree_.Write(std::string("class/hwmon/") + chip + "/temp1_input", "30000\n");
  }
  HwmonSourceOptions options = Options();
  options.id = "disks";
  EXPECT_THAT(Ids(PollOk(options)),
              ElementsAre("disks/drivetemp@hwmon2/temp1",
                          "disks/drivetemp@hwmon10/temp1"));
}

TEST_F(HwmonSourceTest, NewSensorsAppearOnTheNextPoll) {
  tree_.Write("class/hwmon/hwmon0/name", "coretemp\n");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "40000\n");
  HwmonSource source(Options());
  ASSERT_EQ(source.Poll()->size(), 1u);
  tree_.Write("class/hwmon/hwmon1/name", "nvme\n");
  tree_.Write("class/hwmon/hwmon1/temp1_input", "41000\n");
  EXPECT_THAT(Ids(*source.Poll()),
              ElementsAre("hwmon/coretemp/temp1", "hwmon/nvme/temp1"));
}

TEST_F(HwmonSourceTest, NoChipIsNotFound) {
  tree_.MakeDir("class/hwmon");
  absl::StatusOr<std::vector<Reading>> readings = Poll(Options());
  EXPECT_EQ(readings.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(readings.status().message(), HasSubstr("found 0 chip(s)"));

  tree_.Write("class/hwmon/hwmon0/name", "limits_only\n");
  tree_.Write("class/hwmon/hwmon0/temp1_max", "90000\n");
  readings = Poll(Options());
  EXPECT_EQ(readings.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HwmonSourceTest, MissingRootIsPermissionDeniedWithTheReason) {
  HwmonSourceOptions options = Options();
  options.root = tree_.Path("absent");
  absl::StatusOr<std::vector<Reading>> readings = Poll(options);
  EXPECT_EQ(readings.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(readings.status().message(), HasSubstr("bind mount"));
}

// The same tree and configuration through lm-sensors' own `sensors -u`: the
// values must agree (the source applies the configuration as `sensors`).
TEST_F(HwmonSourceTest, AgreesWithSensorsCommand) {
  if (access("/usr/bin/sensors", X_OK) != 0) {
    GTEST_SKIP() << "lm-sensors' sensors command is not installed";
  }
  WriteSuperIo();
  HwmonSourceOptions options = Options();
  options.config_file = Config(
      "chip \"nct6775-*\"\n  compute in1 @*2, @/2\n  compute temp1 @-5, @+5\n"
      "  ignore fan2\n");
  const std::string script =
      "mount --make-rprivate / && mount -t tmpfs t /sys/class && "
      "mkdir /sys/class/hwmon && mount --bind \"$1\" /sys/class/hwmon && "
      "exec sensors -u -c \"$2\"";
  absl::StatusOr<ProgramResult> run =
      RunProgram({"unshare", "-m", "sh", "-c", script, "sh", options.root,
                  options.config_file},
                 absl::Seconds(20));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << run->stderr_data;
  // "  temp1_input: 40.000" -> {"temp1", 40}
  std::map<std::string, double> expected;
  for (absl::string_view line : absl::StrSplit(run->stdout_data, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    std::vector<absl::string_view> kv = absl::StrSplit(line, ": ");
    if (kv.size() != 2) continue;
    for (absl::string_view suffix : {"_input", "_average"}) {
      absl::string_view name = kv[0];
      double value = 0;
      if (absl::ConsumeSuffix(&name, suffix) &&
          absl::SimpleAtod(kv[1], &value)) {
        expected[std::string(name)] = value;
      }
    }
  }
  ASSERT_EQ(expected.size(), 8u) << run->stdout_data;
  const std::vector<Reading> readings = PollOk(options);
  ASSERT_EQ(readings.size(), expected.size());
  for (const Reading& r : readings) {
    const std::string feature =
        r.source_id().substr(r.source_id().rfind('/') + 1);
    double value = 0;
    switch (r.value_case()) {
      case Reading::kTemperature:
        value = r.temperature().celsius();
        break;
      case Reading::kHumidity:
        value = r.humidity().relative_percent();
        break;
      case Reading::kFan:
        value = r.fan().rpm();
        break;
      case Reading::kVoltage:
        value = r.voltage().volts();
        break;
      case Reading::kElectricPower:
        value = r.electric_power().watts();
        break;
      case Reading::kCurrent:
        value = r.current().amperes();
        break;
      default:
        ADD_FAILURE() << r.DebugString();
    }
    ASSERT_EQ(expected.count(feature), 1u) << feature;
    EXPECT_NEAR(value, expected[feature], 0.0005) << feature;
  }
}

}  // namespace
}  // namespace hwcast::collector
