// The Noise Protocol Framework (revision 34, https://noiseprotocol.org/noise.html), sans-I/O.
//
// A generic handshake state machine for every handshake pattern of the specification
// (one-way N, K, X; the twelve interactive fundamental patterns NN ... IX; the deferred
// patterns NK1 ... I1X1) with psk modifiers at any position, including several at once
// ("XXpsk0+psk3"). Suites: DH 25519; ciphers ChaChaPoly and AESGCM; hashes SHA256, SHA512 and
// BLAKE2b. Not supported (kUnsupported): DH 448 and BLAKE2s (Botan 2 has neither) and the
// fallback modifier. Checked against the cacophony and snow test vectors
// (tests/crypto/noise_test.cc).
//
// Nothing here does I/O: messages go in and out as byte buffers, and randomness (ephemeral
// keys) comes from an injected core::Rng. Secret keys are wiped from memory when the objects
// holding them are destroyed. Errors never throw. Unless noted otherwise, objects are not
// thread-safe; distinct objects are independent.
//
// The production handshake built on this is synapse/crypto/secure_handshake.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"

namespace synapse::crypto {

enum class NoiseCipher : uint8_t { kChaChaPoly, kAesGcm };
enum class NoiseHash : uint8_t { kSha256, kSha512, kBlake2b };
// The tokens of a handshake pattern; kE and kS also appear in pre-messages.
enum class NoiseToken : uint8_t { kE, kS, kEe, kEs, kSe, kSs, kPsk };

// DHLEN for 25519; also the size of cipher keys and PSKs.
inline constexpr size_t kNoiseKeySize = 32;
inline constexpr size_t kNoiseTagSize = 16;
// The largest Noise message, handshake or transport (the specification's limit).
inline constexpr size_t kNoiseMaxMessageSize = 65535;
// Longest protocol name NoiseProtocol::parse accepts.
inline constexpr size_t kNoiseMaxProtocolNameSize = 128;

using X25519PublicKey = std::array<uint8_t, kNoiseKeySize>;

// 32 secret bytes (a private key, a cipher key or a PSK), wiped when destroyed or overwritten.
class NoiseSecret {
 public:
  NoiseSecret() = default;  // all zero
  explicit NoiseSecret(const std::array<uint8_t, kNoiseKeySize>& bytes) : bytes_(bytes) {}
  // Fails with kInvalidArgument unless `bytes` is 32 bytes long.
  static core::Result<NoiseSecret> from_bytes(core::ByteView bytes);

  NoiseSecret(const NoiseSecret& other) = default;
  NoiseSecret& operator=(const NoiseSecret& other);
  ~NoiseSecret();

  const std::array<uint8_t, kNoiseKeySize>& bytes() const { return bytes_; }
  uint8_t* data() { return bytes_.data(); }

 private:
  std::array<uint8_t, kNoiseKeySize> bytes_{};
};

// An X25519 key pair (RFC 7748). Any 32 bytes are a valid private key (they are clamped when
// used), so construction cannot fail on the key's value.
class X25519KeyPair {
 public:
  static X25519KeyPair generate(core::Rng& rng);
  static X25519KeyPair from_private_key(const NoiseSecret& private_key);
  // Fails with kInvalidArgument unless `private_key` is 32 bytes long.
  static core::Result<X25519KeyPair> from_private_key(core::ByteView private_key);

  const X25519PublicKey& public_key() const { return public_key_; }
  const NoiseSecret& private_key() const { return private_key_; }

 private:
  X25519KeyPair(const NoiseSecret& private_key, const X25519PublicKey& public_key)
      : private_key_(private_key), public_key_(public_key) {}

