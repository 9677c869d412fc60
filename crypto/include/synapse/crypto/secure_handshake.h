// The Synapse handshake: mutual authentication of two swarm members and the transport keys
// of their session. Sans-I/O: the transport carries the messages (docs/wire.md, "Handshake";
// the reasoning is in docs/security.md).
//
// Protocol: Noise_XXpsk0_25519_AESGCM_SHA256 (synapse/crypto/noise.h).
//   PSK      = HKDF-SHA256(ikm = swarm key, salt = none, info = "synapse noise psk v1"), 32 bytes
//   prologue = "synapse/1" || the 8 bytes of the swarm key's fingerprint (SwarmKey::id())
//   -> psk, e              payload: version byte
//   <- e, ee, s, es        payload: identity key, signature over our Noise static key, [cert]
//   -> s, se               payload: the same for the initiator
// A responder that does not share the swarm key cannot authenticate message 1 and stops
// there, before sending anything; an initiator without the key never gets an answer. Each
// side's Noise static key (X25519) is separate from its Ed25519 node identity and bound to it
// by an Ed25519 signature; the peer's NodeId is SHA-256 of the verified identity key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/identity.h"
#include "synapse/crypto/noise.h"
#include "synapse/crypto/swarm_key.h"

namespace synapse::crypto {

// A peer whose identity the handshake verified.
struct PeerIdentity {
  NodeId node_id;  // SHA-256(identity_key)
  Ed25519PublicKey identity_key{};
  // The peer's certificate bytes as sent, unverified: the admit hook (or the layer above)
  // decides what they mean.
  std::optional<core::Bytes> certificate;
};

// This process's Noise static key and the identity's signature binding it. Creating one per
// process and passing it to every handshake saves an X25519 key generation and an Ed25519
// signature per handshake. Immutable; thread-safe.
class HandshakeStaticKey {
 public:
  static HandshakeStaticKey generate(const NodeIdentity& identity, core::Rng& rng);

  const X25519KeyPair& key_pair() const { return key_pair_; }
  const Ed25519PublicKey& identity_key() const { return identity_key_; }
  // Ed25519 signature by the identity over kStaticKeySignatureContext || public key.
  const Ed25519Signature& signature() const { return signature_; }

 private:
  HandshakeStaticKey(X25519KeyPair key_pair, const Ed25519PublicKey& identity_key,
                     const Ed25519Signature& signature)
      : key_pair_(std::move(key_pair)), identity_key_(identity_key), signature_(signature) {}

  X25519KeyPair key_pair_;
  Ed25519PublicKey identity_key_{};
  Ed25519Signature signature_{};
};

struct HandshakeOptions {
  // Ours; required. Must outlive the SecureHandshake.
  const NodeIdentity* identity = nullptr;
  // Required. Must outlive the SecureHandshake.
  const SwarmKey* swarm_key = nullptr;
  // Ours, sent in our payload if set; at most kMaxCertificateSize bytes.
  std::optional<core::Bytes> certificate;
  // Called with the verified peer before the handshake completes (responder: after message 3,
  // initiator: after message 2, before message 3 is built), on the thread that feeds the
  // message. An error aborts the handshake with that error (e.g. "certificate required").
  // May be empty (admit everyone with the swarm key).
  std::function<core::Status(const PeerIdentity&)> admit;
  // Optional: this process's static key (see HandshakeStaticKey); must belong to `identity`
  // and outlive the SecureHandshake. If null, a fresh one is made from the Rng.
  const HandshakeStaticKey* static_key = nullptr;
};

// One direction of the transport after the handshake. Nonces are explicit so that datagram
// transports can carry the counter in each packet and keep a replay window; stream transports
// just count from 0. Never seal two messages with the same nonce: replay and reorder
// protection is the transport's job. Authentication failures (wrong nonce, wrong associated
// data, tampering, the other direction's key) are kPermissionDenied; a ciphertext that is
// shorter than a tag or longer than kMaxCiphertextSize is kInvalidArgument.
//
// Not thread-safe (one Botan cipher object is reused): use one TransportCipher per thread at a
// time. The send and receive ciphers of one session are independent objects.
class TransportCipher {
 public:
  static constexpr size_t kTagSize = kNoiseTagSize;
  // The largest plaintext of one sealed message; transports frame larger data.
  static constexpr size_t kMaxPlaintextSize = 64 * 1024;
  static constexpr size_t kMaxCiphertextSize = kMaxPlaintextSize + kTagSize;
  // 2^64-1 is reserved by Noise.
  static constexpr uint64_t kMaxNonce = NoiseCipherState::kMaxNonce;

  // Returns ciphertext || 16-byte tag. `nonce` <= kMaxNonce and `plaintext` at most
  // kMaxPlaintextSize bytes: violations abort (programmer errors).
  core::Bytes seal(uint64_t nonce, core::ByteView associated_data, core::ByteView plaintext) const;
  // As seal(), appending to `out`: no allocation when `out` has the capacity.
  // `associated_data` may point into `out` (a frame header written just before); `plaintext`
  // must not.
  void seal_into(uint64_t nonce, core::ByteView associated_data, core::ByteView plaintext,
                 core::Bytes& out) const;

