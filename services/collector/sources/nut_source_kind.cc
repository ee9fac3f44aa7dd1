// The nut source kind's registration (source_kind.h): config check, default
// id "nut/UPS", defaults and factory. Beside nut_source.{h,cc} so that the
// NUT source's own files stay as they are.
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/collector/sources/nut_source.h"
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {
namespace {

// NUT UPS names: letters, digits, '_', '-', '.' (what upsd accepts in
// ups.conf section names; no '@', which separates the host in upsc).
bool IsValidUpsName(absl::string_view ups) {
  if (ups.empty()) return false;
  for (char c : ups) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status ValidateNut(const std::string& key,
                         const hwcast::v1::SourceConfig& source,
                         absl::Duration) {
  const hwcast::v1::NutSourceConfig& nut = source.nut();
  if (!nut.address().empty()) {
    HWCAST_RETURN_IF_ERROR(CheckHostPort(absl::StrCat(key, ".address"),
                                         nut.address(),
                                         /*allow_port_zero=*/false));
  }
  if (nut.ups().empty()) {
    return ConfigError(absl::StrCat(key, ".ups"),
                       "required: the UPS name in upsd's ups.conf");
  }
  if (!IsValidUpsName(nut.ups())) {
    return ConfigError(absl::StrCat(key, ".ups"),
                       absl::StrCat("'", nut.ups(),
                                    "' may only contain letters, digits and "
                                    "'_', '.', '-' (give upsd's address in "
                                    "'address', not as UPS@HOST)"));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckName(absl::StrCat(key, ".username"), nut.username()));
  if (!nut.password_file().empty()) {
    const std::string file_key = absl::StrCat(key, ".password_file");
    if (nut.username().empty()) {
      return ConfigError(file_key, "requires username");
    }
    if (!absl::StartsWith(nut.password_file(), "/")) {
      return ConfigError(file_key,
                         absl::StrCat("must be an absolute path, got '",
                                      nut.password_file(), "'"));
    }
    HWCAST_RETURN_IF_ERROR(CheckName(file_key, nut.password_file()));
  }
  return CheckNutTlsAndLogin(nut, key);
}

std::string NutDefaultId(const hwcast::v1::SourceConfig& source) {
  return absl::StrCat("nut/", source.nut().ups());
}

void FillNutDefaults(hwcast::v1::SourceConfig* source) {
  if (source->nut().address().empty()) {
    source->mutable_nut()->set_address(kDefaultNutAddress);
  }
}

absl::StatusOr<std::unique_ptr<Source>> MakeNutSource(
    const hwcast::v1::SourceConfig& source, const Clock* /*clock*/) {
  const hwcast::v1::NutSourceConfig& nut = source.nut();
  NutSourceOptions options;
  options.id = source.id();
  if (!nut.address().empty()) options.address = nut.address();
  options.ups = nut.ups();
  options.username = nut.username();
  options.password_file = nut.password_file();
  options.login = nut.login();
  options.starttls = nut.starttls();
  options.ca_file = nut.ca_file();
  options.server_name = nut.server_name();
  options.timeout = OwnTimeout(source);
  return std::make_unique<NutSource>(std::move(options));
}

}  // namespace

// Its default id "nut/UPS" is valid by construction (the '/' separates the
// type from the checked UPS name), so default_id_from stays null.
extern const SourceKind kNutSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kNut,
    .name = "nut",
    .validate = ValidateNut,
    .default_id = NutDefaultId,
    .fill_defaults = FillNutDefaults,
    .make = MakeNutSource,
};

}  // namespace hwcast::collector
