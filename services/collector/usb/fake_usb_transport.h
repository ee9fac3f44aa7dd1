// An in-memory UsbTransport for unit tests of USB drivers: a test plugs
// scripted devices into ports, makes them reply to control OUT requests with
// interrupt IN reports, feeds bulk IN packets, injects errors, unplugs and
// re-plugs them, and counts what the driver did (opens, claims, resets).
//
// Thread-safe: every method takes the transport's mutex, so a test may
// unplug a device while a driver polls on another thread. Handles keep the
// transport alive through a shared state; a handle of an unplugged (or
// re-plugged) device reports UNAVAILABLE, like libusb's LIBUSB_ERROR_NO_DEVICE.
#ifndef HWCAST_SERVICES_COLLECTOR_USB_FAKE_USB_TRANSPORT_H_
#define HWCAST_SERVICES_COLLECTOR_USB_FAKE_USB_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/collector/usb/usb_transport.h"

namespace hwcast::collector::usb {

// A UsbDeviceInfo for a device at `port_path` (bus and address left 0).
inline UsbDeviceInfo MakeInfo(uint16_t vendor_id, uint16_t product_id,
                              std::string port_path, std::string serial = "") {
  UsbDeviceInfo info;
  info.vendor_id = vendor_id;
  info.product_id = product_id;
  info.port_path = std::move(port_path);
  info.serial = std::move(serial);
  return info;
}

// One scripted device. Fields are read and changed under the transport's
// mutex: change them through FakeUsbTransport::Edit() while a driver runs.
struct FakeUsbDevice {
  UsbDeviceInfo info;
  // Called for every successful ControlOut with its data; the reports it
  // returns are queued as interrupt IN replies (TEMPer: query -> reading).
  std::function<std::vector<std::vector<uint8_t>>(
      absl::Span<const uint8_t> data)>
      responder;
  // Replies queued for InterruptIn, oldest first. Empty: DEADLINE_EXCEEDED.
  std::deque<std::vector<uint8_t>> interrupt_in;
  // Packets per bulk IN endpoint. Empty: DEADLINE_EXCEEDED.
  std::map<uint8_t, std::deque<std::vector<uint8_t>>> bulk_in;
  // Errors the next calls of each operation fail with (one per call).
  std::deque<absl::Status> open_errors;
  std::deque<absl::Status> claim_errors;
  std::deque<absl::Status> control_out_errors;
  std::deque<absl::Status> interrupt_in_errors;
  std::deque<absl::Status> bulk_in_errors;
  std::deque<absl::Status> reset_errors;
  // While true, every transfer times out until a Reset() clears it (a hung
  // TEMPer). A Reset() also drops the queued interrupt_in replies.
  bool hung = false;

  // What the driver did.
  int opens = 0;
  int resets = 0;
  std::vector<int> claimed_interfaces;
  std::vector<std::vector<uint8_t>> control_out_data;
  int interrupt_reads = 0;
  int bulk_reads = 0;
};

class FakeUsbTransport final : public UsbTransport {
 public:
  FakeUsbTransport() : state_(std::make_shared<State>()) {}

  // Plugs a device in (replacing whatever was at its port).
  void Plug(FakeUsbDevice device) {
    absl::MutexLock lock(&state_->mu);
    const std::string port = device.info.port_path;
    state_->devices[port] = std::make_shared<Slot>(Slot{std::move(device)});
  }
  // Removes the device at `port`; its open handles fail with UNAVAILABLE.
  void Unplug(const std::string& port) {
    absl::MutexLock lock(&state_->mu);
    auto it = state_->devices.find(port);
    if (it == state_->devices.end()) return;
    it->second->gone = true;
    state_->unplugged[port] = it->second;
    state_->devices.erase(it);
  }
  // Runs `edit` on the device at `port` (plugged or last unplugged) under
  // the mutex. False when no device was ever there.
  bool Edit(const std::string& port,
            const std::function<void(FakeUsbDevice&)>& edit) {
    absl::MutexLock lock(&state_->mu);
    Slot* slot = FindSlot(port);
    if (slot == nullptr) return false;
    edit(slot->device);
    return true;
  }
  // A copy of the device at `port` (for its counters).
  FakeUsbDevice Get(const std::string& port) {
    absl::MutexLock lock(&state_->mu);
    Slot* slot = FindSlot(port);
    return slot == nullptr ? FakeUsbDevice{} : slot->device;
  }
  void SetEnumerateError(absl::Status status) {
    absl::MutexLock lock(&state_->mu);
    state_->enumerate_error = std::move(status);
  }
  int enumerations() {
    absl::MutexLock lock(&state_->mu);
    return state_->enumerations;
  }
  void set_has_hotplug(bool has) { has_hotplug_ = has; }

  absl::StatusOr<std::vector<UsbDeviceInfo>> Enumerate() override {
    absl::MutexLock lock(&state_->mu);
    ++state_->enumerations;
    if (!state_->enumerate_error.ok()) return state_->enumerate_error;
    std::vector<UsbDeviceInfo> out;
    for (const auto& [port, slot] : state_->devices) {
      out.push_back(slot->device.info);
    }
    return out;
  }

