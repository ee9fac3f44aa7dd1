#include "tools/hwcastctl/format.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"

namespace hwcast::hwcastctl {
namespace {

using hwcast::v1::Reading;

constexpr char kGap[] = "  ";

std::string Kind(const Reading& reading) { return KindName(KindOf(reading)); }

// Age of a reading relative to `now`, "-" when it has no observed time.
std::string ReadingAge(const Reading& reading, absl::Time now) {
  if (!reading.has_observed_time()) return "-";
  return FormatAge(now - FromProtoTime(reading.observed_time()));
}

// Collapses line breaks so that an error text cannot break a table row.
std::string OneLine(const std::string& s) {
  std::string out = s;
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> cells) {
  if (cells.size() < header_.size()) cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

size_t DisplayWidth(const std::string& s) {
  size_t width = 0;
  for (unsigned char c : s) {
    // Count every byte that does not continue a multi-byte sequence.
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string PadRight(const std::string& s, size_t width) {
  const size_t have = DisplayWidth(s);
  return have >= width ? s : s + std::string(width - have, ' ');
}

std::string Table::Render() const {
  size_t columns = header_.size();
  for (const auto& row : rows_) columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  auto measure = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(cells[i]));
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);

  std::string out;
  auto render = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) line += kGap;
      line += i + 1 == cells.size() ? cells[i] : PadRight(cells[i], widths[i]);
    }
    // Empty trailing cells would leave spaces behind.
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  };
  render(header_);
  for (const auto& row : rows_) render(row);
  return out;
}

std::string FormatAge(absl::Duration age) {
  if (age == absl::InfiniteDuration() || age == -absl::InfiniteDuration()) {
    return "-";
  }
  if (age < absl::ZeroDuration()) return absl::StrCat("-", FormatAge(-age));
  if (age < absl::Seconds(10)) {
    // Truncate rather than round so that 9.96s never shows as "10.0s".
    const double tenths = std::floor(absl::ToDoubleSeconds(age) * 10);
    return absl::StrFormat("%.1fs", tenths / 10);
  }
  const int64_t s = absl::ToInt64Seconds(age);
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string FormatTimestamp(absl::Time t) {
  if (t == absl::UnixEpoch() || t == absl::InfinitePast() ||
      t == absl::InfiniteFuture()) {
    return "-";
  }
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string FormatQuality(hwcast::v1::Quality quality) {
  if (quality == hwcast::v1::QUALITY_UNSPECIFIED) return "-";
  std::string name = hwcast::v1::Quality_Name(quality);
  constexpr absl::string_view kPrefix = "QUALITY_";
  if (absl::string_view(name).substr(0, kPrefix.size()) == kPrefix) {
    name = name.substr(kPrefix.size());
  }
  if (name.empty()) return absl::StrCat(static_cast<int>(quality));
  return absl::AsciiStrToLower(name);
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  std::string out;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ",
                                            message.GetTypeName(),
                                            " as JSON: ", status.ToString()));
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string FormatLatestTable(const hwcast::v1::ListLatestResponse& response,
                              absl::Time now) {
  if (response.readings().empty()) return "no readings\n";
  std::vector<const hwcast::v1::LatestReading*> rows;
  bool any_label = false;
  for (const auto& latest : response.readings()) {
    rows.push_back(&latest);
    any_label = any_label || !latest.reading().label().empty();
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    return std::make_pair(a->reading().host(), a->reading().source_id()) <
           std::make_pair(b->reading().host(), b->reading().source_id());
  });
  std::vector<std::string> header = {"SOURCE",  "HOST", "KIND",     "VALUE",
                                     "QUALITY", "AGE",  "COLLECTOR"};
  if (any_label) header.push_back("LABEL");
  Table table(std::move(header));
  for (const auto* latest : rows) {
    const Reading& r = latest->reading();
    std::vector<std::string> cells = {r.source_id(),
                                      r.host(),
                                      Kind(r),
                                      OneLine(FormatValue(r)),
                                      FormatQuality(r.quality()),
                                      ReadingAge(r, now),
                                      OrDash(latest->collector_id())};
    if (any_label) cells.push_back(OrDash(r.label()));
    table.AddRow(std::move(cells));
  }
  return table.Render();
}

