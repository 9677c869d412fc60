// Fuzzes the transport's decoders with arbitrary bytes: datagram packets (decoder and the
// whole datagram engine as a receiver), stream handshake frames and sealed stream frames.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "synapse/core/clock.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/secure_handshake.h"
#include "synapse/dht/datagram_engine.h"
#include "synapse/dht/datagram_packet.h"
#include "synapse/dht/stream_framer.h"

namespace {

using namespace synapse;

class NullIo final : public dht::DatagramIo {
 public:
  core::Status send_packet(const dht::Endpoint&, core::ByteView) override { return core::ok(); }
  void deliver(const dht::Endpoint&, const crypto::PeerIdentity&, core::ByteView) override {}
  void complete(std::function<void(core::Status)> done, core::Status status) override {
    done(std::move(status));
  }
};

struct Receiver {
  Receiver()
      : rng(1),
        identity(crypto::NodeIdentity::generate(rng)),
        key(crypto::SwarmKey::generate(rng)),
        static_key(crypto::HandshakeStaticKey::generate(identity, rng)) {
    dht::DatagramEngineConfig config;
    config.identity = &identity;
    config.swarm_key = &key;
    config.static_key = &static_key;
    config.limits.handshake_rate_per_source = 0;
    config.limits.packet_rate_per_source = 0;
    engine = std::make_unique<dht::DatagramEngine>(config, io, rng, clock, stats);
  }
  core::SeededRng rng;
  crypto::NodeIdentity identity;
  crypto::SwarmKey key;
  crypto::HandshakeStaticKey static_key;
  core::ManualClock clock;
  NullIo io;
  dht::TransportStats stats;
  std::unique_ptr<dht::DatagramEngine> engine;
};

crypto::TransportCipher fixed_cipher() {
  std::array<uint8_t, 32> key{};
  key.fill(0x42);
  return crypto::TransportCipher(
      crypto::NoiseCipherState(crypto::NoiseCipher::kAesGcm, crypto::NoiseSecret(key)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Receiver receiver;
  const core::ByteView input(data, size);

  auto packet = dht::decode_packet(input);
  if (packet) {
    if (packet->body.size() > input.size()) __builtin_trap();
    if (packet->type == dht::PacketType::kData && packet->header.size() != dht::kDataHeaderSize) {
      __builtin_trap();
    }
  }
  receiver.engine->on_packet(dht::Endpoint::ipv4({10, 0, 0, 1}, 4000), input);
  receiver.clock.advance(std::chrono::milliseconds(7));
  receiver.engine->on_timer();

  auto frame = dht::parse_handshake_frame(input, dht::kMinHandshakeMessageSize,
                                          dht::kMaxHandshakeMessageSize);
  if (frame && frame->has_value() && (*frame)->consumed > input.size()) __builtin_trap();
  if (size >= dht::kFrameHeaderSize) (void)dht::decode_frame_header(input);

  dht::StreamOpener opener(fixed_cipher());
  core::Bytes out;
  auto consumed = opener.open(input, out);
  if (consumed && *consumed > input.size()) __builtin_trap();
  return 0;
}
