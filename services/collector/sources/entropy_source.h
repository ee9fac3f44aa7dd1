// A hardware RNG as a collector Source: reads raw bytes from an
// EntropyDevice (/dev/hwrng, a ChaosKey), health-tests them before anything
// leaves the process, and publishes only chunks that passed.
//
// Each Poll() reads `chunks_per_poll` chunks of `chunk_bytes` and runs the
// continuous health tests (lib/entropy/health_tests.h: SP 800-90B RCT and
// APT, FIPS 140-2 monobit/poker/runs/long run) on each raw chunk:
//   - a passing chunk becomes one QUALITY_OK reading whose value is an
//     EntropyChunk {data, VERDICT_PASS, entropy_bits = the MCV estimate,
//     capped at max_bits_per_byte per byte};
//   - a failing chunk is discarded (never sent) and counted by test; a poll
//     in which no chunk passed reports one SENSOR_FAULT reading naming the
//     failed tests (no data);
//   - after `disable_after_failures` consecutive failed chunks the source
//     is disabled (logged as an ALERT at error level; Devices() faulty =
//     true) and reads nothing until `retry_after` has passed: its polls
//     report SENSOR_FAULT "disabled after N failed health tests; retry at
//     T". On retry the tests start afresh;
//   - a device read error is a SENSOR_FAULT reading with the device's
//     message (the device counts it); the continuous tests restart after
//     it (the stream was interrupted).
// Devices() is the device's Info() with the health counters added:
// errors_by_kind[test name] += chunks failing that test, errors += failed
// chunks, faulty while disabled.
//
// Thread-safety: Poll() from one thread at a time (SourceRunner);
// Devices() and Stats() are thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_ENTROPY_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_ENTROPY_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "lib/entropy/health_tests.h"
#include "services/collector/source.h"
#include "services/collector/sources/entropy_device.h"

namespace hwcast::collector {

struct EntropySourceOptions {
  // SourceConfig.id: the readings' source_id.
  std::string id = "hwrng";
  // Source::type(): "hwrng" or "chaoskey".
  std::string type = "hwrng";
  // Reading label; empty: the device's path.
  std::string label;
  // A positive multiple of entropy::kFipsBlockBytes.
  size_t chunk_bytes = entropy::kFipsBlockBytes;
  int chunks_per_poll = 1;
  entropy::HealthOptions health;
  int disable_after_failures = 25;
  absl::Duration retry_after = absl::Minutes(10);
  // Required; not owned, outlives the source.
  const Clock* clock = nullptr;
};

// Cumulative counters (for metrics).
struct EntropySourceStats {
  uint64_t chunks_tested = 0;
  uint64_t chunks_passed = 0;
  uint64_t chunks_failed = 0;
  // By test name (entropy::kRct, ...).
  std::map<std::string, uint64_t> failed_by_test;
  uint64_t read_errors = 0;
  uint64_t bytes_published = 0;
  uint64_t times_disabled = 0;
  bool disabled = false;
};

class EntropySource final : public Source {
 public:
  // `device` must not be null.
  EntropySource(EntropySourceOptions options,
                std::unique_ptr<EntropyDevice> device);

  std::string_view type() const override { return options_.type; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;
  std::vector<hwcast::v1::DeviceStatus> Devices() const override;

  EntropySourceStats Stats() const;

 private:
  hwcast::v1::Reading Fault(const std::string& error) const;

  const EntropySourceOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<EntropyDevice> device_;
  // Poll() thread only.
  entropy::HealthTester tester_;
  int consecutive_failures_ = 0;

  mutable absl::Mutex mu_;
  EntropySourceStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

inline constexpr uint32_t kDefaultEntropyChunksPerPoll = 1;
inline constexpr double kDefaultAssessedBitsPerByte = 1.0;
inline constexpr double kDefaultMaxBitsPerByte = 8.0;
// As rngd.
inline constexpr uint32_t kDefaultDisableAfterFailures = 25;
inline constexpr absl::Duration kDefaultEntropyRetryAfter = absl::Minutes(10);

// Fills the unset (zero) fields of an `entropy` block with the defaults
// above (chunk_bytes 2500). Used by ApplyCollectorDefaults for hwrng
// and chaoskey sources.
void FillEntropySourceDefaults(hwcast::v1::EntropySourceConfig* entropy);

// The options a validated `entropy` block (defaults filled in) describes,
// for source `source` (id, kind: hwrng or chaoskey).
EntropySourceOptions EntropySourceOptionsFromConfig(
    const hwcast::v1::SourceConfig& source,
    const hwcast::v1::EntropySourceConfig& entropy);

// An EntropySource over `device` configured by `entropy` (defaults filled
// in: ApplyCollectorDefaults). INVALID_ARGUMENT naming the source when
// the device is null or the numbers are out of range. Reads the time from
// `clock` (not owned; outlives the source).
absl::StatusOr<std::unique_ptr<Source>> MakeEntropySource(
    const hwcast::v1::SourceConfig& source,
    const hwcast::v1::EntropySourceConfig& entropy,
    std::unique_ptr<EntropyDevice> device, const Clock* clock);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_ENTROPY_SOURCE_H_
