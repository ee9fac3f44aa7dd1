// Appends entropy to a file (tests; feeding other tools). The credit is
// ignored: a file has no entropy count.
//
// The file is created with mode 0600 if missing (an existing file keeps
// its mode) and opened O_APPEND, so several writers never overwrite each
// other. Thread-safe (each Add is written with write(2) calls on a
// descriptor owned by the sink; concurrent Adds may interleave only if one
// write is partial).
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_FILE_ENTROPY_SINK_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_FILE_ENTROPY_SINK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/posix_util.h"
#include "services/actuator/entropy/entropy_sink.h"

namespace hwcast::actuator::entropy {

class FileEntropySink final : public EntropySink {
 public:
  // Errors name the path.
  static absl::StatusOr<std::unique_ptr<FileEntropySink>> Open(
      const std::string& path);

  absl::Status Add(absl::Span<const uint8_t> bytes,
                   uint32_t credit_bits) override;

  std::string name() const override { return "file:" + path_; }

 private:
  FileEntropySink(std::string path, ScopedFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}

  const std::string path_;
  const ScopedFd fd_;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_FILE_ENTROPY_SINK_H_
