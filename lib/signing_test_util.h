// Test helpers for signed batches: a trust store holding one key, and
// signing a batch as a collector does. For tests and benchmarks only.
//
// Thread-compatible; no state.
#ifndef HWCAST_LIB_SIGNING_TEST_UTIL_H_
#define HWCAST_LIB_SIGNING_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/ed25519_key.h"
#include "lib/trust_store.h"

namespace hwcast::signing_test {

// The TrustConfig entry for `key`, named `name`, allowed to sign as
// `collector_ids` and report `hosts` (any source).
inline hwcast::v1::TrustedCollector TrustEntry(
    const Ed25519PrivateKey& key, const std::string& name,
    const std::vector<std::string>& collector_ids,
    const std::vector<std::string>& hosts) {
  hwcast::v1::TrustedCollector entry;
  entry.set_public_key(key.public_key().ToText());
  entry.set_name(name);
  for (const std::string& id : collector_ids) entry.add_collector_ids(id);
  for (const std::string& host : hosts) entry.add_hosts(host);
  return entry;
}

// A TrustStore trusting only `key` (see TrustEntry).
inline absl::StatusOr<std::unique_ptr<TrustStore>> TrustOnly(
    const Ed25519PrivateKey& key, const std::string& name,
    const std::vector<std::string>& collector_ids,
    const std::vector<std::string>& hosts) {
  hwcast::v1::TrustConfig config;
  *config.add_collectors() = TrustEntry(key, name, collector_ids, hosts);
  return TrustStore::Create(config);
}

// Signs the bytes already in `signed_batch->batch()` with `key`.
inline void SignInPlace(const Ed25519PrivateKey& key,
                        hwcast::v1::SignedBatch* signed_batch) {
  signed_batch->set_signature(key.Sign(signed_batch->batch()));
  signed_batch->set_key_id(key.public_key().key_id());
}

// `batch` serialized and signed with `key`, as a collector sends it.
inline hwcast::v1::SignedBatch SignBatch(const hwcast::v1::ReadingBatch& batch,
                                         const Ed25519PrivateKey& key) {
  hwcast::v1::SignedBatch signed_batch;
  batch.SerializeToString(signed_batch.mutable_batch());
  SignInPlace(key, &signed_batch);
  return signed_batch;
}

}  // namespace hwcast::signing_test

#endif  // HWCAST_LIB_SIGNING_TEST_UTIL_H_
