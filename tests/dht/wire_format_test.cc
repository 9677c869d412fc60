// Unit tests of the sans-I/O pieces: endpoints, datagram packets, the replay window, the rate
// limiter and the stream framer.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>

#include "synapse/core/clock.h"
#include "synapse/dht/datagram_packet.h"
#include "synapse/dht/endpoint.h"
#include "synapse/dht/rate_limiter.h"
#include "synapse/dht/replay_window.h"
#include "synapse/dht/stream_framer.h"
#include "test_util.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;

// --- Endpoint -------------------------------------------------------------------------------

TEST(EndpointTest, ParsesAndPrintsIpv4AndIpv6) {
  auto v4 = Endpoint::parse("1.2.3.4:5");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_FALSE(v4->is_ipv6());
  EXPECT_EQ(v4->port(), 5);
  EXPECT_EQ(v4->to_string(), "1.2.3.4:5");
  auto v6 = Endpoint::parse("[::1]:65535");
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_TRUE(v6->is_ipv6());
  EXPECT_EQ(v6->to_string(), "[::1]:65535");
  EXPECT_EQ(Endpoint::parse(v6->to_string()).value(), *v6);
}

TEST(EndpointTest, MapsIpv4MappedIpv6ToIpv4) {
  auto mapped = Endpoint::parse("[::ffff:10.1.2.3]:80");
  ASSERT_TRUE(mapped);
  EXPECT_FALSE(mapped->is_ipv6());
  EXPECT_EQ(mapped->to_string(), "10.1.2.3:80");
}

TEST(EndpointTest, RejectsMalformedText) {
  for (const char* text : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "::1:5",
                           "[::1]5", "[::1", "host:80", "1.2.3.256:1", "1.2.3.4:5x"}) {
    auto parsed = Endpoint::parse(text);
    EXPECT_FALSE(parsed) << text;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code(), core::ErrorCode::kInvalidArgument);
    }
  }
}

TEST(EndpointTest, RoundTripsThroughSockaddr) {
  for (const char* text : {"127.0.0.1:9", "[fe80::1]:443"}) {
    auto endpoint = Endpoint::parse(text).value();
    sockaddr_storage storage;
    endpoint.to_sockaddr(&storage);
    auto back = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&storage));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, endpoint);
  }
}

// --- Datagram packets -----------------------------------------------------------------------

TEST(DatagramPacketTest, EncodesAndDecodesEveryType) {
  core::Bytes message(60, 0xab);
  core::Bytes init;
  append_handshake_init(0x01020304, message, init);
  auto decoded = decode_packet(init);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->type, PacketType::kHandshakeInit);
  EXPECT_EQ(decoded->sender_index, 0x01020304u);
  EXPECT_TRUE(std::equal(decoded->body.begin(), decoded->body.end(), message.begin()));

  core::Bytes reply;
  append_handshake_reply(PacketType::kHandshakeFinal, 7, 9, message, reply);
  decoded = decode_packet(reply);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->type, PacketType::kHandshakeFinal);
  EXPECT_EQ(decoded->sender_index, 7u);
  EXPECT_EQ(decoded->receiver_index, 9u);

  core::Bytes data;
  append_data_header(42, 0x1122334455667788ULL, data);
  data.resize(data.size() + 1 + kTagSize, 0);
  decoded = decode_packet(data);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->type, PacketType::kData);
  EXPECT_EQ(decoded->receiver_index, 42u);
  EXPECT_EQ(decoded->nonce, 0x1122334455667788ULL);
  EXPECT_EQ(decoded->header.size(), kDataHeaderSize);
  EXPECT_EQ(decoded->body.size(), 1 + kTagSize);
}

