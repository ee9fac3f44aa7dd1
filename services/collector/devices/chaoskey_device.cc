#include "services/collector/devices/chaoskey_device.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hwcast::collector::usb {
namespace {

constexpr size_t kPacketSize = 64;

std::string ErrorKind(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout";
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kNotFound:
      return "disconnected";
    case absl::StatusCode::kPermissionDenied:
      return "access";
    default:
      return "io";
  }
}

}  // namespace

ChaosKeyDevice::ChaosKeyDevice(ChaosKeyOptions options,
                               std::shared_ptr<UsbTransport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {
  absl::MutexLock lock(&mu_);
  info_.set_source_id(options_.source_id);
  info_.set_model("ChaosKey");
  info_.set_usb_id(
      absl::StrFormat("%04x:%04x", kChaosKeyVendorId, kChaosKeyProductId));
  info_.set_path(options_.port);
  info_.set_serial(options_.serial);
}

absl::Status ChaosKeyDevice::Open() {
  absl::StatusOr<std::vector<UsbDeviceInfo>> devices = transport_->Enumerate();
  if (!devices.ok()) return devices.status();
  std::sort(devices->begin(), devices->end(),
            [](const UsbDeviceInfo& a, const UsbDeviceInfo& b) {
              return a.port_path < b.port_path;
            });
  for (const UsbDeviceInfo& d : *devices) {
    if (d.vendor_id != kChaosKeyVendorId ||
        d.product_id != kChaosKeyProductId ||
        (!options_.port.empty() && d.port_path != options_.port) ||
        (!options_.serial.empty() && d.serial != options_.serial)) {
      continue;
    }
    absl::StatusOr<std::unique_ptr<UsbDeviceHandle>> handle =
        transport_->Open(d.port_path);
    if (!handle.ok()) return handle.status();
    if (absl::Status s = (*handle)->ClaimInterface(0); !s.ok()) return s;
    handle_ = *std::move(handle);
    absl::MutexLock lock(&mu_);
    info_.set_path(d.port_path);
    info_.set_serial(d.serial);
    info_.set_present(true);
    return absl::OkStatus();
  }
  std::string where;
  if (!options_.port.empty())
    absl::StrAppend(&where, " at port ", options_.port);
  if (!options_.serial.empty()) {
    absl::StrAppend(&where, " with serial ", options_.serial);
  }
  return absl::NotFoundError(
      absl::StrCat("no ChaosKey (1d50:60c6)", where, " plugged in"));
}

void ChaosKeyDevice::Close() {
  handle_.reset();
  leftover_.clear();
}

void ChaosKeyDevice::CountError(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  info_.set_errors(info_.errors() + 1);
  const std::string kind = ErrorKind(status);
  (*info_.mutable_errors_by_kind())[kind]++;
  info_.set_last_error(std::string(status.message()));
  if (kind == "disconnected") info_.set_present(false);
}

absl::Status ChaosKeyDevice::ReadExactly(absl::Span<uint8_t> out) {
  size_t filled = 0;
  auto take = [&](std::vector<uint8_t>& bytes) {
    const size_t n = std::min(bytes.size(), out.size() - filled);
    std::copy_n(bytes.begin(), n, out.begin() + filled);
    bytes.erase(bytes.begin(), bytes.begin() + n);
    filled += n;
  };
  take(leftover_);
  int empty = 0;
  while (filled < out.size()) {
    if (handle_ == nullptr) {
      if (absl::Status s = Open(); !s.ok()) {
        CountError(s);
        Close();
        return s;
      }
    }
    absl::StatusOr<std::vector<uint8_t>> packet = handle_->BulkIn(
        options_.endpoint, kPacketSize, options_.transfer_timeout);
    if (!packet.ok()) {
      CountError(packet.status());
      Close();
      return packet.status();
    }
    if (packet->empty()) {
      if (++empty >= options_.max_empty_packets) {
        absl::Status s = absl::DataLossError(absl::StrFormat(
            "ChaosKey at port %s: %d empty packets from endpoint 0x%02x",
            Info().path(), empty, options_.endpoint));
        CountError(s);
        Close();
        return s;
      }
      continue;
    }
    empty = 0;
    take(*packet);
    // What did not fit waits for the next call.
    leftover_ = std::move(*packet);
  }
  absl::MutexLock lock(&mu_);
  info_.set_reads(info_.reads() + 1);
  info_.set_present(true);
  return absl::OkStatus();
}

hwcast::v1::DeviceStatus ChaosKeyDevice::Info() const {
  absl::MutexLock lock(&mu_);
  return info_;
}

}  // namespace hwcast::collector::usb
