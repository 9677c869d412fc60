// Limits and timers of the transport (docs/wire.md, "Datagram sessions" and "Streams").
// Plain values; the defaults suit a LAN swarm.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace synapse::dht {

using namespace std::chrono_literals;

// The largest user message one datagram carries. Bigger sends fail with kInvalidArgument; use a
// stream. Messages up to ~1,200 bytes fit one Ethernet frame; bigger ones are IP-fragmented.
inline constexpr size_t kMaxDatagramMessageSize = 8 * 1024;

struct TransportLimits {
  // Responder handshakes that sent message 2 and wait for message 3.
  size_t max_half_open_per_source = 8;  // per source IP
  size_t max_half_open_total = 1024;
  // Established datagram sessions (current and previous ones together).
  size_t max_sessions = 4096;
  // User messages waiting for a handshake, per peer endpoint.
  size_t max_queued_per_peer = 256;
  // Token buckets per source IP; a rate of 0 disables the bucket.
  double handshake_rate_per_source = 100;  // handshake packets per second
  double handshake_burst_per_source = 200;
  double packet_rate_per_source = 1'000'000;  // all UDP packets
  double packet_burst_per_source = 1'000'000;
  double accept_rate_per_source = 200;  // TCP connections per second
  double accept_burst_per_source = 400;
  // Sources tracked per token-bucket table; when full, unknown sources pass untracked (a
  // spoofed flood cannot lock members out; the half-open limits still hold).
  size_t rate_limiter_sources = 16384;
  // Start a fresh handshake after this many messages sent on one session...
  uint64_t rekey_after_messages = uint64_t{1} << 20;
  // ...and stop sending on it after this many (messages queue for the new session).
  uint64_t reject_after_messages = uint64_t{1} << 21;
  // Streams: TCP connections, handshaking or established.
  size_t max_streams = 4096;
  size_t max_stream_handshakes_per_source = 8;
  size_t max_stream_handshakes_total = 256;
  // Bytes a stream may hold in its write queue; a write beyond it fails with kStoreFull.
  size_t max_stream_queue_bytes = 64 << 20;
};

struct TransportTimers {
  // Handshake messages 1 and 3 are resent after `handshake_retransmit`, doubling up to
  // `handshake_retransmit_max`; the handshake fails after `handshake_timeout`.
  std::chrono::milliseconds handshake_retransmit = 250ms;
  std::chrono::milliseconds handshake_retransmit_max = 2s;
  std::chrono::milliseconds handshake_timeout = 5s;
  // The initiator of a session starts a new handshake when it sends on a session this old; the
  // responder does so after 1.5 times this. No session sends after `reject_after`.
  std::chrono::milliseconds rekey_after = 120s;
  std::chrono::milliseconds reject_after = 180s;
  // A session we keep sending on without receiving anything for this long gets a new handshake
  // at the next send: the peer may have restarted and lost it.
  std::chrono::milliseconds rekey_unanswered = 5s;
  // A replaced session keeps receiving until nothing arrived on it for this long.
  std::chrono::milliseconds previous_session_grace = 10s;
  // A session with no traffic either way for this long is forgotten.
  std::chrono::milliseconds session_idle = 180s;
  // Streams: the TCP connect plus handshake must finish in time; an established stream with
  // no bytes either way for `stream_idle` is closed with an error (0 = never).
  std::chrono::milliseconds stream_handshake_timeout = 5s;
  std::chrono::milliseconds stream_idle = 600s;
  // Granularity of retransmissions and expiry: `tick` while a datagram handshake may need a
  // retransmission (for handshake_timeout after one started, either role), `idle_tick`
  // otherwise, so that an idle node wakes once a second rather than 20 times. The idle tick is
  // shortened to a quarter of the shortest expiry timer (session_idle, reject_after,
  // previous_session_grace, stream_handshake_timeout, stream_idle) where that is less.
  std::chrono::milliseconds tick = 50ms;
  std::chrono::milliseconds idle_tick = 1000ms;
  // At most one log line per source IP per interval about failed handshakes.
  std::chrono::milliseconds failure_log_interval = 60s;
};

}  // namespace synapse::dht
