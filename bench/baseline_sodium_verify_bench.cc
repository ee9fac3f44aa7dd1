// Baseline for the relay's ingest: bare libsodium Ed25519 verification on
// one core, with no hwcast code at all. crypto_sign_verify_detached of a
// 1129-byte message (the serialized size of a 16-reading batch, the most a
// collector seals under its 1200-byte cap) and of a 571-byte one (8
// readings), signed once before timing.
//
// items_per_second is verifies per second on the one benchmark thread; the
// suite (scripts/bench.sh) divides the relay's accepted signed batches per
// second by it: 1.0 means the relay keeps up with one core's worth of
// verification, and on 2 cores the limit is 2.0.
#include <sodium.h>

#include <cstddef>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

void BM_BaselineSodiumVerify(benchmark::State& state) {
  if (sodium_init() < 0) {
    state.SkipWithError("sodium_init failed");
    return;
  }
  const size_t bytes = static_cast<size_t>(state.range(0));
  std::vector<unsigned char> message(bytes);
  for (size_t i = 0; i < bytes; ++i) {
    message[i] = static_cast<unsigned char>(i * 31 + 7);
  }
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(public_key, secret_key);
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, message.data(), message.size(),
                       secret_key);
  for (auto _ : state) {
    const int rc = crypto_sign_verify_detached(signature, message.data(),
                                               message.size(), public_key);
    if (rc != 0) {
      state.SkipWithError("a valid signature did not verify");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineSodiumVerify)->ArgName("bytes")->Arg(571)->Arg(1129);

}  // namespace

BENCHMARK_MAIN();
