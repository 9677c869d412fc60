// The Synapse handshake on top of the generic Noise state machine (noise_handshake.cc).
#include "synapse/crypto/secure_handshake.h"

#include <botan/kdf.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

namespace synapse::crypto {

namespace {

constexpr std::string_view kPskInfo = "synapse noise psk v1";
constexpr std::string_view kProloguePrefix = "synapse/1";

// Payload field types (docs/wire.md, "Handshake").
constexpr uint8_t kFieldIdentityKey = 0x01;
constexpr uint8_t kFieldStaticKeySignature = 0x02;
constexpr uint8_t kFieldCertificate = 0x03;
constexpr size_t kFieldHeaderSize = 3;  // type, 16-bit big-endian length

core::Error error(core::ErrorCode code, std::string message) {
  return core::Error(code, "handshake: " + std::move(message));
}

core::Bytes static_key_signed_message(const X25519PublicKey& static_key) {
  core::Bytes message(kStaticKeySignatureContext.size() + static_key.size());
  auto end = std::copy(kStaticKeySignatureContext.begin(), kStaticKeySignatureContext.end(),
                       message.begin());
  std::copy(static_key.begin(), static_key.end(), end);
  return message;
}

void append_field(core::Bytes& out, uint8_t type, core::ByteView value) {
  SYNAPSE_CHECK(value.size() <= 0xffff, "field fits a 16-bit length");
  out.push_back(type);
  out.push_back(static_cast<uint8_t>(value.size() >> 8));
  out.push_back(static_cast<uint8_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
}

enum class Step {
  kWriteMessage1,
  kReadMessage1,
  kWriteMessage2,
  kReadMessage2,
  kWriteMessage3,
  kReadMessage3,
  kDone,
  kFinished,
  kFailed,
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pieces.

NoiseSecret handshake_psk(const SwarmKey& swarm_key) {
  NoiseSecret psk;
  try {
    std::unique_ptr<Botan::KDF> hkdf = Botan::KDF::create_or_throw("HKDF(SHA-256)");
    // An empty salt is HashLen zero bytes (RFC 5869, section 2.2).
    Botan::secure_vector<uint8_t> key = hkdf->derive_key(
        kNoiseKeySize, swarm_key.secret().data(), swarm_key.secret().size(), nullptr, 0,
        reinterpret_cast<const uint8_t*>(kPskInfo.data()), kPskInfo.size());
    SYNAPSE_CHECK(key.size() == kNoiseKeySize, "HKDF output size");
    std::copy(key.begin(), key.end(), psk.data());
  } catch (const std::exception& e) {
    core::check_failed("Botan has HKDF(SHA-256)", __FILE__, __LINE__, e.what());
  }
  return psk;
}

core::Bytes handshake_prologue(const SwarmKey& swarm_key) {
  core::Bytes prologue(kProloguePrefix.begin(), kProloguePrefix.end());
  auto id = core::from_hex(swarm_key.id());
  SYNAPSE_CHECK(id.has_value() && id->size() == 8, "the swarm key ID is 8 bytes in hex");
  prologue.insert(prologue.end(), id->begin(), id->end());
  return prologue;
}

core::Bytes encode_handshake_payload(const HandshakePayload& payload) {
  SYNAPSE_CHECK(
      !payload.certificate || payload.certificate->size() <= SecureHandshake::kMaxCertificateSize,
      "certificate fits the handshake payload");
  core::Bytes out;
  out.push_back(kHandshakeVersion);
  append_field(out, kFieldIdentityKey, payload.identity_key);
  append_field(out, kFieldStaticKeySignature, payload.static_key_signature);
  if (payload.certificate) append_field(out, kFieldCertificate, *payload.certificate);
  return out;
}

core::Result<HandshakePayload> decode_handshake_payload(core::ByteView bytes) {
  auto invalid = [](std::string problem) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "handshake payload " + problem);
  };
  if (bytes.size() > SecureHandshake::kMaxPayloadSize) {
    return invalid("is " + std::to_string(bytes.size()) + " bytes, larger than " +
                   std::to_string(SecureHandshake::kMaxPayloadSize));
  }
  if (bytes.empty()) return invalid("is empty");
  if (bytes[0] != kHandshakeVersion) {
    return core::make_error(core::ErrorCode::kUnsupported,
                            "handshake payload has version " + std::to_string(bytes[0]) +
                                ", this node speaks version " + std::to_string(kHandshakeVersion));
  }
  bytes = bytes.subspan(1);
  HandshakePayload payload;
  bool has_identity_key = false;
  bool has_signature = false;
  int last_type = 0;
  while (!bytes.empty()) {
    if (bytes.size() < kFieldHeaderSize) return invalid("ends inside a field header");
    const uint8_t type = bytes[0];
    const size_t size = static_cast<size_t>(bytes[1]) << 8 | bytes[2];
    bytes = bytes.subspan(kFieldHeaderSize);
    if (size > bytes.size()) {
      return invalid("field " + std::to_string(type) + " claims " + std::to_string(size) +
                     " bytes, " + std::to_string(bytes.size()) + " remain");
    }
    if (type <= last_type) {
      return invalid("field " + std::to_string(type) + " is repeated or out of order");
    }
    last_type = type;
    core::ByteView value = bytes.first(size);
    bytes = bytes.subspan(size);
    auto expect_size = [&](size_t expected) -> core::Status {
      if (value.size() == expected) return core::ok();
      return invalid("field " + std::to_string(type) + " is " + std::to_string(value.size()) +
                     " bytes, expected " + std::to_string(expected));
    };
    switch (type) {
      case kFieldIdentityKey:
        SYNAPSE_RETURN_IF_ERROR(expect_size(payload.identity_key.size()));
        std::copy(value.begin(), value.end(), payload.identity_key.begin());
        has_identity_key = true;
        break;
      case kFieldStaticKeySignature:
        SYNAPSE_RETURN_IF_ERROR(expect_size(payload.static_key_signature.size()));
        std::copy(value.begin(), value.end(), payload.static_key_signature.begin());
        has_signature = true;
        break;
      case kFieldCertificate:
        if (value.size() > SecureHandshake::kMaxCertificateSize) {
          return invalid("certificate is " + std::to_string(value.size()) + " bytes, larger than " +
                         std::to_string(SecureHandshake::kMaxCertificateSize));
        }
        payload.certificate = core::Bytes(value.begin(), value.end());
        break;
      default:
        return invalid("has unknown field type " + std::to_string(type));
    }
  }
  if (!has_identity_key) return invalid("lacks the identity key");
  if (!has_signature) return invalid("lacks the static key signature");
  return payload;
}

HandshakeStaticKey HandshakeStaticKey::generate(const NodeIdentity& identity, core::Rng& rng) {
  X25519KeyPair key_pair = X25519KeyPair::generate(rng);
  Ed25519Signature signature = identity.sign(static_key_signed_message(key_pair.public_key()));
  return HandshakeStaticKey(std::move(key_pair), identity.public_key(), signature);
}

// ---------------------------------------------------------------------------------------------
// TransportCipher.

TransportCipher::TransportCipher(NoiseCipherState state) : state_(std::move(state)) {
  SYNAPSE_CHECK(state_.has_key(), "a transport cipher has a key");
}

NoiseCipher TransportCipher::cipher() const { return *state_.cipher(); }

core::Bytes TransportCipher::seal(uint64_t nonce, core::ByteView associated_data,
                                  core::ByteView plaintext) const {
  core::Bytes out;
  out.reserve(plaintext.size() + kTagSize);
  seal_into(nonce, associated_data, plaintext, out);
  return out;
}

void TransportCipher::seal_into(uint64_t nonce, core::ByteView associated_data,
                                core::ByteView plaintext, core::Bytes& out) const {
  SYNAPSE_CHECK(plaintext.size() <= kMaxPlaintextSize, "plaintext fits one transport message");
  state_.seal_into(nonce, associated_data, plaintext, out);
}

core::Result<core::Bytes> TransportCipher::open(uint64_t nonce, core::ByteView associated_data,
                                                core::ByteView ciphertext) const {
  core::Bytes out;
  out.reserve(ciphertext.size());
  SYNAPSE_RETURN_IF_ERROR(open_into(nonce, associated_data, ciphertext, out));
  return out;
}

core::Status TransportCipher::open_into(uint64_t nonce, core::ByteView associated_data,
                                        core::ByteView ciphertext, core::Bytes& out) const {
  if (ciphertext.size() > kMaxCiphertextSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "transport: message is " + std::to_string(ciphertext.size()) +
                                " bytes, larger than " + std::to_string(kMaxCiphertextSize));
  }
  if (ciphertext.size() < kTagSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "transport: message is " + std::to_string(ciphertext.size()) +
                                " bytes, shorter than a tag");
  }
  // The nonce may come from the wire; the reserved one can never have been sealed.
  if (nonce > kMaxNonce) {
    return core::make_error(core::ErrorCode::kPermissionDenied,
                            "transport: message failed authentication");
  }
  auto opened = state_.open_into(nonce, associated_data, ciphertext, out);
  if (!opened) {
    return core::make_error(opened.error().code(), "transport: message failed authentication");
  }
  return core::ok();
}

