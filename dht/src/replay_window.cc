#include "synapse/dht/replay_window.h"

namespace synapse::dht {

ReplayWindow::Verdict ReplayWindow::check(uint64_t nonce) const {
  if (!any_ || nonce > highest_) return Verdict::kFresh;
  if (highest_ - nonce >= kWindow) return Verdict::kTooOld;
  const uint64_t word = bitmap_[(nonce >> 6) % kWords];
  return (word >> (nonce & 63)) & 1 ? Verdict::kReplay : Verdict::kFresh;
}

ReplayWindow::Verdict ReplayWindow::record(uint64_t nonce) {
  const Verdict verdict = check(nonce);
  if (verdict != Verdict::kFresh) return verdict;
  if (!any_ || nonce > highest_) {
    const uint64_t new_word = nonce >> 6;
    if (!any_ || new_word - (highest_ >> 6) >= kWords) {
      bitmap_.fill(0);
    } else {
      // Clear the words the window slides over.
      for (uint64_t w = (highest_ >> 6) + 1; w <= new_word; ++w) bitmap_[w % kWords] = 0;
    }
    highest_ = nonce;
    any_ = true;
  }
  bitmap_[(nonce >> 6) % kWords] |= uint64_t{1} << (nonce & 63);
  return Verdict::kFresh;
}

}  // namespace synapse::dht
