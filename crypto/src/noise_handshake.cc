// SymmetricState and HandshakeState (Noise revision 34, sections 5.2 and 5.3).
#include <botan/secmem.h>

#include <algorithm>
#include <string>
#include <utility>

#include "noise_internal.h"
#include "synapse/crypto/noise.h"

namespace synapse::crypto {

namespace {

using noise_internal::HashSuite;
using noise_internal::SecureBytes;

bool contains(const std::vector<NoiseToken>& tokens, NoiseToken token) {
  return std::find(tokens.begin(), tokens.end(), token) != tokens.end();
}

core::Error failed_precondition(std::string message) {
  return core::Error(core::ErrorCode::kFailedPrecondition, "noise: " + std::move(message));
}

// Checks that `pattern` is one this state machine can run: static keys only in pre-messages,
// each key sent at most once, every DH after both of its keys are known, psk_count matching
// the psk tokens (section 7.3). Patterns from NoisePattern::parse() always pass; this guards
// hand-built ones, so that a peer's messages can never reach a DH with a missing key.
core::Status validate_pattern(const NoisePattern& pattern) {
  auto invalid = [&](const std::string& problem) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "noise: pattern " + pattern.name + " " + problem);
  };
  if (pattern.messages.empty()) return invalid("has no messages");
  // Index 0: the initiator, 1: the responder.
  bool has_e[2] = {false, false};
  bool has_s[2] = {false, false};
  const std::vector<NoiseToken>* premessages[2] = {&pattern.initiator_premessage,
                                                   &pattern.responder_premessage};
  for (int side = 0; side < 2; ++side) {
    for (NoiseToken token : *premessages[side]) {
      if (token != NoiseToken::kS || has_s[side]) {
        return invalid("has a pre-message other than one static key (not supported)");
      }
      has_s[side] = true;
    }
  }
  size_t psk_tokens = 0;
  for (size_t i = 0; i < pattern.messages.size(); ++i) {
    const int sender = i % 2 == 0 ? 0 : 1;
    for (NoiseToken token : pattern.messages[i]) {
      bool ready = true;
      switch (token) {
        case NoiseToken::kE:
          if (has_e[sender]) return invalid("sends an ephemeral key twice");
          has_e[sender] = true;
          break;
        case NoiseToken::kS:
          if (has_s[sender]) return invalid("sends a static key twice");
          has_s[sender] = true;
          break;
        case NoiseToken::kEe:
          ready = has_e[0] && has_e[1];
          break;
        case NoiseToken::kEs:
          ready = has_e[0] && has_s[1];
          break;
        case NoiseToken::kSe:
          ready = has_s[0] && has_e[1];
          break;
        case NoiseToken::kSs:
          ready = has_s[0] && has_s[1];
          break;
        case NoiseToken::kPsk:
          ++psk_tokens;
          break;
      }
      if (!ready) return invalid("uses a key in a DH before it is known");
    }
  }
  if (psk_tokens != pattern.psk_count) return invalid("miscounts its psk tokens");
  return core::ok();
}

class SymmetricState {
 public:
  explicit SymmetricState(const NoiseProtocol& protocol)
      : hash_(protocol.hash), cipher_(protocol.cipher) {
    core::ByteView name = core::as_bytes(protocol.name);
    if (name.size() <= hash_.size()) {
      h_.assign(name.begin(), name.end());
      h_.resize(hash_.size(), 0);
    } else {
      hash_.hash(name, {}, h_);
    }
    ck_.assign(h_.begin(), h_.end());
  }

  const core::Bytes& h() const { return h_; }
  bool has_key() const { return cipher_state_.has_key(); }

  void mix_hash(core::ByteView data) {
    core::Bytes next;
    hash_.hash(h_, data, next);
    h_ = std::move(next);
  }