// ---------------------------------------------------------------------------------------------
// SecureHandshake.

struct SecureHandshake::Impl {
  Impl(NoiseHandshake noise_in, const HandshakeOptions& options,
       const HandshakeStaticKey& static_key_in)
      : noise(std::move(noise_in)),
        static_key(static_key_in),
        certificate(options.certificate),
        admit(options.admit),
        step(noise.role() == NoiseRole::kInitiator ? Step::kWriteMessage1 : Step::kReadMessage1) {}

  bool initiator() const { return noise.role() == NoiseRole::kInitiator; }

  // Records a failure: the handshake is over.
  tl::unexpected<core::Error> fail(core::Error error) {
    step = Step::kFailed;
    return tl::unexpected(std::move(error));
  }

  core::Bytes own_payload() const {
    HandshakePayload payload;
    payload.identity_key = static_key.identity_key();
    payload.static_key_signature = static_key.signature();
    payload.certificate = certificate;
    return encode_handshake_payload(payload);
  }

  core::Result<std::optional<core::Bytes>> next_message() {
    core::Bytes payload;
    Step next = Step::kFailed;
    switch (step) {
      case Step::kWriteMessage1:
        payload = {kHandshakeVersion};
        next = Step::kReadMessage2;
        break;
      case Step::kWriteMessage2:
        payload = own_payload();
        next = Step::kReadMessage3;
        break;
      case Step::kWriteMessage3:
        payload = own_payload();
        next = Step::kDone;
        break;
      case Step::kFailed:
        return tl::unexpected(
            error(core::ErrorCode::kFailedPrecondition, "the handshake failed earlier"));
      default:
        return std::nullopt;
    }
    auto message = noise.write_message(payload);
    if (!message) return fail(message.error().with_context("handshake"));
    SYNAPSE_CHECK(message->size() <= kMaxMessageSize, "handshake messages fit kMaxMessageSize");
    step = next;
    return std::optional<core::Bytes>(std::move(*message));
  }

