#include "synapse/dht/transport_stats.h"

namespace synapse::dht {

std::string TransportStats::to_text() const {
  std::string out;
  auto line = [&out](const char* name, uint64_t value) {
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
#define SYNAPSE_STAT_(name) line(#name, name)
  SYNAPSE_STAT_(packets_in);
  SYNAPSE_STAT_(packets_out);
  SYNAPSE_STAT_(bytes_in);
  SYNAPSE_STAT_(bytes_out);
  SYNAPSE_STAT_(messages_sent);
  SYNAPSE_STAT_(messages_received);
  SYNAPSE_STAT_(send_errors);
  SYNAPSE_STAT_(send_queue_full);
  SYNAPSE_STAT_(handshakes_started);
  SYNAPSE_STAT_(handshakes_accepted);
  SYNAPSE_STAT_(handshakes_completed);
  SYNAPSE_STAT_(handshake_retransmits);
  SYNAPSE_STAT_(handshakes_failed_wrong_key);
  SYNAPSE_STAT_(handshakes_failed_bad_identity);
  SYNAPSE_STAT_(handshakes_failed_admit);
  SYNAPSE_STAT_(handshakes_failed_timeout);
  SYNAPSE_STAT_(handshakes_failed_malformed);
  SYNAPSE_STAT_(handshakes_dropped_limit);
  SYNAPSE_STAT_(rekeys);
  SYNAPSE_STAT_(malformed_dropped);
  SYNAPSE_STAT_(unauthenticated_dropped);
  SYNAPSE_STAT_(replays_dropped);
  SYNAPSE_STAT_(too_old_dropped);
  SYNAPSE_STAT_(rate_limited_dropped);
  SYNAPSE_STAT_(sessions_active);
  SYNAPSE_STAT_(half_open_active);
  SYNAPSE_STAT_(sessions_expired);
  SYNAPSE_STAT_(streams_opened);
  SYNAPSE_STAT_(streams_accepted);
  SYNAPSE_STAT_(streams_active);
  SYNAPSE_STAT_(streams_failed);
  SYNAPSE_STAT_(streams_timed_out);
  SYNAPSE_STAT_(stream_connections_refused);
  SYNAPSE_STAT_(stream_bytes_in);
  SYNAPSE_STAT_(stream_bytes_out);
  SYNAPSE_STAT_(stream_frames_in);
  SYNAPSE_STAT_(stream_frames_out);
#undef SYNAPSE_STAT_
  return out;
}

}  // namespace synapse::dht
