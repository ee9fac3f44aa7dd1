#include "services/collector/ed25519_batch_signer.h"

#include <utility>

#include "absl/strings/string_view.h"

namespace hwcast::collector {

Ed25519BatchSigner::Ed25519BatchSigner(Ed25519PrivateKey key)
    : key_(std::move(key)) {}

absl::StatusOr<std::unique_ptr<Ed25519BatchSigner>>
Ed25519BatchSigner::FromFile(const std::string& path) {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Load(path);
  if (!key.ok()) return key.status();
  return std::make_unique<Ed25519BatchSigner>(*std::move(key));
}

absl::Status Ed25519BatchSigner::Sign(std::string_view batch_bytes,
                                      hwcast::v1::SignedBatch* signed_batch) {
  signed_batch->set_signature(
      key_.Sign(absl::string_view(batch_bytes.data(), batch_bytes.size())));
  signed_batch->set_key_id(key_.public_key().key_id());
  return absl::OkStatus();
}

}  // namespace hwcast::collector
