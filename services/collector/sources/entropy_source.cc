#include "services/collector/sources/entropy_source.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/clock_impl.h"
#include "lib/log.h"
#include "lib/time_util.h"

namespace hwcast::collector {

using ::hwcast::v1::Reading;

EntropySource::EntropySource(EntropySourceOptions options,
                             std::unique_ptr<EntropyDevice> device)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock::Get()),
      device_(std::move(device)),
      tester_(options_.health) {}

Reading EntropySource::Fault(const std::string& error) const {
  Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label);
  reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  reading.set_error(error);
  return reading;
}

absl::StatusOr<std::vector<Reading>> EntropySource::Poll() {
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    if (stats_.disabled) {
      if (now < retry_at_) {
        return std::vector<Reading>{Fault(absl::StrCat(
            "disabled after ", options_.disable_after_failures,
            " failed health tests; retry at ", absl::FormatTime(retry_at_)))};
      }
      stats_.disabled = false;
      HWCAST_LOG(WARNING) << "entropy source " << options_.id
                          << ": retrying after being disabled for failing "
                             "its health tests";
    }
  }
  if (consecutive_failures_ >= options_.disable_after_failures) {
    // Back from being disabled: start the tests afresh.
    consecutive_failures_ = 0;
    tester_.Reset();
  }

  std::vector<Reading> readings;
  std::vector<std::string> failed_tests;
  int failed_chunks = 0;
  std::vector<uint8_t> chunk(options_.chunk_bytes);
  for (int i = 0; i < options_.chunks_per_poll; ++i) {
    if (absl::Status read = device_->ReadExactly(absl::MakeSpan(chunk));
        !read.ok()) {
      // The stream was interrupted: continuity tests start over.
      tester_.Reset();
      {
        absl::MutexLock lock(&mu_);
        stats_.read_errors++;
        last_error_ = std::string(read.message());
      }
      readings.push_back(Fault(absl::StrCat("read failed: ", read.message())));
      return readings;
    }
    const entropy::BlockVerdict verdict = tester_.Test(chunk);
    {
      absl::MutexLock lock(&mu_);
      stats_.chunks_tested++;
      if (verdict.pass) {
        stats_.chunks_passed++;
        stats_.bytes_published += chunk.size();
      } else {
        stats_.chunks_failed++;
        for (const std::string& test : verdict.failed) {
          stats_.failed_by_test[test]++;
        }
        last_error_ = absl::StrCat("health tests failed: ",
                                   absl::StrJoin(verdict.failed, ", "));
      }
    }
    if (verdict.pass) {
      consecutive_failures_ = 0;
      Reading& reading = readings.emplace_back();
      reading.set_source_id(options_.id);
      reading.set_label(options_.label);
      reading.set_quality(hwcast::v1::QUALITY_OK);
      hwcast::v1::EntropyChunk* entropy = reading.mutable_entropy();
      entropy->set_data(chunk.data(), chunk.size());
      entropy->set_verdict(hwcast::v1::EntropyChunk::VERDICT_PASS);
      entropy->set_entropy_bits(std::floor(verdict.entropy_bits));
      continue;
    }
    // Discarded: never sent.
    ++failed_chunks;
    ++consecutive_failures_;
    for (const std::string& test : verdict.failed) {
      if (std::find(failed_tests.begin(), failed_tests.end(), test) ==
          failed_tests.end()) {
        failed_tests.push_back(test);
      }
    }
    if (consecutive_failures_ >= options_.disable_after_failures) {
      const absl::Time retry_at = now + options_.retry_after;
      {
        absl::MutexLock lock(&mu_);
        stats_.disabled = true;
        stats_.times_disabled++;
        retry_at_ = retry_at;
        last_error_ = absl::StrCat(
            "disabled after ", consecutive_failures_,
            " failed health tests (last: ", absl::StrJoin(verdict.failed, ", "),
            "); retry at ", absl::FormatTime(retry_at));
      }
      HWCAST_LOG(ERROR) << "ALERT: entropy source " << options_.id << " ("
                        << device_->Info().path() << ") disabled after "
                        << consecutive_failures_
                        << " consecutive failed health tests (last: "
                        << absl::StrJoin(verdict.failed, ", ")
                        << "); nothing is sent from it; retrying at "
                        << absl::FormatTime(retry_at);
      readings.push_back(Fault(absl::StrCat(
          "disabled after ", consecutive_failures_,
          " failed health tests; retry at ", absl::FormatTime(retry_at))));
      return readings;
    }
  }
  if (readings.empty() && failed_chunks > 0) {
    readings.push_back(Fault(absl::StrCat(
        "health tests failed (", absl::StrJoin(failed_tests, ", "), ") on ",
        failed_chunks, " of ", options_.chunks_per_poll, " chunks; discarded (",
        consecutive_failures_, " consecutive of ",
        options_.disable_after_failures, " before the source is disabled)")));
  }
  return readings;
}

