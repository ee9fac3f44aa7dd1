#include "services/collector/sources/source_factory.h"

#include "absl/strings/str_cat.h"
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {

absl::StatusOr<std::unique_ptr<Source>> MakeSource(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  const SourceKind* kind = FindSourceKind(source.kind_case());
  if (kind == nullptr || kind->make == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("source '", source.id(),
                                                   "': no kind (one of ",
                                                   SourceKindNames(), ") set"));
  }
  return kind->make(source, clock);
}

}  // namespace hwcast::collector
