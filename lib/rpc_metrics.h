// One counter for every RPC a daemon's gRPC server answers:
//
//   hwcast_rpc_total{service="hwcast.v1.Relay",method="Publish",code="OK"}
//
// recorded in one place, a gRPC server interceptor (GrpcServer::Start
// installs it), when the call's status is sent: OK, refusals
// (PERMISSION_DENIED), requests that did not decode (INVALID_ARGUMENT) and
// every other ending alike. Methods of services not registered with the
// server (a client probing names) are counted as service="unknown",
// method="unknown", so callers cannot grow the label set. The series of
// every registered method with codes OK, INVALID_ARGUMENT and
// PERMISSION_DENIED exist at 0 from the start.
//
// A service may count the calls of a busy method itself instead
// (CountedByService): the same series, without the interceptor's cost.
//
// Thread-safe once the server started: AddServices() and CountedByService()
// run before, Record() from any gRPC thread after.
#ifndef HWCAST_LIB_RPC_METRICS_H_
#define HWCAST_LIB_RPC_METRICS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace hwcast {

inline constexpr char kRpcTotalMetric[] = "hwcast_rpc_total";

class RpcMetrics {
 public:
  // Registers the family in `registry`, which must outlive this.
  explicit RpcMetrics(prometheus::Registry& registry);
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  // Makes the methods of these services (full names, e.g.
  // "hwcast.v1.Relay"; looked up in protobuf's generated descriptor pool,
  // unknown names are skipped) known, with their zero series. Before the
  // server starts.
  void AddServices(const std::vector<std::string>& service_names);

  // Counts one finished call of `full_method` ("/hwcast.v1.Relay/Publish").
  void Record(absl::string_view full_method, grpc::StatusCode code);

  // Leaves the calls of `full_method` to its service, which Records each
  // one itself when it sends the status: the interceptor is not installed
  // on them. Meant for busy streams. With any server interceptor on a
  // call, gRPC 1.51 puts every completed read and write of it through the
  // completion queue a second time, so each message of a stream costs
  // one more thread wake-up (bench/README.md, "The interceptor's price").
  // Before the server starts.
  void CountedByService(std::string full_method);
  // Whether CountedByService(full_method) was called.
  bool IsCountedByService(absl::string_view full_method) const {
    return counted_by_service_.contains(full_method);
  }

  // Unix socket connections refused by their peer's credentials
  // (lib/unix_peer_acceptor.h): hwcast_unix_socket_refused_total, present
  // from the start.
  prometheus::Counter& unix_refused() { return unix_refused_; }

  // An interceptor factory that Records every call (for
  // ServerBuilder::experimental().SetInterceptorCreators). This object must
  // outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

 private:
  prometheus::Counter& Series(const std::pair<std::string, std::string>& name,
                              grpc::StatusCode code);

  prometheus::Family<prometheus::Counter>& family_;
  prometheus::Counter& unix_refused_;
  // "/service/method" -> (service, method); written before the server
  // starts only.
  absl::flat_hash_map<std::string, std::pair<std::string, std::string>>
      methods_;
  // Methods whose services Record their calls; before the server starts.
  absl::flat_hash_set<std::string> counted_by_service_;
};

// The label value of a gRPC status code: "OK", "INVALID_ARGUMENT", ...
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace hwcast

#endif  // HWCAST_LIB_RPC_METRICS_H_
