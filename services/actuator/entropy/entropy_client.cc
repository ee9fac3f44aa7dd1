#include "services/actuator/entropy/entropy_client.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/grpc_status_util.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "lib/tls.h"

namespace hwcast::actuator::entropy {

absl::StatusOr<std::unique_ptr<GrpcEntropyClient>> GrpcEntropyClient::Create(
    GrpcEntropyClientOptions options) {
  if (options.relays.empty()) {
    return absl::InvalidArgumentError("entropy: no relay to draw from");
  }
  std::unique_ptr<GrpcEntropyClient> client(
      new GrpcEntropyClient(std::move(options)));
  const GrpcEntropyClientOptions& opts = client->options_;
  for (const std::string& address : opts.relays) {
    if (!IsPrivateTransport(address, opts.tls)) {
      if (!opts.allow_plaintext) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing to draw entropy from relay '", address,
            "' over plaintext TCP (the bytes would cross the network "
            "readable): use a unix: socket, set entropy.tls.ca_file, or set "
            "entropy.allow_plaintext: true"));
      }
      HWCAST_LOG(WARNING)
          << "INSECURE: drawing entropy from relay " << address
          << " over PLAINTEXT TCP (entropy.allow_plaintext: true): anyone "
             "on the network path can read the bytes fed into this host's "
             "pool; use TLS or a unix socket";
    }
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(address, opts.tls);
    if (!credentials.ok()) return credentials.status();
    grpc::ChannelArguments args;
    if (!IsUnixAddress(address)) AddTlsChannelArgs(opts.tls, &args);
    client->relays_.push_back(
        {address, hwcast::v1::Entropy::NewStub(
                      grpc::CreateCustomChannel(address, *credentials, args))});
  }
  return client;
}

absl::StatusOr<DrawResult> GrpcEntropyClient::Draw(
    uint32_t bytes, const ChunkHandler& handler) {
  DrawResult result;
  for (const Relay& relay : relays_) {
    if (result.bytes_used >= bytes) break;
    hwcast::v1::DrawEntropyRequest request;
    request.set_host(options_.host);
    request.set_bytes(static_cast<uint32_t>(bytes - result.bytes_used));
    *request.mutable_max_wait() = ToProtoDuration(options_.max_wait);
    grpc::ClientContext context;
    // gRPC takes a wall-clock deadline; only its distance from now matters.
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMicroseconds(options_.call_timeout));
    std::unique_ptr<grpc::ClientReader<hwcast::v1::DrawEntropyResponse>>
        reader = relay.stub->Draw(&context, request);
    hwcast::v1::DrawEntropyResponse response;
    uint64_t used_here = 0;
    uint64_t received_here = 0;
    bool enough = false;
    while (reader->Read(&response)) {
      ++received_here;
      ++result.chunks_received;
      absl::StatusOr<size_t> handled = handler(response.batch(), relay.address);
      if (!handled.ok()) {
        context.TryCancel();
        reader->Finish();
        return handled.status();
      }
      const size_t used = *handled;
      used_here += used;
      result.bytes_used += used;
      if (result.bytes_used >= bytes) {
        enough = true;
        context.TryCancel();
        break;
      }
    }
    const grpc::Status status = reader->Finish();
    if (enough) continue;
    if (!status.ok()) {
      result.errors.push_back(
          absl::StrCat(relay.address, ": ", FromGrpcStatus(status).ToString()));
    } else if (received_here == 0) {
      result.errors.push_back(
          absl::StrCat(relay.address, ": no entropy available"));
    } else if (used_here == 0) {
      result.errors.push_back(absl::StrCat(relay.address, ": all ",
                                           received_here, " chunk(s) refused"));
    }
  }
  if (result.bytes_used == 0) {
    return absl::UnavailableError(absl::StrCat(
        "no relay gave usable entropy: ", absl::StrJoin(result.errors, "; ")));
  }
  return result;
}

}  // namespace hwcast::actuator::entropy
