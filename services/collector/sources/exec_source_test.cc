#include "services/collector/sources/exec_source.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/wait.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ExecSourceTest : public ::testing::Test {
 protected:
  // Writes an executable /bin/sh script and returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    tree_.Write(name, "#!/bin/sh\n" + body);
    const std::string path = tree_.Path(name);
    ::chmod(path.c_str(), 0755);
    return path;
  }

  Reading PollOne(ExecSourceOptions options) {
    if (options.id.empty()) options.id = "probe";
    ExecSource source(std::move(options));
    absl::StatusOr<std::vector<Reading>> readings = source.Poll();
    EXPECT_TRUE(readings.ok()) << readings.status();
    if (!readings.ok() || readings->size() != 1) {
      ADD_FAILURE() << "expected exactly one reading";
      return Reading();
    }
    return (*readings)[0];
  }

  static ExecSourceOptions Argv(std::vector<std::string> argv) {
    ExecSourceOptions options;
    options.argv = std::move(argv);
    options.timeout = absl::Seconds(10);
    return options;
  }

  testing::TempTree tree_;
};

TEST_F(ExecSourceTest, EchoedNumberIsATemperature) {
  const Reading reading = PollOne(Argv({"/bin/echo", "23.5"}));
  EXPECT_EQ(reading.source_id(), "probe");
  EXPECT_EQ(reading.label(), "probe");
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 23.5);
  EXPECT_TRUE(reading.error().empty());
}

TEST_F(ExecSourceTest, NameIsLookedUpInPath) {
  const Reading reading = PollOne(Argv({"echo", "-4"}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), -4);
}

TEST_F(ExecSourceTest, ArgumentsAreNotInterpretedByAShell) {
  // The script prints the length of its first argument: 10 for the literal
  // text "$(echo 99)", 2 if a shell had substituted it.
  const std::string script = Script("len.sh", "printf '%s' \"$1\" | wc -c\n");
  const Reading reading = PollOne(Argv({script, "$(echo 99)"}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 10);
}

TEST_F(ExecSourceTest, ParsesTheFirstNumberInTheOutput) {
  const std::string script =
      Script("temp.sh", "echo 'sensor ok'\necho 'temp=21.25C rh=40'\n");
  ExecSourceOptions options = Argv({script});
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 21.25);
}

TEST_F(ExecSourceTest, ScaleOffsetKindAndLabel) {
  ExecSourceOptions options = Argv({"/bin/echo", "412"});
  options.kind = hwcast::v1::READING_KIND_HUMIDITY;
  options.scale = 0.1;
  options.offset = -1.0;
  options.label = "Room humidity";
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  ASSERT_TRUE(reading.has_humidity());
  EXPECT_NEAR(reading.humidity().relative_percent(), 40.2, 1e-9);
  EXPECT_EQ(reading.label(), "Room humidity");
}