  NoiseSecret private_key_;
  X25519PublicKey public_key_{};
};

// A handshake pattern with its modifiers applied: "XX", "IK", "X1K1", "NNpsk2",
// "XXpsk0+psk3", ...
struct NoisePattern {
  std::string name;
  // Tokens (kE, kS) whose public keys each side knows before the handshake.
  std::vector<NoiseToken> initiator_premessage;
  std::vector<NoiseToken> responder_premessage;
  // messages[i] is sent by the initiator for even i and by the responder for odd i.
  std::vector<std::vector<NoiseToken>> messages;
  // Number of kPsk tokens: how many PSKs the handshake needs.
  size_t psk_count = 0;

  // One-way patterns (N, K, X and their psk variants) have a single message, after which only
  // the initiator sends.
  bool one_way() const { return messages.size() == 1; }

  // Parses a pattern name with optional modifiers. Errors: kInvalidArgument for an unknown
  // pattern or a malformed, repeated or out-of-range psk modifier; kUnsupported for
  // "fallback".
  static core::Result<NoisePattern> parse(std::string_view name);
};

// A full protocol: "Noise_XXpsk0_25519_AESGCM_SHA256".
struct NoiseProtocol {
  std::string name;
  NoisePattern pattern;
  NoiseCipher cipher = NoiseCipher::kChaChaPoly;
  NoiseHash hash = NoiseHash::kSha256;

  // Errors: kUnsupported for DH 448, hash BLAKE2s and the fallback modifier;
  // kInvalidArgument for anything else that is not a Noise protocol name this module knows,
  // including names longer than kNoiseMaxProtocolNameSize.
  static core::Result<NoiseProtocol> parse(std::string_view name);
};

// HASHLEN of a hash: 32 for SHA256, 64 for SHA512 and BLAKE2b.
size_t noise_hash_size(NoiseHash hash);

// A CipherState: one AEAD key and a nonce counter. Without a key (default-constructed),
// encrypt_with_ad and decrypt_with_ad return their input unchanged, as the specification says.
//
// Nonces: ChaChaPoly uses 4 zero bytes and the 64-bit nonce little-endian; AESGCM uses 4 zero
// bytes and the nonce big-endian. The nonce 2^64-1 is reserved and never used for a message.
// Authentication failures are kPermissionDenied; tag comparison is constant-time (Botan).
// Not thread-safe, including the const methods (they reuse one Botan cipher object).
class NoiseCipherState {
 public:
  static constexpr uint64_t kMaxNonce = UINT64_MAX - 1;

  NoiseCipherState();
  NoiseCipherState(NoiseCipher cipher, const NoiseSecret& key);
  NoiseCipherState(NoiseCipherState&&) noexcept;
  NoiseCipherState& operator=(NoiseCipherState&&) noexcept;
  ~NoiseCipherState();

  bool has_key() const;
  // The cipher, or nullopt without a key.
  std::optional<NoiseCipher> cipher() const;

  // The counter used by encrypt_with_ad/decrypt_with_ad.
  uint64_t nonce() const { return nonce_; }
  void set_nonce(uint64_t nonce) { nonce_ = nonce; }

  // ENCRYPT/DECRYPT with the internal counter, which advances on success. Fail with
  // kFailedPrecondition once the counter reaches 2^64-1; decrypt_with_ad fails with
  // kPermissionDenied on a bad tag and with kInvalidArgument if `ciphertext` is shorter than a
  // tag (the counter then stays as it was).
  core::Result<core::Bytes> encrypt_with_ad(core::ByteView ad, core::ByteView plaintext);
  core::Result<core::Bytes> decrypt_with_ad(core::ByteView ad, core::ByteView ciphertext);

  // Explicit-nonce forms for transports that carry the nonce in the packet. They need a key
  // and nonce <= kMaxNonce (both checked: misuse aborts). They append to `out`. `ad` may point
  // into `out` (a frame header written just before); the plaintext or ciphertext must not.
  // seal_into appends ciphertext || 16-byte tag. open_into appends the plaintext, or fails
  // (kPermissionDenied on a bad tag, kInvalidArgument if shorter than a tag) and then leaves
  // `out` as it was.
  void seal_into(uint64_t nonce, core::ByteView ad, core::ByteView plaintext,
                 core::Bytes& out) const;
  core::Status open_into(uint64_t nonce, core::ByteView ad, core::ByteView ciphertext,
                         core::Bytes& out) const;

