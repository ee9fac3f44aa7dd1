// Loads YAML configuration onto a protobuf message (the config schemas in
// proto/hwcast/v1/config.proto), strictly:
//   - keys are field names; an unknown key is an error naming it and listing
//     the known ones;
//   - scalars must fit the field type (int range, bool, double, string);
//   - enums take their value name, case-insensitive, with or without the
//     enum's common prefix ("temperature" == "READING_KIND_TEMPERATURE");
//   - google.protobuf.Duration fields take "250ms", "10s", "1m30s", "2h";
//   - repeated fields take a sequence, messages a mapping; a oneof may have
//     only one member set.
// Every error message starts with "FILE:LINE:COLUMN: key 'a.b[2].c': ".
//
// Thread-compatible; no state.
#ifndef HWCAST_LIB_CONFIG_LOADER_H_
#define HWCAST_LIB_CONFIG_LOADER_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace hwcast {

// Where each key was given in the document: key path ("sources[1].file",
// "relays[0]") -> (line, column), 1-based. Lets errors found after parsing
// (validation) point at the line too.
using ConfigKeyLocations = std::map<std::string, std::pair<int, int>>;

// Parses `yaml_text` onto `message` (which is cleared first). `file_name` is
// used in error messages only. An empty document leaves `message` empty.
// Returns INVALID_ARGUMENT on any mistake in the document. If `locations` is
// given, it is filled with where each key was given.
absl::Status ParseYamlConfig(std::string_view yaml_text,
                             std::string_view file_name,
                             google::protobuf::Message* message,
                             ConfigKeyLocations* locations = nullptr);

// Reads `path` and parses it as above. NOT_FOUND / PERMISSION_DENIED when the
// file cannot be read (the message names the path).
absl::Status LoadYamlConfigFile(const std::string& path,
                                google::protobuf::Message* message,
                                ConfigKeyLocations* locations = nullptr);

// "LINE:COL" of `key_path`, or of its deepest prefix that was given
// ("sources[0].file.path" falls back to "sources[0].file", then
// "sources[0]", then "sources"); "" if none was.
std::string LocateConfigKey(const ConfigKeyLocations& locations,
                            const std::string& key_path);

}  // namespace hwcast

#endif  // HWCAST_LIB_CONFIG_LOADER_H_
