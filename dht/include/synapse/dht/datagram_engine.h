// The datagram session engine (docs/wire.md, "Datagram sessions"): handshakes with
// retransmission, the session table with replay windows, rekeying and expiry, per-source
// limits. Sans-I/O: packets come in through on_packet(), time through the Clock and
// on_timer(), and everything that leaves goes through DatagramIo. The libuv adapter
// (uv_transport.cc) drives one; tests drive it with a ManualClock.
//
// Not thread-safe: one thread calls every method, and DatagramIo runs on it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "synapse/core/bytes.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/identity.h"
#include "synapse/crypto/secure_handshake.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/dht/endpoint.h"
#include "synapse/dht/transport_options.h"
#include "synapse/dht/transport_stats.h"

namespace synapse::dht {

// What the engine needs from the outside world.
class DatagramIo {
 public:
  virtual ~DatagramIo() = default;
  // Hands one packet to the network now; the result is the kernel's verdict.
  virtual core::Status send_packet(const Endpoint& to, core::ByteView packet) = 0;
  // An authenticated user message arrived. May call back into the engine (send()).
  virtual void deliver(const Endpoint& from, const crypto::PeerIdentity& peer,
                       core::ByteView message) = 0;
  // Must run `done(status)` later, outside the current engine call.
  virtual void complete(std::function<void(core::Status)> done, core::Status status) = 0;
};

struct DatagramEngineConfig {
  // Required; must outlive the engine.
  const crypto::NodeIdentity* identity = nullptr;
  const crypto::SwarmKey* swarm_key = nullptr;
  const crypto::HandshakeStaticKey* static_key = nullptr;
  std::optional<core::Bytes> certificate;
  // Runs on every verified peer before a session exists; an error refuses it.
  std::function<core::Status(const crypto::PeerIdentity&)> admit;
  TransportLimits limits;
  TransportTimers timers;
  // Prefix of log lines, e.g. the node's short ID.
  std::string log_name;
};

// Why a handshake failed, for stats and logs (shared with streams).
enum class HandshakeFailure { kWrongKey, kBadIdentity, kAdmitRefused, kTimeout, kMalformed };
void count_handshake_failure(TransportStats& stats, HandshakeFailure failure);
// Classifies an error of SecureHandshake::read_message for message `number` (1..3).
HandshakeFailure classify_handshake_error(int number, const core::Error& error, bool admit_refused);
std::string_view handshake_failure_text(HandshakeFailure failure);

class DatagramEngine {
 public:
  DatagramEngine(DatagramEngineConfig config, DatagramIo& io, core::Rng& rng,
                 const core::Clock& clock, TransportStats& stats);
  ~DatagramEngine();
  DatagramEngine(const DatagramEngine&) = delete;
  DatagramEngine& operator=(const DatagramEngine&) = delete;

  // Sends `message` (at most kMaxDatagramMessageSize bytes) to `to`, first running a
  // handshake if there is no session. `done` runs exactly once, through DatagramIo::complete:
  // ok once the kernel took the packet; kInvalidArgument (too big), kStoreFull (too many
  // messages wait for the handshake), kIo (handshake timed out, kernel refused the packet),
  // the admit hook's error, kFailedPrecondition (shut down).
  void send(const Endpoint& to, core::Bytes message, std::function<void(core::Status)> done);

  // One UDP payload from `from`. Never fails: bad input is dropped and counted.
  void on_packet(const Endpoint& from, core::ByteView packet);

  // Retransmissions, timeouts, expiry. Call every timers.tick.
  void on_timer();

  // The verified peer of the current session with `endpoint`, if any.
  std::optional<crypto::PeerIdentity> peer_at(const Endpoint& endpoint) const;

  // Fails every waiting send with kFailedPrecondition and forgets every session.
  void shutdown();

  // Counts a failed handshake (e.g. of a stream) and logs it, at most one line per source IP
  // per timers.failure_log_interval. Never logs keys.
  void report_handshake_failure(const Endpoint& peer, bool inbound, HandshakeFailure failure,
                                const core::Error* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synapse::dht
