#include "lib/reading_util.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace hwcast {

using hwcast::v1::Reading;
using hwcast::v1::ReadingKind;

ReadingKind KindOf(const Reading& reading) {
  switch (reading.value_case()) {
    case Reading::kTemperature:
      return hwcast::v1::READING_KIND_TEMPERATURE;
    case Reading::kHumidity:
      return hwcast::v1::READING_KIND_HUMIDITY;
    case Reading::kPower:
      return hwcast::v1::READING_KIND_POWER;
    case Reading::kReachability:
      return hwcast::v1::READING_KIND_REACHABILITY;
    case Reading::kEntropy:
      return hwcast::v1::READING_KIND_ENTROPY;
    case Reading::kDiskInventory:
      return hwcast::v1::READING_KIND_DISK_INVENTORY;
    case Reading::kFleet:
      return hwcast::v1::READING_KIND_FLEET;
    case Reading::kFan:
      return hwcast::v1::READING_KIND_FAN;
    case Reading::kVoltage:
      return hwcast::v1::READING_KIND_VOLTAGE;
    case Reading::kElectricPower:
      return hwcast::v1::READING_KIND_ELECTRIC_POWER;
    case Reading::kCurrent:
      return hwcast::v1::READING_KIND_CURRENT;
    case Reading::VALUE_NOT_SET:
      break;
  }
  return hwcast::v1::READING_KIND_UNSPECIFIED;
}

std::string KindName(ReadingKind kind) {
  const std::string kPrefix = "READING_KIND_";
  std::string name = hwcast::v1::ReadingKind_Name(kind);
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  if (kind == hwcast::v1::READING_KIND_UNSPECIFIED) return "-";
  return absl::AsciiStrToLower(name);
}

std::string SourceKey(const Reading& reading) {
  return absl::StrCat(reading.host(), "/", reading.source_id());
}

bool Matches(const hwcast::v1::ReadingFilter& filter, const Reading& reading) {
  auto contains = [](const auto& list, const auto& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  if (!filter.hosts().empty() && !contains(filter.hosts(), reading.host())) {
    return false;
  }
  if (!filter.source_ids().empty() &&
      !contains(filter.source_ids(), reading.source_id())) {
    return false;
  }
  if (!filter.kinds().empty()) {
    const ReadingKind kind = KindOf(reading);
    bool found = false;
    for (int k : filter.kinds()) found = found || k == kind;
    // A faulted reading carries no value and so no kind: it still concerns
    // whoever follows the source, so it passes a kind filter.
    if (!found && kind != hwcast::v1::READING_KIND_UNSPECIFIED) return false;
  }
  return true;
}

std::string FormatValue(const Reading& reading) {
  if (reading.quality() == hwcast::v1::QUALITY_SENSOR_FAULT) {
    return absl::StrCat("fault: ", reading.error());
  }
  switch (reading.value_case()) {
    case Reading::kTemperature:
      return absl::StrFormat("%.2f °C", reading.temperature().celsius());
    case Reading::kHumidity:
      return absl::StrFormat("%.1f %%RH",
                             reading.humidity().relative_percent());
    case Reading::kPower: {
      const auto& p = reading.power();
      std::string line;
      switch (p.line()) {
        case hwcast::v1::PowerState::LINE_STATE_ON_LINE:
          line = "on line";
          break;
        case hwcast::v1::PowerState::LINE_STATE_ON_BATTERY:
          line = "on battery";
          break;
        case hwcast::v1::PowerState::LINE_STATE_LOW_BATTERY:
          line = "low battery";
          break;
        default:
          line = "unknown";
      }
      if (p.has_charge_percent()) {
        absl::StrAppend(&line,
                        absl::StrFormat(", %.0f %%", p.charge_percent()));
      }
      if (p.has_runtime_seconds()) {
        absl::StrAppend(&line,
                        absl::StrFormat(", %.0f s", p.runtime_seconds()));
      }
      return line;
    }
    case Reading::kReachability: {
      const auto& r = reading.reachability();
      if (!r.reachable()) return "unreachable";
      return absl::StrFormat("reachable, %.1f ms",
                             r.round_trip_seconds() * 1000.0);
    }
    case Reading::kEntropy:
      return absl::StrFormat("%d bytes, %.0f bits",
                             reading.entropy().data().size(),
                             reading.entropy().entropy_bits());
    case Reading::kDiskInventory:
      return absl::StrFormat("%d disks", reading.disk_inventory().disks_size());
    case Reading::kFleet: {
      const hwcast::v1::FleetEvent& f = reading.fleet();
      std::string line;
      switch (f.type()) {
        case hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED:
          line = "shutdown announced";
          break;
        case hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED:
          line = "shutdown cancelled";
          break;
        default:
          line = "fleet event";
          break;
      }
      if (!f.policy().empty()) absl::StrAppend(&line, " (", f.policy(), ")");
      if (f.has_command_deadline()) {
        absl::StrAppend(&line, ", deadline ",
                        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                         absl::FromUnixSeconds(
                                             f.command_deadline().seconds()),
                                         absl::UTCTimeZone()));
      }
      if (!f.reason().empty()) absl::StrAppend(&line, ": ", f.reason());
      return line;
    }
    case Reading::kFan:
      return absl::StrFormat("%.0f RPM", reading.fan().rpm());
    case Reading::kVoltage:
      return absl::StrFormat("%.3f V", reading.voltage().volts());
    case Reading::kElectricPower:
      return absl::StrFormat("%.2f W", reading.electric_power().watts());
    case Reading::kCurrent:
      return absl::StrFormat("%.3f A", reading.current().amperes());
    case Reading::VALUE_NOT_SET:
      break;
  }
  return reading.error().empty() ? "-" : reading.error();
}

