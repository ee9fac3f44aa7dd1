#include "lib/swappable_batch_verifier.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast {
namespace {

// Accepts only batches whose key_id is `key`; names it `name`.
class OneKeyVerifier : public BatchVerifier {
 public:
  OneKeyVerifier(std::string key, std::string name)
      : key_(std::move(key)), name_(std::move(name)) {}
  absl::Status Verify(const hwcast::v1::SignedBatch& signed_batch,
                      const hwcast::v1::ReadingBatch&) override {
    if (signed_batch.key_id() == key_) return absl::OkStatus();
    return absl::PermissionDeniedError("unknown key id");
  }
  std::string KeyName(const hwcast::v1::SignedBatch&) override { return name_; }

 private:
  const std::string key_;
  const std::string name_;
};

hwcast::v1::SignedBatch SignedWith(const std::string& key) {
  hwcast::v1::SignedBatch batch;
  batch.set_key_id(key);
  return batch;
}

TEST(SwappableBatchVerifierTest, SwapChangesWhichKeysAreAccepted) {
  SwappableBatchVerifier verifier(std::make_unique<OneKeyVerifier>("a", "A"));
  const hwcast::v1::ReadingBatch batch;
  EXPECT_TRUE(verifier.Verify(SignedWith("a"), batch).ok());
  EXPECT_FALSE(verifier.Verify(SignedWith("b"), batch).ok());
  EXPECT_EQ(verifier.KeyName(SignedWith("a")), "A");

  verifier.Swap(std::make_unique<OneKeyVerifier>("b", "B"));
  EXPECT_FALSE(verifier.Verify(SignedWith("a"), batch).ok());
  EXPECT_TRUE(verifier.Verify(SignedWith("b"), batch).ok());
  EXPECT_EQ(verifier.KeyName(SignedWith("b")), "B");
}

TEST(SwappableBatchVerifierTest, SwapWhileVerifyingFromOtherThreads) {
  SwappableBatchVerifier verifier(std::make_unique<OneKeyVerifier>("a", "A"));
  std::atomic<bool> stop{false};
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      const hwcast::v1::ReadingBatch batch;
      while (!stop) {
        // Every call sees one whole verifier: "a" or "b", never neither.
        const bool a = verifier.Verify(SignedWith("a"), batch).ok();
        const std::string name = verifier.KeyName(SignedWith("a"));
        EXPECT_TRUE(name == "A" || name == "B");
        verified += a ? 1 : 0;
      }
    });
  }
  for (int i = 0; i < 2000; ++i) {
    verifier.Swap(
        std::make_unique<OneKeyVerifier>(i % 2 ? "a" : "b", i % 2 ? "A" : "B"));
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(verifier.Verify(SignedWith("a"), {}).ok());  // last: i = 1999
}

}  // namespace
}  // namespace hwcast
