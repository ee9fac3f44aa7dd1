#include "tools/hwcastctl/replay.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"
#include "lib/time_util.h"

// Where tests/traces is: the source tree (CMake) or the runfiles root
// (Bazel runs tests there).
#ifndef HWCAST_SOURCE_DIR
#define HWCAST_SOURCE_DIR "."
#endif

namespace hwcast::hwcastctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseTraceTest, ReadingsAndLinkEventsInRelativeTime) {
  absl::StatusOr<Trace> trace = ParseTrace(
      "# comment\r\n"
      "\n"
      "time, host, source_id, kind, value, quality, error, charge, runtime\r\n"
      "0,h1,room,temperature,21.5,,,,\n"
      "10,h1,room,temperature,,sensor_fault,EIO,,\n"
      "10.5,h1,hum,humidity,41,OK,,,\n"
      "11,h1,node,reachability,0,,,,\n"
      "12,h1,ups,power,OB LB,,,38.5,600\n"
      "13,,,relays,0/2,,,,\n"
      "14,,,network,down,,,,\n"
      "15,h1,room,temperature,22,quality_ok,,,\n",
      "t.csv");
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_TRUE(trace->relative);
  EXPECT_EQ(trace->start, absl::UnixEpoch());
  ASSERT_EQ(trace->events.size(), 8u);
  const auto& e = trace->events;
  EXPECT_EQ(e[0].line, 4);
  EXPECT_EQ(e[0].time, absl::UnixEpoch());
  EXPECT_EQ(e[0].reading->host(), "h1");
  EXPECT_EQ(e[0].reading->source_id(), "room");
  EXPECT_EQ(e[0].reading->temperature().celsius(), 21.5);
  EXPECT_EQ(e[0].reading->quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(e[0].reading->sequence(), 1u);
  EXPECT_EQ(FromProtoTime(e[0].reading->observed_time()), absl::UnixEpoch());
  EXPECT_EQ(e[1].reading->quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(e[1].reading->error(), "EIO");
  EXPECT_FALSE(e[1].reading->has_temperature());
  EXPECT_EQ(e[1].reading->sequence(), 2u);
  EXPECT_EQ(e[2].time, absl::UnixEpoch() + absl::Milliseconds(10500));
  EXPECT_EQ(e[2].reading->humidity().relative_percent(), 41);
  EXPECT_FALSE(e[3].reading->reachability().reachable());
  const hwcast::v1::PowerState& power = e[4].reading->power();
  EXPECT_EQ(power.raw_status(), "OB LB");
  EXPECT_EQ(power.line(), hwcast::v1::PowerState::LINE_STATE_LOW_BATTERY);
  EXPECT_EQ(power.charge_percent(), 38.5);
  EXPECT_EQ(power.runtime_seconds(), 600);
  EXPECT_FALSE(e[5].reading.has_value());
  EXPECT_EQ(e[5].relays_connected, 0);
  EXPECT_EQ(e[5].relays_total, 2);
  EXPECT_EQ(e[6].network_up, false);
  EXPECT_EQ(e[7].reading->sequence(), 3u);
}

TEST(ParseTraceTest, Rfc3339TimesStartAtTheFirstRow) {
  absl::StatusOr<Trace> trace = ParseTrace(
      "value,kind,time,source_id,host\n"
      "1,reachability,2024-05-01T12:00:00Z,n,h\n"
      "0,reachability,2024-05-01T14:00:10+02:00,n,h\n",
      "t.csv");
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_FALSE(trace->relative);
  const absl::Time noon = absl::FromCivil(
      absl::CivilSecond(2024, 5, 1, 12, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(trace->start, noon);
  EXPECT_EQ(trace->events[1].time, noon + absl::Seconds(10));
  EXPECT_TRUE(trace->events[0].reading->reachability().reachable());
}

TEST(ParseTraceTest, ErrorsNameFileLineAndColumn) {
  const std::string header = "time,host,source_id,kind,value\n";
  const struct {
    std::string text;
    std::string error;
  } cases[] = {
      {"", "t.csv: empty trace: needs a header line"},
      {"time,host,source_id,kind\n",
       "t.csv:1:1: the header lacks column 'value'"},
      {"time,host,source_id,kind,value,colour\n",
       "t.csv:1:32: unknown column 'colour' (time, source_id, kind, value, "
       "host, quality, error, charge, runtime)"},
      {"time,host,source_id,kind,value,time\n",
       "t.csv:1:32: column 'time' given twice"},
      {header + "0,h,s,temperature\n",
       "t.csv:2:1: 4 fields, but the header has 5"},
      {header + "soon,h,s,temperature,20\n",
       "t.csv:2:1: time: 'soon' is neither RFC3339"},
      {header + "-5,h,s,temperature,20\n",
       "t.csv:2:1: time: '-5' is neither RFC3339"},
      {header + "10,h,s,temperature,20\n5,h,s,temperature,20\n",
       "t.csv:3:1: time: '5' is before the previous row's (line 2)"},
      {header + "10,h,s,temperature,20\n2024-05-01T12:00:00Z,h,s,"
                "temperature,20\n",
       "t.csv:3:1: time: '2024-05-01T12:00:00Z' is RFC3339 but the earlier "
       "rows' are seconds from the start"},
      {header + "0,,s,temperature,20\n", "t.csv:2:3: host: empty"},
      {header + "0,h,,temperature,20\n", "t.csv:2:5: source_id: empty"},
      {header + "0,h,s,pressure,20\n",
       "t.csv:2:7: kind: 'pressure' is not temperature, humidity, "
       "reachability, power, relays or network"},
      {header + "0,h,s,temperature,warm\n",
       "t.csv:2:19: value: 'warm' is not a number"},
      {header + "0,h,s,temperature, nan\n",
       "t.csv:2:20: value: 'nan' is not a number"},
      {header + "0,h,s,temperature,\n",
       "t.csv:2:19: value: empty (only a reading whose quality is not ok may "
       "have none)"},
      {header + "0,h,s,reachability,maybe\n",
       "t.csv:2:20: value: 'maybe' is not 1 or 0"},
      {header + "0,h,s,power,on battery\n",
       "t.csv:2:13: value: 'on battery' is not a NUT ups.status"},
      {header + "0,,,relays,3/2\n",
       "t.csv:2:12: value: '3/2' is not CONNECTED/TOTAL relays"},
      {header + "0,,,network,sideways\n",
       "t.csv:2:13: value: 'sideways' is not up or down"},
      {"time,host,source_id,kind,value,quality\n0,h,s,temperature,1,bad\n",
       "t.csv:2:21: quality: 'bad' is not ok, sensor_fault, out_of_range or "
       "uncalibrated"},
      {"time,host,source_id,kind,value,charge\n0,h,s,temperature,1,50\n",
       "t.csv:2:21: charge: only for kind power"},
      {"time,host,source_id,kind,value,runtime\n0,h,s,power,OB,soon\n",
       "t.csv:2:16: runtime: 'soon' is not a number"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<Trace> trace = ParseTrace(c.text, "t.csv");
    ASSERT_FALSE(trace.ok()) << c.text;
    EXPECT_EQ(trace.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(trace.status().message()), HasSubstr(c.error))
        << c.text;
  }
}

class ReplayTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  struct Result {
    int code;
    std::vector<std::string> lines;
    std::string err;
  };
  Result Replay(const std::string& config, const std::string& trace,
                uint64_t seed = 1, bool json = false,
                std::optional<absl::Duration> until = std::nullopt) {
    std::ostringstream out;
    std::ostringstream err;
    Result r;
    ReplayOptions options;
    options.config = config;
    options.trace = trace;
    options.seed = seed;
    options.json = json;
    options.until = until;
    r.code = RunReplay(options, out, err);
    r.lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
    r.err = err.str();
    return r;
  }

  const ::hwcast::testutil::ScratchDir scratch_{"hwcastctl_replay"};
  const std::string dir_ = scratch_.path();
};

constexpr char kRoomConfig[] = R"(policies:
  - name: room
    grace: 1m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)";

TEST_F(ReplayTest, PrintsTransitionsAndTheShutdown) {
  const std::string config = Write("a.yaml", kRoomConfig);
  std::string csv = "time,host,source_id,kind,value\n";
  for (int t = 0; t <= 300; t += 10) {
    absl::StrAppend(&csv, t, ",h1,room,temperature,", t < 100 ? 25 : 35, "\n");
  }
  const std::string trace = Write("t.csv", csv);
  const Result r = Replay(config, trace);
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(
      r.lines,
      ElementsAre("replaying " + trace + " through 1 policy from " + config +
                      " (seed 1)",
                  "+1m40s  room  NORMAL -> PRE_FAIL  1 of 1 above 30 (quorum "
                  "1): h1/room 35 > 30, in alarm for 0s; shutdown after "
                  "grace 1m",
                  "+2m40s  room  PRE_FAIL -> SHUTDOWN  1 of 1 above 30 "
                  "(quorum 1): h1/room 35 > 30, in alarm for 1m; held "
                  "through grace 1m",
                  "would shut down at +3m10s (policy room: SHUTDOWN at "
                  "+2m40s, countdown 30s + final_delay 0s); longest PRE_FAIL "
                  "1m of 1m (room); 0 UNKNOWN spells"));
}

TEST_F(ReplayTest, GracePeriodsExpireInGapsBetweenReadings) {
  const std::string config = Write("a.yaml", kRoomConfig);
  // One hot reading and one 10 minutes later: the grace period (1m) ends
  // on a tick in between, before the source is stale (60s).
  const std::string trace =
      Write("t.csv",
            "time,host,source_id,kind,value\n"
            "2024-05-01T12:00:00Z,h1,room,temperature,35\n"
            "2024-05-01T12:00:59.5Z,h1,room,temperature,35\n"
            "2024-05-01T12:10:00Z,h1,room,temperature,35\n");
  const Result r = Replay(config, trace);
  EXPECT_EQ(r.code, 3) << r.err;
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_THAT(r.lines[1], HasSubstr("2024-05-01T12:00:00Z  room  NORMAL -> "
                                    "PRE_FAIL"));
  EXPECT_THAT(r.lines[2], HasSubstr("2024-05-01T12:01:00Z  room  PRE_FAIL -> "
                                    "SHUTDOWN"));
  EXPECT_THAT(r.lines[3],
              HasSubstr("would shut down at 2024-05-01T12:01:30Z (policy "
                        "room: SHUTDOWN at 2024-05-01T12:01:00Z"));
}

TEST_F(ReplayTest, EndOfTraceInPreFailSaysSoAndNoShutdown) {
  const std::string config = Write("a.yaml", kRoomConfig);
  const std::string trace = Write("t.csv",
                                  "time,host,source_id,kind,value\n"
                                  "0,h1,room,temperature,35\n"
                                  "20,h1,room,temperature,35\n");
  const Result r = Replay(config, trace);
  EXPECT_EQ(r.code, 0);
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_EQ(r.lines[2], "end of trace at +20s: room PRE_FAIL, 40s to shutdown");
  EXPECT_EQ(r.lines[3],
            "no shutdown; longest PRE_FAIL 20s of 1m (room); 0 UNKNOWN spells");
}

TEST_F(ReplayTest, AlarmsAppearAndClear) {
  const std::string config = Write("a.yaml", R"(policies:
  - name: room
    threshold:
      inputs: [{host: h1, source_id: a}, {host: h2, source_id: b}]
      quorum: 2
      enter_above: 30
      disagreement_tolerance: 3
)");
  const std::string trace = Write("t.csv",
                                  "time,host,source_id,kind,value\n"
                                  "0,h1,a,temperature,22\n"
                                  "0,h2,b,temperature,23\n"
                                  "10,h2,b,temperature,29\n"
                                  "20,h2,b,temperature,24\n");
  const Result r = Replay(config, trace);
  EXPECT_THAT(r.lines,
              ElementsAre(HasSubstr("replaying"),
                          "+10s  room  alarm: inputs disagree: h1/a 22 vs "
                          "h2/b 29, 7 apart (tolerance 3)",
                          "+20s  room  alarm cleared",
                          "no shutdown; no PRE_FAIL; 0 UNKNOWN spells"));
}

TEST_F(ReplayTest, LinkEventsExplainUnknown) {
  const std::string config = Write("a.yaml", R"(policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)");
  const std::string trace = Write("t.csv",
                                  "time,host,source_id,kind,value\n"
                                  "0,,,relays,1/1\n"
                                  "0,h1,room,temperature,35\n"
                                  "30,,,relays,0/1\n"
                                  "600,,,relays,0/1\n");
  const Result r = Replay(config, trace);
  EXPECT_EQ(r.code, 0);
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_THAT(r.lines[2],
              HasSubstr("+30s  room  PRE_FAIL -> UNKNOWN  can not tell: no "
                        "relay connected (0 of 1); last known: 1 of 1 above "
                        "30"));
  EXPECT_EQ(r.lines[3],
            "no shutdown; longest PRE_FAIL 30s of 5m (room); 1 UNKNOWN spell");
}

TEST_F(ReplayTest, TheSeedDrivesTheJitter) {
  const std::string config = Write("a.yaml", R"(policies:
  - name: room
    grace: 1m
    jitter: 1m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)");
  std::string csv = "time,host,source_id,kind,value\n";
  for (int t = 0; t <= 300; t += 10) {
    absl::StrAppend(&csv, t, ",h1,room,temperature,35\n");
  }
  const std::string trace = Write("t.csv", csv);
  std::set<std::string> answers;
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    const Result a = Replay(config, trace, seed);
    const Result b = Replay(config, trace, seed);
    EXPECT_EQ(a.lines, b.lines);
    EXPECT_THAT(a.lines[0], HasSubstr(absl::StrCat("(seed ", seed, ")")));
    answers.insert(a.lines.back());
  }
  EXPECT_GT(answers.size(), 1u);
}

TEST_F(ReplayTest, InvalidInputsExit2NamingWhere) {
  const std::string good_config = Write("good.yaml", kRoomConfig);
  const std::string good_trace = Write(
      "good.csv", "time,host,source_id,kind,value\n0,h1,room,temperature,20\n");
  {
    const std::string config = Write("bad.yaml", R"(policies:
  - name: room
    threshold:
      inputs: [{host: h1, source_id: room}]
      quorum: 2
)");
    const Result r = Replay(config, good_trace);
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.err, "hwcastctl: replay: " + config +
                         ":5:7: policies[0].threshold.quorum: must be 1..1 "
                         "(the number of inputs), got 2\n");
    EXPECT_THAT(r.lines, IsEmpty());
  }
  {
    const std::string config = Write("typo.yaml", "polices: []\n");
    const Result r = Replay(config, good_trace);
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr("typo.yaml:1:1: "));
  }
  {
    const std::string config = Write("none.yaml", "host: x\n");
    const Result r = Replay(config, good_trace);
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr("no policies to replay"));
  }
  {
    const std::string trace = Write(
        "bad.csv", "time,host,source_id,kind,value\n0,h1,room,temperature,x\n");
    const Result r = Replay(good_config, trace);
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.err, "hwcastctl: replay: " + trace +
                         ":2:23: value: 'x' is not a number\n");
  }
}

