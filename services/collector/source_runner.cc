#include "services/collector/source_runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/device_metrics.h"

namespace hwcast::collector {

using ::hwcast::v1::Reading;

namespace {

// Why a reading from a source would be rejected downstream (empty if fine):
// a guard against source bugs, which must not cost a whole batch.
std::string InvalidReadingError(const Reading& r) {
  if (r.quality() == hwcast::v1::QUALITY_UNSPECIFIED) {
    return "the source set no quality";
  }
  if (r.quality() == hwcast::v1::QUALITY_OK &&
      r.value_case() == Reading::VALUE_NOT_SET) {
    return "the source reported QUALITY_OK without a value";
  }
  bool finite = true;
  switch (r.value_case()) {
    case Reading::kTemperature:
      finite = std::isfinite(r.temperature().celsius());
      break;
    case Reading::kHumidity:
      finite = std::isfinite(r.humidity().relative_percent());
      break;
    case Reading::kPower:
      finite = std::isfinite(r.power().charge_percent()) &&
               std::isfinite(r.power().runtime_seconds());
      break;
    case Reading::kReachability:
      finite = std::isfinite(r.reachability().round_trip_seconds());
      break;
    case Reading::kEntropy:
      finite = std::isfinite(r.entropy().entropy_bits());
      break;
    case Reading::kFan:
      finite = std::isfinite(r.fan().rpm());
      break;
    case Reading::kVoltage:
      finite = std::isfinite(r.voltage().volts());
      break;
    case Reading::kElectricPower:
      finite = std::isfinite(r.electric_power().watts());
      break;
    case Reading::kCurrent:
      finite = std::isfinite(r.current().amperes());
      break;
    default:
      break;
  }
  return finite ? "" : "the source produced a non-finite value";
}

}  // namespace

struct SourceRunner::Core {
  // Immutable after construction.
  SourceRunnerOptions options;
  std::unique_ptr<Source> source;
  std::string type;
  const Clock* clock;
  ReadingSink sink;
  CollectorMetrics* metrics;
  prometheus::Counter* polls_metric = nullptr;
  // Per-device metrics, fed by the worker after each poll (null without
  // metrics). Only the worker thread touches it.
  std::unique_ptr<DeviceMetricsTracker> device_metrics;
  absl::Notification worker_exited;

  mutable absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  // A poll was requested and has not returned yet.
  bool busy ABSL_GUARDED_BY(mu) = false;
  // The worker has not picked the request up yet.
  bool poll_requested ABSL_GUARDED_BY(mu) = false;
  // The busy poll ran past the timeout (reported).
  bool hung ABSL_GUARDED_BY(mu) = false;
  absl::Time poll_started ABSL_GUARDED_BY(mu);
  absl::Time next_poll ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  uint64_t polls ABSL_GUARDED_BY(mu) = 0;
  uint64_t errors ABSL_GUARDED_BY(mu) = 0;
  std::string last_error ABSL_GUARDED_BY(mu);
  // Error of the last poll if it failed, else empty (for logging changes).
  std::string last_poll_error ABSL_GUARDED_BY(mu);
  // Latest reading per source_id, limited to the sensors of the last
  // successful poll (or the source-level fault before any success).
  std::map<std::string, Reading> last_readings ABSL_GUARDED_BY(mu);
  std::map<std::string, uint64_t> sequences ABSL_GUARDED_BY(mu);
  std::map<std::string, prometheus::Counter*> error_metrics ABSL_GUARDED_BY(mu);
  // Polls started (numbered 1, 2, ...) and the number of the one running.
  uint64_t poll_number ABSL_GUARDED_BY(mu) = 0;
  // Results of on-demand polls someone waits for, by poll number.
  struct Awaited {
    bool done = false;
    std::vector<Reading> readings;
  };
  std::map<uint64_t, Awaited> awaited ABSL_GUARDED_BY(mu);
  // Where Emit() copies readings while an awaited poll completes.
  std::vector<Reading>* collect ABSL_GUARDED_BY(mu) = nullptr;

