// LAN discovery: nodes of one swarm on one LAN find each other without configuration by UDP
// multicast beacons (synapse/dht/discovery.h; docs/wire.md, "LAN discovery beacons"). Each
// node multicasts "node <NodeId> listens on port P", sealed with a key derived from the swarm
// key; receivers open the beacons of their swarm, ignore their own and report the peer's
// transport endpoint (the packet's source IP with the beacon's port). Discovery proves
// nothing about the peer: the caller greets the endpoint over the Transport, whose handshake
// authenticates it (a replayed or forged beacon can at most cause a handshake attempt).
//
// Threads: a LanDiscovery lives on ONE libuv loop, given by the caller, who runs it. Every
// method must be called on the loop's thread and every callback runs there; callbacks never
// run inside the call that registers them. Nothing here blocks.
// Lifetime: call close() and let its callback run before destroying the LanDiscovery (and
// before closing the loop). The Rng must outlive it; the swarm key is copied (as a derived
// key) at creation.
//
// Interfaces are chosen once, in create() (see select_interfaces in discovery.h); interfaces
// or addresses that appear later are not used until the LanDiscovery is recreated.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/dht/discovery.h"
#include "synapse/dht/endpoint.h"

typedef struct uv_loop_s uv_loop_t;

namespace synapse::dht {

struct LanDiscoveryOptions {
  // IPv4 multicast group and port (default 239.192.83.89:4748; parse_discovery_group reads
  // it from config text). Every node of a LAN must use the same one.
  Endpoint group = default_discovery_group();
  // Interface names to join and beacon on. Empty: every interface that is up, multicast-capable
  // and has an IPv4 address, except loopback; loopback only when nothing else qualifies.
  std::vector<std::string> interfaces;
  // Steady-state beacon period (at least 100 ms), with +-20% jitter from the Rng. At start
  // (and after announce_now) beacons go out at once, then after 0.5 s, 1 s, 2 s, ... doubling
  // up to `interval`.
  core::Duration interval = std::chrono::seconds(10);
};

struct LanDiscoveryStats {
  uint64_t beacons_sent = 0;      // packets the kernel took, one per interface per beacon
  uint64_t beacons_received = 0;  // beacons of our swarm from other nodes (handler calls)
  uint64_t beacons_rejected = 0;  // packets that did not open (another swarm, garbage, size)
  uint64_t send_errors = 0;       // sends the kernel refused (one per interface per beacon)
};

class LanDiscovery {
 public:
  // Runs for every beacon of our swarm from another node (our own, same node ID, are
  // ignored), with the transport endpoint to greet: the source IPv4 address of the packet and
  // the beacon's port. It runs again for every later beacon of the same peer (every few
  // seconds) and, on a host whose peers are reachable over several chosen interfaces, once per
  // interface with different endpoints: the caller deduplicates (e.g. skips peers it already
  // has a session with). The beacon's node ID is a claim: the peer's identity is the one the
  // transport's handshake verifies. It may call close(), but must not destroy the LanDiscovery.
  using PeerHandler = std::function<void(const Beacon& beacon, const Endpoint& transport_endpoint)>;

  // Opens the receiving socket on the group's port (SO_REUSEADDR, so that many nodes on one
  // host share it), joins the group on the chosen interfaces, opens one sending socket per
  // interface (multicast TTL 1, loopback on so nodes on the same host hear each other) and
  // starts beaconing `self`. Needs no privileges for ports above 1023.
  // Errors: kInvalidArgument (no loop or handler, self.port 0, interval under 100 ms, group not
  // IPv4 multicast), kIo naming the group or interface (no usable interface, a named interface
  // missing, down or without IPv4, bind or join failed).
  static core::Result<std::unique_ptr<LanDiscovery>> create(uv_loop_t* loop,
                                                            LanDiscoveryOptions options,
                                                            const crypto::SwarmKey& key,
                                                            Beacon self, core::Rng& rng,
                                                            PeerHandler on_peer);
  virtual ~LanDiscovery() = default;

  // Beacons on the next loop turn and restarts the fast start schedule (e.g. after the
  // transport restarted, or the network came back). Several calls in a row send one beacon.
  // Does nothing after close().
  virtual void announce_now() = 0;
  // The names of the interfaces chosen at creation.
  virtual const std::vector<std::string>& interfaces() const = 0;
  virtual const LanDiscoveryStats& stats() const = 0;
  // Stops beaconing and receiving (no handler call after this returns) and runs `done` once
  // every libuv handle is closed (never inside this call). Only once.
  virtual void close(std::function<void()> done) = 0;
};

}  // namespace synapse::dht
