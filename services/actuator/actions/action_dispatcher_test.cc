// Tests of the actions: CommandAction (real and dry-run), the audit log's
// lines, and the ActionDispatcher (notify on every change, shutdown at most
// once, dry-run runs nothing), with a fake CommandRunner.
#include "services/actuator/actions/action_dispatcher.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/testing/metrics.h"
#include "lib/testing/scratch_dir.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/actuator/actions/audit_log.h"
#include "services/actuator/actions/command_action.h"
#include "services/actuator/actions/fake_command_runner.h"

namespace hwcast::actuator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

using Call = FakeCommandRunner::Call;
using FakeRunner = FakeCommandRunner;

CommandActionOptions ActionOptions(std::string name,
                                   std::vector<std::string> argv,
                                   bool dry_run = false,
                                   std::string record = "") {
  CommandActionOptions options;
  options.name = std::move(name);
  options.argv = std::move(argv);
  options.timeout = absl::Seconds(5);
  options.dry_run = dry_run;
  options.dry_run_record = std::move(record);
  return options;
}

google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct out;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return out;
}

std::vector<google::protobuf::Struct> ReadJsonLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<google::protobuf::Struct> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(Parse(line));
  return lines;
}

std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "<absent>" : it->second.string_value();
}

std::vector<std::string> Strings(const google::protobuf::Struct& s,
                                 const std::string& key) {
  std::vector<std::string> out;
  auto it = s.fields().find(key);
  if (it == s.fields().end()) return out;
  for (const auto& v : it->second.list_value().values()) {
    out.push_back(v.string_value());
  }
  return out;
}

using ::hwcast::testutil::MetricValue;

ActionEvent Event(ActionEventKind kind, std::string from, std::string to,
                  std::string policy = "room-too-hot", absl::Time time = kT0) {
  ActionEvent event;
  event.kind = kind;
  event.host = "node1";
  event.policy = std::move(policy);
  event.from = std::move(from);
  event.to = std::move(to);
  event.reason = "1 of 1 above 30: node1/room 35 > 30 for 2s";
  event.time = time;
  hwcast::v1::PolicyInput input;
  input.set_source("node1/room");
  input.set_state("ALARM");
  input.set_value(35);
  input.set_age_seconds(0.5);
  input.set_note("35 > 30 for 2s");
  event.inputs.push_back(input);
  hwcast::v1::PolicyInput missing;
  missing.set_source("node2/room");
  missing.set_state("MISSING");
  event.inputs.push_back(missing);
  return event;
}

class ActionsTest : public ::testing::Test {
 protected:
  void TearDown() override { dispatcher_.reset(); }

  std::string File(const std::string& name) const {
    return (std::filesystem::path(dir_) / name).string();
  }

  // A dispatcher with a fake runner and an audit log in dir_.
  void Make(ActionsOptions options) {
    auto runner = std::make_unique<FakeRunner>();
    runner_ = runner.get();
    auto audit = AuditLog::Open(File("audit.jsonl"), &clock_);
    ASSERT_TRUE(audit.ok()) << audit.status();
    dispatcher_ = std::make_unique<ActionDispatcher>(
        std::move(options), registry_, std::move(runner), *std::move(audit));
  }

  static ActionsOptions Options(bool enabled) {
    ActionsOptions options;
    options.shutdown_enabled = enabled;
    options.shutdown_command = {"/test/shutdown", "--now"};
    options.notify_command = {"/test/notify"};
    options.command_timeout = absl::Seconds(7);
    return options;
  }

  double Actions(const std::string& action, const std::string& result) {
    return MetricValue(registry_, "hwcast_actuator_actions_total",
                       {{"action", action}, {"result", result}});
  }

  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/", "hwcast_actions_test"};
  const std::string dir_ = scratch_.path();
  FakeClock clock_{kT0 + absl::Seconds(1)};
  prometheus::Registry registry_;
  FakeRunner* runner_ = nullptr;
  std::unique_ptr<ActionDispatcher> dispatcher_;
};

// ---------------------------------------------------------- CommandAction

