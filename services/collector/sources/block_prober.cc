#include "services/collector/sources/block_prober.h"

#include <blkid/blkid.h>
#include <errno.h>

#include "absl/strings/str_cat.h"
#include "lib/posix_util.h"

namespace hwcast::collector {
namespace {

class BlkidProber final : public BlockProber {
 public:
  absl::StatusOr<ProbeResult> Probe(const std::string& path) override {
    errno = 0;
    blkid_probe probe = blkid_new_probe_from_filename(path.c_str());
    if (probe == nullptr) {
      const int err = errno != 0 ? errno : EIO;
      // An empty drive (CD, card reader): nothing on it, not an error.
      if (err == ENOMEDIUM) return ProbeResult();
      return ErrnoStatus(err, absl::StrCat("cannot open ", path));
    }
    ProbeResult result;
    blkid_probe_enable_superblocks(probe, 1);
    blkid_probe_set_superblocks_flags(
        probe, BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
    const blkid_loff_t size = blkid_probe_get_size(probe);
    if (size > 0) result.size_bytes = static_cast<uint64_t>(size);
    // 0: found, 1: nothing found, -2: ambivalent (several signatures),
    // -1: error.
    const int rc = blkid_do_safeprobe(probe);
    if (rc == -1) {
      blkid_free_probe(probe);
      return absl::InternalError(
          absl::StrCat(path, ": libblkid probe failed (I/O error?)"));
    }
    if (rc == -2) {
      blkid_free_probe(probe);
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": several conflicting filesystem signatures (wipefs?)"));
    }
    if (rc == 0) {
      auto lookup = [probe](const char* name) {
        const char* data = nullptr;
        size_t len = 0;
        if (blkid_probe_lookup_value(probe, name, &data, &len) != 0 ||
            data == nullptr) {
          return std::string();
        }
        // `len` counts the terminating NUL.
        std::string value(data, len);
        while (!value.empty() && value.back() == '\0') value.pop_back();
        return value;
      };
      result.uuid = lookup("UUID");
      result.label = lookup("LABEL");
      result.type = lookup("TYPE");
    }
    blkid_free_probe(probe);
    return result;
  }
};

}  // namespace

std::unique_ptr<BlockProber> MakeBlkidProber() {
  return std::make_unique<BlkidProber>();
}

}  // namespace hwcast::collector