  core::Status read_message(core::ByteView message) {
    const int number = step == Step::kReadMessage1   ? 1
                       : step == Step::kReadMessage2 ? 2
                       : step == Step::kReadMessage3 ? 3
                                                     : 0;
    if (step == Step::kFailed) {
      return tl::unexpected(
          error(core::ErrorCode::kFailedPrecondition, "the handshake failed earlier"));
    }
    if (step == Step::kDone || step == Step::kFinished) {
      return tl::unexpected(
          error(core::ErrorCode::kFailedPrecondition, "the handshake is already complete"));
    }
    if (number == 0) {
      return fail(error(core::ErrorCode::kFailedPrecondition,
                        "received a message while it was our turn to send"));
    }
    const std::string name = "message " + std::to_string(number);
    if (message.size() > kMaxMessageSize) {
      return fail(error(core::ErrorCode::kInvalidArgument,
                        name + " is " + std::to_string(message.size()) + " bytes, larger than " +
                            std::to_string(kMaxMessageSize)));
    }
    auto payload = noise.read_message(message);
    if (!payload) {
      if (payload.error().code() != core::ErrorCode::kPermissionDenied) {
        return fail(payload.error().with_context("handshake"));
      }
      // The peer does not share our swarm key (PSK and prologue derive from it), or the
      // message was altered. The wording is for the logs of members; the peer learns nothing.
      return fail(
          error(core::ErrorCode::kPermissionDenied,
                name + " failed authentication" + (number == 1 ? " (wrong swarm key?)" : "")));
    }
    if (number == 1) {
      SYNAPSE_RETURN_IF_ERROR(check_version(*payload));
      step = Step::kWriteMessage2;
      return core::ok();
    }
    SYNAPSE_RETURN_IF_ERROR(verify_peer(*payload, name));
    step = initiator() ? Step::kWriteMessage3 : Step::kDone;
    return core::ok();
  }

  core::Status check_version(const core::Bytes& payload) {
    if (payload.empty()) {
      return fail(error(core::ErrorCode::kInvalidArgument, "message 1 has an empty payload"));
    }
    if (payload[0] != kHandshakeVersion) {
      return fail(error(core::ErrorCode::kUnsupported,
                        "the peer speaks handshake version " + std::to_string(payload[0]) +
                            ", this node speaks version " + std::to_string(kHandshakeVersion)));
    }
    if (payload.size() != 1) {
      return fail(
          error(core::ErrorCode::kInvalidArgument,
                "message 1 payload is " + std::to_string(payload.size()) + " bytes, expected 1"));
    }
    return core::ok();
  }

  core::Status verify_peer(const core::Bytes& bytes, const std::string& name) {
    auto payload = decode_handshake_payload(bytes);
    if (!payload) return fail(payload.error().with_context("handshake: " + name));
    std::optional<X25519PublicKey> remote_static = noise.remote_static_key();
    SYNAPSE_CHECK(remote_static.has_value(), "messages 2 and 3 carry the static key");
    if (!verify_signature(payload->identity_key, static_key_signed_message(*remote_static),
                          payload->static_key_signature)) {
      return fail(error(core::ErrorCode::kPermissionDenied,
                        name + ": the identity signature does not cover the peer's Noise "
                               "static key"));
    }
    PeerIdentity identity;
    identity.node_id = NodeId::of_public_key(payload->identity_key);
    identity.identity_key = payload->identity_key;
    identity.certificate = std::move(payload->certificate);
    if (admit) {
      auto admitted = admit(identity);
      if (!admitted) return fail(admitted.error());
    }
    peer = std::move(identity);
    return core::ok();
  }

