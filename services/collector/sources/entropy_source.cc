#include "services/collector/sources/entropy_source.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/devices/chaoskey_device.h"
#include "services/collector/devices/hwrng_device.h"
#include "services/collector/sources/source_kind.h"
#include "services/collector/usb/libusb_transport.h"

namespace hwcast::collector {

using ::hwcast::v1::Reading;

EntropySource::EntropySource(EntropySourceOptions options,
                             std::unique_ptr<EntropyDevice> device)
    : options_(std::move(options)),
      clock_(options_.clock),
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
  // The kind's name: "hwrng", "chaoskey".
  const SourceKind* kind = FindSourceKind(source.kind_case());
  options.type = kind != nullptr && kind->entropy ? kind->name : "hwrng";
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
    std::unique_ptr<EntropyDevice> device, const Clock* clock) {
  EntropySourceOptions options =
      EntropySourceOptionsFromConfig(source, entropy);
  options.clock = clock;
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

namespace {

// The ChaosKey's own fields; `entropy` is checked with the other entropy
// sources'.
absl::Status ValidateChaosKey(
    const std::string& key, const hwcast::v1::ChaosKeySourceConfig& chaoskey) {
  if (!hwcast::v1::ChaosKeySourceConfig::Endpoint_IsValid(
          chaoskey.endpoint())) {
    return ConfigError(absl::StrCat(key, ".endpoint"),
                       "must be ENDPOINT_COOKED or ENDPOINT_RAW");
  }
  if (!chaoskey.port().empty()) {
    HWCAST_RETURN_IF_ERROR(
        CheckUsbPortPath(absl::StrCat(key, ".port"), chaoskey.port()));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckName(absl::StrCat(key, ".serial"), chaoskey.serial()));
  if (chaoskey.has_transfer_timeout()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(key, ".transfer_timeout"), chaoskey.transfer_timeout()));
  }
  return absl::OkStatus();
}

// An entropy source's `entropy` block under `key` (hwrng, chaoskey): unset
// fields take their defaults (entropy_source.h).
absl::Status ValidateEntropy(const std::string& key,
                             const hwcast::v1::EntropySourceConfig& entropy) {
  if (entropy.chunk_bytes() % 2500 != 0) {
    return ConfigError(
        absl::StrCat(key, ".chunk_bytes"),
        absl::StrCat("must be a multiple of 2500 (one 20,000-bit FIPS 140-2 "
                     "block), got ",
                     entropy.chunk_bytes()));
  }
  if (entropy.chunk_bytes() > (1u << 20)) {
    return ConfigError(absl::StrCat(key, ".chunk_bytes"),
                       "must be at most 1 MiB");
  }
  if (entropy.chunks_per_poll() > 1000) {
    return ConfigError(absl::StrCat(key, ".chunks_per_poll"),
                       "must be at most 1000");
  }
  const std::pair<const char*, double> per_byte[] = {
      {"assessed_bits_per_byte", entropy.assessed_bits_per_byte()},
      {"max_bits_per_byte", entropy.max_bits_per_byte()}};
  for (const auto& [name, value] : per_byte) {
    // 0 is "unset" (the default).
    if (!std::isfinite(value) || value < 0 || value > 8) {
      return ConfigError(absl::StrCat(key, ".", name),
                         absl::StrCat("must be above 0 and at most 8 bits per "
                                      "byte, got ",
                                      value));
    }
  }
  if (entropy.has_retry_after()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(key, ".retry_after"), entropy.retry_after()));
  }
  return absl::OkStatus();
}

// The hwrng source: never the kernel's CSPRNG.
absl::Status ValidateHwrng(const std::string& key,
                           const hwcast::v1::SourceConfig& source,
                           absl::Duration) {
  const hwcast::v1::HwrngSourceConfig& hwrng = source.hwrng();
  const std::string path_key = absl::StrCat(key, ".path");
  if (!hwrng.path().empty()) {
    if (!absl::StartsWith(hwrng.path(), "/")) {
      return ConfigError(
          path_key,
          absl::StrCat("must be an absolute path, got '", hwrng.path(), "'"));
    }
    HWCAST_RETURN_IF_ERROR(CheckName(path_key, hwrng.path()));
    if (absl::Status refused = CheckNotKernelCsprng(hwrng.path());
        !refused.ok()) {
      return ConfigError(path_key, refused.message());
    }
  }
  return ValidateEntropy(absl::StrCat(key, ".entropy"), hwrng.entropy());
}