  void mix_key(core::ByteView input_key_material) {
    SecureBytes chaining_key, temp_k;
    hash_.hkdf(ck_, input_key_material, chaining_key, temp_k, nullptr);
    ck_ = std::move(chaining_key);
    initialize_key(temp_k);
  }

  void mix_key_and_hash(core::ByteView input_key_material) {
    SecureBytes chaining_key, temp_h, temp_k;
    hash_.hkdf(ck_, input_key_material, chaining_key, temp_h, &temp_k);
    ck_ = std::move(chaining_key);
    mix_hash(temp_h);
    initialize_key(temp_k);
  }

  // Appends ENCRYPT(h, plaintext) (or the plaintext before any key) to `out`.
  core::Status encrypt_and_hash(core::ByteView plaintext, core::Bytes& out) {
    SYNAPSE_ASSIGN_OR_RETURN(core::Bytes ciphertext, cipher_state_.encrypt_with_ad(h_, plaintext));
    mix_hash(ciphertext);
    out.insert(out.end(), ciphertext.begin(), ciphertext.end());
    return core::ok();
  }

  core::Result<core::Bytes> decrypt_and_hash(core::ByteView ciphertext) {
    SYNAPSE_ASSIGN_OR_RETURN(core::Bytes plaintext, cipher_state_.decrypt_with_ad(h_, ciphertext));
    mix_hash(ciphertext);
    return plaintext;
  }

  // Split(): (initiator-to-responder, responder-to-initiator). Wipes the chaining key.
  std::pair<NoiseCipherState, NoiseCipherState> split() {
    SecureBytes temp_k1, temp_k2;
    hash_.hkdf(ck_, {}, temp_k1, temp_k2, nullptr);
    Botan::zap(ck_);
    cipher_state_ = NoiseCipherState();
    return {NoiseCipherState(cipher_, truncate(temp_k1)),
            NoiseCipherState(cipher_, truncate(temp_k2))};
  }

 private:
  // HASHLEN may be 64; cipher keys are the first 32 bytes.
  static NoiseSecret truncate(const SecureBytes& temp_k) {
    NoiseSecret key;
    std::copy(temp_k.begin(), temp_k.begin() + kNoiseKeySize, key.data());
    return key;
  }

  void initialize_key(const SecureBytes& temp_k) {
    cipher_state_ = NoiseCipherState(cipher_, truncate(temp_k));
  }

  HashSuite hash_;
  NoiseCipher cipher_;
  SecureBytes ck_;
  core::Bytes h_;
  NoiseCipherState cipher_state_;
};

}  // namespace

struct NoiseHandshake::Impl {
  Impl(NoiseProtocol protocol_in, NoiseRole role_in)
      : protocol(std::move(protocol_in)), role(role_in), symmetric(protocol) {}

  bool initiator() const { return role == NoiseRole::kInitiator; }
  const NoisePattern& pattern() const { return protocol.pattern; }
  bool done() const { return message_index == pattern().messages.size(); }
  bool my_turn() const { return !done() && (message_index % 2 == 0) == initiator(); }

  core::Status check_can_process(bool writing) const {
    if (failed) return tl::unexpected(failed_precondition("the handshake failed earlier"));
    if (done()) return tl::unexpected(failed_precondition("the handshake is complete"));
    if (my_turn() != writing) {
      return tl::unexpected(failed_precondition(writing ? "it is the peer's turn to send"
                                                        : "it is our turn to send"));
    }
    return core::ok();
  }