  void StartPoll(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    busy = true;
    poll_requested = true;
    poll_started = now;
    ++poll_number;
    ++polls;
    if (polls_metric != nullptr) polls_metric->Increment();
  }

  void CountError(const std::string& reason, std::string message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++errors;
    last_error = std::move(message);
    if (metrics == nullptr) return;
    prometheus::Counter*& counter = error_metrics[reason];
    if (counter == nullptr) {
      counter = &metrics->SourceErrors(options.id, reason);
    }
    counter->Increment();
  }

  // Stamps and hands on readings.
  void Emit(std::vector<Reading> readings) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (readings.empty()) return;
    const google::protobuf::Timestamp now = ToProtoTime(clock->Now());
    for (Reading& reading : readings) {
      if (reading.source_id().empty()) reading.set_source_id(options.id);
      reading.set_host(options.host);
      reading.set_sequence(options.next_sequence
                               ? options.next_sequence(reading.source_id())
                               : ++sequences[reading.source_id()]);
      *reading.mutable_observed_time() = now;
      // What the actuators' evidence windows go by.
      if (options.interval > absl::ZeroDuration() && !reading.has_entropy() &&
          !reading.has_disk_inventory()) {
        *reading.mutable_expected_interval() =
            ToProtoDuration(options.interval);
      }
      Reading& last = last_readings[reading.source_id()] = reading;
      // Status shows the chunk's size and verdict, never its bytes.
      if (last.has_entropy()) last.mutable_entropy()->clear_data();
    }
    if (collect != nullptr) {
      collect->insert(collect->end(), readings.begin(), readings.end());
    }
    if (metrics != nullptr) {
      metrics->service().readings_in().Increment(
          static_cast<double>(readings.size()));
    }
    sink(std::move(readings));
  }

  // One SENSOR_FAULT reading per sensor last seen (or for the source id).
  void EmitFaults(const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<Reading> faults;
    auto add = [&](const std::string& source_id, const std::string& label) {
      Reading& fault = faults.emplace_back();
      fault.set_source_id(source_id);
      fault.set_label(label);
      fault.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
      fault.set_error(error);
    };
    if (last_readings.empty()) {
      add(options.id, options.id);
    } else {
      for (const auto& [source_id, reading] : last_readings) {
        add(source_id, reading.label().empty() ? source_id : reading.label());
      }
    }
    Emit(std::move(faults));
  }

  void OnPollDone(absl::StatusOr<std::vector<Reading>> result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto waiting = awaited.find(poll_number);
    if (waiting == awaited.end()) {
      HandlePollResult(std::move(result));
      return;
    }
    collect = &waiting->second.readings;
    HandlePollResult(std::move(result));
    collect = nullptr;
    waiting->second.done = true;
  }

  void HandlePollResult(absl::StatusOr<std::vector<Reading>> result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    busy = false;
    if (hung) {
      hung = false;
      HWCAST_LOG(WARNING) << "source " << options.id
                          << ": hung poll returned after "
                          << absl::FormatDuration(clock->Now() - poll_started)
                          << "; its result is discarded";
      return;
    }
    if (!result.ok()) {
      const std::string message(result.status().message());
      // Warn when the failure is new; a source that stays broken the same
      // way is logged at debug level only.
      if (message != last_poll_error) {
        HWCAST_LOG(WARNING)
            << "source " << options.id << ": poll failed: " << message;
      } else {
        HWCAST_LOG(DEBUG) << "source " << options.id
                          << ": poll failed: " << message;
      }
      last_poll_error = message;
      CountError("poll_failed", message);
      EmitFaults(absl::StrCat("poll failed: ", message));
      return;
    }
    if (!last_poll_error.empty()) {
      HWCAST_LOG(INFO) << "source " << options.id << ": polling again";
      last_poll_error.clear();
    }
    // Forget sensors (and a source-level fault entry) this poll no longer
    // reports, so that later faults name only current sensors; Emit() adds
    // back every sensor of this poll.
    if (!result->empty()) last_readings.clear();
    for (Reading& reading : *result) {
      if (std::string invalid = InvalidReadingError(reading);
          !invalid.empty()) {
        reading.clear_value();
        reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
        reading.set_error(absl::StrCat("invalid reading: ", invalid));
      }
      const std::string& sensor =
          reading.source_id().empty() ? options.id : reading.source_id();
      if (reading.quality() == hwcast::v1::QUALITY_SENSOR_FAULT) {
        CountError("sensor_fault", absl::StrCat(sensor, ": ", reading.error()));
      } else if (reading.quality() == hwcast::v1::QUALITY_OUT_OF_RANGE) {
        CountError("out_of_range", absl::StrCat(sensor, ": ", reading.error()));
      }
    }
    Emit(*std::move(result));
  }
};

