#include "services/relay/dedup_window.h"

namespace hwcast::relay {

DedupWindow::DedupWindow(uint32_t window) : window_(window) {}

uint64_t DedupWindow::missing() const {
  if (accepted_ == 0) return 0;
  return last() - first_ + 1 - accepted_;
}

DedupWindow::Result DedupWindow::Classify(uint64_t sequence) const {
  if (accepted_ == 0 || sequence > last() || sequence < first_) {
    return Result::kNew;
  }
  switch (window_.Classify(sequence)) {
    case SequenceWindow::Result::kNew:
      return Result::kNew;
    case SequenceWindow::Result::kDuplicate:
      return Result::kDuplicate;
    case SequenceWindow::Result::kBelowWindow:
      break;
  }
  return Result::kTooOld;
}

DedupWindow::Result DedupWindow::Insert(uint64_t sequence) {
  // Below everything accepted so far (or the first): certainly new, even
  // when the window cannot remember it.
  const bool below_all = accepted_ == 0 || sequence < first_;
  const SequenceWindow::Result seen = window_.Insert(sequence);
  if (below_all) {
    first_ = sequence;
    ++accepted_;
    return Result::kNew;
  }
  switch (seen) {
    case SequenceWindow::Result::kNew:
      ++accepted_;
      return Result::kNew;
    case SequenceWindow::Result::kDuplicate:
      ++duplicates_;
      return Result::kDuplicate;
    case SequenceWindow::Result::kBelowWindow:
      break;
  }
  ++duplicates_;
  return Result::kTooOld;
}

}  // namespace hwcast::relay
