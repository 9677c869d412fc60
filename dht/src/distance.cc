#include "synapse/dht/distance.h"

#include <bit>

namespace synapse::dht {

Distance distance(const NodeId& a, const NodeId& b) {
  Distance out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = a.bytes()[i] ^ b.bytes()[i];
  return out;
}

int common_prefix_length(const NodeId& a, const NodeId& b) {
  for (size_t i = 0; i < NodeId::kSize; ++i) {
    const uint8_t x = a.bytes()[i] ^ b.bytes()[i];
    if (x != 0) return static_cast<int>(i) * 8 + std::countl_zero(x);
  }
  return kIdBits;
}

NodeId random_id(core::Rng& rng) {
  std::array<uint8_t, NodeId::kSize> bytes;
  rng.fill(bytes);
  return NodeId(bytes);
}

NodeId random_id_in_bucket(const NodeId& self, int prefix_length, core::Rng& rng) {
  SYNAPSE_CHECK(prefix_length >= 0 && prefix_length < kIdBits, "bucket index in range");
  std::array<uint8_t, NodeId::kSize> bytes;
  rng.fill(bytes);
  const auto& own = self.bytes();
  const size_t byte = static_cast<size_t>(prefix_length) / 8;
  const int bit = prefix_length % 8;  // bit index within `byte`, 0 = most significant
  for (size_t i = 0; i < byte; ++i) bytes[i] = own[i];
  const uint8_t keep = static_cast<uint8_t>(0xff00 >> bit);  // the shared bits of this byte
  const uint8_t flip = static_cast<uint8_t>(0x80 >> bit);    // the first differing bit
  bytes[byte] = static_cast<uint8_t>((own[byte] & keep) | (~own[byte] & flip) |
                                     (bytes[byte] & ~keep & ~flip & 0xff));
  return NodeId(bytes);
}

}  // namespace synapse::dht
