// The trusted collector keys of a relay or actuator, loaded from a trust
// file (YAML mapped onto hwcast.v1.TrustConfig), and what each key may speak
// for.
//
// Thread-safety: immutable after Load()/Create(); safe from any thread.
#ifndef HWCAST_LIB_TRUST_STORE_H_
#define HWCAST_LIB_TRUST_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/ed25519_key.h"

namespace hwcast {

class TrustStore {
 public:
  struct Entry {
    Ed25519PublicKey key;
    // Trust entry's name, or the key id in hex.
    std::string name;
    std::vector<std::string> collector_ids;
    std::vector<std::string> hosts;
    std::vector<std::string> sources;
  };

  // Reads and validates a trust file. Errors name the file, line and key
  // ("trust.yaml:4:5: collectors[0].public_key: ...").
  static absl::StatusOr<std::unique_ptr<TrustStore>> Load(
      const std::string& path);
  // Validates `config`; errors (INVALID_ARGUMENT) name the key path
  // (collectors[i].field). Rules: at least one entry; public_key parses
  // (Ed25519PublicKey::Parse) and appears once; collector_ids and hosts
  // non-empty; every pattern non-empty, '*' only as the whole pattern or its
  // last character; name without control characters. Defaults: name = key
  // id in hex, sources = ["*"].
  static absl::StatusOr<std::unique_ptr<TrustStore>> Create(
      const hwcast::v1::TrustConfig& config);

  // The entry for SignedBatch.key_id, or null.
  const Entry* Find(const std::string& key_id) const;

  // OK if `entry` may sign `batch`: its collector_id, and every reading's
  // host and source_id match the entry's patterns. Otherwise a Rejection
  // (PERMISSION_DENIED, kUnauthorized) naming the first field that is not
  // allowed, e.g. "key 'rack1' may not speak for host 'db2'".
  static absl::Status Authorize(const Entry& entry,
                                const hwcast::v1::ReadingBatch& batch);

  size_t size() const { return by_key_id_.size(); }

 private:
  TrustStore() = default;
  absl::flat_hash_map<std::string, Entry> by_key_id_;
};

// True if `value` matches `pattern`: exact, "prefix*" or "*".
bool MatchesTrustPattern(const std::string& pattern, const std::string& value);

}  // namespace hwcast

#endif  // HWCAST_LIB_TRUST_STORE_H_
