#include "synapse/crypto/system_rng.h"

#include <botan/system_rng.h>

#include <exception>

#include "synapse/core/result.h"

namespace synapse::crypto {

void SystemRng::fill(std::span<uint8_t> out) {
  try {
    Botan::system_rng().randomize(out.data(), out.size());
  } catch (const std::exception& e) {
    // Without the OS random source no key can be made safely; there is nothing to fall back to.
    core::check_failed("the system random source works", __FILE__, __LINE__, e.what());
  }
}

}  // namespace synapse::crypto
