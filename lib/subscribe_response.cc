#include "lib/subscribe_response.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hwcast {

absl::StatusOr<std::vector<const hwcast::v1::SubscribeResponse*>>
SubscribeResponseBatches(const hwcast::v1::SubscribeResponse& response) {
  std::vector<const hwcast::v1::SubscribeResponse*> batches;
  if (response.grouped().empty()) {
    batches.push_back(&response);
    return batches;
  }
  if (response.has_batch() || response.snapshot() || response.hops() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed SubscribeResponse: a group of ", response.grouped_size(),
        " batches that also sets batch, snapshot or hops (a relay puts "
        "those in the group's elements only)"));
  }
  batches.reserve(response.grouped_size());
  for (int i = 0; i < response.grouped_size(); ++i) {
    const hwcast::v1::SubscribeResponse& element = response.grouped(i);
    if (!element.grouped().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed SubscribeResponse.grouped[", i, "] (of ",
                       response.grouped_size(), "): it is a group of ",
                       element.grouped_size(), " itself; groups do not nest"));
    }
    if (!element.has_batch()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed SubscribeResponse.grouped[", i, "] (of ",
                       response.grouped_size(), "): it carries no batch"));
    }
    batches.push_back(&element);
  }
  return batches;
}

}  // namespace hwcast
