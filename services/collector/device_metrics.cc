#include "services/collector/device_metrics.h"

#include <utility>

namespace hwcast::collector {
namespace {

// How far a cumulative counter moved since `*last`; updates `*last`.
double Advance(uint64_t now, uint64_t* last) {
  const uint64_t delta = now >= *last ? now - *last : now;
  *last = now;
  return static_cast<double>(delta);
}

}  // namespace

std::optional<double> ReadingGaugeValue(const hwcast::v1::Reading& reading) {
  switch (reading.value_case()) {
    case hwcast::v1::Reading::kTemperature:
      return reading.temperature().celsius();
    case hwcast::v1::Reading::kHumidity:
      return reading.humidity().relative_percent();
    case hwcast::v1::Reading::kPower:
      return reading.power().charge_percent();
    case hwcast::v1::Reading::kReachability:
      return reading.reachability().round_trip_seconds();
    case hwcast::v1::Reading::kEntropy:
      return reading.entropy().entropy_bits();
    case hwcast::v1::Reading::kFan:
      return reading.fan().rpm();
    case hwcast::v1::Reading::kVoltage:
      return reading.voltage().volts();
    case hwcast::v1::Reading::kElectricPower:
      return reading.electric_power().watts();
    case hwcast::v1::Reading::kCurrent:
      return reading.current().amperes();
    default:
      return std::nullopt;
  }
}

DeviceMetricsTracker::DeviceMetricsTracker(CollectorMetrics* metrics,
                                           std::string source)
    : metrics_(metrics), source_(std::move(source)) {}

void DeviceMetricsTracker::Update(
    const std::vector<hwcast::v1::DeviceStatus>& devices) {
  if (metrics_ == nullptr) return;
  for (const hwcast::v1::DeviceStatus& device : devices) {
    const std::string& path = device.path();
    Seen& seen = seen_[path];
    // Reads and resets exist (at 0) from the first snapshot on.
    metrics_->DeviceReads(source_, path)
        .Increment(Advance(device.reads(), &seen.reads));
    metrics_->DeviceResets(source_, path)
        .Increment(Advance(device.resets(), &seen.resets));
    for (const auto& [kind, count] : device.errors_by_kind()) {
      if (const double d = Advance(count, &seen.errors[kind]); d > 0) {
        metrics_->DeviceErrors(source_, path, kind).Increment(d);
      }
    }
    metrics_->DevicePresent(source_, path).Set(device.present() ? 1 : 0);
    metrics_->DeviceFaulty(source_, path).Set(device.faulty() ? 1 : 0);
    for (const hwcast::v1::Reading& reading : device.last_readings()) {
      if (reading.quality() != hwcast::v1::QUALITY_OK) continue;
      const std::optional<double> value = ReadingGaugeValue(reading);
      if (!value.has_value()) continue;
      const std::string& id = reading.source_id().empty() ? device.source_id()
                                                          : reading.source_id();
      metrics_->DeviceLastValue(source_, path, id).Set(*value);
    }
  }
}

}  // namespace hwcast::collector
