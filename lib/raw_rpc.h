// Serving gRPC methods raw (grpc::ByteBuffer in and out) so that a request
// that does not decode gets a clear INVALID_ARGUMENT instead of what gRPC's
// generated code answers for it (UNIMPLEMENTED with an empty message for
// unary calls, an OK end of stream for a bidi stream's reads).
//
// Use with the generated WithRawCallbackMethod_<Method> service bases (or,
// on an async loop, AnswerRaw in the member that AcceptRawUnary of
// lib/async_reactor.h calls; the relay and the actuator):
//
//   grpc::ServerUnaryReactor* ListLatest(grpc::CallbackServerContext* c,
//       const grpc::ByteBuffer* in, grpc::ByteBuffer* out) override {
//     return RawUnary<ListLatestRequest, ListLatestResponse>(
//         c, in, out, [&](const auto& request, auto* response) { ... },
//         [&](const absl::Status& bad) { count it });
//   }
//
// Thread-safe; no state.
#ifndef HWCAST_LIB_RAW_RPC_H_
#define HWCAST_LIB_RAW_RPC_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/grpc_status_util.h"

namespace hwcast {

// Parses `raw` into `out`. INVALID_ARGUMENT naming `what` (e.g. "request",
// "message 3 on this stream"), its size and the expected type when the bytes
// are not a serialized `out` type.
absl::Status ParseRawMessage(const grpc::ByteBuffer& raw,
                             absl::string_view what,
                             google::protobuf::Message* out);

// `message` serialized into a ByteBuffer.
grpc::ByteBuffer SerializeToByteBuffer(
    const google::protobuf::Message& message);

// An `on_bad_request` for RawUnary or AnswerRaw that logs the refusal at
// DEBUG ("METHOD from PEER refused: WHY"); the count is the server's
// hwcast_rpc_total (lib/rpc_metrics.h). `context` must outlive the call of
// the result.
std::function<void(const absl::Status&)> LogBadRequest(
    const grpc::ServerContextBase* context, absl::string_view method);

// Finishes a unary call at once with `status` (e.g. a refusal before the
// request is even parsed).
inline grpc::ServerUnaryReactor* FinishUnary(
    grpc::CallbackServerContext* context, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

// Answers one raw unary request: parses it (on failure calls
// `on_bad_request(status)` and returns INVALID_ARGUMENT), runs
// `handler(request, &response)` -> grpc::Status, and serializes the response
// into `raw_response` when that is OK. Returns the call's status.
template <typename Request, typename Response, typename Handler,
          typename OnBadRequest>
grpc::Status AnswerRaw(const grpc::ByteBuffer& raw_request,
                       grpc::ByteBuffer* raw_response, Handler&& handler,
                       OnBadRequest&& on_bad_request) {
  Request request;
  if (absl::Status s = ParseRawMessage(raw_request, "request", &request);
      !s.ok()) {
    on_bad_request(s);
    return ToGrpcStatus(s);
  }
  Response response;
  grpc::Status status = handler(std::as_const(request), &response);
  if (status.ok()) *raw_response = SerializeToByteBuffer(response);
  return status;
}

// Serves one raw unary call on the callback API with AnswerRaw.
template <typename Request, typename Response, typename Handler,
          typename OnBadRequest>
grpc::ServerUnaryReactor* RawUnary(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* raw_request,
                                   grpc::ByteBuffer* raw_response,
                                   Handler&& handler,
                                   OnBadRequest&& on_bad_request) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(AnswerRaw<Request, Response>(
      *raw_request, raw_response, std::forward<Handler>(handler),
      std::forward<OnBadRequest>(on_bad_request)));
  return reactor;
}

}  // namespace hwcast

#endif  // HWCAST_LIB_RAW_RPC_H_
