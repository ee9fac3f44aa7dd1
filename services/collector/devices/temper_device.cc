#include "services/collector/devices/temper_device.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace hwcast::collector::usb {
namespace {

constexpr uint8_t kRequestType = 0x21;  // class, interface, host-to-device
constexpr uint8_t kSetReport = 0x09;
constexpr uint16_t kReportValue = 0x0200;  // output report 0
constexpr uint16_t kDataInterface = 1;
constexpr uint8_t kDataEndpoint = 0x82;
constexpr size_t kReportSize = 8;
constexpr int kFirmwareReports = 2;

constexpr uint8_t kQueryReading[kReportSize] = {0x01, 0x80, 0x33, 0x01,
                                                0x00, 0x00, 0x00, 0x00};
constexpr uint8_t kQueryFirmware[kReportSize] = {0x01, 0x86, 0xFF, 0x01,
                                                 0x00, 0x00, 0x00, 0x00};

// A transfer error of the firmware id query, with its code (the caller's
// retry meaning) and what was asked.
absl::Status FirmwareQueryError(const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("firmware id query: ", status.message()));
}

}  // namespace

std::string FirmwareIdFromReports(absl::Span<const uint8_t> bytes) {
  std::string text;
  for (uint8_t b : bytes) {
    if (b == 0) break;
    if (absl::ascii_isprint(b)) text.push_back(static_cast<char>(b));
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

TemperDevice::TemperDevice(UsbDeviceHandle* handle, TemperDeviceOptions options)
    : handle_(handle), options_(options) {}

absl::Status TemperDevice::Claim() {
  // Interface 0 is the keyboard emulation: its kernel driver must go too,
  // or it keeps the device busy.
  if (absl::Status s = handle_->ClaimInterface(0); !s.ok()) return s;
  return handle_->ClaimInterface(kDataInterface);
}

absl::Status TemperDevice::SendReport(absl::Span<const uint8_t> report) {
  return handle_->ControlOut(kRequestType, kSetReport, kReportValue,
                             kDataInterface, report, options_.transfer_timeout);
}

absl::StatusOr<std::vector<uint8_t>> TemperDevice::ReadReply(int max_reports) {
  absl::StatusOr<std::vector<uint8_t>> first = handle_->InterruptIn(
      kDataEndpoint, kReportSize, options_.transfer_timeout);
  if (!first.ok()) return first.status();
  std::vector<uint8_t> reply = *std::move(first);
  for (int i = 1; i < max_reports; ++i) {
    absl::StatusOr<std::vector<uint8_t>> more = handle_->InterruptIn(
        kDataEndpoint, kReportSize, options_.followup_timeout);
    if (absl::IsDeadlineExceeded(more.status())) break;  // reply complete
    if (!more.ok()) return more.status();
    reply.insert(reply.end(), more->begin(), more->end());
  }
  return reply;
}

absl::StatusOr<std::string> TemperDevice::ReadFirmwareId() {
  std::string last;
  for (int attempt = 0; attempt < options_.firmware_attempts; ++attempt) {
    if (absl::Status s = SendReport(kQueryFirmware); !s.ok()) {
      return FirmwareQueryError(s);
    }
    absl::StatusOr<std::vector<uint8_t>> first = handle_->InterruptIn(
        kDataEndpoint, kReportSize, options_.transfer_timeout);
    if (!first.ok()) return FirmwareQueryError(first.status());
    std::vector<uint8_t> bytes = *std::move(first);
    bool terminated = std::find(bytes.begin(), bytes.end(), 0) != bytes.end();
    // The id spans two reports (16 bytes at most, NUL- or space-padded);
    // read the second unless a NUL ended the first.
    for (int i = 1; i < kFirmwareReports && !terminated; ++i) {
      absl::StatusOr<std::vector<uint8_t>> more = handle_->InterruptIn(
          kDataEndpoint, kReportSize, options_.followup_timeout);
      if (absl::IsDeadlineExceeded(more.status())) break;
      if (!more.ok()) return FirmwareQueryError(more.status());
      bytes.insert(bytes.end(), more->begin(), more->end());
      terminated = std::find(more->begin(), more->end(), 0) != more->end();
    }
    last = FirmwareIdFromReports(bytes);
    // Complete: a "TEMPer..." id that a NUL ended or that filled more than
    // one report (ids are longer than 8 characters).
    if (absl::StartsWith(last, "TEMPer") &&
        (terminated || bytes.size() > kReportSize)) {
      return last;
    }
  }
  return absl::DataLossError(
      absl::StrCat("incomplete firmware id '", last, "' after ",
                   options_.firmware_attempts, " attempts"));
}

absl::StatusOr<std::vector<uint8_t>> TemperDevice::QueryRaw(int reports) {
  // TEMPerV1.4 answers the first query with a stale value: ask twice.
  if (absl::Status s = SendReport(kQueryReading); !s.ok()) return s;
  absl::StatusOr<std::vector<uint8_t>> dropped = ReadReply(reports);
  if (!dropped.ok()) return dropped.status();
  if (absl::Status s = SendReport(kQueryReading); !s.ok()) return s;
  return ReadReply(reports);
}

}  // namespace hwcast::collector::usb