  core::Result<SecureBytes> dh(NoiseToken token) const {
    // "es" is the initiator's ephemeral key with the responder's static key, from whichever
    // side computes it; likewise for the other tokens (section 7.3).
    bool local_ephemeral = false;
    bool remote_ephemeral = false;
    switch (token) {
      case NoiseToken::kEe:
        local_ephemeral = remote_ephemeral = true;
        break;
      case NoiseToken::kEs:
        local_ephemeral = initiator();
        remote_ephemeral = !initiator();
        break;
      case NoiseToken::kSe:
        local_ephemeral = !initiator();
        remote_ephemeral = initiator();
        break;
      case NoiseToken::kSs:
        break;
      default:
        core::check_failed("a DH token", __FILE__, __LINE__, "");
    }
    const std::optional<X25519KeyPair>& local = local_ephemeral ? e : s;
    const std::optional<X25519PublicKey>& remote = remote_ephemeral ? re : rs;
    // create() checked that we have the keys we send, and validate_pattern() that every key
    // is sent (or pre-shared) before the DH tokens that use it.
    SYNAPSE_CHECK(local.has_value() && remote.has_value(), "DH keys are present");
    return noise_internal::x25519(*local, *remote);
  }

  // Processes a token that is the same for writer and reader: a DH or a psk.
  core::Status mix_shared_token(NoiseToken token) {
    if (token == NoiseToken::kPsk) {
      SYNAPSE_CHECK(next_psk < psks.size(), "a PSK for every psk token");
      symmetric.mix_key_and_hash(psks[next_psk++].bytes());
      return core::ok();
    }
    SYNAPSE_ASSIGN_OR_RETURN(SecureBytes shared, dh(token));
    symmetric.mix_key(shared);
    return core::ok();
  }

  // The exact size of the next message we write with a payload of `payload_size` bytes.
  size_t message_size(size_t payload_size) const {
    bool keyed = symmetric.has_key();
    size_t size = 0;
    for (NoiseToken token : pattern().messages[message_index]) {
      if (token == NoiseToken::kE) {
        size += kNoiseKeySize;
        keyed = keyed || pattern().psk_count > 0;
      } else if (token == NoiseToken::kS) {
        size += kNoiseKeySize + (keyed ? kNoiseTagSize : 0);
      } else {
        keyed = true;
      }
    }
    return size + payload_size + (keyed ? kNoiseTagSize : 0);
  }

  core::Result<core::Bytes> write(core::ByteView payload) {
    SYNAPSE_RETURN_IF_ERROR(check_can_process(/*writing=*/true));
    const size_t size =
        payload.size() > kNoiseMaxMessageSize ? payload.size() : message_size(payload.size());
    if (size > kNoiseMaxMessageSize) {
      return core::make_error(core::ErrorCode::kInvalidArgument,
                              "noise: a " + std::to_string(payload.size()) +
                                  "-byte payload makes message " +
                                  std::to_string(message_index + 1) + " longer than " +
                                  std::to_string(kNoiseMaxMessageSize) + " bytes");
    }
    core::Bytes out;
    out.reserve(size);
    auto status = write_tokens(payload, out);
    if (!status) {
      failed = true;
      return tl::unexpected(status.error());
    }
    SYNAPSE_CHECK(out.size() == size, "message size as computed");
    ++message_index;
    return out;
  }

  core::Status write_tokens(core::ByteView payload, core::Bytes& out) {
    for (NoiseToken token : pattern().messages[message_index]) {
      if (token == NoiseToken::kE) {
        SYNAPSE_CHECK(e.has_value(), "ephemeral key drawn in create()");
        out.insert(out.end(), e->public_key().begin(), e->public_key().end());
        symmetric.mix_hash(e->public_key());
        if (pattern().psk_count > 0) symmetric.mix_key(e->public_key());
      } else if (token == NoiseToken::kS) {
        SYNAPSE_CHECK(s.has_value(), "static key checked in create()");
        SYNAPSE_RETURN_IF_ERROR(symmetric.encrypt_and_hash(s->public_key(), out));
      } else {
        SYNAPSE_RETURN_IF_ERROR(mix_shared_token(token));
      }
    }
    return symmetric.encrypt_and_hash(payload, out);
  }

  core::Result<core::Bytes> read(core::ByteView message) {
    SYNAPSE_RETURN_IF_ERROR(check_can_process(/*writing=*/false));
    auto payload = read_tokens(message);
    if (!payload) {
      failed = true;
      return tl::unexpected(payload.error());
    }
    ++message_index;
    return payload;
  }

