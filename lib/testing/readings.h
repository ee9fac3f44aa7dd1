// Builders for readings and batches in tests: valid by hwcast::ValidateBatch
// unless a test changes them.
//
// Header-only; stateless.
#ifndef HWCAST_LIB_TESTING_READINGS_H_
#define HWCAST_LIB_TESTING_READINGS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/time_util.h"

namespace hwcast::testutil {

// The time the builders stamp by default.
inline const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

// A reading with no value yet, quality OK, observed at `observed`.
inline hwcast::v1::Reading ReadingAt(const std::string& host,
                                     const std::string& source_id,
                                     uint64_t sequence, absl::Time observed) {
  hwcast::v1::Reading r;
  r.set_host(host);
  r.set_source_id(source_id);
  r.set_sequence(sequence);
  *r.mutable_observed_time() = ToProtoTime(observed);
  r.set_quality(hwcast::v1::QUALITY_OK);
  return r;
}

// A temperature reading, quality OK, observed at `observed`.
inline hwcast::v1::Reading TemperatureAt(const std::string& host,
                                         const std::string& source_id,
                                         uint64_t sequence, double celsius,
                                         absl::Time observed) {
  hwcast::v1::Reading r = ReadingAt(host, source_id, sequence, observed);
  r.mutable_temperature()->set_celsius(celsius);
  return r;
}

// A temperature reading, quality OK, observed `sequence` seconds after
// `observed` (so a source's readings come one a second).
inline hwcast::v1::Reading Temperature(const std::string& host,
                                       const std::string& source_id,
                                       uint64_t sequence, double celsius,
                                       absl::Time observed = kT0) {
  return TemperatureAt(
      host, source_id, sequence, celsius,
      observed + absl::Seconds(static_cast<int64_t>(sequence)));
}

// An entropy chunk of `bytes` bytes (each the low byte of `sequence`),
// verdict PASS, estimated at 4 bits per byte, observed at `observed`.
inline hwcast::v1::Reading Entropy(const std::string& host,
                                   const std::string& source_id,
                                   uint64_t sequence, size_t bytes,
                                   absl::Time observed) {
  hwcast::v1::Reading r = ReadingAt(host, source_id, sequence, observed);
  r.mutable_entropy()->set_data(
      std::string(bytes, static_cast<char>(sequence)));
  r.mutable_entropy()->set_verdict(hwcast::v1::EntropyChunk::VERDICT_PASS);
  r.mutable_entropy()->set_entropy_bits(4.0 * bytes);
  return r;
}

// A humidity reading, otherwise as Temperature().
inline hwcast::v1::Reading Humidity(const std::string& host,
                                    const std::string& source_id,
                                    uint64_t sequence, double percent) {
  hwcast::v1::Reading r = Temperature(host, source_id, sequence, 0);
  r.mutable_humidity()->set_relative_percent(percent);
  return r;
}

// A batch sent at `sent`.
inline hwcast::v1::ReadingBatch Batch(
    const std::string& collector_id, uint64_t epoch, uint64_t batch_sequence,
    const std::vector<hwcast::v1::Reading>& readings, absl::Time sent = kT0) {
  hwcast::v1::ReadingBatch b;
  b.set_collector_id(collector_id);
  b.set_epoch(epoch);
  b.set_batch_sequence(batch_sequence);
  *b.mutable_sent_time() = ToProtoTime(sent);
  for (const auto& r : readings) *b.add_readings() = r;
  return b;
}

// `batch` serialized into an unsigned SignedBatch.
inline hwcast::v1::SignedBatch Unsigned(const hwcast::v1::ReadingBatch& batch) {
  hwcast::v1::SignedBatch s;
  batch.SerializeToString(s.mutable_batch());
  return s;
}

}  // namespace hwcast::testutil

#endif  // HWCAST_LIB_TESTING_READINGS_H_
