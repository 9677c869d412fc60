#include "synapse/crypto/secure_handshake.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

#include "test_util.h"

namespace synapse::crypto {
namespace {

using ::testing::HasSubstr;

SwarmKey swarm_key_from(uint8_t first_byte) {
  std::array<uint8_t, SwarmKey::kSize> secret;
  std::iota(secret.begin(), secret.end(), first_byte);
  std::string text = "/key/swarm/psk/1.0.0/\n/base16/\n" + core::to_hex(secret) + "\n";
  auto key = SwarmKey::parse(core::as_bytes(text));
  SYNAPSE_CHECK(key.has_value(), "test swarm key parses");
  return *key;
}

// A node: its identity and the options of its handshakes.
struct Node {
  Node(uint64_t seed, const SwarmKey& key) : rng(seed), identity(NodeIdentity::generate(rng)) {
    options.identity = &identity;
    options.swarm_key = &key;
  }
  core::Result<SecureHandshake> initiator() { return SecureHandshake::initiator(options, rng); }
  core::Result<SecureHandshake> responder() { return SecureHandshake::responder(options, rng); }

  core::SeededRng rng;
  NodeIdentity identity;
  HandshakeOptions options;
};

// Takes `from`'s next message (which must exist) and feeds it to `to`.
core::Status deliver(SecureHandshake& from, SecureHandshake& to) {
  auto message = from.next_message();
  SYNAPSE_CHECK(message.has_value() && message->has_value(), "sender has a message");
  return to.read_message(**message);
}

core::Bytes take_message(SecureHandshake& from) {
  auto message = from.next_message();
  SYNAPSE_CHECK(message.has_value() && message->has_value(), "sender has a message");
  return **message;
}

struct Session {
  HandshakeResult initiator;
  HandshakeResult responder;
};

// Runs a whole handshake between `a` (initiator) and `b` (responder).
Session handshake(Node& a, Node& b) {
  auto initiator = a.initiator();
  auto responder = b.responder();
  SYNAPSE_CHECK(initiator && responder, "handshakes start");
  SYNAPSE_CHECK(deliver(*initiator, *responder).has_value(), "message 1");
  SYNAPSE_CHECK(deliver(*responder, *initiator).has_value(), "message 2");
  SYNAPSE_CHECK(deliver(*initiator, *responder).has_value(), "message 3");
  auto initiator_result = initiator->finish();
  auto responder_result = responder->finish();
  SYNAPSE_CHECK(initiator_result && responder_result, "both finish");
  return Session{std::move(*initiator_result), std::move(*responder_result)};
}

class SecureHandshakeTest : public ::testing::Test {
 protected:
  SwarmKey swarm_key_ = swarm_key_from(0);
  SwarmKey other_swarm_key_ = swarm_key_from(1);
  Node alice_{1, swarm_key_};
  Node bob_{2, swarm_key_};
};

TEST_F(SecureHandshakeTest, TwoMembersCompleteAndExchangeTransportMessagesBothWays) {
  auto initiator = alice_.initiator();
  auto responder = bob_.responder();
  ASSERT_TRUE(initiator && responder);
  EXPECT_FALSE(responder->next_message()->has_value());  // the responder waits

  core::Bytes m1 = take_message(*initiator);
  EXPECT_EQ(m1.size(), 32u + 1 + 16);  // e, encrypted version byte
  EXPECT_FALSE(initiator->next_message()->has_value());
  ASSERT_TRUE(responder->read_message(m1).has_value());
  core::Bytes m2 = take_message(*responder);
  ASSERT_TRUE(initiator->read_message(m2).has_value());
  EXPECT_FALSE(initiator->done());  // message 3 is still to be sent
  core::Bytes m3 = take_message(*initiator);
  EXPECT_TRUE(initiator->done());
  EXPECT_FALSE(responder->done());
  ASSERT_TRUE(responder->read_message(m3).has_value());
  EXPECT_TRUE(responder->done());
  EXPECT_LE(m2.size(), SecureHandshake::kMaxMessageSize);
  EXPECT_LE(m3.size(), SecureHandshake::kMaxMessageSize);

  auto a = initiator->finish();
  auto b = responder->finish();
  ASSERT_TRUE(a.has_value()) << a.error().message();
  ASSERT_TRUE(b.has_value()) << b.error().message();
  EXPECT_EQ(a->peer.node_id, bob_.identity.node_id());
  EXPECT_EQ(b->peer.node_id, alice_.identity.node_id());
  EXPECT_EQ(a->handshake_hash, b->handshake_hash);
  EXPECT_EQ(a->send.cipher(), NoiseCipher::kAesGcm);

  for (uint64_t nonce = 0; nonce < 3; ++nonce) {
    core::Bytes to_bob = a->send.seal(nonce, core::as_bytes("hdr"), core::as_bytes("hello bob"));
    auto at_bob = b->receive.open(nonce, core::as_bytes("hdr"), to_bob);
    ASSERT_TRUE(at_bob.has_value()) << at_bob.error().message();
    EXPECT_EQ(core::as_chars(*at_bob), "hello bob");
    core::Bytes to_alice = b->send.seal(nonce, {}, core::as_bytes("hello alice"));
    auto at_alice = a->receive.open(nonce, {}, to_alice);
    ASSERT_TRUE(at_alice.has_value()) << at_alice.error().message();
    EXPECT_EQ(core::as_chars(*at_alice), "hello alice");
  }
  EXPECT_EQ(initiator->finish().error().code(), core::ErrorCode::kFailedPrecondition);
}

TEST_F(SecureHandshakeTest, AResponderWithAnotherSwarmKeyFailsOnMessage1AndSendsNothing) {
  Node outsider(3, other_swarm_key_);
  auto initiator = outsider.initiator();
  auto responder = bob_.responder();
  ASSERT_TRUE(initiator && responder);
  auto read = responder->read_message(take_message(*initiator));
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(read.error().message(),
            "handshake: message 1 failed authentication (wrong swarm key?)");
  EXPECT_TRUE(responder->failed());
  // No output, ever: the outsider never sees the responder's ephemeral or static key.
  auto next = responder->next_message();
  EXPECT_FALSE(next.has_value() && next->has_value());
  EXPECT_FALSE(responder->finish().has_value());
  // And the initiator learned nothing about the responder.
  EXPECT_FALSE(initiator->done());
  EXPECT_EQ(initiator->finish().error().code(), core::ErrorCode::kFailedPrecondition);
}

TEST_F(SecureHandshakeTest, AMemberIgnoresGarbageAsMessage1) {
  core::SeededRng rng(5);
  for (size_t size : {0, 1, 48, 49, 50, 200}) {
    auto responder = bob_.responder();
    ASSERT_TRUE(responder.has_value());
    auto read = responder->read_message(testing::random_bytes(rng, size));
    ASSERT_FALSE(read.has_value()) << size;
    EXPECT_TRUE(read.error().code() == core::ErrorCode::kPermissionDenied ||
                read.error().code() == core::ErrorCode::kInvalidArgument)
        << read.error().message();
    EXPECT_FALSE(responder->next_message().has_value());
  }
}

TEST_F(SecureHandshakeTest, ATamperedMessage2IsRejectedByTheInitiator) {
  for (size_t position : {0, 31, 32, 60, 79, 80, 100, 150}) {
    SCOPED_TRACE(position);
    auto initiator = alice_.initiator();
    auto responder = bob_.responder();
    ASSERT_TRUE(initiator && responder);
    ASSERT_TRUE(deliver(*initiator, *responder).has_value());
    core::Bytes m2 = take_message(*responder);
    ASSERT_LT(position, m2.size());
    m2[position] ^= 0x01;
    auto read = initiator->read_message(m2);
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error().code(), core::ErrorCode::kPermissionDenied);
    EXPECT_EQ(read.error().message(), "handshake: message 2 failed authentication");
    EXPECT_FALSE(initiator->next_message().has_value());
  }
}

TEST_F(SecureHandshakeTest, ATamperedOrTruncatedMessage3IsRejectedByTheResponder) {
  for (size_t position : {0, 47, 48, 90, 160}) {
    SCOPED_TRACE(position);
    auto initiator = alice_.initiator();
    auto responder = bob_.responder();
    ASSERT_TRUE(initiator && responder);
    ASSERT_TRUE(deliver(*initiator, *responder).has_value());
    ASSERT_TRUE(deliver(*responder, *initiator).has_value());
    core::Bytes m3 = take_message(*initiator);
    ASSERT_LT(position, m3.size());
    m3[position] ^= 0x40;
    auto read = responder->read_message(m3);
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error().code(), core::ErrorCode::kPermissionDenied);
    EXPECT_FALSE(responder->done());
    EXPECT_FALSE(responder->finish().has_value());
  }
  auto initiator = alice_.initiator();
  auto responder = bob_.responder();
  ASSERT_TRUE(deliver(*initiator, *responder).has_value());
  ASSERT_TRUE(deliver(*responder, *initiator).has_value());
  core::Bytes m3 = take_message(*initiator);
  m3.resize(40);
  auto read = responder->read_message(m3);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), core::ErrorCode::kInvalidArgument);
}

