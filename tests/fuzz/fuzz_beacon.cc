// Fuzzes the LAN discovery beacon decoder: BeaconSealer::open on arbitrary bytes with a fixed
// swarm key must never crash and must fail with kInvalidArgument; the fuzzer finds the size and
// version byte quickly, so the AES-GCM tag check runs on arbitrary ciphertexts too. Should
// anything ever open, it must seal and open again to the same beacon.
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>

#include "synapse/core/rng.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/dht/discovery.h"

namespace {

using namespace synapse;

crypto::SwarmKey fixed_key() {
  std::array<uint8_t, crypto::SwarmKey::kSize> secret;
  std::iota(secret.begin(), secret.end(), uint8_t{1});
  std::string text = "/key/swarm/psk/1.0.0/\n/base16/\n" + core::to_hex(secret) + "\n";
  auto key = crypto::SwarmKey::parse(core::as_bytes(text));
  if (!key) __builtin_trap();
  return *key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dht::BeaconSealer sealer(fixed_key());
  static core::SeededRng rng(1);
  auto beacon = sealer.open(core::ByteView(data, size));
  if (!beacon) {
    if (beacon.error().code() != core::ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (size != dht::BeaconSealer::kPacketSize || beacon->port == 0) __builtin_trap();
  auto again = sealer.open(sealer.seal(*beacon, rng));
  if (!again || !(*again == *beacon)) __builtin_trap();
  return 0;
}
