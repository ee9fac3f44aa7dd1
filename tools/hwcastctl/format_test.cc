#include "tools/hwcastctl/format.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "lib/testing/readings.h"
#include "lib/time_util.h"

namespace hwcast::hwcastctl {
namespace {

using hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_EQ(lines.back(), "") << "output must end in a newline";
  lines.pop_back();
  return lines;
}

Reading Temp(const std::string& host, const std::string& source, double celsius,
             absl::Time observed) {
  return testutil::TemperatureAt(host, source, 1, celsius, observed);
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"A", "LONGER", "C"});
  table.AddRow({"xxxx", "y", "z"});
  table.AddRow({"1", "", ""});
  EXPECT_THAT(Lines(table.Render()), ElementsAre("A     LONGER  C",  //
                                                 "xxxx  y       z",  //
                                                 "1"));
}

TEST(TableTest, CountsUtf8CodePointsNotBytes) {
  Table table({"VALUE", "QUALITY"});
  table.AddRow({"23.50 °C", "ok"});
  table.AddRow({"41.0 %RH", "ok"});
  const std::vector<std::string> lines = Lines(table.Render());
  ASSERT_EQ(lines.size(), 3u);
  // "QUALITY" and both "ok" start in the same display column.
  EXPECT_EQ(lines[0], "VALUE     QUALITY");
  EXPECT_EQ(lines[1], "23.50 °C  ok");
  EXPECT_EQ(lines[2], "41.0 %RH  ok");
  EXPECT_EQ(DisplayWidth("23.50 °C"), 8u);
  EXPECT_EQ(PadRight("°", 3), "°  ");
}

TEST(TableTest, ShortRowsArePadded) {
  Table table({"A", "B"});
  table.AddRow({"only"});
  EXPECT_THAT(Lines(table.Render()), ElementsAre("A     B", "only"));
}

TEST(FormatAgeTest, PicksAReadableUnit) {
  EXPECT_EQ(FormatAge(absl::ZeroDuration()), "0.0s");
  EXPECT_EQ(FormatAge(absl::Milliseconds(430)), "0.4s");
  EXPECT_EQ(FormatAge(absl::Milliseconds(9960)), "9.9s");
  EXPECT_EQ(FormatAge(absl::Seconds(10)), "10s");
  EXPECT_EQ(FormatAge(absl::Seconds(59)), "59s");
  EXPECT_EQ(FormatAge(absl::Seconds(60)), "1m00s");
  EXPECT_EQ(FormatAge(absl::Seconds(303)), "5m03s");
  EXPECT_EQ(FormatAge(absl::Minutes(125)), "2h05m");
  EXPECT_EQ(FormatAge(absl::Hours(76) + absl::Minutes(30)), "3d04h");
  EXPECT_EQ(FormatAge(-absl::Seconds(2)), "-2.0s");
  EXPECT_EQ(FormatAge(absl::InfiniteDuration()), "-");
}

TEST(FormatTest, QualityTimeAndSmallHelpers) {
  EXPECT_EQ(FormatQuality(hwcast::v1::QUALITY_OK), "ok");
  EXPECT_EQ(FormatQuality(hwcast::v1::QUALITY_SENSOR_FAULT), "sensor_fault");
  EXPECT_EQ(FormatQuality(hwcast::v1::QUALITY_UNSPECIFIED), "-");
  EXPECT_EQ(FormatTimestamp(kNow + absl::Milliseconds(250)),
            "2023-11-14T22:13:20.250Z");
  EXPECT_EQ(FormatTimestamp(absl::UnixEpoch()), "-");
  EXPECT_EQ(YesNo(true), "yes");
  EXPECT_EQ(OrDash(""), "-");
  EXPECT_EQ(OrDash("x"), "x");
}

