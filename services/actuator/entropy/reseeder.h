// The actuator's entropy sink side: draws chunks from relays
// (EntropyClient), checks each (ChunkChecker), mixes it with the host-local
// secret (EntropyMixer) and adds it to the sink (EntropySink) with the
// checker's credit.
//
// When it reseeds:
//   - periodically: at Start() and then every reseed_interval (kPeriodic;
//     after a failure, again after failure_retry if that is shorter);
//   - on demand: Reseed(), the Actuator.Reseed RPC (kOnDemand);
//   - when fill_watermark_bits > 0 and entropy_avail reads below it
//     (kWatermark), at most once per watermark_min_interval. Only on kernels
//     before 5.18: from 5.18 on entropy_avail always reads 256, so on those
//     the watermark is ignored (one warning; status watermark_active =
//     false) and only periodic reseeding runs.
// A reseed draws `bytes` (default reseed_bytes) counted in raw chunk bytes
// accepted; what goes into the sink is the mixed output (64 bytes per 64
// received, rounded up per chunk).
//
// Metrics (on the registry given to the constructor):
//   hwcast_actuator_entropy_bytes_received_total   chunk bytes received
//   hwcast_actuator_entropy_bytes_injected_total   mixed bytes added to the
//                                                  sink
//   hwcast_actuator_entropy_bits_credited_total
//   hwcast_actuator_entropy_chunks_rejected_total{reason}
//   hwcast_actuator_entropy_health_failures_total{test}
//   hwcast_actuator_entropy_reseeds_total{trigger}  periodic, on_demand,
//                                                   watermark
//   hwcast_actuator_entropy_reseed_failures_total{trigger}
//
// Thread-safe: reseeds are serialized; Status() never waits for a draw.
// The clock is not owned and must outlive the Reseeder.
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_RESEEDER_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_RESEEDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/actuator/entropy/chunk_checker.h"
#include "services/actuator/entropy/entropy_client.h"
#include "services/actuator/entropy/entropy_mixer.h"
#include "services/actuator/entropy/entropy_sink.h"

namespace hwcast::actuator::entropy {

inline constexpr uint32_t kDefaultReseedBytes = 2500;
inline constexpr absl::Duration kDefaultReseedInterval = absl::Seconds(60);
inline constexpr uint32_t kMaxReseedBytes = 1 << 20;
inline constexpr char kEntropyAvailPath[] =
    "/proc/sys/kernel/random/entropy_avail";

enum class ReseedTrigger { kPeriodic, kOnDemand, kWatermark };
// "periodic", "on_demand", "watermark".
const char* ReseedTriggerLabel(ReseedTrigger trigger);

// Whether `release` (uname -r, e.g. "5.10.0-28-amd64") is a kernel whose
// entropy_avail reports real counts (before 5.18). nullopt when it does not
// parse.
std::optional<bool> KernelReportsEntropyCount(const std::string& release);

struct ReseederOptions {
  uint32_t reseed_bytes = kDefaultReseedBytes;
  absl::Duration reseed_interval = kDefaultReseedInterval;
  // After a failed periodic reseed the next is tried this much later (when
  // shorter than reseed_interval).
  absl::Duration failure_retry = absl::Seconds(10);
  // 0: off.
  uint32_t fill_watermark_bits = 0;
  absl::Duration watermark_min_interval = absl::Seconds(5);
  std::string entropy_avail_path = kEntropyAvailPath;
  // uname -r; empty: this kernel's.
  std::string kernel_release;
  // How often the thread started by Start() calls Tick() (real time).
  absl::Duration poll_interval = absl::Seconds(1);
  ChunkCheckerOptions checker;

  // From a validated EntropySinkConfig with defaults applied.
  static ReseederOptions FromConfig(
      const hwcast::v1::EntropySinkConfig& config);
};

struct ReseederParts {
  std::unique_ptr<EntropySink> sink;
  std::unique_ptr<EntropyMixer> mixer;
  std::unique_ptr<EntropyClient> client;
  // Checks signatures, trust and freshness (the actuator's verifier; not
  // owned, must outlive the Reseeder).
  BatchVerifier* verifier = nullptr;
};

struct ReseedOutcome {
  uint64_t bytes_injected = 0;
  uint64_t bits_credited = 0;
  // e.g. "injected 2560 bytes from 1 chunk (0 bits credited)".
  std::string message;
};

class Reseeder {
 public:
  Reseeder(ReseederOptions options, ReseederParts parts, const Clock* clock,
           prometheus::Registry& registry);
  ~Reseeder();

  Reseeder(const Reseeder&) = delete;
  Reseeder& operator=(const Reseeder&) = delete;

  // Starts the thread calling Tick() every poll_interval (the first at
  // once). Call at most once.
  void Start();
  // Stops the thread (waits for a running reseed). Idempotent.
  void Stop();

  // Reseeds now with `bytes` (0: reseed_bytes). INVALID_ARGUMENT above
  // kMaxReseedBytes; UNAVAILABLE when no relay gave any usable entropy; the
  // sink's error when it failed.
  absl::StatusOr<ReseedOutcome> Reseed(uint32_t bytes, ReseedTrigger trigger);

  // Reseeds if the periodic deadline passed, or if the watermark is active
  // and entropy_avail is below it.
  void Tick();

  hwcast::v1::EntropySinkStatus Status() const;
  bool watermark_active() const { return watermark_active_; }

 private:
  absl::StatusOr<size_t> HandleChunk(const hwcast::v1::SignedBatch& batch,
                                     const std::string& relay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reseed_mu_);
  void RunThread();
  // entropy_avail in bits; nullopt (logged) when unreadable.
  std::optional<uint64_t> EntropyAvail();

  const ReseederOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<EntropySink> sink_;
  const std::unique_ptr<EntropyMixer> mixer_;
  const std::unique_ptr<EntropyClient> client_;
  ChunkChecker checker_;
  bool watermark_active_ = false;

  prometheus::Counter& bytes_received_;
  prometheus::Counter& bytes_injected_;
  prometheus::Counter& bits_credited_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& health_failures_;
  prometheus::Family<prometheus::Counter>& reseeds_;
  prometheus::Family<prometheus::Counter>& reseed_failures_;

  // Serializes reseeds. Lock order: reseed_mu_, then mu_.
  absl::Mutex reseed_mu_;
  // Per-reseed tallies, touched by HandleChunk under reseed_mu_.
  uint64_t draw_injected_ ABSL_GUARDED_BY(reseed_mu_) = 0;
  uint64_t draw_credited_ ABSL_GUARDED_BY(reseed_mu_) = 0;
  uint64_t draw_chunks_ ABSL_GUARDED_BY(reseed_mu_) = 0;
  absl::Time next_periodic_ ABSL_GUARDED_BY(reseed_mu_) = absl::InfinitePast();
  absl::Time last_watermark_ ABSL_GUARDED_BY(reseed_mu_) = absl::InfinitePast();
  bool avail_error_logged_ ABSL_GUARDED_BY(reseed_mu_) = false;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(reseed_mu_);
  hwcast::v1::EntropySinkStatus status_ ABSL_GUARDED_BY(mu_);

  absl::Mutex thread_mu_;
  bool stopping_ ABSL_GUARDED_BY(thread_mu_) = false;
  bool started_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::thread thread_;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_RESEEDER_H_