std::string FormatCollectorsTable(
    const hwcast::v1::ListCollectorsResponse& response, absl::Time now) {
  if (response.collectors().empty()) return "no collectors\n";
  Table table({"COLLECTOR", "EPOCH", "KEY", "ACCEPTED", "MISSING", "DUPLICATES",
               "CLOCK OFFSET", "LAST BATCH"});
  for (const hwcast::v1::CollectorInfo& c : response.collectors()) {
    const absl::Time last = FromProtoTime(c.last_received_time());
    table.AddRow(
        {c.collector_id(), absl::StrCat(c.epoch()), OrDash(c.key_name()),
         absl::StrCat(c.batches_accepted()), absl::StrCat(c.missing_batches()),
         absl::StrCat(c.duplicates()),
         absl::StrFormat("%+.3fs", c.clock_offset_seconds()),
         c.has_last_received_time() ? FormatAge(now - last) + " ago" : "-"});
  }
  return table.Render();
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes == 0) return "-";
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  // 9.95 and up would round to "10.0": printed without a decimal instead.
  return value < 9.95 ? absl::StrFormat("%.1f %s", value, kUnits[unit])
                      : absl::StrFormat("%.0f %s", value, kUnits[unit]);
}

std::string FormatDisksTable(const hwcast::v1::ListDisksResponse& response) {
  if (response.disks().empty()) return "no disks\n";
  Table table(
      {"HOST", "DEVICE", "UUID", "LABEL", "TYPE", "SIZE", "MOUNTED AT"});
  for (const hwcast::v1::DiskLocation& location : response.disks()) {
    const hwcast::v1::Disk& disk = location.disk();
    table.AddRow({location.host(), disk.device(), OrDash(disk.uuid()),
                  OrDash(OneLine(disk.label())), OrDash(disk.filesystem_type()),
                  FormatBytes(disk.size_bytes()),
                  OrDash(OneLine(disk.mount_point()))});
  }
  return table.Render();
}

std::string FormatPollNow(const hwcast::v1::PollNowResponse& response,
                          absl::Time now) {
  hwcast::v1::ListLatestResponse latest;
  hwcast::v1::ListDisksResponse disks;
  for (const Reading& reading : response.readings()) {
    *latest.add_readings()->mutable_reading() = reading;
    for (const hwcast::v1::Disk& disk : reading.disk_inventory().disks()) {
      hwcast::v1::DiskLocation* location = disks.add_disks();
      location->set_host(reading.host());
      location->set_source_id(reading.source_id());
      *location->mutable_disk() = disk;
    }
  }
  std::string out = FormatLatestTable(latest, now);
  if (!disks.disks().empty()) {
    absl::StrAppend(&out, "\n", FormatDisksTable(disks));
  }
  return out;
}

std::string FormatFollowLine(const Reading& reading,
                             const hwcast::v1::ReadingBatch& batch) {
  const std::string time =
      reading.has_observed_time()
          ? FormatTimestamp(FromProtoTime(reading.observed_time()))
          : "-";
  std::string line =
      absl::StrCat(time, kGap, PadRight(SourceKey(reading), 28), kGap,
                   PadRight(Kind(reading), 12), kGap,
                   PadRight(OneLine(FormatValue(reading)), 16), kGap,
                   PadRight(FormatQuality(reading.quality()), 12), kGap,
                   batch.collector_id(), "#", batch.batch_sequence());
  if (!reading.label().empty()) absl::StrAppend(&line, kGap, reading.label());
  return line;
}