  core::Result<core::Bytes> open(uint64_t nonce, core::ByteView associated_data,
                                 core::ByteView ciphertext) const;
  // As open(), appending the plaintext to `out`; on error `out` is left as it was.
  // `associated_data` may point into `out`; `ciphertext` must not.
  core::Status open_into(uint64_t nonce, core::ByteView associated_data, core::ByteView ciphertext,
                         core::Bytes& out) const;

  NoiseCipher cipher() const;

  explicit TransportCipher(NoiseCipherState state);

 private:
  NoiseCipherState state_;
};

struct HandshakeResult {
  PeerIdentity peer;
  TransportCipher send;
  TransportCipher receive;
  // The Noise handshake hash: the same on both sides, unique to the session (channel binding).
  std::array<uint8_t, 32> handshake_hash{};
};

// One handshake, initiator or responder. Sans-I/O and not thread-safe. Usage: after creation,
// send whatever next_message() returns; feed every handshake message from the peer to
// read_message(); repeat until done(), then finish(). The first error (from read_message or
// the admit hook) aborts the handshake for good: later calls fail with kFailedPrecondition,
// and the transport should close the connection without answering.
class SecureHandshake {
 public:
  // The largest handshake message either side sends or accepts.
  static constexpr size_t kMaxMessageSize = 4096 + 256;
  // The largest payload (docs/wire.md) and certificate.
  static constexpr size_t kMaxPayloadSize = 4096;
  static constexpr size_t kMaxCertificateSize = crypto::kMaxCertificateSize;

  // Errors: kInvalidArgument if identity or swarm_key is missing, the certificate is too large
  // or static_key belongs to another identity.
  static core::Result<SecureHandshake> initiator(const HandshakeOptions& options, core::Rng& rng);
  static core::Result<SecureHandshake> responder(const HandshakeOptions& options, core::Rng& rng);

  SecureHandshake(SecureHandshake&&) noexcept;
  SecureHandshake& operator=(SecureHandshake&&) noexcept;
  ~SecureHandshake();

  // The next outgoing message if it is our turn, else nullopt. Fails with kFailedPrecondition
  // after a failure.
  core::Result<std::optional<core::Bytes>> next_message();

  // Feeds the peer's next handshake message. Errors:
  //  - message 1 (responder): kPermissionDenied "handshake: message 1 failed authentication
  //    (wrong swarm key?)" when the peer does not have our swarm key (wrong PSK or prologue);
  //    the responder then has produced no output at all.
  //  - messages 2 and 3: kPermissionDenied if they fail authentication (tampered, or a peer
  //    without the key) or the identity signature does not cover the sender's Noise static
  //    key; kInvalidArgument for a malformed payload; the admit hook's error.
  //  - kInvalidArgument for a message longer than kMaxMessageSize or too short;
  //    kUnsupported for another handshake version; kFailedPrecondition when no message is
  //    expected (our turn to send, finished, or failed).
  core::Status read_message(core::ByteView message);

  // True once our last message was built (initiator) or the peer's last one admitted
  // (responder).
  bool done() const;
  bool failed() const;

  // The verified peer and the transport keys. Only once, and only when done(); otherwise
  // kFailedPrecondition.
  core::Result<HandshakeResult> finish();

 private:
  struct Impl;
  static core::Result<SecureHandshake> create(const HandshakeOptions& options, NoiseRole role,
                                              core::Rng& rng);
  explicit SecureHandshake(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// The pieces of the handshake, public for tests, fuzzing and interoperable tools.

inline constexpr std::string_view kHandshakeProtocolName = "Noise_XXpsk0_25519_AESGCM_SHA256";
inline constexpr uint8_t kHandshakeVersion = 1;
inline constexpr std::string_view kStaticKeySignatureContext = "synapse noise static v1";

// The Noise PSK for a swarm (HKDF-SHA256 as above).
NoiseSecret handshake_psk(const SwarmKey& swarm_key);
// "synapse/1" || the 8 raw bytes of the swarm key's fingerprint.
core::Bytes handshake_prologue(const SwarmKey& swarm_key);

// The payload of messages 2 and 3 (docs/wire.md, "Handshake").
struct HandshakePayload {
  Ed25519PublicKey identity_key{};
  Ed25519Signature static_key_signature{};
  std::optional<core::Bytes> certificate;
};

// Encodes `payload`; its certificate must fit kMaxCertificateSize (checked: misuse aborts).
core::Bytes encode_handshake_payload(const HandshakePayload& payload);
// Decodes at most kMaxPayloadSize bytes. Errors: kUnsupported for another version byte,
// kInvalidArgument for anything malformed (truncated fields, wrong lengths, unknown, repeated
// or out-of-order fields, missing required fields, trailing bytes).
core::Result<HandshakePayload> decode_handshake_payload(core::ByteView bytes);

}  // namespace synapse::crypto
