// The operating system's random source (getrandom via Botan's System_RNG), for keys.
#pragma once

#include "synapse/core/rng.h"

namespace synapse::crypto {

// Thread-safe.
class SystemRng final : public core::Rng {
 public:
  void fill(std::span<uint8_t> out) override;
};

}  // namespace synapse::crypto
