// Where the actuator puts the (already checked and mixed) entropy it draws:
// the kernel's pool (KernelEntropySink) or a file (FileEntropySink).
//
// Implementations are thread-compatible: the Reseeder serializes its calls.
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_SINK_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_SINK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace hwcast::actuator::entropy {

class EntropySink {
 public:
  virtual ~EntropySink() = default;

  // Adds `bytes` and, where the sink can, credits `credit_bits` of entropy
  // for them (at most 8 per byte; the caller guarantees it). Errors name
  // the sink and say what to do.
  virtual absl::Status Add(absl::Span<const uint8_t> bytes,
                           uint32_t credit_bits) = 0;

  // For status and logs: "kernel" or "file:/path".
  virtual std::string name() const = 0;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_SINK_H_
