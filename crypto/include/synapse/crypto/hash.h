// SHA-256 through Botan (SHA-NI where the CPU has it). Thread-safe: every call and every
// Sha256 object is independent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "synapse/core/bytes.h"

namespace synapse::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(core::ByteView data);

// Incremental SHA-256. Not thread-safe; one object per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(core::ByteView data);
  // Returns the digest and resets the object for a new message.
  Sha256Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synapse::crypto