TEST(DatagramPacketTest, RejectsBadTypesLengthsAndZeroIndices) {
  auto rejects = [](const core::Bytes& packet) {
    auto decoded = decode_packet(packet);
    return !decoded && decoded.error().code() == core::ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(rejects({}));
  EXPECT_TRUE(rejects({0}));
  EXPECT_TRUE(rejects({5, 0, 0, 0, 1}));
  core::Bytes short_init;
  append_handshake_init(1, core::Bytes(kMinHandshakeMessageSize - 1, 0), short_init);
  EXPECT_TRUE(rejects(short_init));
  core::Bytes long_init;
  append_handshake_init(1, core::Bytes(kMaxHandshakeMessageSize, 0), long_init);
  EXPECT_FALSE(rejects(long_init));
  long_init.push_back(0);
  EXPECT_TRUE(rejects(long_init));
  core::Bytes zero_sender;
  append_handshake_init(0, core::Bytes(64, 0), zero_sender);
  EXPECT_TRUE(rejects(zero_sender));
  core::Bytes zero_receiver;
  append_data_header(0, 1, zero_receiver);
  zero_receiver.resize(zero_receiver.size() + 17);
  EXPECT_TRUE(rejects(zero_receiver));
  core::Bytes tagless;
  append_data_header(1, 1, tagless);
  tagless.resize(tagless.size() + kTagSize);  // no room for the kind byte
  EXPECT_TRUE(rejects(tagless));
  core::Bytes huge;
  append_data_header(1, 1, huge);
  huge.resize(kMaxDataPacketSize + 1);
  EXPECT_TRUE(rejects(huge));
}

// --- Replay window --------------------------------------------------------------------------

TEST(ReplayWindowTest, AcceptsInOrderNoncesOnce) {
  ReplayWindow window;
  for (uint64_t n = 0; n < 10'000; ++n) {
    ASSERT_EQ(window.record(n), ReplayWindow::Verdict::kFresh) << n;
  }
  EXPECT_EQ(window.record(9'999), ReplayWindow::Verdict::kReplay);
  EXPECT_EQ(window.highest(), 9'999u);
}

TEST(ReplayWindowTest, AcceptsReorderedNoncesWithinTheWindowOnce) {
  ReplayWindow window;
  EXPECT_EQ(window.record(100), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(window.record(50), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(window.record(99), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(window.record(50), ReplayWindow::Verdict::kReplay);
  EXPECT_EQ(window.record(0), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(window.check(0), ReplayWindow::Verdict::kReplay);
  EXPECT_EQ(window.check(1), ReplayWindow::Verdict::kFresh);  // check does not record
  EXPECT_EQ(window.check(1), ReplayWindow::Verdict::kFresh);
}

TEST(ReplayWindowTest, RefusesNoncesBehindTheWindow) {
  ReplayWindow window;
  window.record(10'000);
  EXPECT_EQ(window.check(10'000 - ReplayWindow::kWindow), ReplayWindow::Verdict::kTooOld);
  EXPECT_EQ(window.check(10'000 - ReplayWindow::kWindow + 1), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(window.record(5), ReplayWindow::Verdict::kTooOld);
}

TEST(ReplayWindowTest, ForgetsOldBitsWhenItSlidesFar) {
  ReplayWindow window;
  for (uint64_t n = 0; n < 64; ++n) window.record(n);
  window.record(1'000'000);
  // Words reused by the slide must not remember nonces from before it.
  for (uint64_t n = 1'000'000 - 1000; n < 1'000'000; ++n) {
    ASSERT_EQ(window.check(n), ReplayWindow::Verdict::kFresh) << n;
  }
  window.record(1'000'000 + 100);
  EXPECT_EQ(window.check(1'000'000), ReplayWindow::Verdict::kReplay);
  EXPECT_EQ(window.check(1'000'001), ReplayWindow::Verdict::kFresh);
}

TEST(ReplayWindowTest, HandlesTheLargestNonces) {
  ReplayWindow window;
  EXPECT_EQ(window.record(UINT64_MAX - 1), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(window.record(UINT64_MAX - 1), ReplayWindow::Verdict::kReplay);
  EXPECT_EQ(window.record(0), ReplayWindow::Verdict::kTooOld);
}

// --- Rate limiter ---------------------------------------------------------------------------

TEST(RateLimiterTest, AllowsABurstThenTheRate) {
  core::ManualClock clock;
  RateLimiter limiter(10, 5, 100);
  const IpAddress source = IpAddress::of(Endpoint::parse("10.0.0.1:1").value());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.allow(source, clock.now())) << i;
  EXPECT_FALSE(limiter.allow(source, clock.now()));
  clock.advance(100ms);  // one token
  EXPECT_TRUE(limiter.allow(source, clock.now()));
  EXPECT_FALSE(limiter.allow(source, clock.now()));
  clock.advance(10s);  // refills to the burst, not beyond
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.allow(source, clock.now()));
  EXPECT_FALSE(limiter.allow(source, clock.now()));
}

TEST(RateLimiterTest, KeepsSourcesApartAndIgnoresPorts) {
  core::ManualClock clock;
  RateLimiter limiter(1, 1, 100);
  const auto a1 = IpAddress::of(Endpoint::parse("10.0.0.1:1").value());
  const auto a2 = IpAddress::of(Endpoint::parse("10.0.0.1:2").value());
  const auto b = IpAddress::of(Endpoint::parse("10.0.0.2:1").value());
  EXPECT_TRUE(limiter.allow(a1, clock.now()));
  EXPECT_FALSE(limiter.allow(a2, clock.now()));
  EXPECT_TRUE(limiter.allow(b, clock.now()));
}

TEST(RateLimiterTest, BoundsItsTableAndFailsOpenWhenFull) {
  core::ManualClock clock;
  RateLimiter limiter(1, 1, 4);
  for (uint8_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(limiter.allow(IpAddress::of(Endpoint::ipv4({10, 0, 0, i}, 1)), clock.now()));
  }
  EXPECT_EQ(limiter.tracked_sources(), 4u);
  // Full of empty buckets: a new source passes untracked.
  EXPECT_TRUE(limiter.allow(IpAddress::of(Endpoint::ipv4({10, 0, 0, 9}, 1)), clock.now()));
  EXPECT_EQ(limiter.tracked_sources(), 4u);
  // Once buckets refilled they are forgotten and room is made.
  clock.advance(2s);
  EXPECT_TRUE(limiter.allow(IpAddress::of(Endpoint::ipv4({10, 0, 0, 9}, 1)), clock.now()));
  EXPECT_EQ(limiter.tracked_sources(), 1u);
}

TEST(RateLimiterTest, ARateOfZeroAdmitsEverything) {
  core::ManualClock clock;
  RateLimiter limiter(0, 0, 1);
  const auto source = IpAddress::of(Endpoint::parse("10.0.0.1:1").value());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.allow(source, clock.now()));
}

// --- Stream framer --------------------------------------------------------------------------

struct CipherPair {
  crypto::TransportCipher seal;
  crypto::TransportCipher open;
};

CipherPair cipher_pair(uint8_t key_byte) {
  std::array<uint8_t, 32> key;
  key.fill(key_byte);
  return {crypto::TransportCipher(
              crypto::NoiseCipherState(crypto::NoiseCipher::kAesGcm, crypto::NoiseSecret(key))),
          crypto::TransportCipher(
              crypto::NoiseCipherState(crypto::NoiseCipher::kAesGcm, crypto::NoiseSecret(key)))};
}

TEST(StreamFramerTest, SplitsLargeWritesAndReassemblesAnyChunking) {
  core::SeededRng rng(1);
  auto [seal, open] = cipher_pair(1);
  StreamSealer sealer(std::move(seal));
  StreamOpener opener(std::move(open));
  core::Bytes data = testing::random_bytes(rng, 3 * kMaxFramePlaintext + 123);
  core::Bytes wire;
  sealer.seal(data, wire);
  sealer.seal_empty(true, wire);
  EXPECT_EQ(sealer.frames(), 5u);
  EXPECT_EQ(wire.size(), StreamSealer::sealed_size(data.size()) + kFrameHeaderSize + kTagSize);
  // Feed it in odd pieces, as TCP may deliver it.
  core::Bytes out;
  core::Bytes pending;
  size_t offset = 0;
  size_t step = 1;
  while (offset < wire.size()) {
    const size_t take = std::min(step, wire.size() - offset);
    pending.insert(pending.end(), wire.begin() + offset, wire.begin() + offset + take);
    offset += take;
    step = step * 3 + 7;
    auto consumed = opener.open(pending, out);
    ASSERT_TRUE(consumed) << consumed.error().message();
    pending.erase(pending.begin(), pending.begin() + *consumed);
  }
  EXPECT_TRUE(pending.empty());
  EXPECT_TRUE(opener.ended());
  EXPECT_EQ(out, data);
}

TEST(StreamFramerTest, OpensSeveralJoinedFramesInOneCall) {
  auto [seal, open] = cipher_pair(2);
  StreamSealer sealer(std::move(seal));
  StreamOpener opener(std::move(open));
  core::Bytes wire;
  sealer.seal_empty(false, wire);  // confirm
  sealer.seal(core::as_bytes("hello "), wire);
  sealer.seal(core::as_bytes("world"), wire);
  core::Bytes out;
  auto consumed = opener.open(wire, out);
  ASSERT_TRUE(consumed);
  EXPECT_EQ(*consumed, wire.size());
  EXPECT_EQ(core::as_chars(out), "hello world");
  EXPECT_EQ(opener.empty_frames(), 1u);
  EXPECT_FALSE(opener.ended());
}

TEST(StreamFramerTest, RejectsAnOversizeFrameBeforeReadingIt) {
  auto [seal, open] = cipher_pair(3);
  StreamOpener opener(std::move(open));
  core::Bytes wire(kFrameHeaderSize);
  put_u32(wire.data(), static_cast<uint32_t>(kMaxFrameCiphertext + 1));
  core::Bytes out;
  auto consumed = opener.open(wire, out);
  ASSERT_FALSE(consumed);
  EXPECT_EQ(consumed.error().code(), core::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(opener.failed());
  put_u32(wire.data(), 3);  // shorter than a tag
  StreamOpener other(cipher_pair(3).open);
  EXPECT_FALSE(other.open(wire, out));
}

TEST(StreamFramerTest, ATamperedFrameFailsAuthentication) {
  auto [seal, open] = cipher_pair(4);
  StreamSealer sealer(std::move(seal));
  StreamOpener opener(std::move(open));
  core::Bytes wire;
  sealer.seal(core::as_bytes("SYNAPSE-PLAINTEXT"), wire);
  wire[kFrameHeaderSize + 3] ^= 1;
  core::Bytes out;
  auto consumed = opener.open(wire, out);
  ASSERT_FALSE(consumed);
  EXPECT_EQ(consumed.error().code(), core::ErrorCode::kPermissionDenied);
  EXPECT_TRUE(out.empty());
}

TEST(StreamFramerTest, ReorderedOrReplayedFramesFail) {
  auto [seal, open] = cipher_pair(5);
  StreamSealer sealer(std::move(seal));
  core::Bytes first;
  core::Bytes second;
  sealer.seal(core::as_bytes("one"), first);
  sealer.seal(core::as_bytes("two"), second);
  StreamOpener opener(std::move(open));
  core::Bytes out;
  EXPECT_FALSE(opener.open(second, out));  // nonce 0 expected
  StreamOpener replay(cipher_pair(5).open);
  ASSERT_TRUE(replay.open(first, out));
  EXPECT_FALSE(replay.open(first, out));
}

TEST(StreamFramerTest, TheEndFlagIsAuthenticatedAndEndsTheStream) {
  auto [seal, open] = cipher_pair(6);
  StreamSealer sealer(std::move(seal));
  core::Bytes wire;
  sealer.seal_empty(true, wire);
  core::Bytes flipped = wire;
  flipped[0] ^= 0x80;  // an attacker clears the end bit
  core::Bytes out;
  StreamOpener opener(cipher_pair(6).open);
  EXPECT_FALSE(opener.open(flipped, out));
  StreamOpener good(std::move(open));
  wire.push_back(0);  // data after the end
  EXPECT_FALSE(good.open(wire, out));
}

TEST(StreamFramerTest, HandshakeFramesAreBounded) {
  core::Bytes wire;
  append_handshake_frame(core::Bytes(100, 7), wire);
  auto frame = parse_handshake_frame(wire, 48, 4352);
  ASSERT_TRUE(frame && frame->has_value());
  EXPECT_EQ((*frame)->message.size(), 100u);
  EXPECT_EQ((*frame)->consumed, 102u);
  auto partial = parse_handshake_frame(core::ByteView(wire).first(50), 48, 4352);
  ASSERT_TRUE(partial);
  EXPECT_FALSE(partial->has_value());
  EXPECT_FALSE(parse_handshake_frame(wire, 101, 4352));
  EXPECT_FALSE(parse_handshake_frame(wire, 48, 99));
}

}  // namespace
}  // namespace synapse::dht
