// Runs a sans-I/O Kademlia Node over the real encrypted Transport on a libuv loop: messages
// from the transport go to Node::on_message() with the sender's verified node ID, the Node's
// sends go out as encrypted datagrams, and a libuv timer calls Node::on_timer() when
// Node::next_timer() asks.
//
// Addresses: the Node's opaque PeerAddress is the transport Endpoint packed as 4 + 2 bytes
// (IPv4) or 16 + 2 bytes (IPv6) of address and big-endian port (docs/dht.md).
//
// Threads: everything runs on the loop's thread, like the Transport; callbacks never run
// inside the call that starts them. Lifetime: call close() and let its callback run before
// destroying the NodeRuntime; the Transport, Rng and Clock must outlive it.
#pragma once

#include <functional>
#include <memory>

#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/dht/endpoint.h"
#include "synapse/dht/node.h"
#include "synapse/dht/peer_address.h"
#include "synapse/dht/transport.h"

typedef struct uv_loop_s uv_loop_t;

namespace synapse::dht {

PeerAddress to_peer_address(const Endpoint& endpoint);
// kInvalidArgument unless `address` is 6 or 18 bytes long.
core::Result<Endpoint> to_endpoint(const PeerAddress& address);

struct NodeRuntimeStats {
  uint64_t send_failures = 0;  // sends the transport reported failed (no peer, timeout, ...)
};

class NodeRuntime {
 public:
  // Takes over the transport's message handler. The node's ID is the transport's.
  static std::unique_ptr<NodeRuntime> create(uv_loop_t* loop, Transport& transport,
                                             NodeOptions options, core::Rng& rng,
                                             const core::Clock& clock);
  virtual ~NodeRuntime() = default;

  // The node, for inspection. Start operations through run(), so that the timer follows what
  // they schedule.
  virtual const Node& node() const = 0;
  virtual core::MonoTime now() const = 0;
  // Runs `work` with the node and the current time, then re-arms the timer.
  virtual void run(const std::function<void(Node& node, core::MonoTime now)>& work) = 0;
  virtual const NodeRuntimeStats& stats() const = 0;

  // Stops the timer and detaches from the transport (it receives nothing more); `done` runs
  // once the timer handle is closed. Operations still running never complete. Only once.
  virtual void close(std::function<void()> done) = 0;
};

}  // namespace synapse::dht
