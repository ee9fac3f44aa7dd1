#include "services/collector/sources/exec_source.h"

#include <signal.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/subprocess.h"
#include "services/collector/sources/scaled_value.h"
#include "services/collector/sources/source_kind.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the run of digits at `s[i]`.
size_t Digits(absl::string_view s, size_t i) {
  size_t n = 0;
  while (i + n < s.size() && IsDigit(s[i + n])) ++n;
  return n;
}

}  // namespace

std::optional<double> FirstNumber(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    // A number starts at a digit, or at ".digit".
    size_t start = i;
    size_t j = i;
    const size_t int_digits = Digits(text, j);
    j += int_digits;
    size_t frac_digits = 0;
    if (j < text.size() && text[j] == '.') {
      frac_digits = Digits(text, j + 1);
      if (frac_digits > 0 || int_digits > 0) {
        j += 1 + frac_digits;
      }
    }
    if (int_digits == 0 && frac_digits == 0) continue;
    // Exponent only when digits follow ("5e" is 5 then "e").
    if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
      size_t k = j + 1;
      if (k < text.size() && (text[k] == '+' || text[k] == '-')) ++k;
      const size_t exp_digits = Digits(text, k);
      if (exp_digits > 0) j = k + exp_digits;
    }
    if (start > 0 && (text[start - 1] == '-' || text[start - 1] == '+')) {
      --start;
    }
    std::string number(text.substr(start, j - start));
    if (number.back() == '.') number.pop_back();  // "5." -> "5"
    double value = 0;
    if (absl::SimpleAtod(number, &value)) return value;
    // Out of range for a double: strtod's infinity, rejected by the caller.
    return std::strtod(number.c_str(), nullptr);
  }
  return std::nullopt;
}

ExecSource::ExecSource(ExecSourceOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::vector<Reading>> ExecSource::Poll() {
  Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label.empty() ? options_.id : options_.label);
  const std::string program = options_.argv.empty() ? "" : options_.argv[0];
  auto fault = [&](absl::string_view error) {
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(absl::StrCat("exec ", program, ": ", error));
    return std::vector<Reading>{reading};
  };

  absl::StatusOr<hwcast::ProgramResult> run =
      hwcast::RunProgram(options_.argv, options_.timeout);
  if (!run.ok()) {
    // RunProgram's message already starts with "exec PROGRAM: ".
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(std::string(run.status().message()));
    return std::vector<Reading>{reading};
  }
  const std::string stderr_line(absl::StripAsciiWhitespace(
      run->stderr_data.substr(0, run->stderr_data.find('\n'))));
  const std::string stderr_note =
      stderr_line.empty()
          ? ""
          : absl::StrCat("; stderr: ", QuoteContent(stderr_line));
  if (run->timed_out) {
    return fault(absl::StrCat("did not finish within ",
                              absl::FormatDuration(options_.timeout),
                              "; killed its process group", stderr_note));
  }
  if (run->signal != 0) {
    return fault(absl::StrCat("killed by signal ", run->signal, " (",
                              ::strsignal(run->signal), ")", stderr_note));
  }
  if (run->exit_code != 0) {
    if (run->exit_code < 0) return fault("ended with an unknown status");
    return fault(
        absl::StrCat("exited with status ", run->exit_code, stderr_note));
  }
  const std::optional<double> number = FirstNumber(run->stdout_data);
  if (!number.has_value()) {
    const std::string out(absl::StripAsciiWhitespace(run->stdout_data));
    return fault(
        out.empty() ? std::string("printed nothing on stdout")
                    : absl::StrCat("no number on stdout: ", QuoteContent(out)));
  }
  if (!std::isfinite(*number)) {
    return fault(absl::StrCat("number out of range on stdout: ",
                              QuoteContent(run->stdout_data)));
  }
  if (absl::Status s = SetScaledValue(absl::StrCat("exec ", program), *number,
                                      options_.scale, options_.offset,
                                      options_.kind, &reading);
      !s.ok()) {
    return fault(std::string(s.message()));
  }
  return std::vector<Reading>{reading};
}

namespace {

absl::Status ValidateExec(const std::string& key,
                          const hwcast::v1::SourceConfig& source,
                          absl::Duration) {
  const hwcast::v1::ExecSourceConfig& exec = source.exec();
  if (exec.argv().empty()) {
    return ConfigError(absl::StrCat(key, ".argv"),
                       "required: the program and its arguments, e.g. "
                       "[/usr/local/bin/read-temp, --sensor, 1]");
  }
  const std::string& program = exec.argv(0);
  if (program.empty()) {
    return ConfigError(absl::StrCat(key, ".argv[0]"),
                       "the program must not be empty");
  }
  if (!absl::StartsWith(program, "/") &&
      program.find('/') != std::string::npos) {
    return ConfigError(absl::StrCat(key, ".argv[0]"),
                       absl::StrCat("'", program,
                                    "' must be an absolute path or a name "
                                    "looked up in PATH, not a relative "
                                    "path"));
  }
  for (int j = 0; j < exec.argv_size(); ++j) {
    if (exec.argv(j).find('\0') != std::string::npos) {
      return ConfigError(absl::StrCat(key, ".argv[", j, "]"),
                         "must not contain NUL characters");
    }
  }
  return CheckNumberMapping(key, exec);
}

std::string ExecDefaultId(const hwcast::v1::SourceConfig& source) {
  if (source.exec().argv().empty()) return "exec";
  return std::filesystem::path(source.exec().argv(0)).filename().string();
}

void FillExecDefaults(hwcast::v1::SourceConfig* source) {
  FillNumberMappingDefaults(source->mutable_exec());
}

absl::StatusOr<std::unique_ptr<Source>> MakeExecSource(
    const hwcast::v1::SourceConfig& source, const Clock* /*clock*/) {
  const hwcast::v1::ExecSourceConfig& exec = source.exec();
  ExecSourceOptions options;
  options.id = source.id();
  options.argv.assign(exec.argv().begin(), exec.argv().end());
  if (options.argv.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source '", source.id(), "': exec.argv is empty"));
  }
  options.timeout = OwnTimeout(source);
  if (exec.kind() != hwcast::v1::READING_KIND_UNSPECIFIED) {
    options.kind = exec.kind();
  }
  options.scale = exec.has_scale() ? exec.scale() : 1.0;
  options.offset = exec.offset();
  options.label = exec.label();
  return std::make_unique<ExecSource>(std::move(options));
}

}  // namespace

extern const SourceKind kExecSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kExec,
    .name = "exec",
    .validate = ValidateExec,
    .default_id = ExecDefaultId,
    .default_id_from = "argv[0]",
    .fill_defaults = FillExecDefaults,
    .make = MakeExecSource,
};

}  // namespace hwcast::collector
