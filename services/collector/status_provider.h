// Seam between the Collector gRPC service and what it reports.
#ifndef HWCAST_SERVICES_COLLECTOR_STATUS_PROVIDER_H_
#define HWCAST_SERVICES_COLLECTOR_STATUS_PROVIDER_H_

#include "hwcast/v1/collector.pb.h"

namespace hwcast::collector {

// Produces a snapshot of the collector's state. Implementations are
// thread-safe (called from gRPC threads).
class CollectorStatusProvider {
 public:
  virtual ~CollectorStatusProvider() = default;
  virtual hwcast::v1::CollectorStatus GetStatus() const = 0;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_STATUS_PROVIDER_H_