// A peer that speaks the handshake with the generic Noise layer, so it can put anything into
// its payloads.
NoiseHandshake raw_noise(NoiseRole role, const SwarmKey& key, const X25519KeyPair& static_key,
                         core::Rng& rng) {
  NoiseHandshakeConfig config;
  config.protocol = *NoiseProtocol::parse(kHandshakeProtocolName);
  config.role = role;
  config.prologue = handshake_prologue(key);
  config.static_key = static_key;
  config.psks = {handshake_psk(key)};
  auto noise = NoiseHandshake::create(std::move(config), rng);
  SYNAPSE_CHECK(noise.has_value(), "raw handshake starts");
  return std::move(*noise);
}

core::Bytes signed_static_key(const X25519PublicKey& key) {
  core::Bytes message(kStaticKeySignatureContext.begin(), kStaticKeySignatureContext.end());
  message.insert(message.end(), key.begin(), key.end());
  return message;
}

TEST_F(SecureHandshakeTest, AnIdentitySignatureOverAnotherStaticKeyIsRejected) {
  core::SeededRng rng(6);
  X25519KeyPair used = X25519KeyPair::generate(rng);
  X25519KeyPair signed_one = X25519KeyPair::generate(rng);
  NoiseHandshake evil = raw_noise(NoiseRole::kResponder, swarm_key_, used, rng);
  auto initiator = alice_.initiator();
  ASSERT_TRUE(initiator.has_value());
  ASSERT_TRUE(evil.read_message(take_message(*initiator)).has_value());
  HandshakePayload payload;
  payload.identity_key = bob_.identity.public_key();
  payload.static_key_signature = bob_.identity.sign(signed_static_key(signed_one.public_key()));
  auto m2 = evil.write_message(encode_handshake_payload(payload));
  ASSERT_TRUE(m2.has_value());
  auto read = initiator->read_message(*m2);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), core::ErrorCode::kPermissionDenied);
  EXPECT_THAT(read.error().message(), HasSubstr("identity signature does not cover"));
  EXPECT_FALSE(initiator->next_message().has_value());
}

