// LAN discovery beacons (docs/wire.md, "LAN discovery beacons"), sans-I/O: the sealed
// multicast packet in which a node says "node <NodeId> listens on port P", the beacon timing,
// the multicast group and the choice of interfaces. No sockets and no clock; randomness is
// injected. The libuv adapter that sends and receives beacons is synapse/dht/lan_discovery.h.
//
// Packet (77 bytes, every beacon the same length):
//   version (1 byte, 0x01) | nonce (12 random bytes) | AES-256-GCM(plaintext) (48) | tag (16)
//   plaintext = node ID (32) | port (u16 big-endian) | 14 zero bytes
//   key = HKDF-SHA256(ikm = swarm key, salt = none, info = "synapse discovery beacon v1")
//   associated data = the version byte
// An outsider sees the version byte and 76 random-looking bytes: not the node ID, not the
// port, not which swarm (nothing in clear is tied to the swarm, so beacons of one swarm cannot
// be linked to each other). Receivers tell swarms apart by trial decryption: a beacon of
// another swarm fails the tag check (one AES-GCM pass over 48 bytes, nothing at beacon rates).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/noise.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/dht/distance.h"
#include "synapse/dht/endpoint.h"

namespace synapse::dht {

// "Node `node_id` runs its transport (UDP and TCP) on `port` at the address this beacon came
// from." Unauthenticated as to who sent it: anyone holding the swarm key can seal any beacon,
// and anyone on the LAN can replay one. The transport's handshake authenticates the peer.
struct Beacon {
  NodeId node_id;
  uint16_t port = 0;  // never 0 in a beacon that opens

  friend bool operator==(const Beacon&, const Beacon&) = default;
};

inline constexpr uint8_t kBeaconVersion = 1;
// The HKDF label of the beacon key; distinct from the handshake PSK's "synapse noise psk v1".
inline constexpr std::string_view kBeaconKeyInfo = "synapse discovery beacon v1";

// The beacon key for a swarm (HKDF-SHA256 as above), for other implementations and tests.
crypto::NoiseSecret beacon_key(const crypto::SwarmKey& swarm_key);

// Seals and opens beacons of one swarm. Errors never throw (Botan exceptions are caught
// inside). Not thread-safe, including the const methods (they reuse Botan cipher objects):
// one BeaconSealer per thread. Keys are wiped when it is destroyed.
class BeaconSealer {
 public:
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kPlaintextSize = 48;
  static constexpr size_t kPacketSize = 1 + kNonceSize + kPlaintextSize + kTagSize;

  explicit BeaconSealer(const crypto::SwarmKey& swarm_key);
  BeaconSealer(BeaconSealer&&) noexcept;
  BeaconSealer& operator=(BeaconSealer&&) noexcept;
  ~BeaconSealer();

  // A kPacketSize-byte packet with a fresh random nonce from `rng` (two seals of the same
  // beacon differ). `beacon.port` must not be 0 (misuse aborts).
  core::Bytes seal(const Beacon& beacon, core::Rng& rng) const;
  // Errors, all kInvalidArgument: a size other than kPacketSize, another version byte, a
  // packet that fails authentication (another swarm key, tampering, garbage), non-zero
  // padding or port 0.
  core::Result<Beacon> open(core::ByteView packet) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// When beacons go out: one at once, then after 0.5 s, 1 s, 2 s, 4 s, ... doubling up to the
// steady-state interval (a fast cold join that costs a handful of packets), each delay with
// +-20% jitter so that nodes started together (after a power cut) do not beacon in lockstep.
// Not thread-safe.
class BeaconSchedule {
 public:
  static constexpr core::Duration kFirstDelay = std::chrono::milliseconds(500);

  // `interval` > 0 (misuse aborts).
  explicit BeaconSchedule(core::Duration interval) : interval_(interval) { restart(); }

  // The delay from the beacon just sent to the next one: base * U(0.8, 1.2), where base is
  // 0.5 s, 1 s, 2 s, ... and at most `interval`.
  core::Duration next_delay(core::Rng& rng);
  // Back to the fast start (0.5 s next).
  void restart();

 private:
  core::Duration interval_;
  core::Duration base_{};
};

// The protocol's multicast group: 239.192.83.89, in the IPv4 organization-local scope
// (239.192.0.0/14, RFC 2365), port 4748.
inline constexpr std::array<uint8_t, 4> kDiscoveryGroupAddress = {239, 192, 83, 89};
inline constexpr uint16_t kDiscoveryPort = 4748;
inline Endpoint default_discovery_group() {
  return Endpoint::ipv4(kDiscoveryGroupAddress, kDiscoveryPort);
}

// ok for an IPv4 multicast address (224.0.0.0/4) with a port other than 0; else
// kInvalidArgument naming the problem.
core::Status check_discovery_group(const Endpoint& group);
// Parses "239.192.83.89:4748" (config files) and checks it as above.
core::Result<Endpoint> parse_discovery_group(std::string_view text);

// A network interface as the OS reports it (one IPv4 address: the first one listed).
struct NetworkInterface {
  std::string name;
  unsigned index = 0;                // if_nametoindex
  std::array<uint8_t, 4> address{};  // IPv4
  bool has_ipv4 = false;
  bool up = false;         // IFF_UP
  bool multicast = false;  // IFF_MULTICAST
  bool loopback = false;   // IFF_LOOPBACK
};

// The interfaces to beacon on, in the order of `available`:
//  - `names` given: exactly those (duplicates once); each must exist, be up and have an IPv4
//    address (its multicast flag is not required: `lo` lacks it and still carries multicast
//    inside the host). Else kIo naming the interface.
//  - `names` empty: every non-loopback interface that is up, multicast-capable and has an
//    IPv4 address; when there is none, the loopback interfaces that are up with an IPv4
//    address (a lone machine, a fresh network namespace). kIo when nothing qualifies.
core::Result<std::vector<NetworkInterface>> select_interfaces(
    const std::vector<NetworkInterface>& available, const std::vector<std::string>& names);

}  // namespace synapse::dht
