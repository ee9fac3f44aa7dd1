// FenceAgentRunner with a stand-in agent (a shell script that records its
// argv and standard input), so that what an agent gets is checked exactly.
#include "services/actuator/fencing/fence_agent_runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast::actuator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class FenceAgentRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_.path();
    agent_ = File("agent.sh");
    Write(agent_,
          "#!/bin/sh\n"
          "echo \"argv: $*\" > \"$(dirname \"$0\")/seen\"\n"
          "cat >> \"$(dirname \"$0\")/seen\"\n"
          "grep -q '^port=hang' \"$(dirname \"$0\")/seen\" && sleep 30\n"
          "grep -q '^port=fail' \"$(dirname \"$0\")/seen\" && "
          "{ echo 'Failed: Unable to obtain correct plug status' >&2; "
          "exit 1; }\n"
          "exit 0\n",
          0700);
    creds_ = File("creds");
    Write(creds_, "# BMC of rack3\npassword=s3cret\n\n", 0600);
  }
  std::string File(const std::string& name) {
    return absl::StrCat(dir_, "/", name);
  }
  static void Write(const std::string& path, const std::string& text,
                    mode_t mode) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
  }
  std::string Seen() {
    std::ifstream in(File("seen"));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  FenceTarget Target(std::vector<std::string> options) {
    FenceTarget t;
    t.host = "rack3";
    t.command = {agent_};
    t.options = std::move(options);
    t.credentials_file = creds_;
    return t;
  }

  testutil::ScratchDir scratch_{"fence_agent_runner_test"};
  std::string dir_, agent_, creds_;
};

TEST_F(FenceAgentRunnerTest, OptionsAndCredentialsGoToStdinNotArgv) {
  FenceAgentRunner runner;
  const FenceRun run =
      runner.Run(Target({"ip=10.0.0.13", "username=admin", "lanplus=1"}),
                 absl::Seconds(10));
  EXPECT_TRUE(run.ok) << run.detail;
  EXPECT_EQ(run.detail, "exit 0");
  EXPECT_EQ(Seen(),
            "argv: \n"
            "ip=10.0.0.13\nusername=admin\nlanplus=1\naction=off\n"
            "password=s3cret\n");
}

TEST_F(FenceAgentRunnerTest, AnActionGivenIsKeptAndTheDescriptionHasNoSecret) {
  FenceTarget t = Target({"ip=10.0.0.13", "action=reboot"});
  t.command.push_back("--fence");
  t.command.push_back("rack3");
  absl::StatusOr<std::string> input = FenceAgentInput(t);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(*input, "ip=10.0.0.13\naction=reboot\npassword=s3cret\n");
  const std::string described = DescribeFenceRun(t);
  EXPECT_EQ(described, absl::StrCat(agent_,
                                    " --fence rack3 <<< ip=10.0.0.13 "
                                    "action=reboot + credentials from ",
                                    creds_));
  EXPECT_THAT(described, Not(HasSubstr("s3cret")));
}

TEST_F(FenceAgentRunnerTest, AClusterManagersCommandGetsItsArguments) {
  // E.g. [stonith_admin, --fence, rack3]: arguments as given, no shell.
  FenceAgentRunner runner;
  FenceTarget t = Target({});
  t.credentials_file.clear();
  t.command = {agent_, "--fence", "rack3; touch /tmp/x"};
  const FenceRun run = runner.Run(t, absl::Seconds(10));
  EXPECT_TRUE(run.ok) << run.detail;
  EXPECT_EQ(Seen(), "argv: --fence rack3; touch /tmp/x\naction=off\n");
}

TEST_F(FenceAgentRunnerTest, AFailingAgentReportsItsError) {
  FenceAgentRunner runner;
  const FenceRun run = runner.Run(Target({"port=fail"}), absl::Seconds(10));
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.detail, "exit 1: Failed: Unable to obtain correct plug status");
}

TEST_F(FenceAgentRunnerTest, AHungAgentIsKilledAtTheTimeout) {
  FenceAgentRunner runner;
  const absl::Time start = absl::Now();
  const FenceRun run = runner.Run(Target({"port=hang"}), absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.detail, "timed out after 1s (process group killed)");
}

TEST_F(FenceAgentRunnerTest, CredentialsReadableByOthersOrMissingAreRefused) {
  FenceAgentRunner runner;
  ::chmod(creds_.c_str(), 0644);
  FenceRun run = runner.Run(Target({}), absl::Seconds(10));
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.detail,
            absl::StrCat("credentials_file ", creds_,
                         " is readable by group or others (mode 0644): "
                         "chmod 600 it"));
  // The agent never ran.
  EXPECT_EQ(Seen(), "");

  FenceTarget missing = Target({});
  missing.credentials_file = File("nope");
  run = runner.Run(missing, absl::Seconds(10));
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.detail,
            absl::StrCat("cannot read credentials_file ", File("nope"),
                         ": No such file or directory"));
}

TEST_F(FenceAgentRunnerTest, ALineThatIsNotNameValueIsRefusedWithoutQuotingIt) {
  Write(creds_, "password=ok\ns3cret-without-name\n", 0600);
  absl::StatusOr<std::string> input = FenceAgentInput(Target({}));
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().message(),
            absl::StrCat("credentials_file ", creds_,
                         " line 2: not a name=value line"));
}

TEST_F(FenceAgentRunnerTest, AMissingAgentIsAFailedAttempt) {
  FenceAgentRunner runner;
  FenceTarget t = Target({});
  t.command = {File("no-such-agent")};
  const FenceRun run = runner.Run(t, absl::Seconds(10));
  EXPECT_FALSE(run.ok);
  EXPECT_THAT(run.detail, HasSubstr("could not start: exec "));
}

}  // namespace
}  // namespace hwcast::actuator
