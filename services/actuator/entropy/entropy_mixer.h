// Mixes received entropy with a host-local secret before it is used, so a
// compromised relay (or collector) that knows or chooses the bytes still
// cannot predict what enters this host's pool.
//
// The construction (an end-to-end test recomputes it with Python's
// hashlib.blake2b): the input chunk is cut into 64-byte blocks (the last
// may be shorter); output block i (i = 0, 1, ...) is
//   BLAKE2b(key = secret, digest_size = 64,
//           message = "hwcast-entropy-mix-v1" || uint64_le(i) || block_i)
// and the output is their concatenation, 64 * ceil(len / 64) bytes. The
// secret is 32..64 bytes.
//
// Thread-safe (immutable after construction). The secret is wiped on
// destruction.
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_MIXER_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_MIXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hwcast::actuator::entropy {

inline constexpr char kMixLabel[] = "hwcast-entropy-mix-v1";
inline constexpr size_t kMixBlockBytes = 64;
inline constexpr size_t kMinMixKeyBytes = 32;
inline constexpr size_t kMaxMixKeyBytes = 64;

class EntropyMixer {
 public:
  // `secret` must be 32..64 bytes (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<EntropyMixer> FromSecret(std::string secret);
  // The secret from `path` (mix_key_file): a regular file of at least 32
  // bytes, not accessible by group or others; its first 64 bytes are used.
  // Errors name the file.
  static absl::StatusOr<EntropyMixer> FromKeyFile(const std::string& path);
  // 32 bytes from getrandom().
  static absl::StatusOr<EntropyMixer> FromRandom();

  EntropyMixer(EntropyMixer&& other) noexcept;
  EntropyMixer& operator=(EntropyMixer&& other) noexcept;
  EntropyMixer(const EntropyMixer&) = delete;
  EntropyMixer& operator=(const EntropyMixer&) = delete;
  ~EntropyMixer();

  // The mixed output: 64 * ceil(in.size() / 64) bytes (empty for empty
  // input).
  std::vector<uint8_t> Mix(absl::Span<const uint8_t> in) const;

  size_t key_size() const { return secret_.size(); }

 private:
  explicit EntropyMixer(std::string secret) : secret_(std::move(secret)) {}
  void Wipe();

  std::string secret_;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_MIXER_H_