TEST(JsonTest, CompactIsOneLineAndRoundTrips) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("c1");
  batch.set_epoch(0xFFFFFFFFFFFFFFFFull);
  batch.set_batch_sequence(3);
  *batch.add_readings() = Temp("h", "room", 21.5, kNow);
  absl::StatusOr<std::string> json = ToJson(batch, /*pretty=*/false);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, Not(HasSubstr("\n")));
  EXPECT_THAT(*json, HasSubstr("\"sourceId\":\"room\""));
  EXPECT_THAT(*json, HasSubstr("\"celsius\":21.5"));
  // 64-bit integers are strings in the JSON mapping.
  EXPECT_THAT(*json, HasSubstr("\"epoch\":\"18446744073709551615\""));
  hwcast::v1::ReadingBatch parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), batch.SerializeAsString());
}

TEST(JsonTest, PrettyIsIndentedAndPrintsDefaults) {
  hwcast::v1::RelaySubscription relay;
  relay.set_address("127.0.0.1:7430");
  absl::StatusOr<std::string> json = ToJson(relay, /*pretty=*/true);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\n"));
  EXPECT_THAT(*json, HasSubstr("\"address\": \"127.0.0.1:7430\""));
  // Scripts can rely on fields being present even when false/zero.
  EXPECT_THAT(*json, HasSubstr("\"connected\": false"));
  EXPECT_NE(json->back(), '\n');
}

TEST(FormatLatestTableTest, SortedAlignedWithUnitsAndAges) {
  hwcast::v1::ListLatestResponse response;
  auto* b = response.add_readings();
  *b->mutable_reading() =
      Temp("node2", "hwmon/coretemp/temp1", 45, kNow - absl::Seconds(75));
  b->mutable_reading()->set_label("Package id 0");
  b->set_collector_id("node2");
  auto* a = response.add_readings();
  *a->mutable_reading() = Temp("node1", "room", 21.5, kNow - absl::Seconds(3));
  a->set_collector_id("node1");
  auto* fault = response.add_readings();
  fault->mutable_reading()->set_host("node1");
  fault->mutable_reading()->set_source_id("ups");
  fault->mutable_reading()->set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  fault->mutable_reading()->set_error("no answer\nfrom upsd");

  EXPECT_THAT(
      Lines(FormatLatestTable(response, kNow)),
      ElementsAre(
          "SOURCE                HOST   KIND         VALUE                     "
          "  QUALITY       AGE    COLLECTOR  LABEL",
          "room                  node1  temperature  21.50 °C                  "
          "  ok            3.0s   node1      -",
          "ups                   node1  -            fault: no answer from "
          "upsd  sensor_fault  -      -          -",
          "hwmon/coretemp/temp1  node2  temperature  45.00 °C                  "
          "  ok            1m15s  node2      Package id 0"));
}

TEST(FormatLatestTableTest, EmptySaysSo) {
  EXPECT_EQ(FormatLatestTable(hwcast::v1::ListLatestResponse(), kNow),
            "no readings\n");
}

TEST(FormatFollowLineTest, HasTimeSourceValueAndBatch) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("c1");
  batch.set_batch_sequence(42);
  Reading r = Temp("node1", "room", 27.75, kNow);
  r.set_label("Server room");
  EXPECT_EQ(FormatFollowLine(r, batch),
            "2023-11-14T22:13:20.000Z  node1/room                    "
            "temperature   27.75 °C          ok            c1#42  Server room");
}

