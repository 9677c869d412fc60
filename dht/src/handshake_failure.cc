// Classifying, counting and describing handshake failures; shared by datagram sessions
// (datagram_engine.cc) and streams (uv_stream.cc).
#include "synapse/dht/datagram_engine.h"

namespace synapse::dht {

void count_handshake_failure(TransportStats& stats, HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::kWrongKey:
      ++stats.handshakes_failed_wrong_key;
      break;
    case HandshakeFailure::kBadIdentity:
      ++stats.handshakes_failed_bad_identity;
      break;
    case HandshakeFailure::kAdmitRefused:
      ++stats.handshakes_failed_admit;
      break;
    case HandshakeFailure::kTimeout:
      ++stats.handshakes_failed_timeout;
      break;
    case HandshakeFailure::kMalformed:
      ++stats.handshakes_failed_malformed;
      break;
  }
}

HandshakeFailure classify_handshake_error(int number, const core::Error& error,
                                          bool admit_refused) {
  if (admit_refused) return HandshakeFailure::kAdmitRefused;
  if (error.code() == core::ErrorCode::kPermissionDenied) {
    return number == 1 ? HandshakeFailure::kWrongKey : HandshakeFailure::kBadIdentity;
  }
  return HandshakeFailure::kMalformed;
}

std::string_view handshake_failure_text(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::kWrongKey:
      return "wrong swarm key (message 1 did not authenticate)";
    case HandshakeFailure::kBadIdentity:
      return "bad identity (forged, tampered or unsigned handshake message)";
    case HandshakeFailure::kAdmitRefused:
      return "peer not admitted";
    case HandshakeFailure::kTimeout:
      return "timed out (no answer: peer down, unreachable or holding another swarm key)";
    case HandshakeFailure::kMalformed:
      return "malformed handshake";
  }
  return "unknown";
}

}  // namespace synapse::dht
