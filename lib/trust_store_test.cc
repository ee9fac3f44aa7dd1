#include "lib/trust_store.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/reject_reason.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast {
namespace {

using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::TrustConfig;
using ::testing::HasSubstr;

class TempDir : public ::hwcast::testutil::ScratchDir {
 public:
  TempDir() : ScratchDir("trust_store_test") {}
  // Writes `text` (a leading newline dropped, so line 1 is the first line of
  // a raw string) to NAME and returns its path.
  std::string Write(const std::string& name, std::string text) const {
    if (!text.empty() && text.front() == '\n') text.erase(0, 1);
    return ScratchDir::Write(name, text);
  }
};

std::string NewPublicKey() {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  EXPECT_TRUE(key.ok());
  return key->public_key().ToText();
}

ReadingBatch Batch(
    const std::string& collector_id,
    std::vector<std::pair<std::string, std::string>> host_and_source) {
  ReadingBatch batch;
  batch.set_collector_id(collector_id);
  for (const auto& [host, source] : host_and_source) {
    hwcast::v1::Reading* r = batch.add_readings();
    r->set_host(host);
    r->set_source_id(source);
  }
  return batch;
}

TEST(TrustPatternTest, Matching) {
  EXPECT_TRUE(MatchesTrustPattern("*", ""));
  EXPECT_TRUE(MatchesTrustPattern("*", "anything"));
  EXPECT_TRUE(MatchesTrustPattern("rack1", "rack1"));
  EXPECT_FALSE(MatchesTrustPattern("rack1", "rack10"));
  EXPECT_FALSE(MatchesTrustPattern("rack1", "rack"));
  EXPECT_TRUE(MatchesTrustPattern("rack*", "rack"));
  EXPECT_TRUE(MatchesTrustPattern("rack*", "rack17"));
  EXPECT_FALSE(MatchesTrustPattern("rack*", "rac"));
  EXPECT_FALSE(MatchesTrustPattern("rack*", "xrack1"));
  EXPECT_TRUE(MatchesTrustPattern("hwmon/*", "hwmon/coretemp/temp1"));
}

TEST(TrustStoreTest, LoadsAFile) {
  TempDir dir;
  const std::string k1 = NewPublicKey();
  const std::string k2 = NewPublicKey();
  const std::string path =
      dir.Write("trust.yaml", absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                                           k1, R"yaml( rack1 collector
    name: rack1
    collector_ids: [rack1]
    hosts: [rack1]
    sources: ["hwmon*", room]
  - public_key: )yaml",
                                           k2, R"yaml(
    collector_ids: ["lab-*"]
    hosts: ["*"]
)yaml"));
  absl::StatusOr<std::unique_ptr<TrustStore>> store = TrustStore::Load(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 2u);

  const Ed25519PublicKey key1 = *Ed25519PublicKey::Parse(k1);
  const Ed25519PublicKey key2 = *Ed25519PublicKey::Parse(k2);
  const TrustStore::Entry* e1 = (*store)->Find(key1.key_id());
  ASSERT_NE(e1, nullptr);
  EXPECT_EQ(e1->name, "rack1");
  EXPECT_EQ(e1->key.bytes(), key1.bytes());
  EXPECT_THAT(e1->collector_ids, testing::ElementsAre("rack1"));
  EXPECT_THAT(e1->sources, testing::ElementsAre("hwmon*", "room"));

  const TrustStore::Entry* e2 = (*store)->Find(key2.key_id());
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(e2->name, key2.KeyIdHex());                 // default name
  EXPECT_THAT(e2->sources, testing::ElementsAre("*"));  // default sources

  EXPECT_EQ((*store)->Find("12345678"), nullptr);
  EXPECT_EQ((*store)->Find(""), nullptr);
}