TEST(FormatActuatorStatusTest, ShowsRelaysSourcesAndPolicies) {
  hwcast::v1::ActuatorStatus status;
  status.set_host("node1");
  *status.mutable_now() = ToProtoTime(kNow);
  auto* relay = status.add_relays();
  relay->set_address("127.0.0.1:7430");
  relay->set_connected(true);
  relay->set_batches_received(12);
  relay->set_duplicates(3);
  relay->set_connects(1);
  relay->set_invalid_batches(1);
  relay->set_last_invalid_reason("bad bytes");
  auto* source = status.add_sources();
  *source->mutable_reading() = Temp("node1", "room", 30.25, kNow);
  source->set_age_seconds(75);
  source->set_stale(true);
  source->set_collector_id("c1");
  source->set_via_relay("127.0.0.1:7430");
  const std::string text = FormatActuatorStatus(status);
  EXPECT_THAT(
      Lines(text),
      ElementsAre("Actuator on node1 at 2023-11-14T22:13:20.000Z", "", "RELAYS",
                  "ADDRESS         CONNECTED  BATCHES  DUPLICATES  "
                  "INVALID  CONNECTS  LAST ERROR",
                  "127.0.0.1:7430  yes        12       3           1  "
                  "      1         last invalid batch: bad bytes",
                  "", "SOURCES",
                  "SOURCE      KIND         VALUE     QUALITY  AGE    "
                  "STALE  COLLECTOR  VIA",
                  "node1/room  temperature  30.25 °C  ok       1m15s  "
                  "yes    c1         127.0.0.1:7430",
                  "", "POLICIES", "(none)", "", "ACTIONS",
                  "shutdown: dry-run (shutdown_enabled is false: nothing is "
                  "run)",
                  "started: no"));
  auto* policy = status.add_policies();
  policy->set_name("overheat");
  policy->set_state("NORMAL");
  EXPECT_THAT(FormatActuatorStatus(status),
              HasSubstr("POLICIES\nNAME      STATE   FOR  SHUTDOWN IN  REASON\n"
                        "overheat  NORMAL  -    -            -\n\nACTIONS\n"));
}