TEST_F(ActionsTest, CommandActionRunsArgvWithTheEventInTheEnvironment) {
  FakeRunner runner;
  CommandAction action(ActionOptions("notify", {"/usr/local/bin/page", "ops"}),
                       &runner);
  ActionEvent event = Event(ActionEventKind::kTransition, "NORMAL", "PRE_FAIL");
  event.dry_run = true;
  const ActionResult result = action.Run(event);
  EXPECT_EQ(result.outcome, ActionOutcome::kOk);
  EXPECT_EQ(result.detail, "exit 0");
  ASSERT_THAT(runner.calls(), SizeIs(1));
  const Call call = runner.calls()[0];
  EXPECT_THAT(call.argv, ElementsAre("/usr/local/bin/page", "ops"));
  EXPECT_EQ(call.timeout, absl::Seconds(5));
  EXPECT_EQ(call.env.at("HWCAST_EVENT"), "transition");
  EXPECT_EQ(call.env.at("HWCAST_POLICY"), "room-too-hot");
  EXPECT_EQ(call.env.at("HWCAST_FROM"), "NORMAL");
  EXPECT_EQ(call.env.at("HWCAST_TO"), "PRE_FAIL");
  EXPECT_EQ(call.env.at("HWCAST_REASON"),
            "1 of 1 above 30: node1/room 35 > 30 for 2s");
  EXPECT_EQ(call.env.at("HWCAST_HOST"), "node1");
  EXPECT_EQ(call.env.at("HWCAST_TIME"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(call.env.at("HWCAST_DRY_RUN"), "true");

  runner.FailProgram("/usr/local/bin/page");
  const ActionResult failed = action.Run(event);
  EXPECT_EQ(failed.outcome, ActionOutcome::kFailed);
  EXPECT_EQ(failed.detail, "exit 1: Failed to power off: Access denied");
}

TEST_F(ActionsTest, DryRunCommandActionRunsNothingAndAppendsARecord) {
  FakeRunner runner;
  const std::string record = File("dry-run.jsonl");
  CommandAction action(
      ActionOptions("shutdown", {"systemctl", "poweroff"}, true, record),
      &runner);
  const ActionEvent event =
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN");
  ActionResult result = action.Run(event);
  EXPECT_EQ(result.outcome, ActionOutcome::kDryRun);
  EXPECT_THAT(result.argv, ElementsAre("systemctl", "poweroff"));
  EXPECT_THAT(runner.calls(), IsEmpty());
  const auto lines = ReadJsonLines(record);
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(Str(lines[0], "time"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(Str(lines[0], "action"), "shutdown");
  EXPECT_THAT(Strings(lines[0], "argv"), ElementsAre("systemctl", "poweroff"));
  EXPECT_EQ(Str(lines[0], "reason"), event.reason);
  EXPECT_EQ(Str(lines[0], "policy"), "room-too-hot");
  EXPECT_EQ(Str(lines[0], "host"), "node1");

  // Without a record file it only reports; an unwritable one is a failure.
  CommandAction no_record(ActionOptions("shutdown", {"x"}, true), &runner);
  EXPECT_EQ(no_record.Run(event).outcome, ActionOutcome::kDryRun);
  CommandAction bad_record(
      ActionOptions("shutdown", {"x"}, true, File("missing/dir/r.jsonl")),
      &runner);
  result = bad_record.Run(event);
  EXPECT_EQ(result.outcome, ActionOutcome::kFailed);
  EXPECT_THAT(result.detail, HasSubstr("dry-run record not written"));
  EXPECT_THAT(runner.calls(), IsEmpty());
}

// --------------------------------------------------------------- AuditLog

TEST_F(ActionsTest, AuditLinesParseAsJsonWithTheExpectedFields) {
  auto audit = AuditLog::Open(File("audit.jsonl"), &clock_);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ActionEvent event = Event(ActionEventKind::kTransition, "NORMAL", "PRE_FAIL");
  event.alarms.push_back("inputs disagree: 24 vs 35 (tolerance 5)");
  event.reason = "quoted \"reason\"\nwith a newline";
  ASSERT_TRUE((*audit)->RecordTransition(event).ok());
  ActionResult run;
  run.outcome = ActionOutcome::kFailed;
  run.argv = {"/sbin/poweroff", "--force"};
  run.detail = "exit 1: nope";
  ASSERT_TRUE((*audit)->RecordAction(event, "shutdown", "failed", run).ok());

  std::ifstream in(File("audit.jsonl"));
  std::vector<std::string> raw;
  for (std::string line; std::getline(in, line);) raw.push_back(line);
  ASSERT_THAT(raw, SizeIs(2));  // One line each, newline inside escaped.

  const auto lines = ReadJsonLines(File("audit.jsonl"));
  const auto& transition = lines[0];
  EXPECT_EQ(Str(transition, "time"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(Str(transition, "host"), "node1");
  EXPECT_EQ(Str(transition, "event"), "transition");
  EXPECT_EQ(Str(transition, "policy"), "room-too-hot");
  EXPECT_EQ(Str(transition, "from"), "NORMAL");
  EXPECT_EQ(Str(transition, "to"), "PRE_FAIL");
  EXPECT_EQ(Str(transition, "reason"), event.reason);
  EXPECT_THAT(Strings(transition, "alarms"),
              ElementsAre("inputs disagree: 24 vs 35 (tolerance 5)"));
  const auto& inputs = transition.fields().at("inputs").list_value();
  ASSERT_EQ(inputs.values_size(), 2);
  const auto& room = inputs.values(0).struct_value();
  EXPECT_EQ(Str(room, "source"), "node1/room");
  EXPECT_EQ(Str(room, "state"), "ALARM");
  EXPECT_EQ(room.fields().at("value").number_value(), 35);
  EXPECT_EQ(room.fields().at("age_seconds").number_value(), 0.5);
  EXPECT_EQ(Str(room, "note"), "35 > 30 for 2s");
  // A MISSING input has no value.
  EXPECT_EQ(inputs.values(1).struct_value().fields().count("value"), 0u);

  const auto& action = lines[1];
  EXPECT_EQ(Str(action, "time"), "2023-11-14T22:13:21.000Z");  // now
  EXPECT_EQ(Str(action, "event"), "action");
  EXPECT_EQ(Str(action, "action"), "shutdown");
  EXPECT_EQ(Str(action, "policy"), "room-too-hot");
  EXPECT_EQ(Str(action, "result"), "failed");
  EXPECT_THAT(Strings(action, "argv"),
              ElementsAre("/sbin/poweroff", "--force"));
  EXPECT_EQ(Str(action, "detail"), "exit 1: nope");
  EXPECT_EQ(action.fields().at("inputs").list_value().values_size(), 2);
}

// --------------------------------------------------------- ActionDispatcher

TEST_F(ActionsTest, AShutdownEventWithADeadlineWaitsForStartShutdown) {
  Make(Options(/*enabled=*/true));
  ActionEvent shutdown =
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN");
  shutdown.deadline = kT0 + absl::Seconds(30);
  dispatcher_->OnEvent(shutdown);
  ActionEvent cancel = Event(ActionEventKind::kCancel, "", "");
  cancel.reason = "condition cleared";
  cancel.deadline = shutdown.deadline;
  dispatcher_->OnEvent(cancel);
  dispatcher_->WaitIdle();
  EXPECT_TRUE(runner_->CallsOf("/test/shutdown").empty());
  EXPECT_FALSE(dispatcher_->shutdown_started());
  const auto notes = runner_->CallsOf("/test/notify");
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0].env.at("HWCAST_EVENT"), "shutdown");
  EXPECT_EQ(notes[0].env.at("HWCAST_DEADLINE"), "2023-11-14T22:13:50.000Z");
  EXPECT_EQ(notes[1].env.at("HWCAST_EVENT"), "cancel");
  EXPECT_EQ(notes[1].env.at("HWCAST_REASON"), "condition cleared");

  // The owner's countdown ends: the command runs, once.
  EXPECT_TRUE(dispatcher_->StartShutdown(shutdown));
  EXPECT_FALSE(dispatcher_->StartShutdown(shutdown));
  dispatcher_->WaitIdle();
  EXPECT_EQ(runner_->CallsOf("/test/shutdown").size(), 1u);
  EXPECT_TRUE(dispatcher_->shutdown_started());
}

TEST_F(ActionsTest, RealShutdownRunsExactlyOnceAndNotifyOnEveryChange) {
  Make(Options(/*enabled=*/true));
  EXPECT_FALSE(dispatcher_->Status().shutdown_started());
  dispatcher_->OnEvent(
      Event(ActionEventKind::kTransition, "NORMAL", "PRE_FAIL"));
  dispatcher_->OnEvent(Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN",
                             "room-too-hot", kT0 + absl::Seconds(2)));
  // The same or another policy reaching SHUTDOWN again runs nothing more.
  dispatcher_->OnEvent(Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN",
                             "ups-on-battery", kT0 + absl::Seconds(3)));
  dispatcher_->OnEvent(Event(ActionEventKind::kShutdown, "UNKNOWN", "SHUTDOWN",
                             "room-too-hot", kT0 + absl::Seconds(4)));
  dispatcher_->WaitIdle();

  const auto shutdowns = runner_->CallsOf("/test/shutdown");
  ASSERT_THAT(shutdowns, SizeIs(1));
  EXPECT_THAT(shutdowns[0].argv, ElementsAre("/test/shutdown", "--now"));
  EXPECT_EQ(shutdowns[0].timeout, absl::Seconds(7));
  EXPECT_EQ(shutdowns[0].env.at("HWCAST_EVENT"), "shutdown");
  EXPECT_EQ(shutdowns[0].env.at("HWCAST_DRY_RUN"), "false");

  const auto notifications = runner_->CallsOf("/test/notify");
  ASSERT_THAT(notifications, SizeIs(4));
  EXPECT_EQ(notifications[0].env.at("HWCAST_EVENT"), "transition");
  EXPECT_EQ(notifications[0].env.at("HWCAST_TO"), "PRE_FAIL");
  EXPECT_EQ(notifications[1].env.at("HWCAST_EVENT"), "shutdown");
  EXPECT_EQ(notifications[2].env.at("HWCAST_POLICY"), "ups-on-battery");

  const hwcast::v1::ActionStatus status = dispatcher_->Status();
  EXPECT_TRUE(status.shutdown_enabled());
  EXPECT_TRUE(status.shutdown_started());
  EXPECT_EQ(status.shutdown_reason(),
            "room-too-hot: 1 of 1 above 30: node1/room 35 > 30 for 2s");
  EXPECT_EQ(FromProtoTime(status.shutdown_time()), kT0 + absl::Seconds(2));
  EXPECT_EQ(status.last_error(), "");
  EXPECT_EQ(Actions("shutdown", "ok"), 1);
  EXPECT_EQ(Actions("shutdown", "dry_run"), 0);
  EXPECT_EQ(Actions("notify", "ok"), 4);

  // Audit: 4 transitions, shutdown started + ok, 4 notifications.
  const auto lines = ReadJsonLines(File("audit.jsonl"));
  int transitions = 0;
  std::vector<std::string> shutdown_results;
  for (const auto& line : lines) {
    if (Str(line, "event") == "transition") ++transitions;
    if (Str(line, "action") == "shutdown") {
      shutdown_results.push_back(Str(line, "result"));
    }
  }
  EXPECT_EQ(transitions, 4);
  EXPECT_THAT(shutdown_results, ElementsAre("started", "ok"));
  EXPECT_THAT(lines, SizeIs(10));
}

TEST_F(ActionsTest, DryRunRunsNoShutdownButRecordsItOnceAndStillNotifies) {
  ActionsOptions options = Options(/*enabled=*/false);
  options.dry_run_record = File("dry-run.jsonl");
  Make(options);
  dispatcher_->OnEvent(
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN"));
  dispatcher_->OnEvent(
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN", "other"));
  dispatcher_->WaitIdle();

  EXPECT_THAT(runner_->CallsOf("/test/shutdown"), IsEmpty());
  const auto notifications = runner_->CallsOf("/test/notify");
  ASSERT_THAT(notifications, SizeIs(2));
  EXPECT_EQ(notifications[0].env.at("HWCAST_EVENT"), "shutdown");
  EXPECT_EQ(notifications[0].env.at("HWCAST_DRY_RUN"), "true");

  const auto record = ReadJsonLines(File("dry-run.jsonl"));
  ASSERT_THAT(record, SizeIs(1));
  EXPECT_EQ(Str(record[0], "action"), "shutdown");
  EXPECT_THAT(Strings(record[0], "argv"),
              ElementsAre("/test/shutdown", "--now"));

  const hwcast::v1::ActionStatus status = dispatcher_->Status();
  EXPECT_FALSE(status.shutdown_enabled());
  EXPECT_TRUE(status.shutdown_started());
  EXPECT_EQ(Actions("shutdown", "dry_run"), 1);
  EXPECT_EQ(Actions("shutdown", "ok"), 0);

  std::vector<std::string> shutdown_results;
  for (const auto& line : ReadJsonLines(File("audit.jsonl"))) {
    if (Str(line, "action") == "shutdown") {
      shutdown_results.push_back(Str(line, "result"));
    }
  }
  EXPECT_THAT(shutdown_results, ElementsAre("dry_run"));
}

TEST_F(ActionsTest, AFailedShutdownIsReportedAndNotRetried) {
  Make(Options(/*enabled=*/true));
  runner_->FailProgram("/test/shutdown");
  dispatcher_->OnEvent(
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN"));
  dispatcher_->WaitIdle();
  dispatcher_->OnEvent(
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN", "again"));
  dispatcher_->WaitIdle();
  EXPECT_THAT(runner_->CallsOf("/test/shutdown"), SizeIs(1));
  EXPECT_EQ(Actions("shutdown", "failed"), 1);
  const hwcast::v1::ActionStatus status = dispatcher_->Status();
  EXPECT_TRUE(status.shutdown_started());
  EXPECT_EQ(status.last_error(),
            "shutdown: exit 1: Failed to power off: Access denied");
}

TEST_F(ActionsTest, OnEventDoesNotWaitForCommands) {
  Make(Options(/*enabled=*/true));
  runner_->Block();
  dispatcher_->OnEvent(
      Event(ActionEventKind::kShutdown, "PRE_FAIL", "SHUTDOWN"));
  // Both the notify hook and the shutdown command are now running (stuck in
  // the runner); OnEvent returned and status answers.
  runner_->AwaitCalls(2);
  EXPECT_TRUE(dispatcher_->Status().shutdown_started());
  dispatcher_->OnEvent(
      Event(ActionEventKind::kTransition, "NORMAL", "PRE_FAIL", "other"));
  runner_->Release();
  dispatcher_->WaitIdle();
  EXPECT_THAT(runner_->calls(), SizeIs(3));
}

TEST_F(ActionsTest, NotificationsBeyondTheQueueLimitAreDroppedOldestFirst) {
  ActionsOptions options = Options(/*enabled=*/false);
  options.max_pending_notifications = 2;
  Make(options);
  runner_->Block();
  dispatcher_->OnEvent(Event(ActionEventKind::kTransition, "A", "B", "p0"));
  runner_->AwaitCalls(1);  // p0 is running; the queue is empty.
  for (int i = 1; i <= 4; ++i) {
    dispatcher_->OnEvent(
        Event(ActionEventKind::kTransition, "A", "B", absl::StrCat("p", i)));
  }
  runner_->Release();
  dispatcher_->WaitIdle();
  std::vector<std::string> policies;
  for (const Call& call : runner_->CallsOf("/test/notify")) {
    policies.push_back(call.env.at("HWCAST_POLICY"));
  }
  EXPECT_THAT(policies, ElementsAre("p0", "p3", "p4"));
  EXPECT_EQ(Actions("notify", "failed"), 2);
  EXPECT_THAT(dispatcher_->Status().last_error(), HasSubstr("dropped"));
}

TEST_F(ActionsTest, OptionsFromConfig) {
  hwcast::v1::ActionsConfig config;
  ActionsOptions options = ActionsOptions::FromConfig(config);
  EXPECT_FALSE(options.shutdown_enabled);
  EXPECT_THAT(options.shutdown_command, ElementsAre("systemctl", "poweroff"));
  EXPECT_THAT(options.notify_command, IsEmpty());
  EXPECT_EQ(options.command_timeout, absl::Seconds(30));

  config.set_shutdown_enabled(true);
  config.add_shutdown_command("/sbin/shutdown");
  config.add_shutdown_command("-h");
  config.add_notify_command("/bin/notify");
  *config.mutable_command_timeout() = ToProtoDuration(absl::Seconds(5));
  config.set_dry_run_record("/tmp/r.jsonl");
  options = ActionsOptions::FromConfig(config);
  EXPECT_TRUE(options.shutdown_enabled);
  EXPECT_THAT(options.shutdown_command, ElementsAre("/sbin/shutdown", "-h"));
  EXPECT_THAT(options.notify_command, ElementsAre("/bin/notify"));
  EXPECT_EQ(options.command_timeout, absl::Seconds(5));
  EXPECT_EQ(options.dry_run_record, "/tmp/r.jsonl");
}

}  // namespace
}  // namespace hwcast::actuator