TEST_F(ExecSourceTest, ImplausibleValueIsOutOfRange) {
  const Reading reading = PollOne(Argv({"/bin/echo", "300"}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 300);
  EXPECT_THAT(reading.error(), HasSubstr("exec /bin/echo: 300 °C is outside"));
}

TEST_F(ExecSourceTest, NonZeroExitIsAFaultWithStderr) {
  const std::string script = Script(
      "fail.sh",
      "echo 25\necho 'sensor not found' >&2\necho 'second line' >&2\nexit 3\n");
  const Reading reading = PollOne(Argv({script}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(reading.has_temperature());
  EXPECT_EQ(reading.error(), "exec " + script +
                                 ": exited with status 3; stderr: 'sensor "
                                 "not found'");
}

TEST_F(ExecSourceTest, NoNumberIsAFaultQuotingStdout) {
  const std::string script =
      Script("words.sh",
             "echo 'sensor offline, please check the cable and "
             "try again later'\n");
  Reading reading = PollOne(Argv({script}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("exec " + script +
                        ": no number on stdout: 'sensor offline, please "
                        "check the cable a'..."));

  reading = PollOne(Argv({"/bin/true"}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(reading.error(), "exec /bin/true: printed nothing on stdout");

  reading = PollOne(Argv({"/bin/echo", "nan"}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("no number on stdout: 'nan'"));
}

TEST_F(ExecSourceTest, HugeNumberIsAFault) {
  Reading reading = PollOne(Argv({"/bin/echo", "1e999"}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("number out of range"));

  ExecSourceOptions options = Argv({"/bin/echo", "1e308"});
  options.scale = 10;
  reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("is not finite"));
}

TEST_F(ExecSourceTest, HangingProgramIsKilledAtTheTimeout) {
  // The script leaves a background child holding the pipe, and hangs: both
  // must be killed (the process group), or the poll would never end.
  const std::string pid_file = tree_.Path("child.pid");
  const std::string script = Script(
      "hang.sh", "sleep 300 &\necho $! > " + pid_file + "\nexec sleep 300\n");
  // On a loaded machine the shell may not reach `echo` within a short
  // timeout; then there is no child to check, so try again with a longer one.
  pid_t child = 0;
  for (const absl::Duration timeout :
       {absl::Milliseconds(300), absl::Seconds(2), absl::Seconds(10)}) {
    std::filesystem::remove(pid_file);
    ExecSourceOptions options = Argv({script});
    options.timeout = timeout;
    const Reading reading = PollOne(options);
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_EQ(reading.error(), "exec " + script + ": did not finish within " +
                                   absl::FormatDuration(timeout) +
                                   "; killed its process group");
    std::ifstream in(pid_file);
    if (in >> child && child > 0) break;
  }
  // The background sleep is gone too (killed; reaped by init or a zombie
  // of ours no longer running). SIGKILL takes effect when the process next
  // runs, which on a loaded machine can be a while after kill() returned:
  // until then /proc shows it runnable ('R'), so wait for the end. A sleep
  // the kill missed stays in 'S' for 300 s and fails the wait.
  ASSERT_GT(child, 0);
  std::string stat;
  const auto ended = [&] {
    std::ifstream proc("/proc/" + std::to_string(child) + "/stat");
    stat.clear();
    std::getline(proc, stat);
    // Either gone, or a zombie ('Z') waiting for its (killed) parent's
    // reaper.
    return stat.empty() || absl::StrContains(stat, ") Z");
  };
  EXPECT_TRUE(testutil::WaitFor(ended)) << stat;
}

TEST_F(ExecSourceTest, ExitedProgramWithLingeringChildIsNotATimeout) {
  // The program prints and exits, but leaves a child holding stdout open:
  // the reading must not wait for the child (nor time out).
  const std::string script = Script("linger.sh", "echo 19\nsleep 300 &\n");
  ExecSourceOptions options = Argv({script});
  options.timeout = absl::Seconds(30);
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 19);
}

TEST_F(ExecSourceTest, SignalIsAFault) {
  const std::string script = Script("kill.sh", "echo 20\nkill -TERM $$\n");
  const Reading reading = PollOne(Argv({script}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("killed by signal 15 (Terminated)"));
}

TEST_F(ExecSourceTest, MissingProgramIsAFault) {
  Reading reading = PollOne(Argv({tree_.Path("nope")}));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(reading.error(),
            "exec " + tree_.Path("nope") + ": No such file or directory");

  reading = PollOne(Argv({"hwcast-no-such-program"}));
  EXPECT_EQ(reading.error(),
            "exec hwcast-no-such-program: No such file or directory");

  tree_.Write("not-executable", "echo 1\n");
  reading = PollOne(Argv({tree_.Path("not-executable")}));
  EXPECT_THAT(reading.error(), HasSubstr("Permission denied"));
}

TEST_F(ExecSourceTest, TypeAndRepeatedPolls) {
  ExecSourceOptions options = Argv({"/bin/echo", "22"});
  options.id = "probe";
  ExecSource source(options);
  EXPECT_EQ(source.type(), "exec");
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::vector<Reading>> readings = source.Poll();
    ASSERT_TRUE(readings.ok());
    EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_OK);
  }
}

TEST(FirstNumberTest, Forms) {
  struct Case {
    std::string text;
    double value;
  };
  for (const Case& c : std::vector<Case>{
           {"23.5\n", 23.5},
           {"temp=23.5C", 23.5},
           {"temp=-3.5C", -3.5},
           {"+7", 7},
           {".5", 0.5},
           {"-.25 x", -0.25},
           {"5.", 5},
           {"t: 2e1", 20},
           {"1.5E-1", 0.15},
           {"5e", 5},
           {"5e+", 5},
           {"1.2.3", 1.2},
           {"a-b 12", 12},
           {"x1y2", 1},
           {"  42  ", 42},
       }) {
    SCOPED_TRACE(c.text);
    const std::optional<double> n = FirstNumber(c.text);
    ASSERT_TRUE(n.has_value());
    EXPECT_DOUBLE_EQ(*n, c.value);
  }
  for (const std::string text : {"", "nan", "inf", "-", ".", "e", "abc"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(FirstNumber(text).has_value());
  }
  const std::optional<double> huge = FirstNumber("1e999");
  ASSERT_TRUE(huge.has_value());
  EXPECT_TRUE(std::isinf(*huge));
}

}  // namespace
}  // namespace hwcast::collector
