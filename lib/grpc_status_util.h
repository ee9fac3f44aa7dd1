// The single place where absl::Status becomes grpc::Status at a service edge
// (and back, for clients). Codes keep their retry meaning: UNAVAILABLE and
// RESOURCE_EXHAUSTED invite a retry, INVALID_ARGUMENT and FAILED_PRECONDITION
// do not.
#ifndef HWCAST_LIB_GRPC_STATUS_UTIL_H_
#define HWCAST_LIB_GRPC_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hwcast {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace hwcast

#endif  // HWCAST_LIB_GRPC_STATUS_UTIL_H_
