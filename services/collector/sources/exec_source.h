// One number printed by a program the collector runs on every poll (a
// vendor tool, a script reading an odd bus).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_EXEC_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_EXEC_SOURCE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"

namespace hwcast::collector {

struct ExecSourceOptions {
  // The reading's source_id.
  std::string id;
  // The program (absolute path, or a name looked up in PATH) and its
  // arguments; run without a shell.
  std::vector<std::string> argv;
  // How long the program may run before its process group is killed. Keep
  // it below the source's poll timeout (MakeSource uses 80% of it) so that
  // a hanging program is killed and reported by this source, not left
  // behind as a hung poll.
  absl::Duration timeout = absl::Seconds(4);
  // READING_KIND_TEMPERATURE (Celsius) or READING_KIND_HUMIDITY (%RH).
  hwcast::v1::ReadingKind kind = hwcast::v1::READING_KIND_TEMPERATURE;
  // value = number * scale + offset.
  double scale = 1.0;
  double offset = 0.0;
  // Empty: the id.
  std::string label;
};

// The first decimal number in `text`: optional sign, digits with an
// optional fraction (or a fraction alone, ".5"), optional exponent
// ("23.5\n" -> 23.5, "temp=-3.5C" -> -3.5, "t: 2e1" -> 20). nullopt when
// there is none. "nan" and "inf" are not numbers here; an overflowing
// exponent gives an infinity (the caller rejects it). Thread-safe.
std::optional<double> FirstNumber(absl::string_view text);

// Each poll runs the program (see RunProgram: no shell, own process group,
// stdin /dev/null, killed with its group after `timeout`) and returns
// exactly one reading:
//   - the first number on stdout * scale + offset, QUALITY_OK;
//   - QUALITY_OUT_OF_RANGE (value kept) for temperatures outside
//     [-100, 250] C or humidity outside [0, 100] %;
//   - QUALITY_SENSOR_FAULT, the error naming the program ("exec
//     /usr/bin/x: ..."), when it can not be started, exits non-zero (the
//     exit code and the first line of stderr), is killed by a signal, times
//     out, prints no number (quoting stdout, truncated), or the value is not
//     finite.
// Poll() itself never fails.
//
// Thread-compatible (see Source).
class ExecSource final : public Source {
 public:
  explicit ExecSource(ExecSourceOptions options);

  std::string_view type() const override { return "exec"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;

 private:
  ExecSourceOptions options_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_EXEC_SOURCE_H_