SourceRunner::SourceRunner(std::unique_ptr<Source> source,
                           SourceRunnerOptions options, const Clock* clock,
                           ReadingSink sink, CollectorMetrics* metrics)
    : core_(std::make_shared<Core>()) {
  core_->type = std::string(source->type());
  core_->source = std::move(source);
  core_->options = std::move(options);
  core_->clock = clock;
  core_->sink = std::move(sink);
  core_->metrics = metrics;
  if (metrics != nullptr) {
    core_->polls_metric = &metrics->SourcePolls(core_->options.id);
    core_->device_metrics =
        std::make_unique<DeviceMetricsTracker>(metrics, core_->options.id);
  }
}

SourceRunner::~SourceRunner() { Stop(); }

const std::string& SourceRunner::id() const { return core_->options.id; }

void SourceRunner::Start() {
  {
    absl::MutexLock lock(&core_->mu);
    if (core_->started || core_->stopped) return;
    core_->started = true;
    core_->next_poll = core_->clock->Now();
  }
  worker_ = std::thread(&SourceRunner::WorkerLoop, core_);
}

void SourceRunner::WorkerLoop(std::shared_ptr<Core> core) {
  core->mu.Lock();
  while (true) {
    core->mu.Await(absl::Condition(
        +[](Core* c) {
          c->mu.AssertHeld();  // Await evaluates conditions under the lock
          return c->poll_requested || c->stopped;
        },
        core.get()));
    if (core->stopped) break;
    core->poll_requested = false;
    core->mu.Unlock();
    absl::StatusOr<std::vector<Reading>> result = core->source->Poll();
    // Device counters as of this poll, outside the runner's lock: the
    // scrape path only reads the metrics.
    if (core->device_metrics != nullptr) {
      core->device_metrics->Update(core->source->Devices());
    }
    core->mu.Lock();
    if (core->stopped) break;
    core->OnPollDone(std::move(result));
  }
  core->mu.Unlock();
  core->worker_exited.Notify();
}

void SourceRunner::Tick() {
  Core& c = *core_;
  absl::MutexLock lock(&c.mu);
  if (!c.started || c.stopped) return;
  const absl::Time now = c.clock->Now();
  const absl::Duration timeout = c.options.timeout;
  if (c.busy && !c.hung && now >= c.poll_started + timeout) {
    c.hung = true;
    const std::string message =
        absl::StrCat("poll timed out after ", absl::FormatDuration(timeout));
    HWCAST_LOG(WARNING) << "source " << c.options.id << ": " << message;
    c.CountError("timeout", message);
    c.EmitFaults(message);
  }
  if (now < c.next_poll) return;
  if (!c.busy) {
    c.StartPoll(now);
  } else if (c.hung) {
    // No pile-up: the hung poll keeps the worker; say so on every tick.
    c.EmitFaults(absl::StrCat(
        "poll still running after ", absl::FormatDuration(now - c.poll_started),
        " (timeout ", absl::FormatDuration(timeout), "); no new poll started"));
  }
  // A slow poll still within its timeout simply makes this tick skip.
  c.next_poll += c.options.interval;
  if (c.next_poll <= now) c.next_poll = now + c.options.interval;
}

