#include "synapse/crypto/system_rng.h"

#include <gtest/gtest.h>

#include <array>

namespace synapse::crypto {
namespace {

TEST(SystemRng, FillsEachBufferWithFreshBytes) {
  SystemRng rng;
  std::array<uint8_t, 32> first{};
  std::array<uint8_t, 32> second{};
  rng.fill(first);
  rng.fill(second);
  // Two equal 256-bit draws, or an all-zero one, would mean the source is broken.
  EXPECT_NE(first, second);
  EXPECT_NE(first, (std::array<uint8_t, 32>{}));
}

TEST(SystemRng, AcceptsAnEmptyBuffer) {
  SystemRng rng;
  rng.fill({});
}

}  // namespace
}  // namespace synapse::crypto