TEST_F(ReplayTest, UnreadableFilesExit1) {
  const std::string good_config = Write("good.yaml", kRoomConfig);
  Result r = Replay(dir_ + "/missing.yaml", dir_ + "/missing.csv");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing.yaml"));
  r = Replay(good_config, dir_ + "/missing.csv");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("can not read " + dir_ + "/missing.csv"));
}

// The example traces in tests/traces (README) give the documented answers.
TEST_F(ReplayTest, ExampleTraces) {
  const std::string dir = std::string(HWCAST_SOURCE_DIR) + "/tests/traces/";
  const struct {
    const char* config;
    const char* trace;
    std::vector<std::string> transitions;
    std::string answer;
  } cases[] = {
      {"room.yaml",
       "room_heats_up.csv",
       {"+20m40s  room-too-hot  NORMAL -> PRE_FAIL",
        "+25m40s  room-too-hot  PRE_FAIL -> SHUTDOWN"},
       "would shut down at +26m10s (policy room-too-hot: SHUTDOWN at "
       "+25m40s, countdown 30s + final_delay 0s); longest PRE_FAIL 5m of 5m "
       "(room-too-hot); 0 UNKNOWN spells"},
      {"room.yaml",
       "room_cools_in_time.csv",
       {"+20m40s  room-too-hot  NORMAL -> PRE_FAIL",
        "+24m20s  room-too-hot  PRE_FAIL -> NORMAL"},
       "no shutdown"},
      {"room.yaml", "flapping.csv", {}, "no shutdown"},
      {"room.yaml",
       "sensor_and_links.csv",
       {"+10m  room-too-hot  NORMAL -> UNKNOWN  can not tell: 0 of 1 above "
        "30 and 1 unusable (quorum 1): rack1/room: sensor fault",
        "+15m  room-too-hot  UNKNOWN -> NORMAL",
        "+20m  room-too-hot  NORMAL -> UNKNOWN  can not tell: no relay "
        "connected (0 of 1); last known: 0 of 1 above 30",
        "+30m  room-too-hot  UNKNOWN -> NORMAL",
        "+35m  room-too-hot  NORMAL -> UNKNOWN  can not tell: this host's "
        "network is down; last known: 0 of 1 above 30",
        "+45m  room-too-hot  UNKNOWN -> NORMAL",
        "+50m7s  room-too-hot  NORMAL -> UNKNOWN  can not tell: 0 of 1 above "
        "30 and 1 unusable (quorum 1): no fresh reading from rack1/room for "
        "17s (a reading covers 16s); relays connected (1 of 1): the source "
        "is silent"},
       "no shutdown"},
      {"ups.yaml",
       "ups_outage.csv",
       {"+21m50s  ups  NORMAL -> PRE_FAIL  rack1/ups 'OB DISCHRG LB",
        "+22m50s  ups  PRE_FAIL -> SHUTDOWN"},
       "would shut down at +23m20s (policy ups: SHUTDOWN at +22m50s"},
      {"room.yaml",
       "room_step_then_climb.csv",
       {"+10m  room-too-hot  NORMAL -> UNKNOWN  can not tell: 0 of 1 above "
        "30 and 1 unusable (quorum 1): rack1/room implausible: changed from "
        "24.1 to 36 in 10s",
        "+11m  room-too-hot  UNKNOWN -> NORMAL",
        "+11m  room-too-hot  alarm: rack1/room re-anchored at 36.6 after a "
        "jump from 24.1 (readings agreed for 1m)",
        "+11m30s  room-too-hot  NORMAL -> PRE_FAIL  1 of 1 above 30 (quorum "
        "1): rack1/room 36.9 > 30, in alarm for 0s; re-anchored at 36.6 "
        "after a jump from 24.1 (readings agreed for 1m)",
        "+16m30s  room-too-hot  PRE_FAIL -> SHUTDOWN"},
       "would shut down at +17m (policy room-too-hot: SHUTDOWN at +16m30s"},
  };
  for (const auto& c : cases) {
    const Result r = Replay(dir + c.config, dir + c.trace);
    ASSERT_EQ(r.code, absl::StartsWith(c.answer, "would") ? 3 : 0)
        << c.trace << ": " << r.err;
    ASSERT_EQ(r.lines.size(), c.transitions.size() + 2) << c.trace;
    for (size_t i = 0; i < c.transitions.size(); ++i) {
      EXPECT_EQ(r.lines[i + 1].rfind(c.transitions[i], 0), 0u)
          << c.trace << ": " << r.lines[i + 1];
    }
    EXPECT_EQ(r.lines.back().rfind(c.answer, 0), 0u)
        << c.trace << ": " << r.lines.back();
  }
}

