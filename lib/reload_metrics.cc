#include "lib/reload_metrics.h"

namespace hwcast {
namespace {

prometheus::Family<prometheus::Counter>& ReloadsFamily(
    prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("hwcast_config_reloads_total")
      .Help(
          "Configuration reloads (SIGHUP, systemctl reload) by result: "
          "success (applied) or failure (refused; the running configuration "
          "was kept and the error logged).")
      .Register(registry);
}

double UnixSeconds(absl::Time t) {
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

}  // namespace

ReloadMetrics::ReloadMetrics(prometheus::Registry& registry,
                             absl::Time loaded_at)
    : success_(ReloadsFamily(registry).Add({{"result", "success"}})),
      failure_(ReloadsFamily(registry).Add({{"result", "failure"}})),
      last_success_(
          prometheus::BuildGauge()
              .Name("hwcast_config_last_reload_success_timestamp_seconds")
              .Help("Unix time the running configuration was applied: at "
                    "start-up, then at each successful reload.")
              .Register(registry)
              .Add({})) {
  last_success_.Set(UnixSeconds(loaded_at));
}

void ReloadMetrics::Record(bool ok, absl::Time now) {
  if (ok) {
    success_.Increment();
    last_success_.Set(UnixSeconds(now));
  } else {
    failure_.Increment();
  }
}

}  // namespace hwcast
