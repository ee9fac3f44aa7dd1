// Builders for readings and batches used by the relay's tests (the common
// ones are lib/testing/readings.h).
#ifndef HWCAST_SERVICES_RELAY_RELAY_TEST_UTIL_H_
#define HWCAST_SERVICES_RELAY_RELAY_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/testing/readings.h"
#include "services/relay/accepted_batch.h"

namespace hwcast::relay::test_util {

using ::hwcast::testutil::Batch;
using ::hwcast::testutil::Entropy;
using ::hwcast::testutil::Humidity;
using ::hwcast::testutil::kT0;
using ::hwcast::testutil::Temperature;

inline hwcast::v1::SignedBatch Signed(const hwcast::v1::ReadingBatch& batch) {
  return ::hwcast::testutil::Unsigned(batch);
}

inline BatchPtr Accepted(uint64_t id, const hwcast::v1::ReadingBatch& batch,
                         absl::Time received = kT0) {
  return MakeAcceptedBatch(id, Signed(batch), batch, received);
}

}  // namespace hwcast::relay::test_util

#endif  // HWCAST_SERVICES_RELAY_RELAY_TEST_UTIL_H_
