// Draws entropy chunks from relays over the hwcast.v1.Entropy.Draw stream.
//
// EntropyClient is the seam the Reseeder draws through (tests give it a
// fake). GrpcEntropyClient asks the configured relays in order: each is
// asked for the bytes still missing, every response (one SignedBatch as the
// collector signed it) goes to the caller's handler, which checks, mixes and
// injects it and says how many bytes it used; the next relay is asked only
// while bytes are missing.
//
// Transport rule: entropy must not cross the network readable. A relay at
// "unix:..." is always fine; "HOST:PORT" only with TLS (tls.ca_file set).
// Plaintext TCP is refused (Create fails naming the relay) unless
// allow_plaintext, in which case a loud warning is logged once per relay.
//
// Thread-safe: Draw calls may run concurrently (each uses its own streams),
// though the Reseeder serializes them.
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_CLIENT_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/entropy.grpc.pb.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::actuator::entropy {

// Handles one chunk from `relay`; returns the chunk bytes it used (0 when
// it refused the chunk), or an error that ends the whole draw (e.g. the
// sink failed: drawing more would only waste chunks).
using ChunkHandler = std::function<absl::StatusOr<size_t>(
    const hwcast::v1::SignedBatch& batch, const std::string& relay)>;

struct DrawResult {
  // Sum of what the handler returned.
  uint64_t bytes_used = 0;
  // Responses received (used or not).
  uint64_t chunks_received = 0;
  // One line per relay that failed or gave nothing usable, e.g.
  // "unix:/run/hwcast/relay.sock: UNAVAILABLE: connection refused".
  std::vector<std::string> errors;
};

class EntropyClient {
 public:
  virtual ~EntropyClient() = default;

  // Draws until the handler used at least `bytes` or every relay was
  // asked. UNAVAILABLE (listing every relay's error) when the handler used
  // nothing at all; the handler's error as is when it returned one.
  virtual absl::StatusOr<DrawResult> Draw(uint32_t bytes,
                                          const ChunkHandler& handler) = 0;
};

struct GrpcEntropyClientOptions {
  // DrawEntropyRequest.host.
  std::string host;
  // In the order they are asked.
  std::vector<std::string> relays;
  hwcast::v1::TlsClientConfig tls;
  bool allow_plaintext = false;
  // DrawEntropyRequest.max_wait: how long a dry relay waits for chunks.
  absl::Duration max_wait = absl::Seconds(2);
  // Deadline of one Draw call to one relay.
  absl::Duration call_timeout = absl::Seconds(30);
};

class GrpcEntropyClient final : public EntropyClient {
 public:
  // FAILED_PRECONDITION "refusing to draw entropy from relay 'X' over
  // plaintext TCP ..." for a TCP relay without TLS unless allow_plaintext;
  // errors naming the file when TLS files cannot be read.
  static absl::StatusOr<std::unique_ptr<GrpcEntropyClient>> Create(
      GrpcEntropyClientOptions options);

  absl::StatusOr<DrawResult> Draw(uint32_t bytes,
                                  const ChunkHandler& handler) override;

 private:
  struct Relay {
    std::string address;
    std::unique_ptr<hwcast::v1::Entropy::Stub> stub;
  };
  explicit GrpcEntropyClient(GrpcEntropyClientOptions options)
      : options_(std::move(options)) {}

  const GrpcEntropyClientOptions options_;
  std::vector<Relay> relays_;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_CLIENT_H_
