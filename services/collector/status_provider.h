// Seam between the Collector gRPC service and what it reports.
#ifndef HWCAST_SERVICES_COLLECTOR_STATUS_PROVIDER_H_
#define HWCAST_SERVICES_COLLECTOR_STATUS_PROVIDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::collector {

// Produces a snapshot of the collector's state. Implementations are
// thread-safe (called from gRPC threads).
class CollectorStatusProvider {
 public:
  virtual ~CollectorStatusProvider() = default;
  virtual hwcast::v1::CollectorStatus GetStatus() const = 0;
};

// Polls one source on demand (Collector.PollNow). Implementations are
// thread-safe and block up to that source's poll timeout.
class SourcePoller {
 public:
  virtual ~SourcePoller() = default;
  // The readings of a poll of `source_id` made now (also published like any
  // poll's). NOT_FOUND for an unknown source; DEADLINE_EXCEEDED when the
  // poll outlives the source's timeout; UNAVAILABLE when not running.
  virtual absl::StatusOr<std::vector<hwcast::v1::Reading>> PollNow(
      const std::string& source_id) = 0;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_STATUS_PROVIDER_H_
