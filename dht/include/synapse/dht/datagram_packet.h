// Datagram packet formats (docs/wire.md, "Datagram sessions"): encoding and bounded decoding.
// Sans-I/O, stateless, thread-safe. All integers are big-endian.
//
//   HandshakeInit      [1][sender index u32][handshake message 1]
//   HandshakeResponse  [2][sender index u32][receiver index u32][handshake message 2]
//   HandshakeFinal     [3][sender index u32][receiver index u32][handshake message 3]
//   Data               [4][receiver index u32][nonce u64][AEAD(plaintext), 16-byte tag]
//                      associated data = the 13 header bytes
//   Data plaintext     [kind u8][body]: kind 0 = keepalive/confirm (empty body), 1 = message
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/dht/transport_options.h"

namespace synapse::dht {

enum class PacketType : uint8_t {
  kHandshakeInit = 1,
  kHandshakeResponse = 2,
  kHandshakeFinal = 3,
  kData = 4,
};

enum class PayloadKind : uint8_t { kKeepalive = 0, kMessage = 1 };

inline constexpr size_t kDataHeaderSize = 1 + 4 + 8;
inline constexpr size_t kTagSize = 16;
// Handshake messages: message 1 is 32 (ephemeral key) + 1 (version) + 16 (tag) bytes; the
// others are longer. Anything over SecureHandshake::kMaxMessageSize is refused.
inline constexpr size_t kMinHandshakeMessageSize = 32 + kTagSize;
inline constexpr size_t kMaxHandshakeMessageSize = 4096 + 256;
inline constexpr size_t kMaxHandshakePacketSize = 1 + 4 + 4 + kMaxHandshakeMessageSize;
inline constexpr size_t kMaxDataPacketSize =
    kDataHeaderSize + 1 + kMaxDatagramMessageSize + kTagSize;
// Anything longer is not one of ours.
inline constexpr size_t kMaxPacketSize =
    kMaxHandshakePacketSize > kMaxDataPacketSize ? kMaxHandshakePacketSize : kMaxDataPacketSize;

struct DecodedPacket {
  PacketType type = PacketType::kData;
  uint32_t sender_index = 0;    // handshake packets
  uint32_t receiver_index = 0;  // response, final, data
  uint64_t nonce = 0;           // data
  core::ByteView header;        // data: the 13 header bytes (associated data)
  core::ByteView body;          // handshake message or data ciphertext
};

// Decodes a packet, checking its type and every length; the views point into `packet`.
// Errors: kInvalidArgument (empty, unknown type, too short or too long for its type, index 0).
core::Result<DecodedPacket> decode_packet(core::ByteView packet);

// Appenders; the caller guarantees the message sizes (misuse aborts).
void append_handshake_init(uint32_t sender_index, core::ByteView message, core::Bytes& out);
void append_handshake_reply(PacketType type, uint32_t sender_index, uint32_t receiver_index,
                            core::ByteView message, core::Bytes& out);
void append_data_header(uint32_t receiver_index, uint64_t nonce, core::Bytes& out);

// Big-endian helpers shared with the stream framer.
void put_u16(uint8_t* out, uint16_t value);
void put_u32(uint8_t* out, uint32_t value);
void put_u64(uint8_t* out, uint64_t value);
uint16_t get_u16(const uint8_t* in);
uint32_t get_u32(const uint8_t* in);
uint64_t get_u64(const uint8_t* in);

}  // namespace synapse::dht