TEST(FormatTest, ActuatorStatusShowsTheCountdownAndItsCancel) {
  hwcast::v1::ActuatorStatus status;
  *status.mutable_now() = ToProtoTime(absl::FromUnixSeconds(1'700'000'000));
  *status.mutable_actions()->mutable_command_deadline() =
      ToProtoTime(absl::FromUnixSeconds(1'700'000'030));
  EXPECT_THAT(FormatActuatorStatus(status),
              HasSubstr("started: no\ncountdown: shutdown command at "
                        "2023-11-14T22:13:50.000Z (in 30s); `hwcastctl "
                        "cancel` calls it off\n"));
  status.mutable_actions()->set_cancelled(true);
  status.mutable_actions()->set_cancel_reason("condition cleared");
  EXPECT_THAT(FormatActuatorStatus(status),
              HasSubstr("started: no\ncountdown: cancelled: condition "
                        "cleared\n"));
}

TEST(FormatActuatorStatusTest, ShowsPolicyStateTimeLeftInputsAlarmsAndActions) {
  hwcast::v1::ActuatorStatus status;
  status.set_host("node1");
  *status.mutable_now() = ToProtoTime(kNow);
  auto* room = status.add_policies();
  room->set_name("room-too-hot");
  room->set_state("PRE_FAIL");
  room->set_reason("2 of 3 above 30 (quorum 2)");
  *room->mutable_since() = ToProtoTime(kNow - absl::Seconds(72));
  room->set_seconds_to_shutdown(228.4);
  auto* a = room->add_inputs();
  a->set_source("node1/room-a");
  a->set_state("ALARM");
  a->set_value(31.5);
  a->set_age_seconds(0.4);
  a->set_note("31.5 > 30 for 1m12s");
  auto* b = room->add_inputs();
  b->set_source("node2/room-b");
  b->set_state("MISSING");
  b->set_note("never seen");
  room->add_alarms("inputs disagree: 24 vs 35.5 (tolerance 5)");
  auto* ups = status.add_policies();
  ups->set_name("ups");
  ups->set_state("NORMAL");
  ups->set_reason("on line");
  *ups->mutable_since() = ToProtoTime(kNow - absl::Hours(3));
  ups->set_seconds_to_shutdown(99);  // not shown outside PRE_FAIL
  status.mutable_actions()->set_shutdown_enabled(true);
  status.mutable_actions()->set_shutdown_started(true);
  status.mutable_actions()->set_shutdown_reason("room-too-hot: too hot");
  *status.mutable_actions()->mutable_shutdown_time() =
      ToProtoTime(kNow - absl::Seconds(1));
  status.mutable_actions()->set_last_error("notify: exit 1: no route");

  const std::string text = FormatActuatorStatus(status);
  EXPECT_THAT(text,
              HasSubstr("POLICIES\n"
                        "NAME          STATE     FOR    SHUTDOWN IN  REASON\n"
                        "room-too-hot  PRE_FAIL  1m12s  3m48s        2 of 3 "
                        "above 30 (quorum 2)\n"
                        "ups           NORMAL    3h00m  -            on line\n"
                        "\n"
                        "room-too-hot inputs:\n"
                        "  SOURCE        STATE    VALUE  AGE   NOTE\n"
                        "  node1/room-a  ALARM    31.5   0.4s  31.5 > 30 for "
                        "1m12s\n"
                        "  node2/room-b  MISSING  -      -     never seen\n"
                        "  ALARM: inputs disagree: 24 vs 35.5 (tolerance 5)\n"
                        "\nACTIONS\n"
                        "shutdown: ENABLED (the shutdown command runs)\n"
                        "started: 2023-11-14T22:13:19.000Z: room-too-hot: too "
                        "hot\n"
                        "last error: notify: exit 1: no route\n"));
  EXPECT_THAT(text, Not(HasSubstr("ups inputs")));

  status.mutable_actions()->set_shutdown_enabled(false);
  EXPECT_THAT(FormatActuatorStatus(status),
              HasSubstr("started: 2023-11-14T22:13:19.000Z (dry-run: recorded "
                        "only): room-too-hot: too hot\n"));
}

TEST(FormatActuatorStatusTest, ShowsWarningsAndTheLastChange) {
  hwcast::v1::ActuatorStatus status;
  *status.mutable_now() = ToProtoTime(kNow);
  auto* room = status.add_policies();
  room->set_name("room-too-hot");
  room->set_state("UNKNOWN");
  room->set_warning(true);
  room->set_warning_reason("1 of 1 above warning 27 (quorum 1): h1/room 28");
  *room->mutable_last_transition_time() = ToProtoTime(kNow - absl::Seconds(5));
  room->set_last_transition_reason("can not tell: no relay connected (0 of 2)");
  EXPECT_THAT(FormatActuatorStatus(status),
              HasSubstr("room-too-hot WARNING: 1 of 1 above warning 27 "
                        "(quorum 1): h1/room 28\n"
                        "room-too-hot last change 2023-11-14T22:13:15Z: can "
                        "not tell: no relay connected (0 of 2)\n"));
}

TEST(FormatCollectorStatusTest, ShowsSourcesReadingsAndRelays) {
  hwcast::v1::CollectorStatus status;
  status.set_collector_id("c1");
  status.set_host("node1");
  status.set_epoch(0xabc);
  status.set_next_batch_sequence(57);
  *status.mutable_now() = ToProtoTime(kNow);
  auto* source = status.add_sources();
  source->set_source_id("room");
  source->set_type("file");
  source->set_polls(100);
  source->set_errors(2);
  source->set_last_error("parse error");
  *source->add_last_readings() =
      Temp("node1", "room", 21.5, kNow - absl::Seconds(2));
  auto* relay = status.add_relays();
  relay->set_address("127.0.0.1:7430");
  relay->set_pending_batches(4);
  const std::string text = FormatCollectorStatus(status);
  EXPECT_THAT(text, HasSubstr("Collector c1 on node1, epoch 0000000000000abc, "
                              "next batch 57, at 2023-11-14T22:13:20.000Z\n"));
  EXPECT_THAT(text,
              HasSubstr("ID    TYPE  POLLS  ERRORS  HUNG  LAST ERROR\n"
                        "room  file  100    2       no    parse error\n"));
  EXPECT_THAT(text, HasSubstr("node1/room  temperature  21.50 °C  ok       "
                              "2.0s  -\n"));
  EXPECT_THAT(text, HasSubstr("127.0.0.1:7430  no         4        0      0  "
                              "      0           0         -\n"));
}

TEST(FormatTest, Bytes) {
  EXPECT_EQ(FormatBytes(0), "-");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(8u << 20), "8.0 MiB");
  EXPECT_EQ(FormatBytes(500107862016ull), "466 GiB");
  EXPECT_EQ(FormatBytes(2000398934016ull), "1.8 TiB");
  EXPECT_EQ(FormatBytes((10ull << 30) - 1), "10 GiB");
}

TEST(FormatTest, DisksTable) {
  EXPECT_EQ(FormatDisksTable({}), "no disks\n");
  hwcast::v1::ListDisksResponse response;
  hwcast::v1::DiskLocation* d = response.add_disks();
  d->set_host("nas");
  d->mutable_disk()->set_device("/dev/sda");
  hwcast::v1::DiskLocation* e = response.add_disks();
  e->set_host("nas");
  e->mutable_disk()->set_device("/dev/sda1");
  e->mutable_disk()->set_uuid("AB-12");
  e->mutable_disk()->set_label("two\nlines");
  e->mutable_disk()->set_filesystem_type("vfat");
  e->mutable_disk()->set_size_bytes(4096);
  e->mutable_disk()->set_mount_point("/mnt/a b");
  EXPECT_EQ(FormatDisksTable(response),
            "HOST  DEVICE     UUID   LABEL      TYPE  SIZE     MOUNTED AT\n"
            "nas   /dev/sda   -      -          -     -        -\n"
            "nas   /dev/sda1  AB-12  two lines  vfat  4.0 KiB  /mnt/a b\n");
}

TEST(FormatTest, DevicesTable) {
  EXPECT_EQ(FormatDevicesTable({}), "no devices\n");
  hwcast::v1::CollectorStatus status;
  status.set_host("rack1");
  hwcast::v1::DeviceStatus* usb = status.add_devices();
  usb->set_source_id("usb");
  usb->set_model("TEMPerX");
  usb->set_path("1-2");
  usb->set_firmware("TEMPerX_V3.1");
  usb->set_present(true);
  usb->set_reads(40);
  usb->set_errors(4);
  // A tie: the alphabetically first kind is shown.
  (*usb->mutable_errors_by_kind())["timeout"] = 2;
  (*usb->mutable_errors_by_kind())["io"] = 2;
  hwcast::v1::Reading* t = usb->add_last_readings();
  t->set_quality(hwcast::v1::QUALITY_OK);
  t->mutable_temperature()->set_celsius(21.5);
  hwcast::v1::Reading* h = usb->add_last_readings();
  h->set_quality(hwcast::v1::QUALITY_OK);
  h->mutable_humidity()->set_relative_percent(40);
  hwcast::v1::DeviceStatus* ta = status.add_devices();
  ta->set_source_id("ta");
  ta->set_model("Temperature@lert");
  ta->set_path("/dev/ttyUSB0");
  ta->set_faulty(true);
  EXPECT_EQ(FormatDevicesTable({status}),
            "HOST   SOURCE  MODEL             PATH          FIRMWARE      "
            "LAST VALUE          READS  ERRORS  STATE\n"
            "rack1  usb     TEMPerX           1-2           TEMPerX_V3.1  "
            "21.50 °C, 40.0 %RH  40     4 (io)  ok\n"
            "rack1  ta      Temperature@lert  /dev/ttyUSB0  -             "
            "-                   0      0       unplugged\n");
}

TEST(FormatActuatorStatusTest, EntropyBlockOnlyWithASink) {
  hwcast::v1::ActuatorStatus status;
  status.set_host("node1");
  *status.mutable_now() = ToProtoTime(absl::FromUnixSeconds(1'700'000'100));
  EXPECT_THAT(FormatActuatorStatus(status),
              ::testing::Not(::testing::HasSubstr("ENTROPY")));
  hwcast::v1::EntropySinkStatus& e = *status.mutable_entropy();
  e.set_sink("kernel");
  e.set_chunks_received(3);
  e.set_bytes_received(7500);
  e.set_bytes_injected(5120);
  e.set_bits_credited(0);
  (*e.mutable_rejected())["rct"] = 1;
  (*e.mutable_rejected())["duplicate"] = 2;
  *e.mutable_last_reseed_time() =
      ToProtoTime(absl::FromUnixSeconds(1'700'000'040));
  e.set_last_error("chunk from unix:/r refused: ...");
  const std::string out = FormatActuatorStatus(status);
  EXPECT_THAT(out, ::testing::HasSubstr("\nENTROPY\nsink: kernel\n"
                                        "received: 3 chunk(s), 7500 bytes\n"
                                        "injected: 5120 bytes, 0 bits "
                                        "credited\n"));
  EXPECT_THAT(out, ::testing::HasSubstr(
                       "last reseed: 2023-11-14T22:14:00.000Z (1m00s ago)\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("fill watermark: off"));
  EXPECT_THAT(out, ::testing::HasSubstr("rejected: duplicate 2, rct 1\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("last error: chunk from unix:/r"));
}

}  // namespace
}  // namespace hwcast::hwcastctl

namespace hwcast::hwcastctl {
namespace {

TEST(FormatFleetPeersTest, OneRowPerFollowerWithAckAgeAndRefusals) {
  hwcast::v1::ActuatorStatus status;
  status.set_host("rack1");
  EXPECT_EQ(FormatFleetPeers(status),
            "Actuator on rack1: no fleet followers configured "
            "(fleet_followers)\n");
  auto* b = status.add_fleet_peers();
  b->set_host("rack2");
  b->set_state("acked");
  b->set_ack("command run");
  b->set_ack_age_seconds(12);
  b->set_acks(2);
  auto* c = status.add_fleet_peers();
  c->set_host("rack3");
  c->set_state("refused");
  c->set_refused(1);
  c->set_refused_reason("unknown_key");
  c->set_refused_age_seconds(3);
  const std::vector<std::string> lines =
      absl::StrSplit(FormatFleetPeers(status), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("HOST"));
  EXPECT_THAT(lines[1], HasSubstr("rack2"));
  EXPECT_THAT(lines[1], HasSubstr("acked"));
  EXPECT_THAT(lines[1], HasSubstr("command run"));
  EXPECT_THAT(lines[1], HasSubstr("12s"));
  EXPECT_THAT(lines[2], HasSubstr("refused"));
  EXPECT_THAT(lines[2], HasSubstr("unknown_key 3.0s ago"));
}

}  // namespace
}  // namespace hwcast::hwcastctl

namespace hwcast::hwcastctl {
namespace {

TEST(FormatFleetPeersTest, FencingAddsAColumnAndASummary) {
  hwcast::v1::ActuatorStatus status;
  status.set_host("rack1");
  auto* b = status.add_fleet_peers();
  b->set_host("rack2");
  b->set_state("acked");
  b->set_ack("command run");
  b->set_ack_dry_run(true);
  b->set_fence_state("dry-run ack");
  auto* c = status.add_fleet_peers();
  c->set_host("rack3");
  c->set_state("not heard");
  c->set_fence_state("fenced");
  c->set_fence_attempts(1);
  c->set_fence_detail("exit 0");
  hwcast::v1::FleetFencingStatus& f = *status.mutable_fencing();
  f.set_enabled(true);
  f.set_state("fencing");
  f.set_in_shutdown(2);
  f.set_quorum(2);
  const std::vector<std::string> lines =
      absl::StrSplit(FormatFleetPeers(status), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], HasSubstr("FENCE"));
  EXPECT_THAT(lines[1], HasSubstr("command run (dry run)"));
  EXPECT_THAT(lines[1], HasSubstr("dry-run ack"));
  EXPECT_THAT(lines[2], HasSubstr("fenced (1 attempt: exit 0)"));
  EXPECT_EQ(lines[3],
            "Fencing (enabled): fencing, 2 host(s) in the shutdown, quorum 2");
}

}  // namespace
}  // namespace hwcast::hwcastctl