  core::Result<core::Bytes> read_tokens(core::ByteView message) {
    const std::string name = "noise: message " + std::to_string(message_index + 1);
    auto too_short = [&] {
      return core::make_error(
          core::ErrorCode::kInvalidArgument,
          name + " is " + std::to_string(message.size()) + " bytes, too short for its tokens");
    };
    // Decryption fails only on a bad tag here (lengths are checked first).
    auto not_authentic = [&](const core::Error& error) {
      if (error.code() != core::ErrorCode::kPermissionDenied) return tl::unexpected(error);
      return core::make_error(error.code(), name + " failed authentication");
    };
    if (message.size() > kNoiseMaxMessageSize) {
      return core::make_error(core::ErrorCode::kInvalidArgument,
                              name + " is " + std::to_string(message.size()) +
                                  " bytes, longer than " + std::to_string(kNoiseMaxMessageSize));
    }
    core::ByteView rest = message;
    for (NoiseToken token : pattern().messages[message_index]) {
      if (token == NoiseToken::kE) {
        if (rest.size() < kNoiseKeySize) return too_short();
        X25519PublicKey key;
        std::copy_n(rest.begin(), kNoiseKeySize, key.begin());
        rest = rest.subspan(kNoiseKeySize);
        re = key;
        symmetric.mix_hash(key);
        if (pattern().psk_count > 0) symmetric.mix_key(key);
      } else if (token == NoiseToken::kS) {
        const size_t size = kNoiseKeySize + (symmetric.has_key() ? kNoiseTagSize : 0);
        if (rest.size() < size) return too_short();
        auto key = symmetric.decrypt_and_hash(rest.first(size));
        if (!key) return not_authentic(key.error());
        rest = rest.subspan(size);
        rs.emplace();
        std::copy(key->begin(), key->end(), rs->begin());
      } else {
        auto mixed = mix_shared_token(token);
        // Only a DH can fail: the peer sent a low-order public key.
        if (!mixed)
          return core::make_error(mixed.error().code(), name + " carries a low-order key");
      }
    }
    if (symmetric.has_key() && rest.size() < kNoiseTagSize) return too_short();
    auto payload = symmetric.decrypt_and_hash(rest);
    if (!payload) return not_authentic(payload.error());
    return payload;
  }

  core::Result<NoiseTransportKeys> split() {
    if (failed) return tl::unexpected(failed_precondition("the handshake failed earlier"));
    if (!done()) return tl::unexpected(failed_precondition("the handshake is not complete"));
    if (split_done) return tl::unexpected(failed_precondition("split() was already called"));
    split_done = true;
    auto [initiator_to_responder, responder_to_initiator] = symmetric.split();
    // Nothing after Split() needs the handshake's private keys or PSKs.
    s.reset();
    e.reset();
    psks.clear();
    if (initiator()) {
      return NoiseTransportKeys{std::move(initiator_to_responder),
                                std::move(responder_to_initiator)};
    }
    return NoiseTransportKeys{std::move(responder_to_initiator), std::move(initiator_to_responder)};
  }

  NoiseProtocol protocol;
  NoiseRole role;
  SymmetricState symmetric;
  std::optional<X25519KeyPair> s;
  std::optional<X25519KeyPair> e;
  std::optional<X25519PublicKey> rs;
  std::optional<X25519PublicKey> re;
  std::vector<NoiseSecret> psks;
  size_t next_psk = 0;
  size_t message_index = 0;
  bool failed = false;
  bool split_done = false;
};

