#include "services/collector/usb/temper_device.h"

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
constexpr uint16_t kNoSensor = 0x4E20;

constexpr uint8_t kQueryReading[kReportSize] = {0x01, 0x80, 0x33, 0x01,
                                                0x00, 0x00, 0x00, 0x00};
constexpr uint8_t kQueryFirmware[kReportSize] = {0x01, 0x86, 0xFF, 0x01,
                                                 0x00, 0x00, 0x00, 0x00};

uint16_t BigEndian16(absl::Span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

std::string Hex(absl::Span<const uint8_t> bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : " ",
                    absl::Hex(bytes[i], absl::kZeroPad2));
  }
  return out;
}

}  // namespace

std::optional<TemperModel> TemperModelFor(uint16_t vendor_id,
                                          uint16_t product_id) {
  if (vendor_id == 0x0c45 && (product_id == 0x7401 || product_id == 0x7402)) {
    return TemperModel::kFm75;
  }
  if (vendor_id == 0x413d && product_id == 0x2107) {
    return TemperModel::kTemperGold;
  }
  return std::nullopt;
}

std::string UsbId(uint16_t vendor_id, uint16_t product_id) {
  return absl::StrFormat("%04x:%04x", vendor_id, product_id);
}

bool Fm75HasExternal(uint16_t product_id, const std::string& firmware) {
  return product_id == 0x7402 || absl::StartsWith(firmware, "TEMPer2");
}

std::string FirmwareIdFromReports(absl::Span<const uint8_t> bytes) {
  std::string text;
  for (uint8_t b : bytes) {
    if (b == 0) break;
    if (absl::ascii_isprint(b)) text.push_back(static_cast<char>(b));
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

absl::StatusOr<TemperSample> DecodeTemperReply(TemperModel model,
                                               absl::Span<const uint8_t> reply,
                                               bool with_external) {
  if (reply.size() < kReportSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "short reply (", reply.size(), " bytes, want 8): ", Hex(reply)));
  }
  if (reply[0] != 0x80) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a reading report: ", Hex(reply)));
  }
  TemperSample sample;
  if (model == TemperModel::kFm75) {
    sample.internal_celsius =
        static_cast<int16_t>(BigEndian16(reply, 2)) / 256.0;
    if (with_external) {
      sample.external_celsius =
          static_cast<int16_t>(BigEndian16(reply, 4)) / 256.0;
    }
    return sample;
  }
  // TEMPerGold / TEMPerX: value / 100, 0x4E20 = no sensor.
  auto field = [&](size_t offset, const char* name,
                   std::optional<double>* out) {
    if (reply.size() < offset + 2) return;
    const uint16_t raw = BigEndian16(reply, offset);
    if (raw == kNoSensor) {
      sample.no_sensor.push_back(name);
      return;
    }
    *out = static_cast<int16_t>(raw) / 100.0;
  };
  field(2, "internal", &sample.internal_celsius);
  field(4, "humidity", &sample.humidity_percent);
  field(10, "external", &sample.external_celsius);
  field(12, "external_humidity", &sample.external_humidity_percent);
  return sample;
}

TemperDevice::TemperDevice(UsbDeviceHandle* handle, TemperModel model,
                           TemperDeviceOptions options)
    : handle_(handle), model_(model), options_(options) {}

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
    if (absl::Status s = SendReport(kQueryFirmware); !s.ok()) return s;
    absl::StatusOr<std::vector<uint8_t>> first = handle_->InterruptIn(
        kDataEndpoint, kReportSize, options_.transfer_timeout);
    if (!first.ok()) return first.status();
    std::vector<uint8_t> bytes = *std::move(first);
    bool terminated = std::find(bytes.begin(), bytes.end(), 0) != bytes.end();
    // The id spans several reports; read until a NUL ends it or none comes.
    for (int i = 1; i < 4 && !terminated; ++i) {
      absl::StatusOr<std::vector<uint8_t>> more = handle_->InterruptIn(
          kDataEndpoint, kReportSize, options_.followup_timeout);
      if (absl::IsDeadlineExceeded(more.status())) break;
      if (!more.ok()) return more.status();
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

absl::StatusOr<std::vector<uint8_t>> TemperDevice::QueryRaw() {
  // TEMPerV1.4 answers the first query with a stale value: ask twice.
  const int reports = model_ == TemperModel::kTemperGold ? 2 : 1;
  if (absl::Status s = SendReport(kQueryReading); !s.ok()) return s;
  absl::StatusOr<std::vector<uint8_t>> dropped = ReadReply(reports);
  if (!dropped.ok()) return dropped.status();
  if (absl::Status s = SendReport(kQueryReading); !s.ok()) return s;
  return ReadReply(reports);
}

}  // namespace hwcast::collector::usb
