// Text and JSON formatting for hwcastctl: aligned tables, ages, qualities,
// and the human-readable renderings of every response it prints.
//
// Everything here is a pure function of its arguments (times are passed in),
// so the output is deterministic and unit-tested. Thread-compatible.
#ifndef HWCAST_TOOLS_HWCASTCTL_FORMAT_H_
#define HWCAST_TOOLS_HWCASTCTL_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"

namespace hwcast::hwcastctl {

// A table of left-aligned columns separated by two spaces. Widths count
// UTF-8 code points, so "23.50 °C" is 8 columns wide. The last column is not
// padded (no trailing spaces).
class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // A row with fewer cells than the header is padded with empty cells; extra
  // cells are kept.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  // Header line, then one line per row; every line ends in '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of a UTF-8 string (code points).
size_t DisplayWidth(const std::string& s);

// `s` padded with spaces to `width` display columns.
std::string PadRight(const std::string& s, size_t width);

// A compact age: "0.4s", "42s", "5m03s", "2h05m", "3d04h"; negative ages
// (clock skew) get a leading '-'; an infinite duration is "-".
std::string FormatAge(absl::Duration age);

// "2024-05-01T12:00:00.250Z" (UTC, milliseconds); "-" for an unset time.
std::string FormatTimestamp(absl::Time t);

// "ok", "sensor_fault", "out_of_range", "uncalibrated", "-" (unspecified).
std::string FormatQuality(hwcast::v1::Quality quality);

// "yes" / "no".
std::string YesNo(bool b);

// `s`, or "-" when empty.
std::string OrDash(const std::string& s);

// The message in protobuf's JSON mapping (field names in lowerCamelCase,
// fields with default values included). `pretty` spreads it over indented
// lines; otherwise it is a single line. No trailing newline.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   bool pretty);

// ListLatest as a table: SOURCE, HOST, KIND, VALUE, QUALITY, AGE (since the
// value was observed), COLLECTOR, and LABEL when any reading has one; rows
// sorted by host/source. "no readings\n" when empty.
std::string FormatLatestTable(const hwcast::v1::ListLatestResponse& response,
                              absl::Time now);

// One line for `readings --follow`:
// "TIME  HOST/SOURCE  KIND  VALUE  QUALITY  COLLECTOR#BATCH", with the
// source, kind and value padded to fixed widths so consecutive lines align.
// The relay's collector epochs (Relay.ListCollectors) as a table: id,
// epoch, signing key, batches accepted / missing / duplicate, clock offset
// and the age of the last batch at `now`.
std::string FormatCollectorsTable(
    const hwcast::v1::ListCollectorsResponse& response, absl::Time now);

std::string FormatFollowLine(const hwcast::v1::Reading& reading,
                             const hwcast::v1::ReadingBatch& batch);

// A byte count in IEC units with one decimal below 10 and none above:
// "512 B", "4.0 KiB", "8.0 MiB", "466 GiB", "1.8 TiB"; "-" for 0.
std::string FormatBytes(uint64_t bytes);

// Relay.ListDisks as a table: HOST, DEVICE, UUID, LABEL, TYPE, SIZE,
// MOUNTED AT (empty values as "-"), in the relay's order (host, source,
// device). "no disks\n" when empty.
std::string FormatDisksTable(const hwcast::v1::ListDisksResponse& response);

// Collector.PollNow's readings: the readings table (as FormatLatestTable,
// aged against `now`), then, for disk inventories among them, the disks
// table. "no readings\n" when empty.
std::string FormatPollNow(const hwcast::v1::PollNowResponse& response,
                          absl::Time now);

// Actuator status: header line, then RELAYS and SOURCES tables; POLICIES:
// a table of NAME, STATE, FOR (time in the state, from `since` to
// status.now), SHUTDOWN IN (PRE_FAIL only) and REASON, then for each policy
// with inputs or alarms its inputs table (SOURCE, STATE, VALUE, AGE, NOTE;
// indented) and "ALARM: ..." lines; ACTIONS: whether shutdown is enabled or
// dry-run, whether (when, why) it was started, and the last error.
std::string FormatActuatorStatus(const hwcast::v1::ActuatorStatus& status);

// `hwcastctl fleet`: one row per fleet follower (HOST, STATE, ACK, ACK AGE,
// ACKS, REFUSED, LAST REFUSAL), or a line saying none is configured.
std::string FormatFleetPeers(const hwcast::v1::ActuatorStatus& status);

// Collector status: header line, then SOURCES, READINGS (the latest reading
// of each source, aged against status.now) and RELAYS tables.
std::string FormatCollectorStatus(const hwcast::v1::CollectorStatus& status);

// `hwcastctl devices`: every device of every collector status (in the
// order given, devices in each collector's order) as a table: HOST, SOURCE,
// MODEL, PATH, FIRMWARE, LAST VALUE (the device's last readings' values,
// ", "-separated), READS, ERRORS ("0", or "7 (no_reply)" with the most
// frequent error kind), STATE ("ok", "faulty", "unplugged" when not
// present). Empty fields are "-". "no devices\n" when there are none.
std::string FormatDevicesTable(
    const std::vector<hwcast::v1::CollectorStatus>& statuses);

}  // namespace hwcast::hwcastctl

#endif  // HWCAST_TOOLS_HWCASTCTL_FORMAT_H_
