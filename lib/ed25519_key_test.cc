#include "lib/ed25519_key.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using TempDir = ::hwcast::testutil::ScratchDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

Ed25519PrivateKey NewKey() {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

TEST(Ed25519KeyTest, SignAndVerify) {
  const Ed25519PrivateKey key = NewKey();
  const std::string message = "a serialized ReadingBatch";
  const std::string signature = key.Sign(message);
  EXPECT_EQ(signature.size(), kEd25519SignatureBytes);
  EXPECT_TRUE(key.public_key().Verify(message, signature));
}

TEST(Ed25519KeyTest, TamperedMessageOrSignatureFails) {
  const Ed25519PrivateKey key = NewKey();
  const std::string message = "a serialized ReadingBatch";
  const std::string signature = key.Sign(message);

  std::string tampered_message = message;
  tampered_message[3] ^= 0x01;
  EXPECT_FALSE(key.public_key().Verify(tampered_message, signature));

  std::string tampered_signature = signature;
  tampered_signature[10] ^= 0x80;
  EXPECT_FALSE(key.public_key().Verify(message, tampered_signature));

  EXPECT_FALSE(key.public_key().Verify(message, signature.substr(1)));
  EXPECT_FALSE(key.public_key().Verify(message, ""));
}

TEST(Ed25519KeyTest, OtherKeyDoesNotVerify) {
  const Ed25519PrivateKey a = NewKey();
  const Ed25519PrivateKey b = NewKey();
  EXPECT_NE(a.public_key().key_id(), b.public_key().key_id());
  EXPECT_FALSE(b.public_key().Verify("m", a.Sign("m")));
}

TEST(Ed25519KeyTest, KeyIdIsEightBytesAndStable) {
  const Ed25519PrivateKey key = NewKey();
  const Ed25519PublicKey& pub = key.public_key();
  EXPECT_EQ(pub.key_id().size(), kKeyIdBytes);
  EXPECT_EQ(pub.KeyIdHex().size(), 2 * kKeyIdBytes);
  EXPECT_EQ(Ed25519PublicKey::FromBytes(pub.bytes()).key_id(), pub.key_id());
}

TEST(Ed25519KeyTest, FromSeedIsDeterministic) {
  const std::string seed(32, '\x07');
  absl::StatusOr<Ed25519PrivateKey> a = Ed25519PrivateKey::FromSeed(seed);
  absl::StatusOr<Ed25519PrivateKey> b = Ed25519PrivateKey::FromSeed(seed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->public_key().bytes(), b->public_key().bytes());
  EXPECT_EQ(a->Sign("x"), b->Sign("x"));  // Ed25519 is deterministic.
  EXPECT_FALSE(Ed25519PrivateKey::FromSeed("short").ok());
}

TEST(Ed25519KeyTest, PublicKeyTextRoundTrip) {
  const Ed25519PrivateKey key = NewKey();
  const std::string text = key.public_key().ToText();
  EXPECT_THAT(text, StartsWith("ed25519:"));
  absl::StatusOr<Ed25519PublicKey> parsed = Ed25519PublicKey::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->bytes(), key.public_key().bytes());
  EXPECT_EQ(parsed->key_id(), key.public_key().key_id());

  // Spaces around it and a trailing comment are ignored.
  parsed = Ed25519PublicKey::Parse("  " + text + " rack1 collector\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->bytes(), key.public_key().bytes());
}

TEST(Ed25519KeyTest, PublicKeyParseErrors) {
  auto error = [](const std::string& text) {
    absl::StatusOr<Ed25519PublicKey> parsed = Ed25519PublicKey::Parse(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << text;
    return std::string(parsed.status().message());
  };
  const std::string good = NewKey().public_key().ToText();
  EXPECT_THAT(error(""), HasSubstr("empty"));
  EXPECT_THAT(error("ssh-ed25519 AAAA"), HasSubstr("must start with"));
  // A .pub line's comment is fine (see PublicKeyTextRoundTrip); a second
  // key or a second line in it is not.
  EXPECT_THAT(error(good + " " + NewKey().public_key().ToText()),
              HasSubstr("more than one key"));
  EXPECT_THAT(error(good + " rack1\nrack2"), HasSubstr("control character"));
  EXPECT_THAT(error("ed25519:!!!notbase64"), HasSubstr("base64"));
  // 31 bytes.
  EXPECT_THAT(error("ed25519:" + std::string(40, 'A') + "AA=="),
              HasSubstr("decodes to 31 bytes, expected 32"));
  // Truncated text.
  EXPECT_THAT(error(good.substr(0, good.size() - 4)), HasSubstr("bytes"));
  EXPECT_THAT(error("ed25519-private:AAAA"), HasSubstr("PRIVATE"));
}

TEST(Ed25519KeyTest, SaveAndLoadRoundTrip) {
  TempDir dir;
  const Ed25519PrivateKey key = NewKey();
  ASSERT_TRUE(key.Save(dir.Path("rack1"), "rack1 collector").ok());

  EXPECT_EQ(ModeOf(dir.Path("rack1.key")), 0600);
  EXPECT_EQ(ModeOf(dir.Path("rack1.pub")), 0644);
  const std::string key_text = ReadFile(dir.Path("rack1.key"));
  EXPECT_THAT(key_text, HasSubstr("private_key: ed25519-private:"));
  EXPECT_THAT(key_text,
              HasSubstr("public_key: " + key.public_key().ToText() + "\n"));
  EXPECT_EQ(ReadFile(dir.Path("rack1.pub")),
            key.public_key().ToText() + " rack1 collector\n");

  absl::StatusOr<Ed25519PrivateKey> loaded =
      Ed25519PrivateKey::Load(dir.Path("rack1.key"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->public_key().bytes(), key.public_key().bytes());
  EXPECT_TRUE(key.public_key().Verify("m", loaded->Sign("m")));

  absl::StatusOr<Ed25519PublicKey> pub =
      Ed25519PublicKey::Parse(ReadFile(dir.Path("rack1.pub")));
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->key_id(), key.public_key().key_id());
}

TEST(Ed25519KeyTest, SaveRefusesToOverwrite) {
  TempDir dir;
  const Ed25519PrivateKey first = NewKey();
  ASSERT_TRUE(first.Save(dir.Path("k"), "").ok());
  const std::string before = ReadFile(dir.Path("k.key"));

  const absl::Status again = NewKey().Save(dir.Path("k"), "");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr(dir.Path("k.key")));
  EXPECT_EQ(ReadFile(dir.Path("k.key")), before);

  // Only a .pub in the way: nothing is written either.
  WriteFile(dir.Path("p.pub"), "x\n", 0644);
  const absl::Status pub_exists = NewKey().Save(dir.Path("p"), "");
  EXPECT_EQ(pub_exists.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(pub_exists.message()), HasSubstr("p.pub"));
  EXPECT_FALSE(std::filesystem::exists(dir.Path("p.key")));
}

TEST(Ed25519KeyTest, SaveRejectsMultiLineComment) {
  TempDir dir;
  EXPECT_EQ(NewKey().Save(dir.Path("k"), "a\nb").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.Path("k.key")));
}

