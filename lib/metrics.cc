#include "lib/metrics.h"

#include <exception>
#include <optional>

#include "absl/strings/str_cat.h"
#include "lib/net_address.h"
#include "lib/process_metrics.h"
#include "prometheus/exposer.h"

namespace hwcast {

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& address,
    std::shared_ptr<prometheus::Registry> registry) {
  const std::optional<HostPortView> split = SplitHostPortView(address);
  if (!split.has_value() || split->port.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': expected HOST:PORT"));
  }
  std::unique_ptr<MetricsExposer> out(new MetricsExposer());
  try {
    // civetweb takes "HOST:PORT"; IPv6 hosts keep their brackets.
    out->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  out->exposer_->RegisterCollectable(registry);
  out->process_ = std::make_shared<ProcessMetrics>();
  out->exposer_->RegisterCollectable(out->process_);
  const std::vector<int> ports = out->exposer_->GetListeningPorts();
  out->bound_address_ = WithPort(address, ports.empty() ? 0 : ports[0]);
  return out;
}

MetricsExposer::~MetricsExposer() = default;

void MetricsExposer::Add(
    const std::weak_ptr<prometheus::Collectable>& collectable) {
  exposer_->RegisterCollectable(collectable);
}

ServiceMetrics::ServiceMetrics(prometheus::Registry& registry,
                               std::string_view service) {
  const std::string prefix = absl::StrCat("hwcast_", std::string(service), "_");
  readings_in_ = &prometheus::BuildCounter()
                      .Name(prefix + "readings_in_total")
                      .Help("Readings taken in by this service.")
                      .Register(registry)
                      .Add({});
  readings_out_ = &prometheus::BuildCounter()
                       .Name(prefix + "readings_out_total")
                       .Help("Readings passed on by this service.")
                       .Register(registry)
                       .Add({});
  dropped_ = &prometheus::BuildCounter()
                  .Name(prefix + "readings_dropped_total")
                  .Help("Readings dropped, by reason.")
                  .Register(registry);
  errors_ = &prometheus::BuildCounter()
                 .Name(prefix + "errors_total")
                 .Help("Errors, by reason.")
                 .Register(registry);
  prometheus::BuildGauge()
      .Name("hwcast_build_info")
      .Help("Always 1; labels tell the service and version.")
      .Register(registry)
      .Add({{"service", std::string(service)}, {"version", HWCAST_VERSION}})
      .Set(1);
}

prometheus::Counter& ServiceMetrics::Dropped(std::string_view reason) {
  return dropped_->Add({{"reason", std::string(reason)}});
}

prometheus::Counter& ServiceMetrics::Error(std::string_view reason) {
  return errors_->Add({{"reason", std::string(reason)}});
}

}  // namespace hwcast