TEST_F(ReplayTest, CountdownAndFinalDelayDecideWhenTheCommandRuns) {
  const std::string hot = [] {
    std::string csv = "time,source_id,kind,value\n";  // no host column
    for (int t = 0; t <= 600; t += 10) {
      absl::StrAppend(&csv, t, ",room,temperature,", t < 100 ? 25 : 35, "\n");
    }
    return csv;
  }();
  const std::string trace = Write("hot.csv", hot);
  {
    const std::string config = Write("c.yaml", absl::StrCat(kRoomConfig, R"(
actions: {countdown: 1m, final_delay: 2m}
)"));
    const Result r = Replay(config, trace);
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_THAT(r.lines.back(),
                HasSubstr("would shut down at +5m40s (policy room: SHUTDOWN "
                          "at +2m40s, countdown 1m + final_delay 2m)"));
  }
  {
    // The trace ends during the countdown: the command would run at its
    // deadline (the policy stays in SHUTDOWN).
    const std::string config = Write("d.yaml", absl::StrCat(kRoomConfig, R"(
actions: {countdown: 10m}
)"));
    const Result r = Replay(config, trace);
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_THAT(r.lines.back(), HasSubstr("would shut down at +12m40s"));
  }
  {
    // Cooled during the countdown: cancelled, no shutdown.
    std::string csv = "time,source_id,kind,value\n";
    for (int t = 0; t <= 600; t += 10) {
      absl::StrAppend(&csv, t, ",room,temperature,",
                      t < 100 || t >= 170 ? 25 : 35, "\n");
    }
    const std::string config = Write("e.yaml", absl::StrCat(kRoomConfig, R"(
actions: {countdown: 30s}
)"));
    const Result r = Replay(config, Write("cool.csv", csv));
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.lines.back(),
              "no shutdown; longest PRE_FAIL 1m of 1m (room); 0 UNKNOWN "
              "spells");
  }
}

TEST_F(ReplayTest, UntilStopsTheReplayEarly) {
  std::string csv = "time,host,source_id,kind,value\n";
  for (int t = 0; t <= 600; t += 10) {
    absl::StrAppend(&csv, t, ",h1,room,temperature,", t < 100 ? 25 : 35, "\n");
  }
  const std::string config = Write("a.yaml", kRoomConfig);
  const std::string trace = Write("t.csv", csv);
  const Result r = Replay(config, trace, 1, false, absl::Seconds(130));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.lines,
              ElementsAre(HasSubstr("replaying"),
                          HasSubstr("+1m40s  room  NORMAL -> PRE_FAIL"),
                          "end of trace at +2m10s: room PRE_FAIL, 30s to "
                          "shutdown",
                          "no shutdown; longest PRE_FAIL 30s of 1m (room); 0 "
                          "UNKNOWN spells"));
}

TEST_F(ReplayTest, JsonLinesPerTransitionAndASummary) {
  std::string csv = "time,host,source_id,kind,value\n0,,,relays,1/1\n";
  for (int t = 0; t <= 300; t += 10) {
    if (t == 50) absl::StrAppend(&csv, t, ",,,relays,0/1\n");
    if (t == 80) absl::StrAppend(&csv, t, ",,,relays,1/1\n");
    if (t >= 50 && t < 80) continue;
    absl::StrAppend(&csv, t, ",h1,room,temperature,35\n");
  }
  const std::string config = Write("a.yaml", kRoomConfig);
  const Result r = Replay(config, Write("t.csv", csv), 1, true);
  EXPECT_EQ(r.code, 3) << r.err;
  ASSERT_EQ(r.lines.size(), 5u);
  EXPECT_THAT(r.lines[0], HasSubstr(R"("time":"+0s","policy":"room",)"
                                    R"("from":"NORMAL","to":"PRE_FAIL",)"));
  EXPECT_THAT(r.lines[1], HasSubstr(R"("time":"+50s","policy":"room",)"
                                    R"("from":"PRE_FAIL","to":"UNKNOWN",)"));
  EXPECT_THAT(r.lines[2], HasSubstr(R"("from":"UNKNOWN","to":"PRE_FAIL")"));
  // 50s held, then 10s more from 1m20s.
  EXPECT_THAT(r.lines[3], HasSubstr(R"("time":"+1m30s","policy":"room",)"
                                    R"("from":"PRE_FAIL","to":"SHUTDOWN")"));
  EXPECT_THAT(r.lines[4],
              HasSubstr(R"({"summary":"shutdown","would_shut_down":true,)"
                        R"("policy":"room","shutdown_state_at":"+1m30s",)"
                        R"("command_at":"+2m","countdown_seconds":30,)"
                        R"("final_delay_seconds":0,)"
                        R"("longest_pre_fail_seconds":50,)"
                        R"("longest_pre_fail_policy":"room",)"
                        R"("grace_seconds":60,"unknown_spells":1,)"));
}

TEST_F(ReplayTest, HostColumnNeededWhenThePoliciesReadSeveralHosts) {
  const std::string config = Write("a.yaml", R"(policies:
  - name: room
    threshold:
      inputs: [{host: h1, source_id: a}, {host: h2, source_id: b}]
      enter_above: 30
)");
  const Result r =
      Replay(config,
             Write("t.csv", "time,source_id,kind,value\n0,a,temperature,20\n"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("t.csv:2:1: no host column, and the config's "
                               "policies do not read exactly one host"));
}

}  // namespace
}  // namespace hwcast::hwcastctl