TEST(TrustStoreTest, ErrorsNameFileLineAndKey) {
  TempDir dir;
  const std::string k1 = NewPublicKey();
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const Case cases[] = {
      // Validation errors, located at the key's line.
      {R"yaml(
collectors:
  - public_key: ed25519:not-base64
    collector_ids: [a]
    hosts: [a]
)yaml",
       "trust.yaml:2:5: collectors[0].public_key: public key is not valid "
       "base64"},
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: [a]
    hosts: [a]
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: [b]
    hosts: [b]
)yaml"),
       "trust.yaml:5:5: collectors[1].public_key: same key as collectors[0]"},
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    hosts: [a]
)yaml"),
       "trust.yaml:2:5: collectors[0].collector_ids: required"},
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: [a]
    hosts: []
)yaml"),
       "trust.yaml:4:5: collectors[0].hosts: required"},
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: [a]
    hosts:
      - ok
      - ""
)yaml"),
       "trust.yaml:6:9: collectors[0].hosts[1]: empty pattern"},
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: ["*rack"]
    hosts: [a]
)yaml"),
       "collectors[0].collector_ids[0]: '*rack': '*' may only end"},
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: [a]
    hosts: [a]
    sources: ["a*b"]
)yaml"),
       "trust.yaml:5:15: collectors[0].sources[0]: 'a*b'"},
      {R"yaml(
collectors:
  - collector_ids: [a]
    hosts: [a]
)yaml",
       "trust.yaml:2:5: collectors[0].public_key: required"},
      {"collectors: []\n", "trust.yaml:1:1: collectors: no trusted"},
      // Loader errors (unknown keys, wrong types) come with line and column.
      {absl::StrCat(R"yaml(
collectors:
  - public_key: )yaml",
                    k1, R"yaml(
    collector_ids: [a]
    hosts: [a]
    host: [a]
)yaml"),
       "trust.yaml:5:5: key 'collectors[0].host'"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.Write("trust.yaml", c.yaml);
    absl::StatusOr<std::unique_ptr<TrustStore>> store = TrustStore::Load(path);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument)
        << c.yaml;
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(c.expected))
        << c.yaml;
  }
}

TEST(TrustStoreTest, MissingFileIsNamed) {
  TempDir dir;
  const std::string path = dir.Write("x", "") + ".missing";
  absl::StatusOr<std::unique_ptr<TrustStore>> store = TrustStore::Load(path);
  EXPECT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
}

class AuthorizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TrustConfig config;
    hwcast::v1::TrustedCollector* c = config.add_collectors();
    c->set_public_key(NewPublicKey());
    c->set_name("rack1");
    c->add_collector_ids("rack1");
    c->add_collector_ids("rack1-backup");
    c->add_hosts("rack1");
    c->add_hosts("rack1-bmc*");
    c->add_sources("hwmon*");
    c->add_sources("room");
    absl::StatusOr<std::unique_ptr<TrustStore>> store =
        TrustStore::Create(config);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    entry_ = store_->Find(
        Ed25519PublicKey::Parse(config.collectors(0).public_key())->key_id());
    ASSERT_NE(entry_, nullptr);
  }

  absl::Status Authorize(const ReadingBatch& batch) {
    return TrustStore::Authorize(*entry_, batch);
  }

  std::unique_ptr<TrustStore> store_;
  const TrustStore::Entry* entry_ = nullptr;
};

TEST_F(AuthorizeTest, AllowsWhatTheEntryListsAndEmptyBatches) {
  EXPECT_TRUE(Authorize(Batch("rack1", {})).ok());
  EXPECT_TRUE(Authorize(Batch("rack1-backup", {{"rack1", "room"}})).ok());
  EXPECT_TRUE(Authorize(Batch("rack1", {{"rack1", "hwmon/coretemp/temp1"},
                                        {"rack1-bmc2", "hwmon"},
                                        {"rack1", "room"}}))
                  .ok());
}

TEST_F(AuthorizeTest, RefusesCollectorId) {
  const absl::Status s = Authorize(Batch("rack2", {{"rack1", "room"}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnauthorized);
  EXPECT_EQ(s.message(), "key 'rack1' may not speak for collector_id 'rack2'");
}

TEST_F(AuthorizeTest, RefusesAnyReadingsHost) {
  const absl::Status s =
      Authorize(Batch("rack1", {{"rack1", "room"}, {"db2", "room"}}));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnauthorized);
  EXPECT_EQ(s.message(), "key 'rack1' may not speak for host 'db2'");
}

TEST_F(AuthorizeTest, RefusesSource) {
  const absl::Status s = Authorize(Batch("rack1", {{"rack1", "roomy"}}));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnauthorized);
  EXPECT_EQ(s.message(), "key 'rack1' may not speak for source 'roomy'");
}

TEST(TrustStoreCreateTest, ErrorsNameTheKeyPath) {
  TrustConfig config;
  hwcast::v1::TrustedCollector* c = config.add_collectors();
  c->set_public_key(NewPublicKey());
  c->add_collector_ids("a");
  c->add_hosts("a");
  c = config.add_collectors();
  c->set_public_key(NewPublicKey());
  c->add_hosts("a");
  absl::StatusOr<std::unique_ptr<TrustStore>> store =
      TrustStore::Create(config);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(store.status().message()),
              testing::StartsWith("collectors[1].collector_ids: required"));
}

}  // namespace
}  // namespace hwcast
