#include "services/actuator/entropy/chunk_checker.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "lib/reading_util.h"
#include "lib/reject_reason.h"
#include "lib/verified_batch.h"

namespace hwcast::actuator::entropy {
namespace {

ChunkVerdict Refuse(std::string reason, std::string error) {
  ChunkVerdict verdict;
  verdict.reason = std::move(reason);
  verdict.error = std::move(error);
  return verdict;
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

}  // namespace

uint32_t ChunkCredit(double credit_fraction, double estimate_bits,
                     size_t bytes) {
  const double credit = credit_fraction * estimate_bits;
  if (!std::isfinite(credit) || credit <= 0) return 0;
  return static_cast<uint32_t>(
      std::floor(std::min(credit, 8.0 * static_cast<double>(bytes))));
}

ChunkChecker::ChunkChecker(ChunkCheckerOptions options, BatchVerifier* verifier)
    : options_(std::move(options)), verifier_(verifier) {}

hwcast::entropy::HealthTester& ChunkChecker::TesterFor(
    const std::string& source) {
  auto it = testers_.find(source);
  if (it == testers_.end()) {
    if (testers_.size() >= std::max<size_t>(1, options_.max_sources)) {
      auto oldest = std::min_element(
          testers_.begin(), testers_.end(), [](const auto& a, const auto& b) {
            return a.second.last_use < b.second.last_use;
          });
      testers_.erase(oldest);
    }
    it = testers_
             .emplace(source,
                      Tester{std::make_unique<hwcast::entropy::HealthTester>(
                                 options_.health),
                             0})
             .first;
  }
  it->second.last_use = ++use_counter_;
  return *it->second.tester;
}

ChunkVerdict ChunkChecker::Check(const hwcast::v1::SignedBatch& signed_batch) {
  const VerifiedBatch verified =
      ParseAndVerify(signed_batch, kNoBatchSizeLimit, verifier_);
  if (!verified.ok()) {
    RejectReason reason = RejectReasonOf(verified.status);
    if (reason == RejectReason::kUnspecified) reason = RejectReason::kMalformed;
    return Refuse(std::string(RejectReasonLabel(reason)),
                  std::string(verified.status.message()));
  }
  const hwcast::v1::ReadingBatch& batch = verified.batch;
  const std::string id = absl::StrCat(batch.collector_id(), "/", batch.epoch(),
                                      "/", batch.batch_sequence());
  if (batch.readings_size() != 1 || !batch.readings(0).has_entropy()) {
    return Refuse("not_entropy",
                  absl::StrCat("batch ", id, " holds ", batch.readings_size(),
                               " reading(s); an entropy draw must hold exactly "
                               "one entropy reading"));
  }
  const hwcast::v1::Reading& reading = batch.readings(0);
  const hwcast::v1::EntropyChunk& chunk = reading.entropy();
  const std::string source =
      absl::StrCat(reading.host(), "/", reading.source_id());
  const size_t data_bytes = chunk.data().size();
  ChunkVerdict verdict = CheckChunk(batch, id, source);
  verdict.data_bytes = data_bytes;
  return verdict;
}

ChunkVerdict ChunkChecker::CheckChunk(const hwcast::v1::ReadingBatch& batch,
                                      const std::string& id,
                                      const std::string& source) {
  const hwcast::v1::EntropyChunk& chunk = batch.readings(0).entropy();
  if (chunk.verdict() != hwcast::v1::EntropyChunk::VERDICT_PASS) {
    return Refuse("verdict_fail",
                  absl::StrCat("chunk ", id, " from ", source,
                               " did not pass the collector's health tests"));
  }
  if (chunk.data().empty() ||
      chunk.data().size() % hwcast::entropy::kFipsBlockBytes != 0) {
    return Refuse(
        "bad_length",
        absl::StrCat("chunk ", id, " from ", source, " has ",
                     chunk.data().size(), " bytes, not a positive multiple of ",
                     hwcast::entropy::kFipsBlockBytes));
  }

  absl::MutexLock lock(&mu_);
  ChunkId key{batch.collector_id(), batch.epoch(), batch.batch_sequence()};
  if (seen_.contains(key)) {
    return Refuse("duplicate", absl::StrCat("chunk ", id, " from ", source,
                                            " was received before"));
  }
  seen_.insert(key);
  seen_order_.push_back(std::move(key));
  while (seen_order_.size() > std::max<size_t>(1, options_.max_remembered)) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }

  const hwcast::entropy::BlockVerdict retest =
      TesterFor(source).Test(Bytes(chunk.data()));
  if (!retest.pass) {
    ChunkVerdict verdict =
        Refuse("health", absl::StrCat("chunk ", id, " from ", source,
                                      " failed the health tests here: ",
                                      absl::StrJoin(retest.failed, ", ")));
    verdict.failed_tests = retest.failed;
    return verdict;
  }

  double estimate = chunk.entropy_bits();
  if (!std::isfinite(estimate) || estimate < 0) estimate = 0;
  estimate = std::min(estimate, retest.entropy_bits);

  ChunkVerdict verdict;
  verdict.accepted = true;
  verdict.chunk.data = chunk.data();
  verdict.chunk.credit_bits =
      ChunkCredit(options_.credit_fraction, estimate, chunk.data().size());
  verdict.chunk.source = source;
  verdict.chunk.id = id;
  return verdict;
}

}  // namespace hwcast::actuator::entropy
