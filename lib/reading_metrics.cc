#include "lib/reading_metrics.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

using hwcast::v1::PowerState;
using hwcast::v1::Reading;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Unit words a value message's field name may end in to be exported by rule.
constexpr std::array<absl::string_view, 10> kUnitSuffixes = {
    "rpm",     "volts",   "watts", "amperes", "celsius",
    "percent", "seconds", "hertz", "bytes",   "joules"};

struct GaugeDef {
  const char* name;
  const char* help;
};

// The families every scrape shows (empty until a source reports).
constexpr GaugeDef kTemperature = {
    "hwcast_temperature_celsius",
    "Latest temperature of each source, in degrees Celsius."};
constexpr GaugeDef kHumidity = {
    "hwcast_humidity_percent",
    "Latest relative humidity of each source, 0..100 percent."};
constexpr GaugeDef kCharge = {
    "hwcast_ups_battery_charge_percent",
    "UPS battery charge, 0..100 percent (when the UPS reports it)."};
constexpr GaugeDef kRuntime = {
    "hwcast_ups_runtime_seconds",
    "UPS estimated runtime on battery, in seconds (when reported)."};
constexpr GaugeDef kOnBattery = {
    "hwcast_ups_on_battery",
    "1 while the UPS runs on battery (or low battery), else 0."};
constexpr GaugeDef kLowBattery = {
    "hwcast_ups_low_battery", "1 while the UPS reports low battery, else 0."};
constexpr GaugeDef kNodeUp = {
    "hwcast_power_node_up",
    "1 if the power node (a host on the cooling circuit) answers, else 0."};
constexpr GaugeDef kNodeRtt = {
    "hwcast_power_node_round_trip_seconds",
    "Round trip of the power node probe, in seconds (when it answers)."};
constexpr GaugeDef kAge = {
    "hwcast_reading_age_seconds",
    "Seconds since this process received the source's latest reading."};
constexpr GaugeDef kOk = {
    "hwcast_reading_ok",
    "1 if the source's latest reading is QUALITY_OK, else 0; `quality` "
    "names it."};
constexpr GaugeDef kSources = {
    "hwcast_reading_sources",
    "Sources whose latest reading is exported (heard within the drop "
    "timeout)."};
constexpr GaugeDef kExpired = {
    "hwcast_reading_sources_expired_total",
    "Sources dropped from the reading metrics after the drop timeout of "
    "silence."};

constexpr std::array<const GaugeDef*, 10> kFixedGauges = {
    &kTemperature, &kHumidity, &kCharge,  &kRuntime, &kOnBattery,
    &kLowBattery,  &kNodeUp,   &kNodeRtt, &kAge,     &kOk};

// Families the naming rule gives the hwmon kinds (fan, voltage,
// electric_power, current), declared up front so that they exist before the
// first such reading. Samples by the rule join them by name.
constexpr std::array<GaugeDef, 4> kRuleGauges = {{
    {"hwcast_fan_rpm", "Latest fan speed of each source, in rpm."},
    {"hwcast_voltage_volts", "Latest voltage of each source, in volts."},
    {"hwcast_electric_power_watts",
     "Latest electric power of each source, in watts."},
    {"hwcast_current_amperes",
     "Latest electric current of each source, in amperes."},
}};

std::string QualityLabel(hwcast::v1::Quality quality) {
  std::string name = hwcast::v1::Quality_Name(quality);
  if (absl::StartsWith(name, "QUALITY_")) name = name.substr(8);
  if (name.empty()) name = absl::StrCat(static_cast<int>(quality));
  return absl::AsciiStrToLower(name);
}

// Collects the samples of one scrape, family by family.
class Samples {
 public:
  Samples() {
    for (const GaugeDef* def : kFixedGauges) Family(def->name, def->help);
    for (const GaugeDef& def : kRuleGauges) Family(def.name, def.help);
  }

  void Add(const GaugeDef& def, std::vector<ClientMetric::Label> labels,
           double value) {
    Add(def.name, def.help, std::move(labels), value);
  }
  void Add(const std::string& name, const std::string& help,
           std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric metric;
    metric.label = std::move(labels);
    metric.gauge.value = value;
    Family(name, help).metric.push_back(std::move(metric));
  }

  std::vector<MetricFamily> Take(double sources, double expired) && {
    Add(kSources, {}, sources);
    MetricFamily expired_family{
        kExpired.name, kExpired.help, MetricType::Counter, {}};
    expired_family.metric.emplace_back().counter.value = expired;
    families_.push_back(std::move(expired_family));
    return std::move(families_);
  }

 private:
  MetricFamily& Family(const std::string& name, const std::string& help) {
    for (MetricFamily& family : families_) {
      if (family.name == name) return family;
    }
    return families_.emplace_back(
        MetricFamily{name, help, MetricType::Gauge, {}});
  }

  std::vector<MetricFamily> families_;
};

bool EndsInUnit(absl::string_view field_name) {
  for (absl::string_view unit : kUnitSuffixes) {
    if (field_name == unit ||
        absl::EndsWith(field_name, absl::StrCat("_", unit))) {
      return true;
    }
  }
  return false;
}

// The naming rule for value kinds without a table row.
void AddByRule(const Reading& reading,
               const std::vector<ClientMetric::Label>& labels,
               Samples& samples) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::OneofDescriptor* oneof =
      Reading::descriptor()->FindOneofByName("value");
  if (oneof == nullptr) return;
  const FieldDescriptor* value_field =
      reading.GetReflection()->GetOneofFieldDescriptor(reading, oneof);
  if (value_field == nullptr ||
      value_field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return;
  }
  for (auto& [name, number] : ReadingMetrics::UnitFields(
           reading.GetReflection()->GetMessage(reading, value_field),
           value_field->name())) {
    std::string help =
        absl::StrCat("Latest ", value_field->name(), " reading of each ",
                     "source (", name.substr(name.rfind('_') + 1), ").");
    samples.Add(name, help, labels, number);
  }
}

