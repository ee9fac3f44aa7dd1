// Ed25519 keys for signing reading batches (libsodium), and their files.
//
// Files written by `hwcastctl keygen --out NAME`:
//   NAME.key  mode 0600, lines:
//               # hwcast Ed25519 signing key. Keep it secret.
//               private_key: ed25519-private:BASE64(32-byte seed)
//               public_key: ed25519:BASE64(32-byte public key)
//   NAME.pub  one line "ed25519:BASE64 NAME" (the text after the key is a
//             comment), to paste into trust files as `public_key`.
// The key id (SignedBatch.key_id) is the first 8 bytes of BLAKE2b-256 of the
// 32-byte public key; KeyIdHex() prints it as 16 hex digits.
//
// Thread-safety: Ed25519PrivateKey and Ed25519PublicKey are immutable after
// construction and safe to use from any thread. InitSodium() must run first
// (the factories call it).
#ifndef HWCAST_LIB_ED25519_KEY_H_
#define HWCAST_LIB_ED25519_KEY_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwcast {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;
inline constexpr size_t kKeyIdBytes = 8;

// Calls sodium_init() once; INTERNAL error if libsodium can not start.
absl::Status InitSodium();

class Ed25519PublicKey {
 public:
  // Parses "ed25519:BASE64". Surrounding spaces and a trailing comment after
  // a space are ignored, so the whole .pub line may be pasted on purpose; a
  // comment holding a line break or another key is refused.
  // INVALID_ARGUMENT names what is wrong.
  static absl::StatusOr<Ed25519PublicKey> Parse(absl::string_view text);
  static Ed25519PublicKey FromBytes(
      const std::array<uint8_t, kEd25519PublicKeyBytes>& bytes);

  // "ed25519:BASE64".
  std::string ToText() const;
  // kKeyIdBytes raw bytes.
  const std::string& key_id() const { return key_id_; }
  // key_id as 16 lower-case hex digits.
  std::string KeyIdHex() const;
  const std::array<uint8_t, kEd25519PublicKeyBytes>& bytes() const {
    return bytes_;
  }

  // True if `signature` is a valid Ed25519 signature of `message`.
  bool Verify(absl::string_view message, absl::string_view signature) const;

 private:
  friend class Ed25519PrivateKey;
  Ed25519PublicKey() = default;
  std::array<uint8_t, kEd25519PublicKeyBytes> bytes_{};
  std::string key_id_;
};

class Ed25519PrivateKey {
 public:
  // A fresh random key pair.
  static absl::StatusOr<Ed25519PrivateKey> Generate();
  // Reads a NAME.key file. Refuses (PERMISSION_DENIED, naming the file and
  // its mode, and saying "chmod 600") a file readable or writable by group or
  // others; NOT_FOUND / INVALID_ARGUMENT name the file and the problem.
  static absl::StatusOr<Ed25519PrivateKey> Load(const std::string& path);

  Ed25519PrivateKey(Ed25519PrivateKey&& other) noexcept;
  Ed25519PrivateKey& operator=(Ed25519PrivateKey&& other) noexcept;
  Ed25519PrivateKey(const Ed25519PrivateKey&) = delete;
  Ed25519PrivateKey& operator=(const Ed25519PrivateKey&) = delete;
  ~Ed25519PrivateKey();  // wipes the secret

  // Writes `path_prefix`.key (created 0600) and `path_prefix`.pub (0644)
  // with `comment` after the key. Refuses (ALREADY_EXISTS, naming the file)
  // if either file exists, and writes nothing then. `comment` must be one
  // line.
  absl::Status Save(const std::string& path_prefix,
                    absl::string_view comment) const;

  const Ed25519PublicKey& public_key() const { return public_key_; }
  // The 64-byte detached signature of `message`.
  std::string Sign(absl::string_view message) const;

  // A key from its 32-byte seed (tests, Load). INVALID_ARGUMENT if the seed
  // is not 32 bytes.
  static absl::StatusOr<Ed25519PrivateKey> FromSeed(absl::string_view seed);

  // The key file's text (see the top of this file). Holds the secret.
  std::string ToFileText() const;

 private:
  Ed25519PrivateKey() = default;
  void Wipe();
  // libsodium's 64-byte secret key (seed || public key).
  std::string secret_;
  Ed25519PublicKey public_key_;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_ED25519_KEY_H_