TEST_F(SecureHandshakeTest, AnInitiatorCannotClaimAnotherNodesIdentity) {
  // Mallory has the swarm key but not Alice's identity key: she signs her static key herself
  // and claims Alice's identity key.
  core::SeededRng rng(7);
  NodeIdentity mallory = NodeIdentity::generate(rng);
  X25519KeyPair static_key = X25519KeyPair::generate(rng);
  NoiseHandshake evil = raw_noise(NoiseRole::kInitiator, swarm_key_, static_key, rng);
  auto responder = bob_.responder();
  ASSERT_TRUE(responder.has_value());
  auto m1 = evil.write_message(core::Bytes{kHandshakeVersion});
  ASSERT_TRUE(m1.has_value());
  ASSERT_TRUE(responder->read_message(*m1).has_value());
  ASSERT_TRUE(evil.read_message(take_message(*responder)).has_value());
  HandshakePayload payload;
  payload.identity_key = alice_.identity.public_key();
  payload.static_key_signature = mallory.sign(signed_static_key(static_key.public_key()));
  auto m3 = evil.write_message(encode_handshake_payload(payload));
  ASSERT_TRUE(m3.has_value());
  auto read = responder->read_message(*m3);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), core::ErrorCode::kPermissionDenied);
  EXPECT_FALSE(responder->finish().has_value());
}

