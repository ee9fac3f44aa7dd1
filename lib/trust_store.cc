#include "lib/trust_store.h"

#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "lib/config_loader.h"
#include "lib/reject_reason.h"

namespace hwcast {
namespace {

using ::hwcast::v1::TrustConfig;
using ::hwcast::v1::TrustedCollector;

absl::Status Invalid(absl::string_view key, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", message));
}

// Checks one list of patterns; `what` names the field for the "required"
// message.
absl::Status CheckPatterns(
    const std::string& key,
    const google::protobuf::RepeatedPtrField<std::string>& patterns,
    bool required, absl::string_view example) {
  if (patterns.empty() && required) {
    return Invalid(key, absl::StrCat("required: list what this key may speak "
                                     "for, e.g. ",
                                     example, " (\"*\" for anything)"));
  }
  for (int i = 0; i < patterns.size(); ++i) {
    const std::string& pattern = patterns[i];
    const std::string item_key = absl::StrCat(key, "[", i, "]");
    if (pattern.empty()) return Invalid(item_key, "empty pattern");
    for (char c : pattern) {
      if (absl::ascii_iscntrl(c)) {
        return Invalid(item_key, "pattern contains a control character");
      }
    }
    const size_t star = pattern.find('*');
    if (star != std::string::npos && star != pattern.size() - 1) {
      return Invalid(item_key,
                     absl::StrCat("'", pattern,
                                  "': '*' may only end a pattern (\"prefix*\") "
                                  "or be the whole pattern (\"*\")"));
    }
  }
  return absl::OkStatus();
}

bool MatchesAny(const std::vector<std::string>& patterns,
                const std::string& value) {
  for (const std::string& pattern : patterns) {
    if (MatchesTrustPattern(pattern, value)) return true;
  }
  return false;
}

}  // namespace

bool MatchesTrustPattern(const std::string& pattern, const std::string& value) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*') {
    return absl::StartsWith(
        value, absl::string_view(pattern).substr(0, pattern.size() - 1));
  }
  return pattern == value;
}

absl::StatusOr<std::unique_ptr<TrustStore>> TrustStore::Load(
    const std::string& path) {
  TrustConfig config;
  ConfigKeyLocations locations;
  // Errors already read "FILE:LINE:COL: key '...': ...".
  if (absl::Status s = LoadYamlConfigFile(path, &config, &locations); !s.ok()) {
    // The loader speaks of config files; this one is a trust file.
    return absl::Status(
        s.code(), absl::StrReplaceAll(
                      s.message(),
                      {{"cannot read config file", "cannot read trust file"}}));
  }
  absl::StatusOr<std::unique_ptr<TrustStore>> store = Create(config);
  if (!store.ok()) {
    // Create's messages start with the key path; point at its line.
    const std::string message(store.status().message());
    const std::string where =
        LocateConfigKey(locations, message.substr(0, message.find(": ")));
    return absl::Status(
        store.status().code(),
        absl::StrCat(path, where.empty() ? "" : ":", where, ": ", message));
  }
  return store;
}

absl::StatusOr<std::unique_ptr<TrustStore>> TrustStore::Create(
    const TrustConfig& config) {
  if (config.collectors().empty()) {
    return Invalid("collectors",
                   "no trusted collector keys; every batch would be rejected "
                   "(add the public keys from `hwcastctl keygen`)");
  }
  std::unique_ptr<TrustStore> store(new TrustStore());
  // key id -> index of the entry that has it.
  std::map<std::string, int> seen;
  for (int i = 0; i < config.collectors_size(); ++i) {
    const TrustedCollector& c = config.collectors(i);
    const std::string key = absl::StrCat("collectors[", i, "]");
    if (c.public_key().empty()) {
      return Invalid(absl::StrCat(key, ".public_key"),
                     "required (\"ed25519:BASE64\" from the collector's .pub "
                     "file)");
    }
    absl::StatusOr<Ed25519PublicKey> public_key =
        Ed25519PublicKey::Parse(c.public_key());
    if (!public_key.ok()) {
      return Invalid(absl::StrCat(key, ".public_key"),
                     public_key.status().message());
    }
    auto [it, inserted] = seen.emplace(public_key->key_id(), i);
    if (!inserted) {
      return Invalid(absl::StrCat(key, ".public_key"),
                     absl::StrCat("same key as collectors[", it->second,
                                  "]; merge the two entries"));
    }
    for (char ch : c.name()) {
      if (absl::ascii_iscntrl(ch)) {
        return Invalid(absl::StrCat(key, ".name"),
                       "must not contain control characters");
      }
    }
    if (absl::Status s = CheckPatterns(absl::StrCat(key, ".collector_ids"),
                                       c.collector_ids(), /*required=*/true,
                                       "[\"rack1\"] or [\"rack*\"]");
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckPatterns(absl::StrCat(key, ".hosts"), c.hosts(),
                          /*required=*/true, "[\"rack1\"] or [\"rack*\"]");
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckPatterns(absl::StrCat(key, ".sources"), c.sources(),
                          /*required=*/false, "[\"hwmon\"]");
        !s.ok()) {
      return s;
    }
    Entry entry{*public_key,
                c.name().empty() ? public_key->KeyIdHex() : c.name(),
                {c.collector_ids().begin(), c.collector_ids().end()},
                {c.hosts().begin(), c.hosts().end()},
                {c.sources().begin(), c.sources().end()}};
    if (entry.sources.empty()) entry.sources.push_back("*");
    store->by_key_id_.emplace(public_key->key_id(), std::move(entry));
  }
  return store;
}

const TrustStore::Entry* TrustStore::Find(const std::string& key_id) const {
  auto it = by_key_id_.find(key_id);
  return it == by_key_id_.end() ? nullptr : &it->second;
}

absl::Status TrustStore::Authorize(const Entry& entry,
                                   const hwcast::v1::ReadingBatch& batch) {
  auto refuse = [&entry](absl::string_view what, const std::string& value) {
    return Rejection(absl::StatusCode::kPermissionDenied,
                     RejectReason::kUnauthorized,
                     absl::StrCat("key '", entry.name, "' may not speak for ",
                                  what, " '", value, "'"));
  };
  if (!MatchesAny(entry.collector_ids, batch.collector_id())) {
    return refuse("collector_id", batch.collector_id());
  }
  for (const hwcast::v1::Reading& reading : batch.readings()) {
    if (!MatchesAny(entry.hosts, reading.host())) {
      return refuse("host", reading.host());
    }
    if (!MatchesAny(entry.sources, reading.source_id())) {
      return refuse("source", reading.source_id());
    }
  }
  return absl::OkStatus();
}

}  // namespace hwcast
