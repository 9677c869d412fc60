// Counters of one Transport, for /metrics and tests. Updated on the loop thread only; read them
// there too (Transport::stats()).
#pragma once

#include <cstdint>
#include <string>

namespace synapse::dht {

struct TransportStats {
  // Datagrams (UDP), every packet including handshakes.
  uint64_t packets_in = 0;
  uint64_t packets_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t messages_sent = 0;      // user datagram messages handed to the kernel
  uint64_t messages_received = 0;  // user datagram messages delivered to the handler
  uint64_t send_errors = 0;        // the kernel refused a packet (e.g. EAGAIN, unreachable)
  uint64_t send_queue_full = 0;    // sends refused because too many wait for a handshake

  // Handshakes, datagram and stream together.
  uint64_t handshakes_started = 0;    // as initiator
  uint64_t handshakes_accepted = 0;   // as responder: message 1 authenticated
  uint64_t handshakes_completed = 0;  // either role
  uint64_t handshake_retransmits = 0;
  uint64_t handshakes_failed_wrong_key = 0;     // message 1 did not authenticate
  uint64_t handshakes_failed_bad_identity = 0;  // message 2/3 forged, tampered or bad signature
  uint64_t handshakes_failed_admit = 0;         // the admit hook refused the peer
  uint64_t handshakes_failed_timeout = 0;       // no answer in time (either role)
  uint64_t handshakes_failed_malformed = 0;     // bad lengths, unknown version, bad payload
  uint64_t handshakes_dropped_limit = 0;        // half-open or session limits reached
  uint64_t rekeys = 0;                          // handshakes started to replace a session

  // Dropped input (never answered).
  uint64_t malformed_dropped = 0;        // undecodable packets and frames
  uint64_t unauthenticated_dropped = 0;  // unknown session index or failed authentication
  uint64_t replays_dropped = 0;          // nonce already seen
  uint64_t too_old_dropped = 0;          // nonce behind the replay window
  uint64_t rate_limited_dropped = 0;     // per-source token buckets (packets, handshakes, accepts)

  // Sessions (gauges) and their ends.
  uint64_t sessions_active = 0;
  uint64_t half_open_active = 0;
  uint64_t sessions_expired = 0;

  // Streams (TCP).
  uint64_t streams_opened = 0;              // open_stream succeeded
  uint64_t streams_accepted = 0;            // handed to the stream handler
  uint64_t streams_active = 0;              // gauge: established connections not yet closed
  uint64_t streams_failed = 0;              // tampered, truncated, oversize frame or socket error
  uint64_t streams_timed_out = 0;           // handshake or idle timeout
  uint64_t stream_connections_refused = 0;  // accept limits (per source, total)
  uint64_t stream_bytes_in = 0;             // plaintext bytes delivered
  uint64_t stream_bytes_out = 0;            // plaintext bytes written
  uint64_t stream_frames_in = 0;
  uint64_t stream_frames_out = 0;

  // One line per counter, "name value", in declaration order (for logs and the bench).
  std::string to_text() const;
};

}  // namespace synapse::dht
