#include "services/actuator/entropy/entropy_mixer.h"

#include <sodium.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/posix_util.h"

namespace hwcast::actuator::entropy {
namespace {

// Larger files are refused (ReadSecretFile); only the first 64 bytes count.
constexpr size_t kMaxKeyFileBytes = 4096;

absl::Status InitSodiumOnce() {
  static const int rc = sodium_init();
  if (rc < 0) return absl::InternalError("libsodium failed to initialize");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EntropyMixer> EntropyMixer::FromSecret(std::string secret) {
  if (secret.size() < kMinMixKeyBytes || secret.size() > kMaxMixKeyBytes) {
    const size_t size = secret.size();
    sodium_memzero(secret.data(), secret.size());
    return absl::InvalidArgumentError(
        absl::StrCat("entropy mixing key: ", size, " bytes, must be ",
                     kMinMixKeyBytes, "..", kMaxMixKeyBytes));
  }
  if (absl::Status s = InitSodiumOnce(); !s.ok()) return s;
  return EntropyMixer(std::move(secret));
}

absl::StatusOr<EntropyMixer> EntropyMixer::FromKeyFile(
    const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadSecretFile(path, "entropy mix_key_file", kMaxKeyFileBytes);
  if (!text.ok()) return text.status();
  if (text->size() < kMinMixKeyBytes) {
    const size_t size = text->size();
    sodium_memzero(text->data(), text->size());
    return absl::InvalidArgumentError(absl::StrCat(
        "entropy mix_key_file ", path, " holds ", size,
        " bytes; it needs at least ", kMinMixKeyBytes,
        " (e.g. head -c 64 /dev/urandom > ", path, "; chmod 600 ", path, ")"));
  }
  std::string secret = text->substr(0, kMaxMixKeyBytes);
  sodium_memzero(text->data(), text->size());
  return FromSecret(std::move(secret));
}

absl::StatusOr<EntropyMixer> EntropyMixer::FromRandom() {
  std::string secret(kMinMixKeyBytes, '\0');
  size_t done = 0;
  while (done < secret.size()) {
    const ssize_t n =
        ::getrandom(secret.data() + done, secret.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "getrandom for the entropy mixing key");
    }
    done += static_cast<size_t>(n);
  }
  return FromSecret(std::move(secret));
}

EntropyMixer::EntropyMixer(EntropyMixer&& other) noexcept
    : secret_(std::move(other.secret_)) {
  other.Wipe();
}

EntropyMixer& EntropyMixer::operator=(EntropyMixer&& other) noexcept {
  if (this != &other) {
    Wipe();
    secret_ = std::move(other.secret_);
    other.Wipe();
  }
  return *this;
}

EntropyMixer::~EntropyMixer() { Wipe(); }

void EntropyMixer::Wipe() {
  if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
  secret_.clear();
}

std::vector<uint8_t> EntropyMixer::Mix(absl::Span<const uint8_t> in) const {
  const size_t blocks = (in.size() + kMixBlockBytes - 1) / kMixBlockBytes;
  std::vector<uint8_t> out(blocks * crypto_generichash_BYTES_MAX);
  static_assert(crypto_generichash_BYTES_MAX == 64);
  for (size_t i = 0; i < blocks; ++i) {
    uint8_t index[8];
    for (int b = 0; b < 8; ++b) {
      index[b] = static_cast<uint8_t>(static_cast<uint64_t>(i) >> (8 * b));
    }
    const size_t start = i * kMixBlockBytes;
    const size_t len = std::min(kMixBlockBytes, in.size() - start);
    crypto_generichash_state state;
    crypto_generichash_init(
        &state, reinterpret_cast<const unsigned char*>(secret_.data()),
        secret_.size(), crypto_generichash_BYTES_MAX);
    crypto_generichash_update(&state,
                              reinterpret_cast<const unsigned char*>(kMixLabel),
                              sizeof(kMixLabel) - 1);
    crypto_generichash_update(&state, index, sizeof(index));
    crypto_generichash_update(&state, in.data() + start, len);
    crypto_generichash_final(&state, out.data() + i * 64,
                             crypto_generichash_BYTES_MAX);
    sodium_memzero(&state, sizeof(state));
  }
  return out;
}

}  // namespace hwcast::actuator::entropy
