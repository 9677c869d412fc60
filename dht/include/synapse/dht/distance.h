// The Kademlia key space: 256-bit node IDs and keys, XOR distance, and bucket indices.
// Everything here is a pure function on values; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "synapse/core/rng.h"
#include "synapse/crypto/identity.h"

namespace synapse::dht {

// Node IDs (SHA-256 of a node's public key, crypto/identity.h) and keys of values and
// provider records share one 256-bit space.
using NodeId = crypto::NodeId;
using Key = crypto::NodeId;

inline constexpr int kIdBits = 256;

// XOR distance, as a big-endian 256-bit number.
using Distance = std::array<uint8_t, NodeId::kSize>;
Distance distance(const NodeId& a, const NodeId& b);

// Number of leading bits `a` and `b` share: 0..256 (256 only when a == b).
int common_prefix_length(const NodeId& a, const NodeId& b);

// Big-endian 64-bit word `i` (0..3) of an ID; IDs compare like these four words in order.
inline uint64_t id_word(const NodeId& id, int i) {
  uint64_t word;
  std::memcpy(&word, id.bytes().data() + 8 * i, sizeof(word));
  return __builtin_bswap64(word);
}

// Equality by words (NodeId's operator== compares bytes through memcmp).
inline bool same_id(const NodeId& a, const NodeId& b) {
  uint64_t x[4];
  uint64_t y[4];
  std::memcpy(x, a.bytes().data(), sizeof(x));
  std::memcpy(y, b.bytes().data(), sizeof(y));
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

// The XOR distance as four big-endian words, which compare like the distance itself.
using DistanceKey = std::array<uint64_t, 4>;
inline DistanceKey distance_key(const NodeId& a, const NodeId& b) {
  return {id_word(a, 0) ^ id_word(b, 0), id_word(a, 1) ^ id_word(b, 1),
          id_word(a, 2) ^ id_word(b, 2), id_word(a, 3) ^ id_word(b, 3)};
}

// True when `a` is strictly closer to `target` than `b` (XOR metric). Distinct IDs are never
// equally close, so this is a strict total order on IDs for a fixed target.
inline bool closer(const NodeId& a, const NodeId& b, const NodeId& target) {
  for (int i = 0; i < 4; ++i) {
    const uint64_t t = id_word(target, i);
    const uint64_t da = id_word(a, i) ^ t;
    const uint64_t db = id_word(b, i) ^ t;
    if (da != db) return da < db;
  }
  return false;
}

// A uniformly random ID.
NodeId random_id(core::Rng& rng);

// A random ID that shares exactly `prefix_length` leading bits with `self` (0..255), i.e. one
// that falls in bucket `prefix_length` of self's routing table.
NodeId random_id_in_bucket(const NodeId& self, int prefix_length, core::Rng& rng);

}  // namespace synapse::dht