  core::Result<HandshakeResult> finish() {
    if (step == Step::kFinished) {
      return tl::unexpected(
          error(core::ErrorCode::kFailedPrecondition, "finish() was already called"));
    }
    if (step != Step::kDone) {
      return tl::unexpected(
          error(core::ErrorCode::kFailedPrecondition, "the handshake is not complete"));
    }
    SYNAPSE_ASSIGN_OR_RETURN(NoiseTransportKeys keys, noise.split());
    core::ByteView hash = noise.handshake_hash();
    SYNAPSE_CHECK(hash.size() == 32, "SHA-256 handshake hash");
    step = Step::kFinished;
    HandshakeResult result{std::move(*peer),
                           TransportCipher(std::move(keys.send)),
                           TransportCipher(std::move(keys.receive)),
                           {}};
    std::copy(hash.begin(), hash.end(), result.handshake_hash.begin());
    return result;
  }

  NoiseHandshake noise;
  HandshakeStaticKey static_key;
  std::optional<core::Bytes> certificate;
  std::function<core::Status(const PeerIdentity&)> admit;
  Step step;
  std::optional<PeerIdentity> peer;
};

namespace {

core::Result<NoiseHandshake> make_noise(const HandshakeOptions& options,
                                        const HandshakeStaticKey& static_key, NoiseRole role,
                                        core::Rng& rng) {
  auto protocol = NoiseProtocol::parse(kHandshakeProtocolName);
  SYNAPSE_CHECK(protocol.has_value(), "the handshake protocol name parses");
  NoiseHandshakeConfig config;
  config.protocol = std::move(*protocol);
  config.role = role;
  config.prologue = handshake_prologue(*options.swarm_key);
  config.static_key = static_key.key_pair();
  config.psks.push_back(handshake_psk(*options.swarm_key));
  return NoiseHandshake::create(std::move(config), rng);
}

}  // namespace

core::Result<SecureHandshake> SecureHandshake::create(const HandshakeOptions& options,
                                                      NoiseRole role, core::Rng& rng) {
  auto invalid = [](std::string problem) {
    return tl::unexpected(error(core::ErrorCode::kInvalidArgument, std::move(problem)));
  };
  if (options.identity == nullptr) return invalid("options lack the node identity");
  if (options.swarm_key == nullptr) return invalid("options lack the swarm key");
  if (options.certificate && options.certificate->size() > SecureHandshake::kMaxCertificateSize) {
    return invalid("our certificate is " + std::to_string(options.certificate->size()) +
                   " bytes, larger than " + std::to_string(SecureHandshake::kMaxCertificateSize));
  }
  if (options.static_key != nullptr &&
      options.static_key->identity_key() != options.identity->public_key()) {
    return invalid("the static key was signed by another identity");
  }
  const HandshakeStaticKey static_key = options.static_key != nullptr
                                            ? *options.static_key
                                            : HandshakeStaticKey::generate(*options.identity, rng);
  SYNAPSE_ASSIGN_OR_RETURN(NoiseHandshake noise, make_noise(options, static_key, role, rng));
  return SecureHandshake(std::make_unique<Impl>(std::move(noise), options, static_key));
}

core::Result<SecureHandshake> SecureHandshake::initiator(const HandshakeOptions& options,
                                                         core::Rng& rng) {
  return create(options, NoiseRole::kInitiator, rng);
}

core::Result<SecureHandshake> SecureHandshake::responder(const HandshakeOptions& options,
                                                         core::Rng& rng) {
  return create(options, NoiseRole::kResponder, rng);
}

SecureHandshake::SecureHandshake(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SecureHandshake::SecureHandshake(SecureHandshake&&) noexcept = default;
SecureHandshake& SecureHandshake::operator=(SecureHandshake&&) noexcept = default;
SecureHandshake::~SecureHandshake() = default;

core::Result<std::optional<core::Bytes>> SecureHandshake::next_message() {
  return impl_->next_message();
}

core::Status SecureHandshake::read_message(core::ByteView message) {
  return impl_->read_message(message);
}

bool SecureHandshake::done() const {
  return impl_->step == Step::kDone || impl_->step == Step::kFinished;
}

bool SecureHandshake::failed() const { return impl_->step == Step::kFailed; }

core::Result<HandshakeResult> SecureHandshake::finish() { return impl_->finish(); }

}  // namespace synapse::crypto