  absl::StatusOr<std::unique_ptr<UsbDeviceHandle>> Open(
      const std::string& port_path) override {
    absl::MutexLock lock(&state_->mu);
    auto it = state_->devices.find(port_path);
    if (it == state_->devices.end()) {
      return absl::NotFoundError(
          absl::StrCat("no USB device at port ", port_path));
    }
    FakeUsbDevice& device = it->second->device;
    if (absl::Status s = Pop(device.open_errors); !s.ok()) return s;
    ++device.opens;
    return std::unique_ptr<UsbDeviceHandle>(
        new Handle(state_, it->second, port_path));
  }

  bool HasHotplug() const override { return has_hotplug_; }

 private:
  struct Slot {
    FakeUsbDevice device;
    bool gone = false;
  };
  struct State {
    absl::Mutex mu;
    std::map<std::string, std::shared_ptr<Slot>> devices ABSL_GUARDED_BY(mu);
    std::map<std::string, std::shared_ptr<Slot>> unplugged ABSL_GUARDED_BY(mu);
    absl::Status enumerate_error ABSL_GUARDED_BY(mu);
    int enumerations ABSL_GUARDED_BY(mu) = 0;
  };

  static absl::Status Pop(std::deque<absl::Status>& errors) {
    if (errors.empty()) return absl::OkStatus();
    absl::Status s = std::move(errors.front());
    errors.pop_front();
    return s;
  }

  Slot* FindSlot(const std::string& port)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (auto it = state_->devices.find(port); it != state_->devices.end()) {
      return it->second.get();
    }
    if (auto it = state_->unplugged.find(port); it != state_->unplugged.end()) {
      return it->second.get();
    }
    return nullptr;
  }

  class Handle final : public UsbDeviceHandle {
   public:
    Handle(std::shared_ptr<State> state, std::shared_ptr<Slot> slot,
           std::string port)
        : state_(std::move(state)),
          slot_(std::move(slot)),
          port_(std::move(port)) {}

    absl::Status ClaimInterface(int interface) override {
      absl::MutexLock lock(&state_->mu);
      if (absl::Status s = Gone("claim"); !s.ok()) return s;
      if (absl::Status s = Pop(slot_->device.claim_errors); !s.ok()) return s;
      slot_->device.claimed_interfaces.push_back(interface);
      return absl::OkStatus();
    }
    absl::Status ControlOut(uint8_t, uint8_t, uint16_t, uint16_t,
                            absl::Span<const uint8_t> data,
                            absl::Duration) override {
      absl::MutexLock lock(&state_->mu);
      if (absl::Status s = Gone("control OUT"); !s.ok()) return s;
      FakeUsbDevice& d = slot_->device;
      if (absl::Status s = Pop(d.control_out_errors); !s.ok()) return s;
      if (d.hung) return Timeout("control OUT");
      d.control_out_data.emplace_back(data.begin(), data.end());
      if (d.responder) {
        for (std::vector<uint8_t>& report : d.responder(data)) {
          d.interrupt_in.push_back(std::move(report));
        }
      }
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<uint8_t>> InterruptIn(uint8_t endpoint,
                                                     size_t max_bytes,
                                                     absl::Duration) override {
      absl::MutexLock lock(&state_->mu);
      if (absl::Status s = Gone("interrupt IN"); !s.ok()) return s;
      FakeUsbDevice& d = slot_->device;
      ++d.interrupt_reads;
      if (absl::Status s = Pop(d.interrupt_in_errors); !s.ok()) return s;
      if (d.hung || d.interrupt_in.empty()) return Timeout("interrupt IN");
      std::vector<uint8_t> report = std::move(d.interrupt_in.front());
      d.interrupt_in.pop_front();
      if (report.size() > max_bytes) report.resize(max_bytes);
      return report;
    }
    absl::StatusOr<std::vector<uint8_t>> BulkIn(uint8_t endpoint,
                                                size_t max_bytes,
                                                absl::Duration) override {
      absl::MutexLock lock(&state_->mu);
      if (absl::Status s = Gone("bulk IN"); !s.ok()) return s;
      FakeUsbDevice& d = slot_->device;
      ++d.bulk_reads;
      if (absl::Status s = Pop(d.bulk_in_errors); !s.ok()) return s;
      std::deque<std::vector<uint8_t>>& packets = d.bulk_in[endpoint];
      if (d.hung || packets.empty()) return Timeout("bulk IN");
      std::vector<uint8_t> packet = std::move(packets.front());
      packets.pop_front();
      if (packet.size() > max_bytes) packet.resize(max_bytes);
      return packet;
    }
    absl::Status Reset() override {
      absl::MutexLock lock(&state_->mu);
      if (absl::Status s = Gone("reset"); !s.ok()) return s;
      FakeUsbDevice& d = slot_->device;
      ++d.resets;
      d.hung = false;
      d.interrupt_in.clear();  // a reset drops what the device had queued
      return Pop(d.reset_errors);
    }

   private:
    absl::Status Gone(const char* op)
        ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
      if (!slot_->gone) return absl::OkStatus();
      return absl::UnavailableError(
          absl::StrCat("USB device ", port_, ": ", op, ": no device (fake)"));
    }
    absl::Status Timeout(const char* op) {
      return absl::DeadlineExceededError(
          absl::StrCat("USB device ", port_, ": ", op, ": timed out (fake)"));
    }

    std::shared_ptr<State> state_;
    std::shared_ptr<Slot> slot_;
    std::string port_;
  };

  std::shared_ptr<State> state_;
  bool has_hotplug_ = false;
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_USB_FAKE_USB_TRANSPORT_H_
