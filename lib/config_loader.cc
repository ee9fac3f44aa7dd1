#include "lib/config_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cfloat>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "lib/status_macros.h"
#include "yaml-cpp/anchor.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/emitterstyle.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/parser.h"
#include "yaml-cpp/yaml.h"

namespace hwcast {
namespace {

namespace pb = google::protobuf;

// Key path segments (".key" or "[i]") deeper than this are refused. The
// config schemas need fewer than 10; recursive messages could nest forever.
constexpr int kMaxDepth = 64;
// Values converted per document. Aliases let a small document name the same
// large subtree many times; this bounds the work.
constexpr int64_t kMaxValues = 100'000;
// Config files larger than this are refused unread.
constexpr size_t kMaxFileBytes = 16 << 20;
// Longest piece of offending text quoted in an error.
constexpr size_t kMaxQuotedChars = 60;

// The largest google.protobuf.Duration (10000 years).
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;

// Where the walk is: the file name (for messages), the key path of the value
// being converted ("sources[1].file.path"), its depth, and the value budget
// shared by the whole document.
struct Cursor {
  const std::string* file;
  std::string path;
  int depth;
  int64_t* values_left;
  // Where each key path was given; null when the caller does not ask.
  ConfigKeyLocations* locations = nullptr;

  Cursor Key(absl::string_view key) const {
    return Cursor{
        file, path.empty() ? std::string(key) : absl::StrCat(path, ".", key),
        depth + 1, values_left, locations};
  }

  Cursor Index(size_t i) const {
    return Cursor{file, absl::StrCat(path, "[", i, "]"), depth + 1, values_left,
                  locations};
  }

  // Records that this path was given at `mark`.
  void Locate(const YAML::Mark& mark) const {
    if (locations != nullptr && !mark.is_null()) {
      locations->emplace(path, std::make_pair(mark.line + 1, mark.column + 1));
    }
  }