absl::Time SourceRunner::NextDeadline() const {
  const Core& c = *core_;
  absl::MutexLock lock(&c.mu);
  if (!c.started || c.stopped) return absl::InfiniteFuture();
  absl::Time deadline = c.next_poll;
  if (c.busy && !c.hung) {
    deadline = std::min(deadline, c.poll_started + c.options.timeout);
  }
  return deadline;
}

absl::StatusOr<std::vector<Reading>> SourceRunner::PollNow() {
  Core& c = *core_;
  absl::MutexLock lock(&c.mu);
  const std::string& id = c.options.id;
  if (!c.started || c.stopped) {
    return absl::UnavailableError(
        absl::StrCat("source '", id, "' is not running"));
  }
  const absl::Duration timeout = c.options.timeout;
  const absl::Time deadline = c.clock->Steady() + timeout;
  // Time left until `deadline` (the waits below are real waits on other
  // threads; the clock only measures them).
  auto left = [&c, deadline] {
    return std::max(deadline - c.clock->Steady(), absl::ZeroDuration());
  };
  if (c.busy && c.hung) {
    return absl::DeadlineExceededError(
        absl::StrCat("source '", id, "': a poll has been running for ",
                     absl::FormatDuration(c.clock->Now() - c.poll_started),
                     " (timeout ", absl::FormatDuration(timeout),
                     "); no new poll started until it returns"));
  }
  if (c.busy) {
    auto idle = [&c]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
      return !c.busy || c.stopped;
    };
    c.mu.AwaitWithTimeout(absl::Condition(&idle), left());
    if (c.stopped) {
      return absl::UnavailableError(absl::StrCat("source '", id, "' stopped"));
    }
    if (c.busy) {
      return absl::DeadlineExceededError(absl::StrCat(
          "source '", id, "': the poll in progress did not finish within ",
          absl::FormatDuration(timeout)));
    }
  }
  c.StartPoll(c.clock->Now());
  const uint64_t number = c.poll_number;
  Core::Awaited& awaited = c.awaited[number];
  auto done = [&c, &awaited]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
    return awaited.done || c.stopped;
  };
  c.mu.AwaitWithTimeout(absl::Condition(&done), left());
  absl::StatusOr<std::vector<Reading>> result;
  if (awaited.done) {
    result = std::move(awaited.readings);
  } else if (c.stopped) {
    result = absl::UnavailableError(absl::StrCat("source '", id, "' stopped"));
  } else {
    result = absl::DeadlineExceededError(
        absl::StrCat("source '", id, "': poll did not finish within ",
                     absl::FormatDuration(timeout)));
  }
  c.awaited.erase(number);
  return result;
}

void SourceRunner::Stop() {
  {
    absl::MutexLock lock(&core_->mu);
    core_->stopped = true;
  }
  if (!worker_.joinable()) return;
  if (core_->worker_exited.WaitForNotificationWithTimeout(
          core_->options.stop_grace)) {
    worker_.join();
  } else {
    HWCAST_LOG(WARNING) << "source " << core_->options.id
                        << ": poll still running at shutdown; leaving it";
    worker_.detach();
  }
}

std::vector<hwcast::v1::DeviceStatus> SourceRunner::Devices() const {
  std::vector<hwcast::v1::DeviceStatus> devices = core_->source->Devices();
  for (hwcast::v1::DeviceStatus& device : devices) {
    if (device.source_id().empty()) device.set_source_id(core_->options.id);
  }
  return devices;
}

hwcast::v1::SourceStatus SourceRunner::Status() const {
  const Core& c = *core_;
  hwcast::v1::SourceStatus status;
  status.set_source_id(c.options.id);
  status.set_type(c.type);
  absl::MutexLock lock(&c.mu);
  status.set_polls(c.polls);
  status.set_errors(c.errors);
  status.set_hung(c.hung);
  status.set_last_error(c.last_error);
  for (const auto& [source_id, reading] : c.last_readings) {
    *status.add_last_readings() = reading;
  }
  return status;
}

}  // namespace hwcast::collector
