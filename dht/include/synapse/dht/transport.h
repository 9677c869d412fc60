// The encrypted network transport of a Synapse node (docs/wire.md): small messages as
// encrypted datagrams over UDP, bulk data as encrypted streams over TCP, both mutually
// authenticated with the swarm handshake (synapse/crypto/secure_handshake.h). The layers above
// see addresses, verified peers and bytes, never Noise.
//
// Addressing is by Endpoint: sending to a node ID needs the DHT's address book, which lives
// above this layer; every received message and stream carries the peer's verified NodeId.
//
// Threads: a Transport lives on ONE libuv loop, given by the caller, who runs it. Every method
// must be called on the loop's thread and every callback runs there; callbacks never run
// inside the call that registers them. Nothing here blocks.
// Lifetime: call close() and let its callback run before destroying the Transport (and before
// closing the loop). The identity, swarm key, Rng and Clock must outlive the Transport.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "synapse/core/bytes.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/identity.h"
#include "synapse/crypto/secure_handshake.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/dht/endpoint.h"
#include "synapse/dht/stream.h"
#include "synapse/dht/transport_options.h"
#include "synapse/dht/transport_stats.h"

typedef struct uv_loop_s uv_loop_t;

namespace synapse::dht {

struct TransportOptions {
  // Required; must outlive the Transport.
  const crypto::NodeIdentity* identity = nullptr;
  const crypto::SwarmKey* swarm_key = nullptr;
  // Our membership certificate, sent in the handshake (at most 3,072 bytes).
  std::optional<core::Bytes> certificate;
  // Runs on every verified peer (datagram sessions and streams, both roles) before it may
  // talk to us; an error refuses it. Empty: every holder of the swarm key is admitted.
  std::function<core::Status(const crypto::PeerIdentity&)> admit;
  // UDP and TCP bind the same address and port; port 0 picks a free one.
  Endpoint bind = Endpoint::loopback_v4(0);
  TransportLimits limits;
  TransportTimers timers;
};

class Transport {
 public:
  using MessageHandler = std::function<void(const Endpoint& from, const crypto::PeerIdentity&,
                                            core::ByteView message)>;
  using StreamHandler = std::function<void(std::unique_ptr<Stream>)>;

  // Binds the sockets and starts receiving. Errors: kInvalidArgument (missing identity or swarm
  // key, certificate too large), kIo (bind failed: the message names the address).
  static core::Result<std::unique_ptr<Transport>> create(uv_loop_t* loop, TransportOptions options,
                                                         core::Rng& rng, const core::Clock& clock);
  virtual ~Transport() = default;

  // The bound address (with the chosen port).
  virtual const Endpoint& local_endpoint() const = 0;
  virtual const crypto::NodeId& node_id() const = 0;

  // Sends one message (at most kMaxDatagramMessageSize bytes) in an encrypted datagram,
  // running a handshake first if there is no session with `to`. Unreliable like UDP: ok means
  // the kernel took the packet. `done` runs exactly once: ok, or kInvalidArgument (too big),
  // kStoreFull (too many messages wait for the handshake), kIo (handshake timed out, e.g. no
  // peer there or a different swarm key; kernel error), the admit hook's error,
  // kFailedPrecondition (closed).
  virtual void send(const Endpoint& to, core::Bytes message,
                    std::function<void(core::Status)> done) = 0;
  // Receives every authenticated message with its sender's address and verified identity; the
  // view is valid during the call. Replays are never delivered.
  virtual void set_message_handler(MessageHandler handler) = 0;
  // The verified peer of the current datagram session with `endpoint`.
  virtual std::optional<crypto::PeerIdentity> peer_at(const Endpoint& endpoint) const = 0;

  // Opens an encrypted stream (its own TCP connection) to `to`. `done` runs exactly once,
  // with the stream once the peer confirmed the handshake, or with the error (kIo: connect
  // failed, refused, timed out, peer without the swarm key; the admit hook's error;
  // kFailedPrecondition: closed).
  virtual void open_stream(const Endpoint& to,
                           std::function<void(core::Result<std::unique_ptr<Stream>>)> done) = 0;
  // Receives every accepted stream. Without a handler incoming streams are refused.
  virtual void set_stream_handler(StreamHandler handler) = 0;

  virtual const TransportStats& stats() const = 0;

  // Stops receiving, fails waiting sends and stream opens, closes every socket and open
  // stream, and runs `done` once every libuv handle is closed. Only once.
  virtual void close(std::function<void()> done) = 0;
};

}  // namespace synapse::dht
