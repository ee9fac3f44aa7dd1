#include "services/collector/devices/temperature_alert.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/collector/devices/temper_decoder.h"

namespace hwcast::collector {

absl::StatusOr<double> DecodeTemperatureAlertReply(
    absl::Span<const uint8_t> reply) {
  if (reply.size() != kTemperatureAlertReplyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply has ", reply.size(), " bytes, expected ",
                     kTemperatureAlertReplyBytes));
  }
  size_t i = 0;
  while (i < reply.size() && reply[i] == 0) ++i;
  if (i == reply.size()) {
    return absl::InvalidArgumentError("reply is all zeros");
  }
  if (i + 1 == reply.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("only the last byte of the reply is non-zero, no high "
                     "byte follows (",
                     devices::HexBytes(reply), ")"));
  }
  return (reply[i] + 256.0 * reply[i + 1]) / 16.0;
}

}  // namespace hwcast::collector
