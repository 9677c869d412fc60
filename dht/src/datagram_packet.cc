#include "synapse/dht/datagram_packet.h"

#include <string>

namespace synapse::dht {
namespace {

core::Result<DecodedPacket> malformed(std::string why) {
  return core::make_error(core::ErrorCode::kInvalidArgument, "datagram: " + why);
}

}  // namespace

void put_u16(uint8_t* out, uint16_t value) {
  out[0] = static_cast<uint8_t>(value >> 8);
  out[1] = static_cast<uint8_t>(value);
}
void put_u32(uint8_t* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}
void put_u64(uint8_t* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (56 - 8 * i));
}
uint16_t get_u16(const uint8_t* in) { return static_cast<uint16_t>((in[0] << 8) | in[1]); }
uint32_t get_u32(const uint8_t* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | in[i];
  return value;
}
uint64_t get_u64(const uint8_t* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | in[i];
  return value;
}

core::Result<DecodedPacket> decode_packet(core::ByteView packet) {
  if (packet.empty()) return malformed("empty packet");
  if (packet.size() > kMaxPacketSize) {
    return malformed("packet of " + std::to_string(packet.size()) + " bytes is over " +
                     std::to_string(kMaxPacketSize));
  }
  DecodedPacket out;
  const uint8_t type = packet[0];
  switch (type) {
    case static_cast<uint8_t>(PacketType::kHandshakeInit): {
      constexpr size_t kHeader = 1 + 4;
      if (packet.size() < kHeader + kMinHandshakeMessageSize ||
          packet.size() > kHeader + kMaxHandshakeMessageSize) {
        return malformed("handshake init of " + std::to_string(packet.size()) + " bytes");
      }
      out.type = PacketType::kHandshakeInit;
      out.sender_index = get_u32(packet.data() + 1);
      out.body = packet.subspan(kHeader);
      break;
    }
    case static_cast<uint8_t>(PacketType::kHandshakeResponse):
    case static_cast<uint8_t>(PacketType::kHandshakeFinal): {
      constexpr size_t kHeader = 1 + 4 + 4;
      if (packet.size() < kHeader + kMinHandshakeMessageSize ||
          packet.size() > kHeader + kMaxHandshakeMessageSize) {
        return malformed("handshake reply of " + std::to_string(packet.size()) + " bytes");
      }
      out.type = static_cast<PacketType>(type);
      out.sender_index = get_u32(packet.data() + 1);
      out.receiver_index = get_u32(packet.data() + 5);
      out.body = packet.subspan(kHeader);
      if (out.receiver_index == 0) return malformed("receiver index 0");
      break;
    }
    case static_cast<uint8_t>(PacketType::kData): {
      // The smallest data packet is a keepalive: kind byte + tag.
      if (packet.size() < kDataHeaderSize + 1 + kTagSize || packet.size() > kMaxDataPacketSize) {
        return malformed("data packet of " + std::to_string(packet.size()) + " bytes");
      }
      out.type = PacketType::kData;
      out.receiver_index = get_u32(packet.data() + 1);
      out.nonce = get_u64(packet.data() + 5);
      out.header = packet.first(kDataHeaderSize);
      out.body = packet.subspan(kDataHeaderSize);
      if (out.receiver_index == 0) return malformed("receiver index 0");
      break;
    }
    default:
      return malformed("unknown packet type " + std::to_string(type));
  }
  if (out.type != PacketType::kData && out.sender_index == 0) return malformed("sender index 0");
  return out;
}

void append_handshake_init(uint32_t sender_index, core::ByteView message, core::Bytes& out) {
  SYNAPSE_CHECK(message.size() <= kMaxHandshakeMessageSize, "handshake message fits a packet");
  const size_t base = out.size();
  out.resize(base + 5);
  out[base] = static_cast<uint8_t>(PacketType::kHandshakeInit);
  put_u32(out.data() + base + 1, sender_index);
  out.insert(out.end(), message.begin(), message.end());
}

void append_handshake_reply(PacketType type, uint32_t sender_index, uint32_t receiver_index,
                            core::ByteView message, core::Bytes& out) {
  SYNAPSE_CHECK(type == PacketType::kHandshakeResponse || type == PacketType::kHandshakeFinal,
                "a reply type");
  SYNAPSE_CHECK(message.size() <= kMaxHandshakeMessageSize, "handshake message fits a packet");
  const size_t base = out.size();
  out.resize(base + 9);
  out[base] = static_cast<uint8_t>(type);
  put_u32(out.data() + base + 1, sender_index);
  put_u32(out.data() + base + 5, receiver_index);
  out.insert(out.end(), message.begin(), message.end());
}

void append_data_header(uint32_t receiver_index, uint64_t nonce, core::Bytes& out) {
  const size_t base = out.size();
  out.resize(base + kDataHeaderSize);
  out[base] = static_cast<uint8_t>(PacketType::kData);
  put_u32(out.data() + base + 1, receiver_index);
  put_u64(out.data() + base + 5, nonce);
}

}  // namespace synapse::dht
