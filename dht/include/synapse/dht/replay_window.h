// Sliding replay window over 64-bit nonces (RFC 6479 style): a 2048-bit bitmap that accepts
// each nonce at most once and refuses nonces more than kWindow behind the highest seen.
// Sans-I/O; not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace synapse::dht {

class ReplayWindow {
 public:
  static constexpr size_t kBits = 2048;
  // One word of the bitmap is the one being filled, so the window proper is 64 bits smaller.
  static constexpr uint64_t kWindow = kBits - 64;

  enum class Verdict { kFresh, kReplay, kTooOld };

  // What `nonce` would be; changes nothing. Check before decrypting, record after the packet
  // authenticated (so forged packets cannot move the window).
  Verdict check(uint64_t nonce) const;
  // Marks `nonce` as seen; returns check()'s verdict from before (only kFresh marks anything).
  Verdict record(uint64_t nonce);

  // The highest nonce recorded, if any.
  bool empty() const { return !any_; }
  uint64_t highest() const { return highest_; }

 private:
  static constexpr size_t kWords = kBits / 64;
  std::array<uint64_t, kWords> bitmap_{};
  uint64_t highest_ = 0;
  bool any_ = false;
};

}  // namespace synapse::dht
