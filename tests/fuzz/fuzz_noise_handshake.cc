// Fuzzes the handshake and transport decoders: arbitrary bytes as handshake message 1, 2 or 3
// (after genuine earlier messages), as the payload of an otherwise genuine message from a peer
// that has the swarm key, as a handshake payload, as a Noise protocol name and as transport
// ciphertexts. Nothing may crash or leak, and nothing forged may authenticate.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "synapse/crypto/noise.h"
#include "synapse/crypto/secure_handshake.h"

namespace {

using namespace synapse;
using namespace synapse::crypto;

void check(bool condition) {
  if (!condition) std::abort();
}

// Keys and a finished session, made once per process.
struct Fixture {
  Fixture()
      : rng(1),
        swarm_key(SwarmKey::generate(rng)),
        alice(NodeIdentity::generate(rng)),
        bob(NodeIdentity::generate(rng)),
        alice_static(HandshakeStaticKey::generate(alice, rng)),
        bob_static(HandshakeStaticKey::generate(bob, rng)) {
    alice_options.identity = &alice;
    alice_options.swarm_key = &swarm_key;
    alice_options.static_key = &alice_static;
    bob_options.identity = &bob;
    bob_options.swarm_key = &swarm_key;
    bob_options.static_key = &bob_static;
    auto initiator = SecureHandshake::initiator(alice_options, rng);
    auto responder = SecureHandshake::responder(bob_options, rng);
    check(initiator && responder);
    check(responder->read_message(**initiator->next_message()).has_value());
    check(initiator->read_message(**responder->next_message()).has_value());
    check(responder->read_message(**initiator->next_message()).has_value());
    auto a = initiator->finish();
    auto b = responder->finish();
    check(a && b);
    alice_session = std::make_unique<HandshakeResult>(std::move(*a));
    bob_session = std::make_unique<HandshakeResult>(std::move(*b));
  }

  core::SeededRng rng;
  SwarmKey swarm_key;
  NodeIdentity alice, bob;
  HandshakeStaticKey alice_static, bob_static;
  HandshakeOptions alice_options, bob_options;
  std::unique_ptr<HandshakeResult> alice_session, bob_session;
};

Fixture& fixture() {
  static Fixture* instance = new Fixture();
  return *instance;
}

core::Bytes next(SecureHandshake& handshake) {
  auto message = handshake.next_message();
  check(message.has_value() && message->has_value());
  return **message;
}

// A failed handshake must stay failed and silent.
void check_failed_for_good(SecureHandshake& handshake) {
  check(handshake.failed() && !handshake.done());
  check(!handshake.next_message().has_value());
  check(!handshake.finish().has_value());
}

void fuzz_message(int number, core::ByteView data) {
  Fixture& f = fixture();
  auto initiator = SecureHandshake::initiator(f.alice_options, f.rng);
  auto responder = SecureHandshake::responder(f.bob_options, f.rng);
  check(initiator && responder);
  core::Bytes m1 = next(*initiator);
  if (number == 1) {
    // Without the swarm key nobody authenticates message 1.
    check(!responder->read_message(data).has_value());
    check_failed_for_good(*responder);
    return;
  }
  check(responder->read_message(m1).has_value());
  core::Bytes m2 = next(*responder);
  if (number == 2) {
    auto read = initiator->read_message(data);
    check(!read.has_value() || std::equal(data.begin(), data.end(), m2.begin(), m2.end()));
    return;
  }
  check(initiator->read_message(m2).has_value());
  core::Bytes m3 = next(*initiator);
  auto read = responder->read_message(data);
  check(!read.has_value() || std::equal(data.begin(), data.end(), m3.begin(), m3.end()));
  if (!read) check_failed_for_good(*responder);
}

// A peer with the swarm key sends `data` as the payload of message 1 or 3.
void fuzz_payload_from_member(bool in_message_1, core::ByteView data) {
  Fixture& f = fixture();
  NoiseHandshakeConfig config;
  config.protocol = *NoiseProtocol::parse(kHandshakeProtocolName);
  config.prologue = handshake_prologue(f.swarm_key);
  config.static_key = X25519KeyPair::generate(f.rng);
  config.psks = {handshake_psk(f.swarm_key)};
  auto peer = NoiseHandshake::create(std::move(config), f.rng);
  auto responder = SecureHandshake::responder(f.bob_options, f.rng);
  check(peer && responder);
  if (data.size() > kNoiseMaxMessageSize - 128) data = data.first(kNoiseMaxMessageSize - 128);
  auto m1 = peer->write_message(in_message_1 ? data : core::ByteView(&kHandshakeVersion, 1));
  check(m1.has_value());
  auto read1 = responder->read_message(*m1);
  if (in_message_1) {
    check(read1.has_value() == (data.size() == 1 && data[0] == kHandshakeVersion));
    return;
  }
  check(read1.has_value());
  check(peer->read_message(next(*responder)).has_value());
  auto m3 = peer->write_message(data);
  check(m3.has_value());
  // The payload cannot carry a valid signature over the peer's fresh static key.
  check(!responder->read_message(*m3).has_value());
  check_failed_for_good(*responder);
}

void fuzz_payload(core::ByteView data) {
  auto payload = decode_handshake_payload(data);
  if (!payload) {
    check(!payload.error().message().empty());
    return;
  }
  // Canonical form: re-encoding gives the same bytes.
  core::Bytes encoded = encode_handshake_payload(*payload);
  check(std::equal(encoded.begin(), encoded.end(), data.begin(), data.end()));
}

void fuzz_transport(core::ByteView data) {
  Fixture& f = fixture();
  uint64_t nonce = 0;
  for (size_t i = 0; i < 8 && i < data.size(); ++i) nonce = nonce << 8 | data[i];
  data = data.subspan(std::min<size_t>(8, data.size()));
  const size_t ad_size = data.empty() ? 0 : std::min<size_t>(data[0], data.size() - 1);
  core::ByteView ad = data.empty() ? data : data.subspan(1, ad_size);
  core::ByteView body = data.empty() ? data : data.subspan(1 + ad_size);
  core::Bytes out = {42};
  check(!f.bob_session->receive.open_into(nonce, ad, body, out).has_value());
  check(out.size() == 1 && out[0] == 42);
  if (nonce <= TransportCipher::kMaxNonce && body.size() <= TransportCipher::kMaxPlaintextSize) {
    core::Bytes sealed = f.alice_session->send.seal(nonce, ad, body);
    auto opened = f.bob_session->receive.open(nonce, ad, sealed);
    check(opened.has_value() &&
          std::equal(opened->begin(), opened->end(), body.begin(), body.end()));
  }
}

void fuzz_protocol_name(core::ByteView data) {
  auto protocol = NoiseProtocol::parse(core::as_chars(data));
  if (!protocol) return;
  check(protocol->name == core::as_chars(data));
  size_t psk_tokens = 0;
  for (const auto& message : protocol->pattern.messages) {
    psk_tokens += std::count(message.begin(), message.end(), NoiseToken::kPsk);
  }
  check(psk_tokens == protocol->pattern.psk_count);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  core::ByteView input(data + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      fuzz_message(1, input);
      break;
    case 1:
      fuzz_message(2, input);
      break;
    case 2:
      fuzz_message(3, input);
      break;
    case 3:
      fuzz_payload_from_member(/*in_message_1=*/true, input);
      break;
    case 4:
      fuzz_payload_from_member(/*in_message_1=*/false, input);
      break;
    case 5:
      fuzz_payload(input);
      break;
    case 6:
      fuzz_transport(input);
      break;
    default:
      fuzz_protocol_name(input);
      break;
  }
  return 0;
}