  // REKEY(): the key becomes the first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes).
  // Needs a key.
  void rekey();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t nonce_ = 0;
};

enum class NoiseRole : uint8_t { kInitiator, kResponder };

struct NoiseHandshakeConfig {
  NoiseProtocol protocol;
  NoiseRole role = NoiseRole::kInitiator;
  core::Bytes prologue;
  // Our static key pair: required when the pattern sends or pre-shares our static key.
  std::optional<X25519KeyPair> static_key;
  // The peer's static public key: required (and only used) when the pattern pre-shares it.
  std::optional<X25519PublicKey> remote_static_key;
  // Exactly pattern.psk_count PSKs, used in the order the psk tokens appear.
  std::vector<NoiseSecret> psks;
};

// The two CipherStates after Split(), by direction as seen by this side. For one-way patterns
// the responder's `send` is never used (only the initiator sends).
struct NoiseTransportKeys {
  NoiseCipherState send;
  NoiseCipherState receive;
};

// HandshakeState. Usage: create(), then, until done(), write_message() when
// is_my_turn_to_write() and read_message() with the peer's messages otherwise; finally
// split(). The first failure to process a message (a malformed or forged message, a failed
// DH) aborts the handshake: every later call fails with kFailedPrecondition. Calls out of turn
// and oversized payloads fail without changing the state.
class NoiseHandshake {
 public:
  // Validates the configuration and, for hand-built patterns, the pattern (each key sent once,
  // DHs only on known keys, pre-messages of static keys only); kInvalidArgument names what is
  // missing or wrong. Then initializes the state: protocol name, prologue, pre-message keys. Draws
  // this side's ephemeral private key (32 bytes) from `rng` if the pattern has it send one; `rng`
  // is not kept.
  static core::Result<NoiseHandshake> create(NoiseHandshakeConfig config, core::Rng& rng);

  NoiseHandshake(NoiseHandshake&&) noexcept;
  NoiseHandshake& operator=(NoiseHandshake&&) noexcept;
  ~NoiseHandshake();

  NoiseRole role() const;
  const NoiseProtocol& protocol() const;
  // True once every message of the pattern was written or read.
  bool done() const;
  bool failed() const;
  bool is_my_turn_to_write() const;
  // Index of the next message (0-based), equal to the message count once done().
  size_t message_index() const;

  // Builds the next message carrying `payload`. Fails with kFailedPrecondition if it is not
  // our turn (state unchanged) and with kInvalidArgument if the message would exceed
  // kNoiseMaxMessageSize (state unchanged).
  core::Result<core::Bytes> write_message(core::ByteView payload);
  // Processes the peer's next message and returns its payload. Errors: kFailedPrecondition if
  // it is our turn to write (state unchanged); kInvalidArgument for a message that is too long
  // or too short for its tokens; kPermissionDenied if a decryption fails (wrong key, PSK,
  // prologue or a tampered message) or a DH yields the all-zero value (a low-order key).
  core::Result<core::Bytes> read_message(core::ByteView message);

  // The handshake hash h: HASHLEN bytes; the channel-binding value once done().
  core::ByteView handshake_hash() const;
  // The peer's static key, once known (pre-shared or received).
  std::optional<X25519PublicKey> remote_static_key() const;
  // The peer's ephemeral key, once received.
  std::optional<X25519PublicKey> remote_ephemeral_key() const;

  // Split(): the transport keys, each with nonce 0. Only once, and only when done();
  // otherwise kFailedPrecondition. Erases the handshake's remaining secrets.
  core::Result<NoiseTransportKeys> split();

 private:
  struct Impl;
  explicit NoiseHandshake(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synapse::crypto
