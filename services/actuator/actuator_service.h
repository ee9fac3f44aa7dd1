// The hwcast.v1.Actuator gRPC service: exposes the actuator's status.
//
// Thread-safe (gRPC callback API; each call is answered inline). The
// Actuator is not owned and must outlive the service.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "hwcast/v1/actuator.grpc.pb.h"
#include "services/actuator/actuator.h"

namespace hwcast::actuator {

class ActuatorServiceImpl final : public hwcast::v1::Actuator::CallbackService {
 public:
  explicit ActuatorServiceImpl(const Actuator* actuator)
      : actuator_(actuator) {}

  grpc::ServerUnaryReactor* GetStatus(
      grpc::CallbackServerContext* context,
      const hwcast::v1::GetStatusRequest* request,
      hwcast::v1::ActuatorStatus* response) override;

 private:
  const Actuator* const actuator_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