absl::Status ValidateBatch(const hwcast::v1::ReadingBatch& batch) {
  if (batch.collector_id().empty()) {
    return absl::InvalidArgumentError("batch: collector_id is empty");
  }
  if (batch.epoch() == 0) {
    return absl::InvalidArgumentError("batch: epoch is 0");
  }
  if (batch.batch_sequence() == 0) {
    return absl::InvalidArgumentError("batch: batch_sequence is 0");
  }
  for (int i = 0; i < batch.readings_size(); ++i) {
    const Reading& r = batch.readings(i);
    auto bad = [&](const char* what) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch ", batch.collector_id(), "#", batch.batch_sequence(),
          ": readings[", i, "]", r.source_id().empty() ? "" : " (",
          r.source_id(), r.source_id().empty() ? "" : ")", ": ", what));
    };
    if (r.source_id().empty()) return bad("source_id is empty");
    if (r.host().empty()) return bad("host is empty");
    if (r.sequence() == 0) return bad("sequence is 0");
    if (!r.has_observed_time()) return bad("observed_time is missing");
    if (r.observed_time().nanos() < 0 ||
        r.observed_time().nanos() >= 1'000'000'000) {
      return bad("observed_time.nanos out of range");
    }
    if (r.quality() == hwcast::v1::QUALITY_UNSPECIFIED) {
      return bad("quality is unspecified");
    }
    if (r.quality() == hwcast::v1::QUALITY_OK &&
        r.value_case() == Reading::VALUE_NOT_SET) {
      return bad("quality OK but no value");
    }
    if (r.has_fleet() &&
        r.fleet().type() == hwcast::v1::FleetEvent::TYPE_UNSPECIFIED) {
      return bad("fleet.type is unspecified");
    }
    double number = 0;
    switch (r.value_case()) {
      case Reading::kTemperature:
        number = r.temperature().celsius();
        break;
      case Reading::kHumidity:
        number = r.humidity().relative_percent();
        break;
      case Reading::kPower:
        number = r.power().charge_percent() + r.power().runtime_seconds();
        break;
      case Reading::kReachability:
        number = r.reachability().round_trip_seconds();
        break;
      case Reading::kEntropy:
        number = r.entropy().entropy_bits();
        break;
      case Reading::kFan:
        number = r.fan().rpm();
        break;
      case Reading::kVoltage:
        number = r.voltage().volts();
        break;
      case Reading::kElectricPower:
        number = r.electric_power().watts();
        break;
      case Reading::kCurrent:
        number = r.current().amperes();
        break;
      default:
        break;
    }
    if (!std::isfinite(number)) return bad("value is not a finite number");
  }
  return absl::OkStatus();
}

}  // namespace hwcast
