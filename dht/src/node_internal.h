// Private to the Kademlia Node's implementation files (node.cc, node_operations.cc,
// node_maintenance.cc): shared helpers and the state of one running operation.
#pragma once

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "synapse/dht/node.h"

namespace synapse::dht::node_internal {

// Rounds of seed pings before a bootstrap gives up on its seeds.
inline constexpr int kSeedRounds = 3;

// A record TTL in whole seconds, clamped to 0..kMaxRecordTtlSeconds.
inline uint32_t whole_seconds(core::Duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(s, kMaxRecordTtlSeconds));
}

inline uint64_t random_u64(core::Rng& rng) {
  std::array<uint8_t, 8> bytes;
  rng.fill(bytes);
  uint64_t value;
  std::memcpy(&value, bytes.data(), sizeof(value));
  return value;
}

}  // namespace synapse::dht::node_internal

namespace synapse::dht {

struct Node::Operation {
  uint64_t id = 0;
  OpKind kind = OpKind::kFindNode;
  NodeId target;
  std::optional<Lookup> lookup;
  bool lookup_finished = false;
  core::MonoTime lookup_started{};
  size_t messages = 0;
  size_t waiting = 0;   // page, store, provide, listen and seed-ping requests outstanding
  size_t children = 0;  // bootstrap: refresh lookups still running
  int attempts = 0;     // bootstrap: rounds of seed pings
  uint64_t parent = 0;
  // get
  std::map<crypto::Ed25519PublicKey, WireValue> values;
  std::map<NodeId, std::map<crypto::Ed25519PublicKey, uint64_t>> seen_by;
  std::map<NodeId, size_t> pages;
  // get_providers
  std::map<NodeId, Contact> providers;
  // put, add_provider, listen
  std::vector<WireValue> to_store;
  size_t acked = 0;
  size_t stored = 0;
  SubscriptionId subscription = 0;
  // callbacks (one is set)
  LookupCallback on_lookup;
  GetCallback on_get;
  PutCallback on_put;
  ProvidersCallback on_providers;
  std::function<void(size_t)> on_bootstrap;
  size_t table_size = 0;
  bool invalid = false;  // put: the value did not verify
};

}  // namespace synapse::dht
