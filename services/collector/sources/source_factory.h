// Builds the Source a SourceConfig describes.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_SOURCE_FACTORY_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_SOURCE_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock.h"
#include "services/collector/source.h"

namespace hwcast::collector {

// `source` must have its defaults filled in (ApplyCollectorDefaults). The
// source reads the time from `clock` (not owned; outlives the source).
// INVALID_ARGUMENT when no kind is set. Thread-safe.
absl::StatusOr<std::unique_ptr<Source>> MakeSource(
    const hwcast::v1::SourceConfig& source, const Clock* clock);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_SOURCE_FACTORY_H_