std::vector<hwcast::v1::DeviceStatus> EntropySource::Devices() const {
  hwcast::v1::DeviceStatus status = device_->Info();
  status.set_source_id(options_.id);
  absl::MutexLock lock(&mu_);
  for (const auto& [test, count] : stats_.failed_by_test) {
    (*status.mutable_errors_by_kind())[test] += count;
  }
  status.set_errors(status.errors() + stats_.chunks_failed);
  if (stats_.disabled) status.set_faulty(true);
  if (!last_error_.empty()) status.set_last_error(last_error_);
  return {std::move(status)};
}

EntropySourceStats EntropySource::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void FillEntropySourceDefaults(hwcast::v1::EntropySourceConfig* entropy) {
  if (entropy->chunk_bytes() == 0) {
    entropy->set_chunk_bytes(entropy::kFipsBlockBytes);
  }
  if (entropy->chunks_per_poll() == 0) {
    entropy->set_chunks_per_poll(kDefaultEntropyChunksPerPoll);
  }
  if (entropy->assessed_bits_per_byte() == 0) {
    entropy->set_assessed_bits_per_byte(kDefaultAssessedBitsPerByte);
  }
  if (entropy->max_bits_per_byte() == 0) {
    entropy->set_max_bits_per_byte(kDefaultMaxBitsPerByte);
  }
  if (entropy->disable_after_failures() == 0) {
    entropy->set_disable_after_failures(kDefaultDisableAfterFailures);
  }
  if (!entropy->has_retry_after()) {
    *entropy->mutable_retry_after() =
        ToProtoDuration(kDefaultEntropyRetryAfter);
  }
}

EntropySourceOptions EntropySourceOptionsFromConfig(
    const hwcast::v1::SourceConfig& source,
    const hwcast::v1::EntropySourceConfig& config) {
  hwcast::v1::EntropySourceConfig entropy = config;
  FillEntropySourceDefaults(&entropy);
  EntropySourceOptions options;
  options.id = source.id();
  switch (source.kind_case()) {
    case hwcast::v1::SourceConfig::kChaoskey:
      options.type = "chaoskey";
      break;
    default:
      options.type = "hwrng";
      break;
  }
  if (options.id.empty()) options.id = options.type;
  options.chunk_bytes = entropy.chunk_bytes();
  options.chunks_per_poll = static_cast<int>(entropy.chunks_per_poll());
  options.health.assessed_bits_per_byte = entropy.assessed_bits_per_byte();
  options.health.max_bits_per_byte = entropy.max_bits_per_byte();
  options.disable_after_failures =
      static_cast<int>(entropy.disable_after_failures());
  options.retry_after = FromProtoDuration(entropy.retry_after());
  return options;
}

absl::StatusOr<std::unique_ptr<Source>> MakeEntropySource(
    const hwcast::v1::SourceConfig& source,
    const hwcast::v1::EntropySourceConfig& entropy,
    std::unique_ptr<EntropyDevice> device) {
  EntropySourceOptions options =
      EntropySourceOptionsFromConfig(source, entropy);
  auto invalid = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat("source '", options.id, "': ", what));
  };
  if (device == nullptr) return invalid("no entropy device");
  if (options.chunk_bytes == 0 ||
      options.chunk_bytes % entropy::kFipsBlockBytes != 0) {
    return invalid(absl::StrCat("entropy.chunk_bytes must be a multiple of ",
                                entropy::kFipsBlockBytes, ", got ",
                                options.chunk_bytes));
  }
  if (!(options.health.assessed_bits_per_byte > 0 &&
        options.health.assessed_bits_per_byte <= 8)) {
    return invalid("entropy.assessed_bits_per_byte must be in (0, 8]");
  }
  if (!(options.health.max_bits_per_byte > 0 &&
        options.health.max_bits_per_byte <= 8)) {
    return invalid("entropy.max_bits_per_byte must be in (0, 8]");
  }
  if (options.chunks_per_poll <= 0 || options.disable_after_failures <= 0 ||
      options.retry_after <= absl::ZeroDuration()) {
    return invalid(
        "entropy.chunks_per_poll, disable_after_failures and retry_after "
        "must be positive");
  }
  options.label = device->Info().path();
  return std::make_unique<EntropySource>(std::move(options), std::move(device));
}

}  // namespace hwcast::collector