std::string FormatFleetPeers(const hwcast::v1::ActuatorStatus& status) {
  if (status.fleet_peers().empty()) {
    return absl::StrCat("Actuator on ", OrDash(status.host()),
                        ": no fleet followers configured (fleet_followers)\n");
  }
  const bool fencing = status.has_fencing();
  std::vector<std::string> header = {
      "HOST", "STATE", "ACK", "ACK AGE", "ACKS", "REFUSED", "LAST REFUSAL"};
  if (fencing) header.push_back("FENCE");
  Table peers(std::move(header));
  for (const auto& p : status.fleet_peers()) {
    std::vector<std::string> row = {
        p.host(),
        p.state(),
        p.ack().empty()
            ? "-"
            : absl::StrCat(p.ack(), p.ack_dry_run() ? " (dry run)" : ""),
        p.ack().empty() ? "-" : FormatAge(absl::Seconds(p.ack_age_seconds())),
        absl::StrCat(p.acks()),
        absl::StrCat(p.refused()),
        p.refused() == 0
            ? "-"
            : absl::StrCat(OneLine(p.refused_reason()), " ",
                           FormatAge(absl::Seconds(p.refused_age_seconds())),
                           " ago")};
    if (fencing) {
      row.push_back(
          p.fence_state().empty()
              ? "-"
              : absl::StrCat(
                    p.fence_state(),
                    p.fence_attempts() == 0
                        ? ""
                        : absl::StrCat(" (", p.fence_attempts(), " attempt",
                                       p.fence_attempts() == 1 ? "" : "s", ": ",
                                       OneLine(p.fence_detail()), ")")));
    }
    peers.AddRow(std::move(row));
  }
  std::string out = peers.Render();
  if (fencing) {
    const hwcast::v1::FleetFencingStatus& f = status.fencing();
    absl::StrAppend(&out, "Fencing (", f.enabled() ? "enabled" : "dry run",
                    "): ", f.state(), ", ", f.in_shutdown(),
                    " host(s) in the shutdown, quorum ", f.quorum(), "\n");
  }
  return out;
}

