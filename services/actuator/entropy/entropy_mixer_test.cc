#include "services/actuator/entropy/entropy_mixer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast::actuator::entropy {
namespace {

using ::testing::HasSubstr;

std::string Hex(const std::vector<uint8_t>& v) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
}

std::vector<uint8_t> Input(size_t n) {
  std::vector<uint8_t> in(n);
  for (size_t i = 0; i < n; ++i) in[i] = static_cast<uint8_t>((i * 7) % 256);
  return in;
}

std::string KeyBytes(int first, int n) {
  std::string key;
  for (int i = 0; i < n; ++i) key.push_back(static_cast<char>(first + i));
  return key;
}

// Computed independently with Python's hashlib:
//   def mix(key, data):
//     return b"".join(hashlib.blake2b(
//         b"hwcast-entropy-mix-v1" + struct.pack("<Q", i) +
//         data[64*i:64*i+64], key=key, digest_size=64).digest()
//       for i in range((len(data) + 63) // 64))
//   mix(bytes(range(1, 41)), bytes((i * 7) % 256 for i in range(130)))
constexpr char kVector130[] =
    "f09eba3ada91163d5738d1e473726bfb13715bc5ec7b9ea857d5107083ccc9ca24fbd19d"
    "9006a152731b5a0cedc9a555d77b6df7548c89cba7fa64fcf9262143c35d9d47ac1ca175"
    "909084e39fc0ea0b6a2679a940a69d6a4fe87245060581072edc8427597566f76e6b4f6b"
    "6ae7af1bba14dd1b6503c5271efac0c09c3aed22f2aa61df4e5e9151c4cf23169b95cbd9"
    "2e6dc6945e935e44052c75dd2f29adf31e4f9c62f38130c04c1fb52d76af89ab7564fbd0"
    "886f14f9db987076d9d1acf0";
//   mix(bytes(range(64)), b"abc")
constexpr char kVectorAbc[] =
    "c4b1075d8bc6aab1ff50d8624b25448249dae6ddc36299ac270a44c77bf1872ae249af89"
    "8c56625bf5839051ee89c47a79fcea428dbcb73475d8d77de16bf908";

TEST(EntropyMixerTest, MatchesTheIndependentlyComputedVectors) {
  absl::StatusOr<EntropyMixer> mixer =
      EntropyMixer::FromSecret(KeyBytes(1, 40));
  ASSERT_TRUE(mixer.ok()) << mixer.status();
  const std::vector<uint8_t> out = mixer->Mix(Input(130));
  EXPECT_EQ(out.size(), 192u);
  EXPECT_EQ(Hex(out), kVector130);

  absl::StatusOr<EntropyMixer> mixer64 =
      EntropyMixer::FromSecret(KeyBytes(0, 64));
  ASSERT_TRUE(mixer64.ok()) << mixer64.status();
  const std::string abc = "abc";
  EXPECT_EQ(Hex(mixer64->Mix(absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>(abc.data()), abc.size()))),
            kVectorAbc);
}

TEST(EntropyMixerTest, OutputLengthIsWholeBlocks) {
  absl::StatusOr<EntropyMixer> mixer =
      EntropyMixer::FromSecret(KeyBytes(1, 32));
  ASSERT_TRUE(mixer.ok());
  EXPECT_TRUE(mixer->Mix({}).empty());
  EXPECT_EQ(mixer->Mix(Input(1)).size(), 64u);
  EXPECT_EQ(mixer->Mix(Input(64)).size(), 64u);
  EXPECT_EQ(mixer->Mix(Input(65)).size(), 128u);
  EXPECT_EQ(mixer->Mix(Input(2500)).size(), 2560u);
}

TEST(EntropyMixerTest, DependsOnTheKeyAndTheBlockIndex) {
  absl::StatusOr<EntropyMixer> a = EntropyMixer::FromSecret(KeyBytes(1, 32));
  absl::StatusOr<EntropyMixer> b = EntropyMixer::FromSecret(KeyBytes(2, 32));
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<uint8_t> in(128, 0x5a);  // two identical blocks
  const std::vector<uint8_t> out_a = a->Mix(in);
  EXPECT_NE(out_a, b->Mix(in));
  // Same block content, different index: different output.
  EXPECT_FALSE(
      std::equal(out_a.begin(), out_a.begin() + 64, out_a.begin() + 64));
}

TEST(EntropyMixerTest, SecretSizeIsChecked) {
  EXPECT_FALSE(EntropyMixer::FromSecret(std::string(31, 'k')).ok());
  EXPECT_FALSE(EntropyMixer::FromSecret(std::string(65, 'k')).ok());
  EXPECT_TRUE(EntropyMixer::FromSecret(std::string(32, 'k')).ok());
  absl::StatusOr<EntropyMixer> random = EntropyMixer::FromRandom();
  ASSERT_TRUE(random.ok()) << random.status();
  EXPECT_EQ(random->key_size(), 32u);
  absl::StatusOr<EntropyMixer> other = EntropyMixer::FromRandom();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(random->Mix(Input(10)), other->Mix(Input(10)));
}

class KeyFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content,
                    mode_t mode) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }

  const ::hwcast::testutil::ScratchDir scratch_{"mixkey"};
  const std::filesystem::path dir_ = scratch_.root();
};

TEST_F(KeyFileTest, UsesTheFirst64Bytes) {
  const std::string key = KeyBytes(0, 64);
  const std::string path = Write("long", key + std::string(100, 'x'), 0600);
  absl::StatusOr<EntropyMixer> from_file = EntropyMixer::FromKeyFile(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->key_size(), 64u);
  const std::string abc = "abc";
  EXPECT_EQ(Hex(from_file->Mix(absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>(abc.data()), abc.size()))),
            kVectorAbc);
}

TEST_F(KeyFileTest, RefusesShortOrReadableOrMissingFiles) {
  const std::string short_path = Write("short", std::string(31, 'k'), 0600);
  absl::StatusOr<EntropyMixer> m = EntropyMixer::FromKeyFile(short_path);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr(short_path));
  EXPECT_THAT(m.status().message(), HasSubstr("at least 32"));

  const std::string readable = Write("readable", std::string(64, 'k'), 0644);
  m = EntropyMixer::FromKeyFile(readable);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(m.status().message(), HasSubstr(readable));
  EXPECT_THAT(m.status().message(), HasSubstr("chmod 600"));

  const std::string missing = (dir_ / "missing").string();
  m = EntropyMixer::FromKeyFile(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr(missing));
}

}  // namespace
}  // namespace hwcast::actuator::entropy
