// A Source that reports whatever devices the test sets (for the per-device
// status and metrics plumbing). Test-only.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_DEVICE_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_DEVICE_SOURCE_H_

#include <atomic>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"

namespace hwcast::collector::testing {

// Poll() returns the readings set with set_readings() and counts calls;
// Devices() returns the devices set with set_devices(). Thread-safe.
class FakeDeviceSource : public Source {
 public:
  std::string_view type() const override { return "fake_device"; }

  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override {
    absl::MutexLock lock(&mu_);
    ++polls_;
    return readings_;
  }

  std::vector<hwcast::v1::DeviceStatus> Devices() const override {
    absl::MutexLock lock(&mu_);
    return devices_;
  }

  void set_devices(std::vector<hwcast::v1::DeviceStatus> devices) {
    absl::MutexLock lock(&mu_);
    devices_ = std::move(devices);
  }
  void set_readings(std::vector<hwcast::v1::Reading> readings) {
    absl::MutexLock lock(&mu_);
    readings_ = std::move(readings);
  }
  int polls() const {
    absl::MutexLock lock(&mu_);
    return polls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<hwcast::v1::DeviceStatus> devices_ ABSL_GUARDED_BY(mu_);
  std::vector<hwcast::v1::Reading> readings_ ABSL_GUARDED_BY(mu_);
  int polls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwcast::collector::testing

#endif  // HWCAST_SERVICES_COLLECTOR_TESTING_FAKE_DEVICE_SOURCE_H_