TEST(Ed25519KeyTest, LoadRefusesFilesReadableByOthers) {
  TempDir dir;
  ASSERT_TRUE(NewKey().Save(dir.Path("k"), "").ok());
  const std::string path = dir.Path("k.key");
  for (mode_t mode : {0640, 0604, 0660, 0606}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<Ed25519PrivateKey> loaded = Ed25519PrivateKey::Load(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kPermissionDenied)
        << std::oct << mode;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("chmod 600"));
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(Ed25519PrivateKey::Load(path).ok());
}

TEST(Ed25519KeyTest, LoadErrorsNameTheFileAndProblem) {
  TempDir dir;
  const absl::StatusOr<Ed25519PrivateKey> missing =
      Ed25519PrivateKey::Load(dir.Path("nope.key"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr(dir.Path("nope.key")));

  const std::string pub_text = NewKey().public_key().ToText();
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"", "no private_key"},
      {pub_text + "\n", "unknown key 'ed25519'"},
      {"just words\n", "expected \"private_key: ...\""},
      {"public_key: " + pub_text + "\n", "no private_key"},
      {"private_key: ed25519:AAAA\n", ":1: private_key must start with"},
      {"# c\nprivate_key: ed25519-private:%%%%\n", ":2: private_key is not"},
      {"private_key: ed25519-private:AAAA\n", "decodes to 3 bytes"},
      {"color: blue\n", "unknown key 'color'"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.Path("bad.key");
    WriteFile(path, c.text, 0600);
    absl::StatusOr<Ed25519PrivateKey> loaded = Ed25519PrivateKey::Load(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(c.expected))
        << c.text;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));
  }
}

TEST(Ed25519KeyTest, LoadDetectsMismatchedPublicKey) {
  TempDir dir;
  const Ed25519PrivateKey key = NewKey();
  std::string text = key.ToFileText();
  const std::string other = NewKey().public_key().ToText();
  const std::string mine = key.public_key().ToText();
  text.replace(text.find(mine), mine.size(), other);
  WriteFile(dir.Path("k.key"), text, 0600);
  absl::StatusOr<Ed25519PrivateKey> loaded =
      Ed25519PrivateKey::Load(dir.Path("k.key"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("does not belong"));
}

TEST(Ed25519KeyTest, MovedKeyStillSigns) {
  Ed25519PrivateKey a = NewKey();
  const Ed25519PublicKey pub = a.public_key();
  Ed25519PrivateKey b = std::move(a);
  EXPECT_TRUE(pub.Verify("m", b.Sign("m")));
  Ed25519PrivateKey c = NewKey();
  c = std::move(b);
  EXPECT_TRUE(pub.Verify("m", c.Sign("m")));
}

}  // namespace
}  // namespace hwcast
