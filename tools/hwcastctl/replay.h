// `hwcastctl replay --config actuator.yaml --trace readings.csv [--seed N]
// [--until DURATION] [--json]`: runs recorded readings through the
// actuator's policies (the same code, services/actuator/policies) and the
// shutdown countdown (services/actuator/shutdown_countdown.h), prints every
// decision with its time and answers "would we have shut down, and when
// would the command have run?".
//
// Trace: CSV, one reading per line, in time order; blank lines and lines
// starting with '#' are skipped. The first line is the header naming the
// columns, in any order:
//   time,source_id,kind,value[,host][,quality][,error][,charge][,runtime]
//   time       RFC3339 ("2024-05-01T12:00:10Z") or seconds from the start
//              of the trace ("0", "10", "12.5"); one form per file, never
//              going backwards
//   host       optional when the config's policies read exactly one host
//              (then every row is that host's)
//   kind       temperature (value: Celsius) | humidity (value: %RH) |
//              reachability (value 1/0, true/false, up/down) |
//              power (value: NUT ups.status, e.g. "OB LB"; charge: percent
//              and runtime: seconds, optional) |
//              relays (value CONNECTED/TOTAL, e.g. 0/2: the actuator's relay
//              links from then on) | network (value up/down: this host's
//              network from then on); relays/network need no host/source_id
//   quality    ok (default) | sensor_fault | out_of_range | uncalibrated;
//              when not ok, value may be empty and `error` says what happened
// Between rows the policies get a tick every second of trace time, so grace
// periods and staleness expire in gaps; the replay ends at the last row (or
// at --until, measured from the trace's start), extended to the countdown's
// deadline when a policy is in SHUTDOWN then.
//
// Output (stdout), one line per decision:
//   replaying TRACE through N policies from CONFIG (seed S)
//   TIME  POLICY  FROM -> TO  REASON
//   TIME  POLICY  warning: REASON | warning cleared
//   TIME  POLICY  alarm: TEXT             (an alarm appears)
//   TIME  POLICY  alarm cleared
//   end of trace at TIME: POLICY PRE_FAIL, D to shutdown   (if any)
// and a summary line:
//   would shut down at CMDTIME (policy P: SHUTDOWN at TIME, countdown 30s +
//     final_delay 0s); longest PRE_FAIL 5m of 5m (P); 0 UNKNOWN spells
//   no shutdown; longest PRE_FAIL 31s of 5m (P); 2 UNKNOWN spells
// TIME is the row's form: RFC3339 (UTC) or "+OFFSET" ("+5m10s").
// --json: one JSON object per line instead: {"time","policy","from","to",
// "reason"} per transition ({"warning": true|false} for a warning change),
// {"time","policy","alarm"} per alarm change, and last a summary object
// {"summary","would_shut_down","policy","shutdown_state_at","command_at",
// "countdown_seconds","final_delay_seconds","longest_pre_fail_seconds",
// "longest_pre_fail_policy","grace_seconds","unknown_spells","end",
// "pre_fail_at_end"}.
//
// Exit status: 0 no shutdown; 3 the command would have run; 2 the config or
// trace is invalid (the message names FILE:LINE:COLUMN); 1 a file can not
// be read.
//
// Thread-compatible; no state.
#ifndef HWCAST_TOOLS_HWCASTCTL_REPLAY_H_
#define HWCAST_TOOLS_HWCASTCTL_REPLAY_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::hwcastctl {

// One row of a trace.
struct TraceEvent {
  // 1-based line in the file.
  int line = 0;
  absl::Time time;
  // A reading (kind temperature, humidity, reachability, power) ...
  std::optional<hwcast::v1::Reading> reading;
  // ... or a change of the actuator's links.
  std::optional<int> relays_connected;
  std::optional<int> relays_total;
  std::optional<bool> network_up;
};

struct Trace {
  // Times were seconds from the start (relative to `start`), not RFC3339.
  bool relative = false;
  // Relative: the Unix epoch (time 0); RFC3339: the first row's time.
  absl::Time start;
  std::vector<TraceEvent> events;
};

// Parses a trace (see above). INVALID_ARGUMENT "FILE:LINE:COLUMN: what",
// COLUMN the 1-based character position of the offending field.
// `default_host` is every row's host when the header has no host column
// ("": such a trace is an error).
absl::StatusOr<Trace> ParseTrace(std::string_view text,
                                 std::string_view file_name,
                                 std::string_view default_host = "");

struct ReplayOptions {
  std::string config;
  std::string trace;
  uint64_t seed = 1;
  // Stop this long after the trace's start (unset: at its last row).
  std::optional<absl::Duration> until;
  // JSON lines instead of text.
  bool json = false;
};

// The replay. Returns the exit status (0, 1, 2 or 3, see above).
int RunReplay(const ReplayOptions& options, std::ostream& out,
              std::ostream& err);

}  // namespace hwcast::hwcastctl

#endif  // HWCAST_TOOLS_HWCASTCTL_REPLAY_H_
