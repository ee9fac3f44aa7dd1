#include "services/actuator/policies/quorum.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hwcast::actuator {

Evaluation CountVotes(const std::vector<Vote>& votes, int quorum,
                      std::string_view condition) {
  int failed = 0;
  int unusable = 0;
  int unusable_last_failed = 0;
  std::vector<std::string> failed_notes;
  std::vector<std::string> unusable_notes;
  std::vector<std::string> waiting;
  std::vector<absl::Time> untils;
  for (const Vote& vote : votes) {
    switch (vote.kind) {
      case Vote::Kind::kFailed:
        ++failed;
        failed_notes.push_back(absl::StrCat(vote.source, " ", vote.note));
        untils.push_back(vote.until);
        break;
      case Vote::Kind::kUnusable:
        ++unusable;
        if (vote.last_failed) ++unusable_last_failed;
        unusable_notes.push_back(vote.note);
        break;
      case Vote::Kind::kWaiting:
        waiting.push_back(vote.source);
        break;
      case Vote::Kind::kClear:
        break;
    }
  }
  const std::string count =
      absl::StrCat(failed, " of ", votes.size(), " ",
                   absl::string_view(condition.data(), condition.size()));
  Evaluation evaluation;
  if (failed >= quorum) {
    evaluation.result = Evaluation::Result::kFailed;
    std::sort(untils.begin(), untils.end(), std::greater<absl::Time>());
    if (!untils.empty()) {
      evaluation.confirmed_until =
          untils[std::clamp<size_t>(quorum, 1, untils.size()) - 1];
    }
    evaluation.reason = absl::StrCat(count, " (quorum ", quorum,
                                     "): ", absl::StrJoin(failed_notes, "; "));
    return evaluation;
  }
  if (failed + unusable >= quorum) {
    evaluation.result = Evaluation::Result::kUnknown;
    evaluation.last_failed = failed + unusable_last_failed >= quorum;
    evaluation.reason = absl::StrCat(
        "can not tell: ", count, " and ", unusable, " unusable (quorum ",
        quorum, "): ", absl::StrJoin(unusable_notes, "; "));
    return evaluation;
  }
  evaluation.result = Evaluation::Result::kClear;
  evaluation.reason = absl::StrCat(count, " (quorum ", quorum, ")");
  if (!unusable_notes.empty()) {
    absl::StrAppend(&evaluation.reason,
                    "; not needed: ", absl::StrJoin(unusable_notes, "; "));
  }
  if (!waiting.empty()) {
    absl::StrAppend(&evaluation.reason, "; waiting for the first reading from ",
                    absl::StrJoin(waiting, ", "));
  }
  return evaluation;
}

}  // namespace hwcast::actuator
