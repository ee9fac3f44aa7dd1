// The BatchSigner that signs batches with the collector's Ed25519 key.
#ifndef HWCAST_SERVICES_COLLECTOR_ED25519_BATCH_SIGNER_H_
#define HWCAST_SERVICES_COLLECTOR_ED25519_BATCH_SIGNER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/ed25519_key.h"
#include "services/collector/batch_signer.h"

namespace hwcast::collector {

// Sets SignedBatch.signature to the Ed25519 signature of exactly
// `batch_bytes` and SignedBatch.key_id to the key's id, so that relays and
// actuators can find the key in their trust files.
//
// Thread-safe (the key is immutable); owns the key, which it wipes when
// destroyed. Signing takes tens of microseconds and never blocks.
class Ed25519BatchSigner final : public BatchSigner {
 public:
  explicit Ed25519BatchSigner(Ed25519PrivateKey key);

  // Loads a key file written by `hwcastctl keygen` (Ed25519PrivateKey::Load:
  // refuses files readable by group or others). Errors name the file.
  static absl::StatusOr<std::unique_ptr<Ed25519BatchSigner>> FromFile(
      const std::string& path);

  absl::Status Sign(std::string_view batch_bytes,
                    hwcast::v1::SignedBatch* signed_batch) override;

  const Ed25519PublicKey& public_key() const { return key_.public_key(); }

 private:
  const Ed25519PrivateKey key_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_ED25519_BATCH_SIGNER_H_
