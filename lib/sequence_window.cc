#include "lib/sequence_window.h"

#include <algorithm>

namespace hwcast {

SequenceWindow::SequenceWindow(uint32_t window)
    : window_(std::max<uint64_t>(64, (uint64_t{window} + 63) / 64 * 64)),
      bits_(window_ / 64, 0) {}

bool SequenceWindow::Test(uint64_t sequence) const {
  const uint64_t bit = sequence % window_;
  return (bits_[bit / 64] >> (bit % 64)) & 1;
}

void SequenceWindow::Set(uint64_t sequence) {
  const uint64_t bit = sequence % window_;
  bits_[bit / 64] |= uint64_t{1} << (bit % 64);
}

void SequenceWindow::Clear(uint64_t sequence) {
  const uint64_t bit = sequence % window_;
  bits_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
}

SequenceWindow::Result SequenceWindow::Classify(uint64_t sequence) const {
  if (empty_ || sequence > highest_) return Result::kNew;
  if (highest_ - sequence >= window_) return Result::kBelowWindow;
  return Test(sequence) ? Result::kDuplicate : Result::kNew;
}

SequenceWindow::Result SequenceWindow::Insert(uint64_t sequence) {
  if (empty_) {
    empty_ = false;
    highest_ = sequence;
    Set(sequence);
    return Result::kNew;
  }
  if (sequence > highest_) {
    // Slide the window up: forget what falls out of it.
    if (sequence - highest_ >= window_) {
      std::fill(bits_.begin(), bits_.end(), 0);
    } else {
      for (uint64_t s = highest_ + 1; s <= sequence; ++s) Clear(s);
    }
    highest_ = sequence;
    Set(sequence);
    return Result::kNew;
  }
  if (highest_ - sequence >= window_) return Result::kBelowWindow;
  if (Test(sequence)) return Result::kDuplicate;
  Set(sequence);
  return Result::kNew;
}

}  // namespace hwcast