TEST_F(SecureHandshakeTest, AnotherHandshakeVersionInMessage1IsUnsupported) {
  core::SeededRng rng(8);
  NoiseHandshake future =
      raw_noise(NoiseRole::kInitiator, swarm_key_, X25519KeyPair::generate(rng), rng);
  auto responder = bob_.responder();
  auto m1 = future.write_message(core::Bytes{2});
  ASSERT_TRUE(responder && m1);
  auto read = responder->read_message(*m1);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), core::ErrorCode::kUnsupported);
  EXPECT_THAT(read.error().message(), HasSubstr("version 2"));
}

TEST_F(SecureHandshakeTest, AResponderAdmitHookRefusalAbortsWithItsError) {
  bob_.options.admit = [](const PeerIdentity&) -> core::Status {
    return core::make_error(core::ErrorCode::kPermissionDenied, "certificate required");
  };
  auto initiator = alice_.initiator();
  auto responder = bob_.responder();
  ASSERT_TRUE(initiator && responder);
  ASSERT_TRUE(deliver(*initiator, *responder).has_value());
  ASSERT_TRUE(deliver(*responder, *initiator).has_value());
  auto read = deliver(*initiator, *responder);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().message(), "certificate required");
  EXPECT_FALSE(responder->done());
  EXPECT_TRUE(responder->failed());
  EXPECT_FALSE(responder->finish().has_value());
}

TEST_F(SecureHandshakeTest, AnInitiatorAdmitHookRefusalStopsBeforeMessage3) {
  std::optional<NodeId> seen;
  alice_.options.admit = [&](const PeerIdentity& peer) -> core::Status {
    seen = peer.node_id;
    return core::make_error(core::ErrorCode::kPermissionDenied, "not on my list");
  };
  auto initiator = alice_.initiator();
  auto responder = bob_.responder();
  ASSERT_TRUE(initiator && responder);
  ASSERT_TRUE(deliver(*initiator, *responder).has_value());
  auto read = deliver(*responder, *initiator);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().message(), "not on my list");
  EXPECT_EQ(seen, bob_.identity.node_id());
  EXPECT_FALSE(initiator->next_message().has_value());
}

TEST_F(SecureHandshakeTest, CertificateBytesArriveAtThePeerAndItsAdmitHook) {
  core::Bytes alice_certificate(SecureHandshake::kMaxCertificateSize, 0xa1);
  core::Bytes bob_certificate = {0xb0, 0xb1};
  alice_.options.certificate = alice_certificate;
  bob_.options.certificate = bob_certificate;
  std::optional<core::Bytes> seen_by_bob;
  bob_.options.admit = [&](const PeerIdentity& peer) -> core::Status {
    seen_by_bob = peer.certificate;
    return core::ok();
  };
  Session session = handshake(alice_, bob_);
  EXPECT_EQ(session.initiator.peer.certificate, bob_certificate);
  EXPECT_EQ(session.responder.peer.certificate, alice_certificate);
  EXPECT_EQ(seen_by_bob, alice_certificate);

  alice_.options.certificate.reset();
  Session without = handshake(alice_, bob_);
  EXPECT_FALSE(without.responder.peer.certificate.has_value());
}

TEST_F(SecureHandshakeTest, ThePeerNodeIdIsTheHashOfTheVerifiedIdentityKey) {
  Session session = handshake(alice_, bob_);
  const PeerIdentity& peer = session.responder.peer;
  EXPECT_EQ(peer.identity_key, alice_.identity.public_key());
  EXPECT_EQ(peer.node_id, NodeId::of_public_key(peer.identity_key));
  EXPECT_EQ(peer.node_id, alice_.identity.node_id());
}