void AddValues(const Reading& reading,
               const std::vector<ClientMetric::Label>& labels,
               Samples& samples) {
  switch (reading.value_case()) {
    case Reading::kTemperature:
      samples.Add(kTemperature, labels, reading.temperature().celsius());
      return;
    case Reading::kHumidity:
      samples.Add(kHumidity, labels, reading.humidity().relative_percent());
      return;
    case Reading::kPower: {
      const PowerState& power = reading.power();
      if (power.has_charge_percent()) {
        samples.Add(kCharge, labels, power.charge_percent());
      }
      if (power.has_runtime_seconds()) {
        samples.Add(kRuntime, labels, power.runtime_seconds());
      }
      if (power.line() != PowerState::LINE_STATE_UNSPECIFIED &&
          power.line() != PowerState::LINE_STATE_UNKNOWN) {
        const bool low = power.line() == PowerState::LINE_STATE_LOW_BATTERY;
        samples.Add(
            kOnBattery, labels,
            low || power.line() == PowerState::LINE_STATE_ON_BATTERY ? 1 : 0);
        samples.Add(kLowBattery, labels, low ? 1 : 0);
      }
      return;
    }
    case Reading::kReachability:
      samples.Add(kNodeUp, labels, reading.reachability().reachable() ? 1 : 0);
      if (reading.reachability().reachable()) {
        samples.Add(kNodeRtt, labels,
                    reading.reachability().round_trip_seconds());
      }
      return;
    default:
      AddByRule(reading, labels, samples);
      return;
  }
}

bool Exported(const Reading& reading) {
  switch (reading.value_case()) {
    case Reading::kEntropy:
    case Reading::kDiskInventory:
    case Reading::kFleet:
      return false;
    case Reading::VALUE_NOT_SET:
      // A faulty reading carries no value but still tells the quality.
      return reading.quality() != hwcast::v1::QUALITY_OK;
    default:
      return true;
  }
}

}  // namespace

ReadingMetrics::ReadingMetrics(const Clock* clock, absl::Duration drop_after)
    : clock_(clock), drop_after_(drop_after) {}

std::vector<std::pair<std::string, double>> ReadingMetrics::UnitFields(
    const google::protobuf::Message& value, absl::string_view value_case) {
  using google::protobuf::FieldDescriptor;
  std::vector<std::pair<std::string, double>> out;
  const google::protobuf::Reflection* reflection = value.GetReflection();
  const google::protobuf::Descriptor* descriptor = value.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated() || !EndsInUnit(field->name())) continue;
    if (field->has_presence() && !reflection->HasField(value, field)) continue;
    double number = 0;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_DOUBLE:
        number = reflection->GetDouble(value, field);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        number = reflection->GetFloat(value, field);
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        number = reflection->GetInt32(value, field);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        number = static_cast<double>(reflection->GetInt64(value, field));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        number = reflection->GetUInt32(value, field);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        number = static_cast<double>(reflection->GetUInt64(value, field));
        break;
      default:
        continue;
    }
    out.emplace_back(absl::StrCat("hwcast_", value_case, "_", field->name()),
                     number);
  }
  return out;
}

absl::Duration ReadingMetrics::DropAfterFromConfig(
    const hwcast::v1::ServerConfig& server) {
  const absl::Duration configured =
      FromProtoDuration(server.metrics_source_timeout());
  return configured > absl::ZeroDuration() ? configured : kDefaultDropAfter;
}

void ReadingMetrics::ObserveLocked(const Reading& reading) {
  if (!Exported(reading)) return;
  auto [it, added] = entries_.try_emplace(SourceKey(reading));
  Entry& entry = it->second;
  if (!added && reading.sequence() <= entry.reading.sequence() &&
      FromProtoTime(reading.observed_time()) <=
          FromProtoTime(entry.reading.observed_time())) {
    return;
  }
  entry.reading = reading;
  entry.received = clock_->Now();
}

void ReadingMetrics::Observe(const Reading& reading) {
  absl::MutexLock lock(&mu_);
  ObserveLocked(reading);
}

void ReadingMetrics::Observe(const hwcast::v1::ReadingBatch& batch) {
  absl::MutexLock lock(&mu_);
  for (const Reading& reading : batch.readings()) ObserveLocked(reading);
}

std::vector<MetricFamily> ReadingMetrics::Collect() const {
  const absl::Time now = clock_->Now();
  Samples samples;
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& entry = it->second;
    if (now - entry.received >= drop_after_) {
      it = entries_.erase(it);
      ++expired_;
      continue;
    }
    const Reading& reading = entry.reading;
    const std::vector<ClientMetric::Label> labels = {
        {"host", reading.host()},
        {"label", reading.label()},
        {"source", reading.source_id()}};
    samples.Add(kAge, labels,
                absl::ToDoubleSeconds(
                    std::max(now - entry.received, absl::ZeroDuration())));
    std::vector<ClientMetric::Label> ok_labels = labels;
    ok_labels.push_back({"quality", QualityLabel(reading.quality())});
    samples.Add(kOk, std::move(ok_labels),
                reading.quality() == hwcast::v1::QUALITY_OK ? 1 : 0);
    if (reading.quality() == hwcast::v1::QUALITY_OK) {
      AddValues(reading, labels, samples);
    }
    ++it;
  }
  return std::move(samples).Take(static_cast<double>(entries_.size()),
                                 expired_);
}

}  // namespace hwcast