std::string FormatActuatorStatus(const hwcast::v1::ActuatorStatus& status) {
  std::string out = absl::StrCat(
      "Actuator on ", OrDash(status.host()), " at ",
      status.has_now() ? FormatTimestamp(FromProtoTime(status.now())) : "-",
      "\n");

  absl::StrAppend(&out, "\nRELAYS\n");
  if (status.relays().empty()) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    Table relays({"ADDRESS", "CONNECTED", "BATCHES", "DUPLICATES", "INVALID",
                  "CONNECTS", "LAST ERROR"});
    for (const auto& r : status.relays()) {
      std::string last_error = OneLine(r.last_error());
      if (!r.last_invalid_reason().empty()) {
        absl::StrAppend(
            &last_error, last_error.empty() ? "" : "; ",
            "last invalid batch: ", OneLine(r.last_invalid_reason()));
      }
      relays.AddRow({r.address(), YesNo(r.connected()),
                     absl::StrCat(r.batches_received()),
                     absl::StrCat(r.duplicates()),
                     absl::StrCat(r.invalid_batches()),
                     absl::StrCat(r.connects()), OrDash(last_error)});
    }
    absl::StrAppend(&out, relays.Render());
  }

  absl::StrAppend(&out, "\nSOURCES\n");
  if (status.sources().empty()) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    Table sources({"SOURCE", "KIND", "VALUE", "QUALITY", "AGE", "STALE",
                   "COLLECTOR", "VIA"});
    for (const auto& s : status.sources()) {
      const Reading& r = s.reading();
      sources.AddRow({SourceKey(r), Kind(r), OneLine(FormatValue(r)),
                      FormatQuality(r.quality()),
                      FormatAge(absl::Seconds(s.age_seconds())),
                      YesNo(s.stale()), OrDash(s.collector_id()),
                      OrDash(s.via_relay())});
    }
    absl::StrAppend(&out, sources.Render());
  }

  absl::StrAppend(&out, "\nPOLICIES\n");
  if (status.policies().empty()) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    const absl::Time now =
        status.has_now() ? FromProtoTime(status.now()) : absl::InfinitePast();
    Table policies({"NAME", "STATE", "FOR", "SHUTDOWN IN", "REASON"});
    for (const auto& p : status.policies()) {
      const bool timed = p.has_since() && status.has_now();
      policies.AddRow({OrDash(p.name()), OrDash(p.state()),
                       timed ? FormatAge(now - FromProtoTime(p.since())) : "-",
                       p.state() == "PRE_FAIL"
                           ? FormatAge(absl::Seconds(
                                 std::max(0.0, p.seconds_to_shutdown())))
                           : "-",
                       OrDash(OneLine(p.reason()))});
    }
    absl::StrAppend(&out, policies.Render());
    for (const auto& p : status.policies()) {
      if (p.warning()) {
        absl::StrAppend(&out, OrDash(p.name()),
                        " WARNING: ", OneLine(p.warning_reason()), "\n");
      }
      if (p.has_last_transition_time()) {
        absl::StrAppend(
            &out, OrDash(p.name()), " last change ",
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                             FromProtoTime(p.last_transition_time()),
                             absl::UTCTimeZone()),
            ": ", OneLine(p.last_transition_reason()), "\n");
      }
    }
    for (const auto& p : status.policies()) {
      if (p.inputs().empty() && p.alarms().empty()) continue;
      absl::StrAppend(&out, "\n", OrDash(p.name()), " inputs:\n");
      if (!p.inputs().empty()) {
        Table inputs({"SOURCE", "STATE", "VALUE", "AGE", "NOTE"});
        for (const auto& input : p.inputs()) {
          const bool missing = input.state() == "MISSING";
          inputs.AddRow(
              {OrDash(input.source()), OrDash(input.state()),
               missing ? "-" : absl::StrFormat("%.6g", input.value()),
               missing ? "-" : FormatAge(absl::Seconds(input.age_seconds())),
               OrDash(OneLine(input.note()))});
        }
        for (absl::string_view line :
             absl::StrSplit(inputs.Render(), '\n', absl::SkipEmpty())) {
          absl::StrAppend(&out, "  ", line, "\n");
        }
      }
      for (const std::string& alarm : p.alarms()) {
        absl::StrAppend(&out, "  ALARM: ", OneLine(alarm), "\n");
      }
    }
  }

  absl::StrAppend(&out, "\nACTIONS\n");
  const hwcast::v1::ActionStatus& actions = status.actions();
  absl::StrAppend(&out, "shutdown: ",
                  actions.shutdown_enabled()
                      ? "ENABLED (the shutdown command runs)"
                      : "dry-run (shutdown_enabled is false: nothing is run)",
                  "\n");
  if (actions.shutdown_started()) {
    absl::StrAppend(
        &out, "started: ",
        actions.has_shutdown_time()
            ? FormatTimestamp(FromProtoTime(actions.shutdown_time()))
            : "-",
        actions.shutdown_enabled() ? "" : " (dry-run: recorded only)", ": ",
        OrDash(OneLine(actions.shutdown_reason())), "\n");
  } else {
    absl::StrAppend(&out, "started: no\n");
    if (actions.cancelled()) {
      absl::StrAppend(&out, "countdown: cancelled: ",
                      OrDash(OneLine(actions.cancel_reason())), "\n");
    } else if (actions.has_command_deadline()) {
      const absl::Time deadline = FromProtoTime(actions.command_deadline());
      absl::StrAppend(&out, "countdown: shutdown command at ",
                      FormatTimestamp(deadline));
      if (status.has_now()) {
        absl::StrAppend(&out, " (in ",
                        FormatAge(deadline - FromProtoTime(status.now())), ")");
      }
      absl::StrAppend(&out, "; `hwcastctl cancel` calls it off\n");
    }
  }
  if (!actions.last_error().empty()) {
    absl::StrAppend(&out, "last error: ", OneLine(actions.last_error()), "\n");
  }
  if (status.has_entropy()) {
    const hwcast::v1::EntropySinkStatus& entropy = status.entropy();
    absl::StrAppend(&out, "\nENTROPY\n", "sink: ", OrDash(entropy.sink()), "\n",
                    "received: ", entropy.chunks_received(), " chunk(s), ",
                    entropy.bytes_received(), " bytes\n",
                    "injected: ", entropy.bytes_injected(), " bytes, ",
                    entropy.bits_credited(), " bits credited\n");
    std::string last = "never";
    if (entropy.has_last_reseed_time()) {
      const absl::Time at = FromProtoTime(entropy.last_reseed_time());
      last = FormatTimestamp(at);
      if (status.has_now()) {
        absl::StrAppend(&last, " (",
                        FormatAge(FromProtoTime(status.now()) - at), " ago)");
      }
    }
    absl::StrAppend(&out, "last reseed: ", last, "\n", "fill watermark: ",
                    entropy.watermark_active()
                        ? "active"
                        : "off (not set, or kernel >= 5.18: periodic only)",
                    "\n");
    std::vector<std::pair<std::string, uint64_t>> rejected(
        entropy.rejected().begin(), entropy.rejected().end());
    std::sort(rejected.begin(), rejected.end());
    std::vector<std::string> parts;
    for (const auto& [reason, count] : rejected) {
      parts.push_back(absl::StrCat(reason, " ", count));
    }
    absl::StrAppend(&out, "rejected: ",
                    parts.empty() ? "none" : absl::StrJoin(parts, ", "), "\n");
    if (!entropy.last_error().empty()) {
      absl::StrAppend(&out, "last error: ", OneLine(entropy.last_error()),
                      "\n");
    }
  }
  return out;
}

