// Addresses and contacts as the Kademlia core sees them.
//
// The core never interprets an address: it is an opaque token of at most 18 bytes that the
// transport below understands (the libuv adapter packs IPv4 as 4 + 2 bytes and IPv6 as 16 + 2
// bytes of address and big-endian port; the simulator packs a node index). Value types;
// thread-safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/dht/distance.h"

namespace synapse::dht {

class PeerAddress {
 public:
  static constexpr size_t kMaxSize = 18;

  // The empty address: "unknown".
  PeerAddress() = default;
  // kInvalidArgument if `bytes` is longer than kMaxSize.
  static core::Result<PeerAddress> from_bytes(core::ByteView bytes);
  // Four big-endian bytes; the simulator's addresses.
  static PeerAddress from_u32(uint32_t value);
  // Inverse of from_u32; 0xffffffff when the address is not 4 bytes long.
  uint32_t to_u32() const;

  core::ByteView bytes() const { return {bytes_.data(), size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Lower-case hex, for logs.
  std::string to_string() const;

  friend bool operator==(const PeerAddress& a, const PeerAddress& b) {
    return a.size_ == b.size_ && std::memcmp(a.bytes_.data(), b.bytes_.data(), a.size_) == 0;
  }

 private:
  std::array<uint8_t, kMaxSize> bytes_{};
  uint8_t size_ = 0;
};

// A node the core can talk to: its verified ID and where it was last heard from.
struct Contact {
  NodeId id;
  PeerAddress address;

  friend bool operator==(const Contact&, const Contact&) = default;
};

}  // namespace synapse::dht
