// Every reading as a Prometheus sample: the latest reading of each source
// (host/source_id) exported as gauges, one metric per quantity and unit,
// labelled {host, source, label}:
//
//   hwcast_temperature_celsius          Temperature.celsius
//   hwcast_humidity_percent             Humidity.relative_percent
//   hwcast_ups_battery_charge_percent   PowerState.charge_percent (if told)
//   hwcast_ups_runtime_seconds          PowerState.runtime_seconds (if told)
//   hwcast_ups_on_battery               1 on battery or low battery, else 0
//   hwcast_ups_low_battery              1 on low battery, else 0
//   hwcast_power_node_up                Reachability.reachable (1/0)
//   hwcast_power_node_round_trip_seconds   when reachable
//   hwcast_reading_age_seconds          time since this process received it
//   hwcast_reading_ok{quality}          1 if QUALITY_OK, else 0; `quality` is
//                                       ok|sensor_fault|out_of_range|
//                                       uncalibrated|unspecified
// plus, unlabelled and present from the start:
//   hwcast_reading_sources              sources exported now
//   hwcast_reading_sources_expired_total   sources dropped after silence
//
// A value kind without a row in the table above (a newer proto's value
// message) is exported by rule: each numeric field whose name ends in a unit
// ("rpm", "volts", "watts", "amperes", "celsius", "percent", "seconds",
// "hertz", "bytes", "joules") becomes hwcast_<value case>_<field>, e.g.
// `FanSpeed fan { double rpm }` -> hwcast_fan_rpm. The hwmon kinds' families
// (hwcast_fan_rpm, hwcast_voltage_volts, hwcast_electric_power_watts,
// hwcast_current_amperes) are declared from the start like the others.
// Entropy, disk inventories and fleet events carry no gauge value and are
// not exported.
//
// A value gauge is only exported while the reading's quality is OK (a faulty
// reading has no value); hwcast_reading_ok and hwcast_reading_age_seconds are
// exported for every source. Bounded label sets: a source not heard from for
// `drop_after` disappears from every family (series go stale in Prometheus),
// so the series follow the sources that exist.
//
// Served through MetricsExposer::Add() (it is a Collectable, computed at
// scrape time so ages are current). Thread-safe. The clock is not owned and
// must outlive this object.
#ifndef HWCAST_LIB_READING_METRICS_H_
#define HWCAST_LIB_READING_METRICS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace hwcast {

class ReadingMetrics : public prometheus::Collectable {
 public:
  // Default for `drop_after`: ten minutes, far above any sane poll interval.
  static constexpr absl::Duration kDefaultDropAfter = absl::Minutes(10);

  ReadingMetrics(const Clock* clock, absl::Duration drop_after);
  // server.metrics_source_timeout, or kDefaultDropAfter when unset or 0.
  static absl::Duration DropAfterFromConfig(
      const hwcast::v1::ServerConfig& server);
  ReadingMetrics(const ReadingMetrics&) = delete;
  ReadingMetrics& operator=(const ReadingMetrics&) = delete;

  // Makes `reading` the exported reading of its source, received now,
  // unless the source's exported reading is newer (a higher sequence or a
  // later observed_time wins; a late, reordered delivery does not roll the
  // value back). Readings without a gauge value (entropy, disk inventory,
  // fleet) are ignored. Cheap: one map update under a mutex.
  void Observe(const hwcast::v1::Reading& reading);
  // Observe() for each reading of `batch`, under one lock.
  void Observe(const hwcast::v1::ReadingBatch& batch);

  // The naming rule for value kinds without a table row: (metric name,
  // value) for every numeric field of `value` whose name ends in a unit,
  // named hwcast_<value_case>_<field>; unset optional fields are left out.
  static std::vector<std::pair<std::string, double>> UnitFields(
      const google::protobuf::Message& value, absl::string_view value_case);

  // The families above as of the clock's current time; drops sources older
  // than `drop_after` first.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Entry {
    hwcast::v1::Reading reading;
    absl::Time received;
  };
  void ObserveLocked(const hwcast::v1::Reading& reading)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const absl::Duration drop_after_;
  mutable absl::Mutex mu_;
  // Keyed by SourceKey().
  mutable std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  mutable double expired_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_READING_METRICS_H_
