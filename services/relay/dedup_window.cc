#include "services/relay/dedup_window.h"

#include <algorithm>

namespace hwcast::relay {

DedupWindow::DedupWindow(uint32_t window)
    : window_(std::max<uint64_t>(64, (uint64_t{window} + 63) / 64 * 64)),
      bits_(window_ / 64, 0) {}

bool DedupWindow::Test(uint64_t sequence) const {
  const uint64_t bit = sequence % window_;
  return (bits_[bit / 64] >> (bit % 64)) & 1;
}

void DedupWindow::Set(uint64_t sequence) {
  const uint64_t bit = sequence % window_;
  bits_[bit / 64] |= uint64_t{1} << (bit % 64);
}

void DedupWindow::Clear(uint64_t sequence) {
  const uint64_t bit = sequence % window_;
  bits_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
}

uint64_t DedupWindow::missing() const {
  if (accepted_ == 0) return 0;
  return last_ - first_ + 1 - accepted_;
}

DedupWindow::Result DedupWindow::Classify(uint64_t sequence) const {
  if (accepted_ == 0 || sequence > last_ || sequence < first_) {
    return Result::kNew;
  }
  if (sequence + window_ <= last_) return Result::kTooOld;
  return Test(sequence) ? Result::kDuplicate : Result::kNew;
}

DedupWindow::Result DedupWindow::Insert(uint64_t sequence) {
  if (accepted_ == 0) {
    first_ = last_ = sequence;
    Set(sequence);
    accepted_ = 1;
    return Result::kNew;
  }
  if (sequence > last_) {
    // Slide the window up: forget what falls out of it.
    if (sequence - last_ >= window_) {
      std::fill(bits_.begin(), bits_.end(), 0);
    } else {
      for (uint64_t s = last_ + 1; s <= sequence; ++s) Clear(s);
    }
    last_ = sequence;
    Set(sequence);
    ++accepted_;
    return Result::kNew;
  }
  const bool in_window = sequence + window_ > last_;
  if (sequence < first_) {
    // Below everything accepted so far: certainly new.
    first_ = sequence;
    if (in_window) Set(sequence);
    ++accepted_;
    return Result::kNew;
  }
  if (!in_window) {
    ++duplicates_;
    return Result::kTooOld;
  }
  if (Test(sequence)) {
    ++duplicates_;
    return Result::kDuplicate;
  }
  Set(sequence);
  ++accepted_;
  return Result::kNew;
}

}  // namespace hwcast::relay