std::string FormatCollectorStatus(const hwcast::v1::CollectorStatus& status) {
  const absl::Time now =
      status.has_now() ? FromProtoTime(status.now()) : absl::InfinitePast();
  std::string out =
      absl::StrCat("Collector ", OrDash(status.collector_id()), " on ",
                   OrDash(status.host()), ", epoch ",
                   absl::StrFormat("%016x", status.epoch()), ", next batch ",
                   status.next_batch_sequence(), ", at ",
                   status.has_now() ? FormatTimestamp(now) : "-", "\n");

  absl::StrAppend(&out, "\nSOURCES\n");
  if (status.sources().empty()) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    Table sources({"ID", "TYPE", "POLLS", "ERRORS", "HUNG", "LAST ERROR"});
    for (const auto& s : status.sources()) {
      sources.AddRow({s.source_id(), OrDash(s.type()), absl::StrCat(s.polls()),
                      absl::StrCat(s.errors()), YesNo(s.hung()),
                      OrDash(OneLine(s.last_error()))});
    }
    absl::StrAppend(&out, sources.Render());
  }

  Table readings({"SOURCE", "KIND", "VALUE", "QUALITY", "AGE", "LABEL"});
  for (const auto& s : status.sources()) {
    for (const Reading& r : s.last_readings()) {
      readings.AddRow({SourceKey(r), Kind(r), OneLine(FormatValue(r)),
                       FormatQuality(r.quality()),
                       status.has_now() ? ReadingAge(r, now) : "-",
                       OrDash(r.label())});
    }
  }
  absl::StrAppend(&out, "\nREADINGS\n",
                  readings.empty() ? "(none)\n" : readings.Render());

  absl::StrAppend(&out, "\nRELAYS\n");
  if (status.relays().empty()) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    Table relays({"ADDRESS", "CONNECTED", "PENDING", "ACKED", "DROPPED",
                  "LAST ACKED", "CONNECTS", "LAST ERROR"});
    for (const auto& r : status.relays()) {
      relays.AddRow(
          {r.address(), YesNo(r.connected()), absl::StrCat(r.pending_batches()),
           absl::StrCat(r.acked_batches()), absl::StrCat(r.dropped_batches()),
           absl::StrCat(r.last_acked_sequence()), absl::StrCat(r.connects()),
           OrDash(OneLine(r.last_error()))});
    }
    absl::StrAppend(&out, relays.Render());
  }
  return out;
}

std::string FormatDevicesTable(
    const std::vector<hwcast::v1::CollectorStatus>& statuses) {
  Table table({"HOST", "SOURCE", "MODEL", "PATH", "FIRMWARE", "LAST VALUE",
               "READS", "ERRORS", "STATE"});
  for (const hwcast::v1::CollectorStatus& status : statuses) {
    for (const hwcast::v1::DeviceStatus& d : status.devices()) {
      std::vector<std::string> values;
      for (const Reading& r : d.last_readings()) {
        if (r.value_case() != Reading::VALUE_NOT_SET) {
          values.push_back(OneLine(FormatValue(r)));
        }
      }
      std::string errors = absl::StrCat(d.errors());
      std::string top_kind;
      uint64_t top_count = 0;
      for (const auto& [kind, count] : d.errors_by_kind()) {
        // Most frequent; ties go to the alphabetically first kind.
        if (count > top_count ||
            (count == top_count && count > 0 && kind < top_kind)) {
          top_kind = kind;
          top_count = count;
        }
      }
      if (!top_kind.empty()) absl::StrAppend(&errors, " (", top_kind, ")");
      const char* state =
          !d.present() ? "unplugged" : (d.faulty() ? "faulty" : "ok");
      table.AddRow({OrDash(status.host()), OrDash(d.source_id()),
                    OrDash(d.model()), OrDash(d.path()),
                    OrDash(OneLine(d.firmware())),
                    OrDash(absl::StrJoin(values, ", ")),
                    absl::StrCat(d.reads()), errors, state});
    }
  }
  return table.empty() ? "no devices\n" : table.Render();
}

}  // namespace hwcast::hwcastctl