  // "FILE:LINE:COL: key 'PATH': WHAT" (1-based), without the key part at the
  // top level.
  absl::Status Error(const YAML::Mark& mark, absl::string_view what) const {
    std::string where = mark.is_null() ? *file
                                       : absl::StrCat(*file, ":", mark.line + 1,
                                                      ":", mark.column + 1);
    if (path.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": key '", path, "': ", what));
  }
};

// What a YAML value is converted into: `field` of `message`; for a repeated
// field, one new element of it.
struct Target {
  pb::Message* message;
  const pb::FieldDescriptor* field;
};

// ---------------------------------------------------------------------------
// Descriptions used in error messages.

bool IsDuration(const pb::FieldDescriptor* field) {
  return field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
         field->message_type()->full_name() == "google.protobuf.Duration";
}

// A message field that takes a mapping (Duration takes a string instead).
bool TakesMapping(const pb::FieldDescriptor* field) {
  return field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
         !IsDuration(field);
}

std::string KnownKeys(const pb::Descriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) {
    names.push_back(type->field(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

// "ReadingKind" -> "READING_KIND".
std::string UpperSnake(absl::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const char c = camel[i];
    if (i > 0 && absl::ascii_isupper(c) &&
        (absl::ascii_islower(camel[i - 1]) ||
         absl::ascii_isdigit(camel[i - 1]))) {
      out.push_back('_');
    }
    out.push_back(absl::ascii_toupper(c));
  }
  return out;
}

// The prefix every value name of `type` starts with, which users may leave
// out: "READING_KIND_" for ReadingKind. Preferably the enum's own name in
// UPPER_SNAKE (the protobuf style), else the longest common prefix ending in
// '_'; empty when there is none.
std::string EnumPrefix(const pb::EnumDescriptor* type) {
  auto all_start_with = [type](absl::string_view prefix) {
    for (int i = 0; i < type->value_count(); ++i) {
      const std::string& name = type->value(i)->name();
      if (name.size() <= prefix.size() || !absl::StartsWith(name, prefix)) {
        return false;
      }
    }
    return true;
  };
  const std::string own = UpperSnake(type->name()) + "_";
  if (all_start_with(own)) return own;
  if (type->value_count() < 2) return "";
  std::string common = type->value(0)->name();
  for (int i = 1; i < type->value_count(); ++i) {
    const std::string& name = type->value(i)->name();
    size_t n = 0;
    while (n < common.size() && n < name.size() && common[n] == name[n]) ++n;
    common.resize(n);
  }
  const size_t underscore = common.rfind('_');
  if (underscore == std::string::npos) return "";
  common.resize(underscore + 1);
  return all_start_with(common) ? common : "";
}

// "unspecified, temperature, humidity, ..."
std::string ShortEnumNames(const pb::EnumDescriptor* type) {
  const std::string prefix = EnumPrefix(type);
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    names.push_back(absl::AsciiStrToLower(
        absl::StripPrefix(type->value(i)->name(), prefix)));
  }
  return absl::StrJoin(names, ", ");
}

std::string Expected(const pb::FieldDescriptor* field) {
  if (IsDuration(field)) {
    return "a duration such as \"250ms\", \"10s\", \"1m30s\" or \"2h\"";
  }
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return "an integer (int32)";
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return "an integer (int64)";
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return "a non-negative integer (uint32)";
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return "a non-negative integer (uint64)";
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return "a number";
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("one of: ", ShortEnumNames(field->enum_type()));
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return absl::StrCat("a mapping with keys: ",
                          KnownKeys(field->message_type()));
  }
  return "a value";
}

// The field as a whole: a list for repeated fields.
std::string ExpectedField(const pb::FieldDescriptor* field) {
  if (field->is_map()) return "a mapping";
  if (field->is_repeated()) {
    return absl::StrCat("a sequence (list) of ", Expected(field));
  }
  return Expected(field);
}

// 'text', cut short and with unprintable bytes escaped.
std::string Quote(absl::string_view text) {
  if (text.size() > kMaxQuotedChars) {
    return absl::StrCat("'", absl::CHexEscape(text.substr(0, kMaxQuotedChars)),
                        "...'");
  }
  return absl::StrCat("'", absl::CHexEscape(text), "'");
}

std::string Got(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

absl::Status WrongType(const YAML::Node& node, const YAML::Mark& mark,
                       const std::string& expected, const Cursor& at) {
  return at.Error(mark,
                  absl::StrCat("expected ", expected, ", got ", Got(node)));
}

// ---------------------------------------------------------------------------
// Scalar text -> typed value. Each returns an error naming the key.

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// A decimal integer, [-+]?[0-9]+, within [min, max].
absl::StatusOr<int64_t> ToSigned(const YAML::Node& node, int64_t min,
                                 int64_t max, absl::string_view type_name,
                                 const Cursor& at) {
  absl::string_view text = node.Scalar();
  absl::string_view digits = text;
  const bool negative = absl::ConsumePrefix(&digits, "-");
  if (!negative) absl::ConsumePrefix(&digits, "+");
  if (!IsDigits(digits)) {
    return at.Error(node.Mark(),
                    absl::StrCat("expected an integer (", type_name, "), got ",
                                 Quote(text)));
  }
  // Parse the magnitude as unsigned so that INT64_MIN needs no special case.
  uint64_t magnitude = 0;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  const uint64_t limit = negative ? static_cast<uint64_t>(-(min + 1)) + 1
                                  : static_cast<uint64_t>(max);
  if (ec != std::errc() || end != digits.data() + digits.size() ||
      magnitude > limit) {
    return at.Error(node.Mark(),
                    absl::StrCat(Quote(text), " is out of range for ",
                                 type_name, " (", min, " to ", max, ")"));
  }
  if (!negative) return static_cast<int64_t>(magnitude);
  return magnitude == 0 ? 0 : -static_cast<int64_t>(magnitude - 1) - 1;
}

// A decimal integer, +?[0-9]+, at most `max`.
absl::StatusOr<uint64_t> ToUnsigned(const YAML::Node& node, uint64_t max,
                                    absl::string_view type_name,
                                    const Cursor& at) {
  absl::string_view text = node.Scalar();
  absl::string_view digits = text;
  if (absl::StartsWith(digits, "-") && IsDigits(digits.substr(1))) {
    return at.Error(node.Mark(),
                    absl::StrCat("expected a non-negative integer (", type_name,
                                 "), got ", Quote(text)));
  }
  absl::ConsumePrefix(&digits, "+");
  if (!IsDigits(digits)) {
    return at.Error(node.Mark(),
                    absl::StrCat("expected a non-negative integer (", type_name,
                                 "), got ", Quote(text)));
  }
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() ||
      value > max) {
    return at.Error(node.Mark(),
                    absl::StrCat(Quote(text), " is out of range for ",
                                 type_name, " (0 to ", max, ")"));
  }
  return value;
}

// A finite decimal number: "1", "-0.5", "1e-3". YAML's ".inf" and ".nan"
// are refused: no setting needs them and they would slip past range checks.
absl::StatusOr<double> ToNumber(const YAML::Node& node, bool is_float,
                                const Cursor& at) {
  const std::string& text = node.Scalar();
  absl::string_view rest = text;
  const bool negative = absl::ConsumePrefix(&rest, "-");
  if (!negative) absl::ConsumePrefix(&rest, "+");
  // from_chars alone would also take "inf", "nan" and hex floats.
  const bool starts_like_number =
      !rest.empty() &&
      (absl::ascii_isdigit(rest[0]) ||
       (rest[0] == '.' && rest.size() > 1 && absl::ascii_isdigit(rest[1])));
  double value = 0;
  std::from_chars_result result{rest.data(), std::errc::invalid_argument};
  if (starts_like_number) {
    result = std::from_chars(rest.data(), rest.data() + rest.size(), value,
                             std::chars_format::general);
  }
  if (result.ec == std::errc::invalid_argument ||
      result.ptr != rest.data() + rest.size()) {
    return at.Error(node.Mark(),
                    absl::StrCat("expected a number, got ", Quote(text)));
  }
  if (result.ec == std::errc::result_out_of_range ||
      (is_float && value > FLT_MAX)) {
    return at.Error(node.Mark(),
                    absl::StrCat(Quote(text), " is out of range for ",
                                 is_float ? "float" : "double"));
  }
  return negative ? -value : value;
}

// YAML 1.2 core schema booleans only; "yes", "on", "1" are refused because
// they are easy to get wrong.
absl::StatusOr<bool> ToBool(const YAML::Node& node, const Cursor& at) {
  const std::string& text = node.Scalar();
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return at.Error(node.Mark(),
                  absl::StrCat("expected true or false, got ", Quote(text)));
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t code_point = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[extra] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

absl::StatusOr<std::string> ToString(const YAML::Node& node,
                                     const pb::FieldDescriptor* field,
                                     const Cursor& at) {
  const std::string& text = node.Scalar();
  if (field->type() == pb::FieldDescriptor::TYPE_STRING && !IsValidUtf8(text)) {
    return at.Error(node.Mark(), "string is not valid UTF-8");
  }
  return text;
}

// A value name, any case, with or without the enum's prefix.
absl::StatusOr<const pb::EnumValueDescriptor*> ToEnum(
    const YAML::Node& node, const pb::EnumDescriptor* type, const Cursor& at) {
  const std::string upper = absl::AsciiStrToUpper(node.Scalar());
  const std::string prefix = EnumPrefix(type);
  for (int i = 0; i < type->value_count(); ++i) {
    const pb::EnumValueDescriptor* value = type->value(i);
    if (!upper.empty() &&
        (value->name() == upper || value->name() == prefix + upper)) {
      return value;
    }
  }
  return at.Error(node.Mark(),
                  absl::StrCat("unknown value ", Quote(node.Scalar()),
                               "; expected one of: ", ShortEnumNames(type)));
}

absl::StatusOr<absl::Duration> ToDuration(const YAML::Node& node,
                                          const Cursor& at) {
  const std::string& text = node.Scalar();
  absl::Duration value;
  if (!absl::ParseDuration(text, &value)) {
    return at.Error(node.Mark(),
                    absl::StrCat("expected a duration such as \"250ms\", "
                                 "\"10s\", \"1m30s\" or \"2h\", got ",
                                 Quote(text)));
  }
  if (value < absl::ZeroDuration()) {
    return at.Error(node.Mark(), absl::StrCat("duration ", Quote(text),
                                              " must not be negative"));
  }
  if (value > absl::Seconds(kMaxDurationSeconds)) {
    return at.Error(node.Mark(),
                    absl::StrCat("duration ", Quote(text), " is too long"));
  }
  return value;
}

// ---------------------------------------------------------------------------
// Storing into the target.

pb::Message* MutableOrAdd(const Target& t) {
  const pb::Reflection* r = t.message->GetReflection();
  return t.field->is_repeated() ? r->AddMessage(t.message, t.field)
                                : r->MutableMessage(t.message, t.field);
}

void StoreDuration(absl::Duration value, pb::Message* duration) {
  const pb::Descriptor* type = duration->GetDescriptor();
  const pb::Reflection* r = duration->GetReflection();
  absl::Duration remainder;
  const int64_t seconds =
      absl::IDivDuration(value, absl::Seconds(1), &remainder);
  r->SetInt64(duration, type->FindFieldByName("seconds"), seconds);
  r->SetInt32(duration, type->FindFieldByName("nanos"),
              static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
}

// ---------------------------------------------------------------------------
// One function per YAML node kind.

absl::Status ParseMapping(const YAML::Node& node, const Cursor& at,
                          pb::Message* message);
absl::Status ParseValue(const YAML::Node& node, const YAML::Mark& null_mark,
                        const Target& target, const Cursor& at);

// A null ("key:" with nothing, "~", "null"): an empty but present message for
// message fields, an error for everything else.
absl::Status ParseNull(const YAML::Mark& mark, const Target& target,
                       const Cursor& at) {
  if (TakesMapping(target.field)) {
    MutableOrAdd(target);
    return absl::OkStatus();
  }
  return at.Error(
      mark, absl::StrCat("missing value; expected ", Expected(target.field)));
}

// A scalar onto a scalar, enum or Duration field (one element if repeated).
absl::Status ParseScalar(const YAML::Node& node, const Target& target,
                         const Cursor& at) {
  const pb::FieldDescriptor* f = target.field;
  pb::Message* m = target.message;
  const pb::Reflection* r = m->GetReflection();
  const bool add = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      HWCAST_ASSIGN_OR_RETURN(
          const int64_t v,
          ToSigned(node, std::numeric_limits<int32_t>::min(),
                   std::numeric_limits<int32_t>::max(), "int32", at));
      if (add) {
        r->AddInt32(m, f, static_cast<int32_t>(v));
      } else {
        r->SetInt32(m, f, static_cast<int32_t>(v));
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      HWCAST_ASSIGN_OR_RETURN(
          const int64_t v,
          ToSigned(node, std::numeric_limits<int64_t>::min(),
                   std::numeric_limits<int64_t>::max(), "int64", at));
      if (add) {
        r->AddInt64(m, f, v);
      } else {
        r->SetInt64(m, f, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      HWCAST_ASSIGN_OR_RETURN(
          const uint64_t v,
          ToUnsigned(node, std::numeric_limits<uint32_t>::max(), "uint32", at));
      if (add) {
        r->AddUInt32(m, f, static_cast<uint32_t>(v));
      } else {
        r->SetUInt32(m, f, static_cast<uint32_t>(v));
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      HWCAST_ASSIGN_OR_RETURN(
          const uint64_t v,
          ToUnsigned(node, std::numeric_limits<uint64_t>::max(), "uint64", at));
      if (add) {
        r->AddUInt64(m, f, v);
      } else {
        r->SetUInt64(m, f, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE: {
      HWCAST_ASSIGN_OR_RETURN(const double v, ToNumber(node, false, at));
      if (add) {
        r->AddDouble(m, f, v);
      } else {
        r->SetDouble(m, f, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      HWCAST_ASSIGN_OR_RETURN(const double v, ToNumber(node, true, at));
      if (add) {
        r->AddFloat(m, f, static_cast<float>(v));
      } else {
        r->SetFloat(m, f, static_cast<float>(v));
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      HWCAST_ASSIGN_OR_RETURN(const bool v, ToBool(node, at));
      if (add) {
        r->AddBool(m, f, v);
      } else {
        r->SetBool(m, f, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      HWCAST_ASSIGN_OR_RETURN(std::string v, ToString(node, f, at));
      if (add) {
        r->AddString(m, f, std::move(v));
      } else {
        r->SetString(m, f, std::move(v));
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      HWCAST_ASSIGN_OR_RETURN(const pb::EnumValueDescriptor* v,
                              ToEnum(node, f->enum_type(), at));
      if (add) {
        r->AddEnum(m, f, v);
      } else {
        r->SetEnum(m, f, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      if (IsDuration(f)) {
        HWCAST_ASSIGN_OR_RETURN(const absl::Duration v, ToDuration(node, at));
        StoreDuration(v, MutableOrAdd(target));
        return absl::OkStatus();
      }
      return WrongType(node, node.Mark(), Expected(f), at);
  }
  return at.Error(node.Mark(), "unsupported field type");
}

// A sequence onto a repeated field, element by element.
absl::Status ParseSequence(const YAML::Node& node, const Target& target,
                           const Cursor& at) {
  size_t index = 0;
  for (const YAML::Node& element : node) {
    const Cursor item = at.Index(index);
    item.Locate(element.Mark());
    HWCAST_RETURN_IF_ERROR(ParseValue(element, element.Mark(), target, item));
    ++index;
  }
  return absl::OkStatus();
}

// Returns the text of a mapping key, which must be a non-empty scalar.
absl::StatusOr<std::string> KeyText(const YAML::Node& key, const Cursor& at) {
  if (!key.IsScalar() || key.Scalar().empty()) {
    return at.Error(key.Mark(),
                    absl::StrCat("keys must be plain names, got ", Got(key)));
  }
  return key.Scalar();
}

// A mapping onto a map<K, V> field: each key becomes one entry.
absl::Status ParseMapEntries(const YAML::Node& node, const Target& target,
                             const Cursor& at) {
  const pb::Descriptor* entry_type = target.field->message_type();
  std::map<std::string, YAML::Mark> seen;
  for (const auto& pair : node) {
    HWCAST_ASSIGN_OR_RETURN(const std::string key, KeyText(pair.first, at));
    const Cursor child = at.Key(key);
    if (auto [it, inserted] = seen.emplace(key, pair.first.Mark()); !inserted) {
      return child.Error(pair.first.Mark(),
                         absl::StrCat("duplicate key (first given at line ",
                                      it->second.line + 1, ")"));
    }
    pb::Message* entry = MutableOrAdd(target);
    HWCAST_RETURN_IF_ERROR(
        ParseScalar(pair.first, Target{entry, entry_type->map_key()}, child));
    HWCAST_RETURN_IF_ERROR(ParseValue(pair.second, pair.first.Mark(),
                                      Target{entry, entry_type->map_value()},
                                      child));
  }
  return absl::OkStatus();
}

// A mapping onto a message: keys are field names.
absl::Status ParseMapping(const YAML::Node& node, const Cursor& at,
                          pb::Message* message) {
  const pb::Descriptor* type = message->GetDescriptor();
  std::map<std::string, YAML::Mark> seen;
  std::map<const pb::OneofDescriptor*, std::string> oneof_keys;
  for (const auto& pair : node) {
    const YAML::Node& key = pair.first;
    HWCAST_ASSIGN_OR_RETURN(const std::string name, KeyText(key, at));
    const Cursor child = at.Key(name);
    child.Locate(key.Mark());
    if (auto [it, inserted] = seen.emplace(name, key.Mark()); !inserted) {
      return child.Error(key.Mark(),
                         absl::StrCat("duplicate key (first given at line ",
                                      it->second.line + 1, ")"));
    }
    const pb::FieldDescriptor* field = type->FindFieldByName(name);
    if (field == nullptr) {
      return child.Error(key.Mark(), absl::StrCat("unknown key; known keys: ",
                                                  KnownKeys(type)));
    }
    if (const pb::OneofDescriptor* oneof = field->real_containing_oneof()) {
      if (auto [it, inserted] = oneof_keys.emplace(oneof, name); !inserted) {
        return child.Error(key.Mark(),
                           absl::StrCat("'", it->second, "' and '", name,
                                        "' cannot both be given (only one of '",
                                        oneof->name(), "' may be set)"));
      }
    }
    const Target target{message, field};
    const YAML::Node& value = pair.second;
    if (field->is_map()) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        return WrongType(value, value.Mark(), ExpectedField(field), child);
      }
      HWCAST_RETURN_IF_ERROR(ParseMapEntries(value, target, child));
    } else if (field->is_repeated()) {
      // "key:" with nothing is an empty list, the same as leaving it out.
      if (value.IsNull()) continue;
      if (!value.IsSequence()) {
        return WrongType(value, value.Mark(), ExpectedField(field), child);
      }
      HWCAST_RETURN_IF_ERROR(ParseSequence(value, target, child));
    } else {
      HWCAST_RETURN_IF_ERROR(ParseValue(value, key.Mark(), target, child));
    }
  }
  return absl::OkStatus();
}

// One value (a singular field, or one element of a repeated field): dispatch
// on the node kind. `null_mark` locates a null, whose own mark is unreliable.
absl::Status ParseValue(const YAML::Node& node, const YAML::Mark& null_mark,
                        const Target& target, const Cursor& at) {
  if (at.depth > kMaxDepth) {
    return at.Error(node.Mark(), absl::StrCat("nested more than ", kMaxDepth,
                                              " levels deep"));
  }
  if (--*at.values_left < 0) {
    return at.Error(node.Mark(), absl::StrCat("document has more than ",
                                              kMaxValues, " values"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return ParseNull(null_mark, target, at);
    case YAML::NodeType::Scalar:
      return ParseScalar(node, target, at);
    case YAML::NodeType::Map:
      if (!TakesMapping(target.field)) break;
      return ParseMapping(node, at, MutableOrAdd(target));
    case YAML::NodeType::Sequence:
    case YAML::NodeType::Undefined:
      break;
  }
  return WrongType(node, node.Mark(), Expected(target.field), at);
}

// Records where each document starts; builds nothing.
class DocumentStarts final : public YAML::EventHandler {
 public:
  const std::vector<YAML::Mark>& marks() const { return marks_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    marks_.push_back(mark);
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::vector<YAML::Mark> marks_;
};

// Refuses a stream of more than one document. YAML::LoadAll is not used for
// this: in yaml-cpp 0.7 it never returns on some malformed input (a stray ','
// at the top level, jbeder/yaml-cpp#1040), producing empty documents without
// consuming any input until memory runs out. Looking at two documents at most
// and comparing where they start catches that case as a syntax error.
absl::Status CheckSingleDocument(const std::string& text, const Cursor& at) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
  }
  if (starts.marks().size() < 2) return absl::OkStatus();
  const YAML::Mark& first = starts.marks()[0];
  const YAML::Mark& second = starts.marks()[1];
  if (second.pos == first.pos &&
      static_cast<size_t>(second.pos) < text.size()) {
    return at.Error(second,
                    absl::StrCat("YAML syntax error: unexpected ",
                                 Quote(absl::string_view(text).substr(
                                     static_cast<size_t>(second.pos), 1))));
  }
  return at.Error(second,
                  "only one YAML document is allowed, found another after "
                  "'---'");
}

absl::Status ParseDocument(const std::string& text, const Cursor& at,
                           pb::Message* message) {
  YAML::Node root;
  try {
    HWCAST_RETURN_IF_ERROR(CheckSingleDocument(text, at));
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is "bad file".
    return at.Error(e.mark, "YAML syntax error: nested too deeply");
  } catch (const YAML::ParserException& e) {
    return at.Error(e.mark, absl::StrCat("YAML syntax error: ", e.msg));
  }
  // An empty document, only comments, or an explicit null.
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return at.Error(
        root.Mark(),
        absl::StrCat("the document must be a mapping with keys: ",
                     KnownKeys(message->GetDescriptor()), "; got ", Got(root)));
  }
  return ParseMapping(root, at, message);
}

absl::Status FileError(int error, const std::string& path) {
  const std::string what =
      absl::StrCat("cannot read config file '", path,
                   "': ", std::generic_category().message(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(what);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(what);
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(what);
    case EINTR:
    case EIO:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::UnavailableError(what);
    default:
      return absl::UnknownError(what);
  }
}

// Reads at most kMaxFileBytes + 1 bytes of `path`.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(errno, path);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat info;
  if (fstat(fd, &info) != 0) return FileError(errno, path);
  if (S_ISDIR(info.st_mode)) return FileError(EISDIR, path);
  std::string text;
  char buffer[64 * 1024];
  while (text.size() <= kMaxFileBytes) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, path);
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "config file '", path, "' is larger than ", kMaxFileBytes >> 20, " MiB"));
}

}  // namespace

absl::Status ParseYamlConfig(std::string_view yaml_text,
                             std::string_view file_name,
                             google::protobuf::Message* message,
                             ConfigKeyLocations* locations) {
  message->Clear();
  if (locations != nullptr) locations->clear();
  const std::string file(file_name);
  int64_t values_left = kMaxValues;
  const Cursor top{&file, "", 0, &values_left, locations};
  absl::Status status;
  try {
    status = ParseDocument(std::string(yaml_text), top, message);
  } catch (const YAML::Exception& e) {
    // Node accessors throw only on misuse; report rather than crash.
    status = top.Error(e.mark, absl::StrCat("YAML error: ", e.msg));
  } catch (const std::exception& e) {
    status = absl::InternalError(
        absl::StrCat(file, ": cannot load YAML config: ", e.what()));
  }
  // A half-loaded config is never handed out.
  if (!status.ok()) message->Clear();
  return status;
}

absl::Status LoadYamlConfigFile(const std::string& path,
                                google::protobuf::Message* message,
                                ConfigKeyLocations* locations) {
  message->Clear();
  if (locations != nullptr) locations->clear();
  HWCAST_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return ParseYamlConfig(text, path, message, locations);
}

std::string LocateConfigKey(const ConfigKeyLocations& locations,
                            const std::string& key_path) {
  // The deepest given prefix: a missing "sources[0].file.path" is reported
  // where "sources[0].file" was given.
  std::string path = key_path;
  while (!path.empty()) {
    if (auto it = locations.find(path); it != locations.end()) {
      return absl::StrCat(it->second.first, ":", it->second.second);
    }
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) break;
    path.resize(cut);
  }
  return "";
}

}  // namespace hwcast
