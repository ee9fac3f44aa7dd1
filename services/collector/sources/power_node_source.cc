#include "services/collector/sources/power_node_source.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {

using ::hwcast::v1::Reading;

PowerNodeSource::PowerNodeSource(PowerNodeSourceOptions options)
    : options_(std::move(options)) {
  if (!options_.connect) options_.connect = TcpConnect;
}

absl::StatusOr<std::vector<Reading>> PowerNodeSource::Poll() {
  Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label.empty()
                        ? absl::StrCat("power node ", options_.target)
                        : options_.label);
  const std::string target = absl::StrCat("tcp:", options_.target);
  auto fault = [&](absl::string_view error) {
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(absl::StrCat("power node ", target, ": ", error));
    return std::vector<Reading>{reading};
  };

  const absl::StatusOr<HostPort> split = SplitHostPort(options_.target);
  if (!split.ok()) return fault(split.status().message());
  const ConnectResult result = options_.connect(
      split->host, split->port, options_.timeout, /*keep_socket=*/false);
  hwcast::v1::Reachability* reach = nullptr;
  switch (result.outcome) {
    case ConnectOutcome::kConnected:
    case ConnectOutcome::kRefused:
      reach = reading.mutable_reachability();
      reach->set_reachable(true);
      reach->set_round_trip_seconds(absl::ToDoubleSeconds(result.elapsed));
      break;
    case ConnectOutcome::kTimedOut:
    case ConnectOutcome::kHostUnreachable:
      reach = reading.mutable_reachability();
      reach->set_reachable(false);
      break;
    case ConnectOutcome::kNoRoute:
      return fault(absl::StrCat(
          result.error,
          " (this host has no route to it: its own network is down?)"));
    case ConnectOutcome::kResolveFailed:
    case ConnectOutcome::kLocalError:
      return fault(result.error);
  }
  reach->set_target(target);
  reading.set_quality(hwcast::v1::QUALITY_OK);
  return std::vector<Reading>{reading};
}

namespace {

absl::Status ValidatePowerNode(const std::string& key,
                               const hwcast::v1::SourceConfig& source,
                               absl::Duration) {
  const std::string target_key = absl::StrCat(key, ".target");
  if (source.power_node().target().empty()) {
    return ConfigError(target_key, "required (HOST:PORT, e.g. 10.0.0.5:22)");
  }
  return CheckHostPort(target_key, source.power_node().target(),
                       /*allow_port_zero=*/false);
}

absl::StatusOr<std::unique_ptr<Source>> MakePowerNodeSource(
    const hwcast::v1::SourceConfig& source, const Clock* /*clock*/) {
  PowerNodeSourceOptions options;
  options.id = source.id();
  options.target = source.power_node().target();
  options.timeout = OwnTimeout(source);
  return std::make_unique<PowerNodeSource>(std::move(options));
}

}  // namespace

extern const SourceKind kPowerNodeSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kPowerNode,
    .name = "power_node",
    .validate = ValidatePowerNode,
    .make = MakePowerNodeSource,
};

}  // namespace hwcast::collector