core::Result<NoiseHandshake> NoiseHandshake::create(NoiseHandshakeConfig config, core::Rng& rng) {
  const NoisePattern& pattern = config.protocol.pattern;
  const bool initiator = config.role == NoiseRole::kInitiator;
  auto invalid = [&](const std::string& problem) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "noise: " + config.protocol.name + " " + problem);
  };
  SYNAPSE_RETURN_IF_ERROR(validate_pattern(pattern));
  const std::vector<NoiseToken>& own_premessage =
      initiator ? pattern.initiator_premessage : pattern.responder_premessage;
  const std::vector<NoiseToken>& peer_premessage =
      initiator ? pattern.responder_premessage : pattern.initiator_premessage;
  bool sends_static = contains(own_premessage, NoiseToken::kS);
  bool sends_ephemeral = false;
  for (size_t i = 0; i < pattern.messages.size(); ++i) {
    if ((i % 2 == 0) != initiator) continue;
    sends_static = sends_static || contains(pattern.messages[i], NoiseToken::kS);
    sends_ephemeral = sends_ephemeral || contains(pattern.messages[i], NoiseToken::kE);
  }
  if (sends_static && !config.static_key) return invalid("needs our static key");
  const bool knows_peer_static = contains(peer_premessage, NoiseToken::kS);
  if (knows_peer_static && !config.remote_static_key) {
    return invalid("needs the peer's static public key");
  }
  if (config.psks.size() != pattern.psk_count) {
    return invalid("needs " + std::to_string(pattern.psk_count) + " PSKs, got " +
                   std::to_string(config.psks.size()));
  }

  auto impl = std::make_unique<Impl>(std::move(config.protocol), config.role);
  // From here on the pattern is impl->pattern(); `pattern` was moved from.
  if (sends_static) impl->s = std::move(config.static_key);
  if (knows_peer_static) impl->rs = config.remote_static_key;
  if (sends_ephemeral) impl->e = X25519KeyPair::generate(rng);
  impl->psks = std::move(config.psks);

  SymmetricState& symmetric = impl->symmetric;
  symmetric.mix_hash(config.prologue);
  // The initiator's pre-message keys are hashed first, then the responder's (section 7.1).
  for (NoiseToken token : impl->pattern().initiator_premessage) {
    SYNAPSE_CHECK(token == NoiseToken::kS, "pre-messages hold static keys");
    symmetric.mix_hash(initiator ? impl->s->public_key() : *impl->rs);
  }
  for (NoiseToken token : impl->pattern().responder_premessage) {
    SYNAPSE_CHECK(token == NoiseToken::kS, "pre-messages hold static keys");
    symmetric.mix_hash(initiator ? *impl->rs : impl->s->public_key());
  }
  return NoiseHandshake(std::move(impl));
}

NoiseHandshake::NoiseHandshake(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NoiseHandshake::NoiseHandshake(NoiseHandshake&&) noexcept = default;
NoiseHandshake& NoiseHandshake::operator=(NoiseHandshake&&) noexcept = default;
NoiseHandshake::~NoiseHandshake() = default;

NoiseRole NoiseHandshake::role() const { return impl_->role; }
const NoiseProtocol& NoiseHandshake::protocol() const { return impl_->protocol; }
bool NoiseHandshake::done() const { return impl_->done(); }
bool NoiseHandshake::failed() const { return impl_->failed; }
bool NoiseHandshake::is_my_turn_to_write() const { return !impl_->failed && impl_->my_turn(); }
size_t NoiseHandshake::message_index() const { return impl_->message_index; }

core::Result<core::Bytes> NoiseHandshake::write_message(core::ByteView payload) {
  return impl_->write(payload);
}

core::Result<core::Bytes> NoiseHandshake::read_message(core::ByteView message) {
  return impl_->read(message);
}

core::ByteView NoiseHandshake::handshake_hash() const { return impl_->symmetric.h(); }

std::optional<X25519PublicKey> NoiseHandshake::remote_static_key() const { return impl_->rs; }

std::optional<X25519PublicKey> NoiseHandshake::remote_ephemeral_key() const { return impl_->re; }

core::Result<NoiseTransportKeys> NoiseHandshake::split() { return impl_->split(); }

}  // namespace synapse::crypto