absl::Status ValidateChaosKeySource(const std::string& key,
                                    const hwcast::v1::SourceConfig& source,
                                    absl::Duration) {
  HWCAST_RETURN_IF_ERROR(ValidateChaosKey(key, source.chaoskey()));
  return ValidateEntropy(absl::StrCat(key, ".entropy"),
                         source.chaoskey().entropy());
}

void FillHwrngDefaults(hwcast::v1::SourceConfig* source) {
  if (source->hwrng().path().empty()) {
    source->mutable_hwrng()->set_path(kDefaultHwrngPath);
  }
  FillEntropySourceDefaults(source->mutable_hwrng()->mutable_entropy());
}

void FillChaosKeyDefaults(hwcast::v1::SourceConfig* source) {
  hwcast::v1::ChaosKeySourceConfig* chaoskey = source->mutable_chaoskey();
  if (chaoskey->endpoint() ==
      hwcast::v1::ChaosKeySourceConfig::ENDPOINT_UNSPECIFIED) {
    chaoskey->set_endpoint(hwcast::v1::ChaosKeySourceConfig::ENDPOINT_COOKED);
  }
  if (!chaoskey->has_transfer_timeout()) {
    *chaoskey->mutable_transfer_timeout() =
        ToProtoDuration(usb::kDefaultChaosKeyTransferTimeout);
  }
  FillEntropySourceDefaults(chaoskey->mutable_entropy());
}

absl::StatusOr<std::unique_ptr<Source>> MakeHwrngSource(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  HwrngDeviceOptions options;
  options.source_id = source.id().empty() ? "hwrng" : source.id();
  if (!source.hwrng().path().empty()) options.path = source.hwrng().path();
  if (absl::Status refused = CheckNotKernelCsprng(options.path);
      !refused.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source '", options.source_id, "': ", refused.message()));
  }
  // Reads give up before the runner's poll timeout does.
  options.read_timeout = OwnTimeout(source);
  options.clock = clock;
  return MakeEntropySource(source, source.hwrng().entropy(),
                           std::make_unique<HwrngDevice>(options), clock);
}

absl::StatusOr<std::unique_ptr<Source>> MakeChaosKeySource(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  const hwcast::v1::ChaosKeySourceConfig& chaoskey = source.chaoskey();
  usb::ChaosKeyOptions options;
  options.source_id = source.id().empty() ? "chaoskey" : source.id();
  options.port = chaoskey.port();
  options.serial = chaoskey.serial();
  options.endpoint =
      chaoskey.endpoint() == hwcast::v1::ChaosKeySourceConfig::ENDPOINT_RAW
          ? usb::kChaosKeyRawEndpoint
          : usb::kChaosKeyCookedEndpoint;
  if (chaoskey.has_transfer_timeout()) {
    options.transfer_timeout = FromProtoDuration(chaoskey.transfer_timeout());
  }
  absl::StatusOr<std::unique_ptr<usb::LibusbTransport>> transport =
      usb::LibusbTransport::Create();
  if (!transport.ok()) {
    return absl::Status(transport.status().code(),
                        absl::StrCat("source '", options.source_id,
                                     "': ", transport.status().message()));
  }
  return MakeEntropySource(
      source, chaoskey.entropy(),
      std::make_unique<usb::ChaosKeyDevice>(
          std::move(options),
          std::shared_ptr<usb::UsbTransport>(*std::move(transport))),
      clock);
}

}  // namespace

extern const SourceKind kHwrngSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kHwrng,
    .name = "hwrng",
    .validate = ValidateHwrng,
    .fill_defaults = FillHwrngDefaults,
    .make = MakeHwrngSource,
    .entropy = true,
};

extern const SourceKind kChaosKeySourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kChaoskey,
    .name = "chaoskey",
    .validate = ValidateChaosKeySource,
    .fill_defaults = FillChaosKeyDefaults,
    .make = MakeChaosKeySource,
    .entropy = true,
};

}  // namespace hwcast::collector
