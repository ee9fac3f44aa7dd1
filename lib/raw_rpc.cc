#include "lib/raw_rpc.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/log.h"

namespace hwcast {

absl::Status ParseRawMessage(const grpc::ByteBuffer& raw,
                             absl::string_view what,
                             google::protobuf::Message* out) {
  const std::string type = out->GetDescriptor()->full_name();
  std::vector<grpc::Slice> slices;
  if (!raw.Valid() || !raw.Dump(&slices).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": no ", type, " received"));
  }
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  if (!out->ParseFromString(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " (", bytes.size(), " bytes) is not a serialized ", type,
        " (a client built from another .proto, or a "
        "damaged message)"));
  }
  return absl::OkStatus();
}

std::function<void(const absl::Status&)> LogBadRequest(
    const grpc::ServerContextBase* context, absl::string_view method) {
  return [context, method = std::string(method)](const absl::Status& why) {
    HWCAST_LOG(DEBUG) << method << " from " << context->peer()
                      << " refused: " << why.message();
  };
}

grpc::ByteBuffer SerializeToByteBuffer(
    const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace hwcast
