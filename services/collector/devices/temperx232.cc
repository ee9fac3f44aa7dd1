#include "services/collector/devices/temperx232.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace hwcast::collector::devices {
namespace {

constexpr absl::string_view kInner = "Temp-Inner:";
constexpr absl::string_view kOuter = "Temp-Outer:";
constexpr double kMinCelsius = -55.0;
constexpr double kMaxCelsius = 125.0;

// The reply without CR, LF and NUL (they may sit anywhere).
std::string Clean(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

// The body of the part `tag` ("28.15 [C],34.80 [%RH]"), or nothing when the
// reply has no such part ended by '<'.
std::optional<absl::string_view> Part(absl::string_view text,
                                      absl::string_view tag) {
  const size_t start = text.find(tag);
  if (start == absl::string_view::npos) return std::nullopt;
  const size_t body = start + tag.size();
  const size_t end = text.find('<', body);
  if (end == absl::string_view::npos) return std::nullopt;
  return text.substr(body, end - body);
}

// Consumes a decimal number ("-3.25", "27") from the front of `s`.
std::optional<double> Number(absl::string_view* s) {
  *s = absl::StripLeadingAsciiWhitespace(*s);
  size_t n = 0;
  if (n < s->size() && ((*s)[n] == '-' || (*s)[n] == '+')) ++n;
  const size_t digits_start = n;
  while (n < s->size() && absl::ascii_isdigit((*s)[n])) ++n;
  if (n == digits_start) return std::nullopt;
  if (n < s->size() && (*s)[n] == '.') {
    ++n;
    const size_t frac = n;
    while (n < s->size() && absl::ascii_isdigit((*s)[n])) ++n;
    if (n == frac) return std::nullopt;
  }
  double value;
  if (!absl::SimpleAtod(s->substr(0, n), &value)) return std::nullopt;
  s->remove_prefix(n);
  return value;
}

bool Unit(absl::string_view* s, absl::string_view unit) {
  *s = absl::StripLeadingAsciiWhitespace(*s);
  return absl::ConsumePrefix(s, unit);
}

// "27.11 [C]" or "27.11 [C],36.72 [%RH]".
struct PartValues {
  double celsius;
  std::optional<double> humidity;
};
std::optional<PartValues> ParsePart(absl::string_view body) {
  PartValues v;
  std::optional<double> t = Number(&body);
  if (!t.has_value() || !Unit(&body, "[C]")) return std::nullopt;
  v.celsius = *t;
  body = absl::StripLeadingAsciiWhitespace(body);
  if (absl::ConsumePrefix(&body, ",")) {
    std::optional<double> h = Number(&body);
    if (!h.has_value() || !Unit(&body, "[%RH]")) return std::nullopt;
    v.humidity = *h;
  }
  if (!absl::StripAsciiWhitespace(body).empty()) return std::nullopt;
  return v;
}

TemperX232Quantity Quantity(std::string name, bool humidity, double value) {
  TemperX232Quantity q;
  q.name = std::move(name);
  q.humidity = humidity;
  const double min = humidity ? 0.0 : kMinCelsius;
  const double max = humidity ? 100.0 : kMaxCelsius;
  if (value < min || value > max) {
    q.fault = absl::StrFormat(
        "%s: %.2f %s is outside the sensor's range "
        "[%g, %g]",
        q.name, value, humidity ? "%RH" : "°C", min, max);
  } else {
    q.value = value;
  }
  return q;
}

void Add(const PartValues& v, const char* temperature, const char* humidity,
         std::vector<TemperX232Quantity>* out) {
  out->push_back(Quantity(temperature, false, v.celsius));
  if (v.humidity.has_value()) {
    out->push_back(Quantity(humidity, true, *v.humidity));
  }
}

}  // namespace

bool TemperX232ReplyComplete(absl::string_view text) {
  return Part(Clean(text), kInner).has_value();
}

absl::StatusOr<std::vector<TemperX232Quantity>> DecodeTemperX232Reply(
    absl::string_view text) {
  const std::string clean = Clean(text);
  absl::string_view reply = clean;
  const size_t first = reply.find("Temp-");
  if (first != absl::string_view::npos) reply.remove_prefix(first);
  const std::optional<absl::string_view> inner = Part(reply, kInner);
  std::optional<PartValues> inner_values;
  if (inner.has_value()) inner_values = ParsePart(*inner);
  if (!inner_values.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        inner.has_value() ? "malformed Temp-Inner part" : "no Temp-Inner part",
        " in reply '", absl::CEscape(text.substr(0, 200)), "'"));
  }
  std::vector<TemperX232Quantity> out;
  Add(*inner_values, "internal", "humidity", &out);
  if (const std::optional<absl::string_view> outer = Part(reply, kOuter)) {
    if (std::optional<PartValues> v = ParsePart(*outer)) {
      Add(*v, "external", "external_humidity", &out);
    } else {
      TemperX232Quantity q;
      q.name = "external";
      q.fault = absl::StrCat("external: malformed Temp-Outer part '",
                             absl::CEscape(*outer), "'");
      out.push_back(std::move(q));
    }
  }
  return out;
}

}  // namespace hwcast::collector::devices
