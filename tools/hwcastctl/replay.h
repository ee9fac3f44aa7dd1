// `hwcastctl replay --config actuator.yaml --trace readings.csv [--seed N]`:
// runs recorded readings through the actuator's policies (the same code,
// services/actuator/policies) and prints every decision with its time,
// answering "would we have shut down?".
//
// Trace: CSV, one reading per line, in time order; blank lines and lines
// starting with '#' are skipped. The first line is the header naming the
// columns, in any order:
//   time,host,source_id,kind,value[,quality][,error][,charge][,runtime]
//   time       RFC3339 ("2024-05-01T12:00:10Z") or seconds from the start
//              of the trace ("0", "10", "12.5"); one form per file, never
//              going backwards
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
// periods and staleness expire in gaps; the replay ends at the last row.
//
// Output (stdout), one line per decision:
//   replaying TRACE through N policies from CONFIG (seed S)
//   TIME  POLICY  FROM -> TO  REASON
//   TIME  POLICY  alarm: TEXT             (an alarm appears)
//   TIME  POLICY  alarm cleared: TEXT
//   end of trace at TIME: POLICY PRE_FAIL, D to shutdown   (if any)
//   would shut down at TIME (policy POLICY)   |   no shutdown
// TIME is the row's form: RFC3339 (UTC) or "+OFFSET" ("+5m10s").
//
// Exit status: 0 (whatever the answer); 2 the config or trace is invalid
// (the message names FILE:LINE:COLUMN); 1 a file can not be read.
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
absl::StatusOr<Trace> ParseTrace(std::string_view text,
                                 std::string_view file_name);

// The replay. Returns the exit status.
int RunReplay(const std::string& config_path, const std::string& trace_path,
              uint64_t seed, std::ostream& out, std::ostream& err);

}  // namespace hwcast::hwcastctl

#endif  // HWCAST_TOOLS_HWCASTCTL_REPLAY_H_