TEST_F(SecureHandshakeTest, OpenFailsWithAWrongNonceDirectionOrAssociatedData) {
  Session session = handshake(alice_, bob_);
  const TransportCipher& send = session.initiator.send;
  const TransportCipher& receive = session.responder.receive;
  core::Bytes sealed = send.seal(7, core::as_bytes("ad"), core::as_bytes("secret"));
  EXPECT_EQ(sealed.size(), 6 + TransportCipher::kTagSize);
  EXPECT_TRUE(receive.open(7, core::as_bytes("ad"), sealed).has_value());
  // Replay protection is the transport's: the same nonce opens again.
  EXPECT_TRUE(receive.open(7, core::as_bytes("ad"), sealed).has_value());
  for (uint64_t nonce : {uint64_t{6}, uint64_t{8}, TransportCipher::kMaxNonce, UINT64_MAX}) {
    auto opened = receive.open(nonce, core::as_bytes("ad"), sealed);
    ASSERT_FALSE(opened.has_value()) << nonce;
    EXPECT_EQ(opened.error().code(), core::ErrorCode::kPermissionDenied);
  }
  EXPECT_FALSE(receive.open(7, core::as_bytes("da"), sealed).has_value());
  // The other direction has its own key.
  EXPECT_FALSE(session.initiator.receive.open(7, core::as_bytes("ad"), sealed).has_value());
  core::Bytes out = {1};
  EXPECT_EQ(receive.open_into(7, {}, core::Bytes(3), out).error().code(),
            core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(receive.open_into(7, {}, core::Bytes(TransportCipher::kMaxCiphertextSize + 1), out)
                .error()
                .code(),
            core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(out, core::Bytes{1});
}

TEST_F(SecureHandshakeTest, SealsTheLargestPlaintextIntoAnExistingBuffer) {
  Session session = handshake(alice_, bob_);
  core::SeededRng rng(9);
  core::Bytes plaintext = testing::random_bytes(rng, TransportCipher::kMaxPlaintextSize);
  core::Bytes frame = {0xff, 0xfe};  // a header the transport wrote first
  session.responder.send.seal_into(0, frame, plaintext, frame);
  ASSERT_EQ(frame.size(), 2 + TransportCipher::kMaxCiphertextSize);
  core::Bytes opened;
  ASSERT_TRUE(
      session.initiator.receive
          .open_into(0, core::ByteView(frame).first(2), core::ByteView(frame).subspan(2), opened)
          .has_value());
  EXPECT_EQ(opened, plaintext);
}

TEST_F(SecureHandshakeTest, SessionsDifferAndAProcessWideStaticKeyCanBeShared) {
  HandshakeStaticKey shared = HandshakeStaticKey::generate(alice_.identity, alice_.rng);
  EXPECT_TRUE(verify_signature(alice_.identity.public_key(),
                               signed_static_key(shared.key_pair().public_key()),
                               shared.signature()));
  alice_.options.static_key = &shared;
  Session first = handshake(alice_, bob_);
  Session second = handshake(alice_, bob_);
  EXPECT_NE(first.initiator.handshake_hash, second.initiator.handshake_hash);
  EXPECT_EQ(second.responder.peer.node_id, alice_.identity.node_id());

  HandshakeStaticKey bobs = HandshakeStaticKey::generate(bob_.identity, bob_.rng);
  alice_.options.static_key = &bobs;
  auto wrong = alice_.initiator();
  ASSERT_FALSE(wrong.has_value());
  EXPECT_THAT(wrong.error().message(), HasSubstr("another identity"));
}

TEST_F(SecureHandshakeTest, RefusesIncompleteOptionsAndOversizedCertificates) {
  HandshakeOptions options;
  core::SeededRng rng(10);
  EXPECT_EQ(SecureHandshake::initiator(options, rng).error().code(),
            core::ErrorCode::kInvalidArgument);
  options.identity = &alice_.identity;
  EXPECT_THAT(SecureHandshake::responder(options, rng).error().message(), HasSubstr("swarm key"));
  options.swarm_key = &swarm_key_;
  options.certificate = core::Bytes(SecureHandshake::kMaxCertificateSize + 1);
  EXPECT_THAT(SecureHandshake::initiator(options, rng).error().message(), HasSubstr("certificate"));
}

TEST_F(SecureHandshakeTest, MessagesOutOfTurnOrTooLargeAbort) {
  auto initiator = alice_.initiator();
  ASSERT_TRUE(initiator.has_value());
  auto early = initiator->read_message(core::Bytes(49));
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code(), core::ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(initiator->failed());

  auto responder = bob_.responder();
  ASSERT_TRUE(responder.has_value());
  auto large = responder->read_message(core::Bytes(SecureHandshake::kMaxMessageSize + 1));
  ASSERT_FALSE(large.has_value());
  EXPECT_EQ(large.error().code(), core::ErrorCode::kInvalidArgument);
}

TEST(HandshakeKeys, DerivesThePskAndPrologueFromTheSwarmKey) {
  SwarmKey key = swarm_key_from(0);  // 00 01 ... 1f
  // HKDF-SHA256(ikm = key, salt = none, info = "synapse noise psk v1"), computed with Python's
  // hmac module.
  EXPECT_EQ(core::to_hex(handshake_psk(key).bytes()),
            "9ab67a517202fce0fc2793a0e3b1df3c55c8e10d9f970c8c02cb2b7317c5c48a");
  EXPECT_EQ(key.id(), "a050c933c54c4905");
  EXPECT_EQ(core::to_hex(handshake_prologue(key)),
            core::to_hex(core::as_bytes("synapse/1")) + "a050c933c54c4905");
  EXPECT_NE(handshake_psk(swarm_key_from(1)).bytes(), handshake_psk(key).bytes());
}

// ---------------------------------------------------------------------------------------------
// Payload codec.

HandshakePayload sample_payload() {
  HandshakePayload payload;
  payload.identity_key.fill(0x11);
  payload.static_key_signature.fill(0x22);
  return payload;
}

TEST(HandshakePayload, RoundTripsWithAndWithoutACertificate) {
  HandshakePayload payload = sample_payload();
  core::Bytes encoded = encode_handshake_payload(payload);
  EXPECT_EQ(encoded.size(), 1u + 3 + 32 + 3 + 64);
  auto decoded = decode_handshake_payload(encoded);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(decoded->identity_key, payload.identity_key);
  EXPECT_EQ(decoded->static_key_signature, payload.static_key_signature);
  EXPECT_FALSE(decoded->certificate.has_value());

  for (size_t size : {size_t{0}, size_t{5}, SecureHandshake::kMaxCertificateSize}) {
    payload.certificate = core::Bytes(size, 0x33);
    auto with = decode_handshake_payload(encode_handshake_payload(payload));
    ASSERT_TRUE(with.has_value()) << with.error().message();
    EXPECT_EQ(with->certificate, payload.certificate);
  }
}

TEST(HandshakePayload, RejectsMalformedPayloads) {
  const core::Bytes good = encode_handshake_payload(sample_payload());
  auto with = [&](auto edit) {
    core::Bytes bytes = good;
    edit(bytes);
    return decode_handshake_payload(bytes);
  };
  struct Case {
    const char* name;
    core::Result<HandshakePayload> result;
    const char* message;
  };
  const Case cases[] = {
      {"empty", decode_handshake_payload({}), "is empty"},
      {"truncated value", with([](core::Bytes& b) { b.pop_back(); }), "claims 64 bytes"},
      {"truncated header", with([](core::Bytes& b) { b.resize(1 + 35 + 2); }),
       "inside a field header"},
      {"short key", with([](core::Bytes& b) { b[3] = 31, b.erase(b.begin() + 4); }), "expected 32"},
      {"missing signature", with([](core::Bytes& b) { b.resize(1 + 35); }),
       "lacks the static key signature"},
      {"missing key", with([](core::Bytes& b) { b.erase(b.begin() + 1, b.begin() + 36); }),
       "lacks the identity key"},
      {"unknown field", with([](core::Bytes& b) {
         b.insert(b.end(), {0x09, 0, 0});
       }),
       "unknown field type 9"},
      {"repeated field", with([](core::Bytes& b) {
         b.insert(b.end(), {0x02, 0, 0});
       }),
       "repeated or out of order"},
      {"out of order",
       with([](core::Bytes& b) { std::rotate(b.begin() + 1, b.begin() + 36, b.end()); }),
       "repeated or out of order"},
      {"too large",
       decode_handshake_payload(core::Bytes(SecureHandshake::kMaxPayloadSize + 1, 0x01)),
       "larger than 4096"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_FALSE(c.result.has_value());
    EXPECT_EQ(c.result.error().code(), core::ErrorCode::kInvalidArgument);
    EXPECT_THAT(c.result.error().message(), HasSubstr(c.message));
  }
  auto version = with([](core::Bytes& b) { b[0] = 7; });
  ASSERT_FALSE(version.has_value());
  EXPECT_EQ(version.error().code(), core::ErrorCode::kUnsupported);

  core::Bytes big_certificate = good;
  big_certificate.insert(big_certificate.end(), {0x03, 0x0c, 0x01});  // 3073 bytes
  big_certificate.resize(big_certificate.size() + 3073);
  auto too_big = decode_handshake_payload(big_certificate);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_THAT(too_big.error().message(), HasSubstr("certificate is 3073 bytes"));
}

}  // namespace
}  // namespace synapse::crypto
