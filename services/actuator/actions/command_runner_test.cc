// Tests of SpawnCommandRunner with harmless programs from the base system
// (/bin/sh, /bin/true, sleep) and scripts written to a temp dir.
#include "services/actuator/actions/command_runner.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"
#include "lib/testing/wait.h"

namespace hwcast::actuator {
namespace {

using ::hwcast::testutil::WaitFor;

using ::testing::HasSubstr;

constexpr absl::Duration kGenerous = absl::Seconds(30);

class CommandRunnerTest : public ::testing::Test {
 protected:
  std::string File(const std::string& name) const {
    return (std::filesystem::path(dir_) / name).string();
  }

  // An executable script at dir_/NAME.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = File(name);
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }

  CommandResult Run(const std::vector<std::string>& argv,
                    const CommandEnv& env = {},
                    absl::Duration timeout = kGenerous) {
    return runner_.Run(argv, env, timeout);
  }

  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/",
                                                "hwcast_command_runner_test"};
  const std::string dir_ = scratch_.path();
  SpawnCommandRunner runner_;
};

// The process is gone (or a zombie waiting for its reaper).
bool ProcessGone(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() &&
         line[paren + 2] == 'Z';
}

TEST_F(CommandRunnerTest, SuccessByAbsolutePathAndByBareName) {
  CommandResult result = Run({"/bin/true"});
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.ok()) << result.Describe();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.Describe(), "exit 0");

  // A bare name is looked up in PATH.
  result = Run({"true"});
  EXPECT_TRUE(result.ok()) << result.Describe();
}

TEST_F(CommandRunnerTest, FailureKeepsTheExitCodeAndFirstStderrLine) {
  const CommandResult result =
      Run({"/bin/sh", "-c",
           "echo 'first: it broke' >&2; echo second >&2; echo out; exit 3"});
  EXPECT_TRUE(result.started);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.stderr_line, "first: it broke");
  EXPECT_EQ(result.Describe(), "exit 3: first: it broke");
}

TEST_F(CommandRunnerTest, AProgramThatDoesNotExistIsNotStarted) {
  const CommandResult result = Run({File("no-such-program")});
  EXPECT_FALSE(result.started);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.Describe(), HasSubstr("could not start"));
  EXPECT_THAT(result.error, HasSubstr("no-such-program"));

  const std::string not_executable = File("data.txt");
  std::ofstream(not_executable) << "not a program\n";
  EXPECT_FALSE(Run({not_executable}).started);
  EXPECT_FALSE(Run({}).started);
}

TEST_F(CommandRunnerTest, TimeoutKillsTheWholeProcessGroup) {
  // The script starts a background child (same process group), records its
  // pid, then hangs.
  const std::string pid_file = File("child.pid");
  const CommandResult result =
      Run({"/bin/sh", "-c",
           absl::StrCat("sleep 300 & echo $! > ", pid_file, "; sleep 300")},
          {}, absl::Milliseconds(300));
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.term_signal, SIGKILL);
  EXPECT_THAT(result.Describe(), HasSubstr("timed out"));

  std::string pid_text;
  std::ifstream(pid_file) >> pid_text;
  pid_t child = 0;
  ASSERT_TRUE(absl::SimpleAtoi(pid_text, &child)) << pid_text;
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); }))
      << "background child " << child << " survived the timeout";
}

TEST_F(CommandRunnerTest, ArgvIsPassedAsIsWithoutAShell) {
  // A program whose very name is full of shell syntax, and arguments that a
  // shell would split, expand, glob or chain.
  const std::string program =
      Script("prog; touch pwned $(id) `id` *",
             R"(for a in "$@"; do printf '[%s]' "$a" >&2; done)");
  const std::string marker = File("pwned");
  const CommandResult result =
      Run({program, "two words", "$(touch " + marker + ")", "*", "; rm -rf /",
           "|", "$HOME", "'quoted'"});
  ASSERT_TRUE(result.ok()) << result.Describe();
  EXPECT_EQ(result.stderr_line,
            absl::StrCat("[two words][$(touch ", marker,
                         ")][*][; rm -rf /][|][$HOME]['quoted']"));
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(CommandRunnerTest, EnvironmentIsTheParentsPlusTheEventVariables) {
  setenv("HWCAST_RUNNER_TEST_INHERITED", "kept", 1);
  setenv("HWCAST_POLICY", "stale value", 1);
  const CommandResult result =
      Run({"/bin/sh", "-c",
           "echo \"$HWCAST_EVENT|$HWCAST_POLICY|$HWCAST_REASON|"
           "$HWCAST_RUNNER_TEST_INHERITED\" >&2"},
          {{"HWCAST_EVENT", "shutdown"},
           {"HWCAST_POLICY", "room-too-hot"},
           {"HWCAST_REASON", "31.5 > 30; $(id) kept literally"}});
  unsetenv("HWCAST_POLICY");
  ASSERT_TRUE(result.ok()) << result.Describe();
  EXPECT_EQ(result.stderr_line,
            "shutdown|room-too-hot|31.5 > 30; $(id) kept literally|kept");
}

TEST_F(CommandRunnerTest, ChildGetsDefaultSignalsAndNoStdin) {
  // The daemons block SIGTERM in every thread (InitDaemon); a child that
  // inherited that mask could not be stopped by its own `kill -TERM`.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &term, &old);
  const CommandResult killed =
      Run({"/bin/sh", "-c", "kill -TERM $$; sleep 60"});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_FALSE(killed.timed_out);
  EXPECT_FALSE(killed.exited);
  EXPECT_EQ(killed.term_signal, SIGTERM) << killed.Describe();
  EXPECT_THAT(killed.Describe(), HasSubstr("killed by signal 15"));

  // stdin is /dev/null: `cat` ends at once instead of waiting for input.
  const CommandResult cat = Run({"/bin/sh", "-c", "cat; echo done >&2"});
  EXPECT_TRUE(cat.ok()) << cat.Describe();
  EXPECT_EQ(cat.stderr_line, "done");
}

TEST_F(CommandRunnerTest, ABackgroundChildHoldingStderrDoesNotDelayTheResult) {
  // The command exits at once but leaves a child with stderr open; the
  // runner reports the exit instead of waiting for the pipe to close.
  const std::string pid_file = File("bg.pid");
  const CommandResult result =
      Run({"/bin/sh", "-c",
           absl::StrCat("echo started >&2; sleep 300 & echo $! > ", pid_file,
                        "; exit 0")},
          {}, absl::Seconds(60));
  EXPECT_TRUE(result.ok()) << result.Describe();
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.stderr_line, "started");
  std::string pid_text;
  std::ifstream(pid_file) >> pid_text;
  pid_t child = 0;
  if (absl::SimpleAtoi(pid_text, &child) && child > 0) kill(child, SIGKILL);
}

}  // namespace
}  // namespace hwcast::actuator
