// Randomness as an injected dependency. Cores take an Rng& and never open a random device;
// crypto::SystemRng is the production source, tests use a seeded deterministic one.
#pragma once

#include <cstdint>
#include <span>

namespace synapse::core {

class Rng {
 public:
  virtual ~Rng() = default;
  // Fills `out` with random bytes. Implementations document their thread-safety.
  virtual void fill(std::span<uint8_t> out) = 0;
};

// Deterministic xoshiro256** generator for tests and simulations: the same seed gives the same
// stream on every machine. Not for keys. Not thread-safe.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed);
  void fill(std::span<uint8_t> out) override;
  uint64_t next();

 private:
  uint64_t state_[4];
};

}  // namespace synapse::core
