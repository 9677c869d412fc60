// Stream framing (docs/wire.md, "Streams"). Sans-I/O; each object is not thread-safe.
//
//   handshake frame  [length u16][handshake message]                 (before the keys exist)
//   data frame       [header u32][AEAD(plaintext), 16-byte tag]     (after)
//   header           bit 31: end of stream; bits 30..0: ciphertext length (16 .. 65,552)
//                    associated data = the 4 header bytes; nonce = frame counter from 0
//
// An empty frame without the end bit is a confirm/keepalive; an empty frame with it is the
// authenticated end of the stream (a bare TCP FIN is a truncation, never an orderly end).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/secure_handshake.h"

namespace synapse::dht {

inline constexpr size_t kFrameHeaderSize = 4;
inline constexpr uint32_t kFrameEndFlag = 0x80000000u;
inline constexpr size_t kMaxFramePlaintext = crypto::TransportCipher::kMaxPlaintextSize;
inline constexpr size_t kMaxFrameCiphertext = crypto::TransportCipher::kMaxCiphertextSize;
inline constexpr size_t kMaxFrameSize = kFrameHeaderSize + kMaxFrameCiphertext;
inline constexpr size_t kHandshakeFrameHeaderSize = 2;

struct FrameHeader {
  uint32_t ciphertext_size = 0;
  bool end = false;
};

// Decodes a data frame header from the first 4 bytes of `in` (which must hold them).
// kInvalidArgument for a length shorter than a tag or longer than kMaxFrameCiphertext.
core::Result<FrameHeader> decode_frame_header(core::ByteView in);

// Appends [u16 length][message]; `message` is at most 65,535 bytes (misuse aborts).
void append_handshake_frame(core::ByteView message, core::Bytes& out);

struct HandshakeFrame {
  core::ByteView message;  // points into the input
  size_t consumed = 0;     // bytes of the input the frame used
};
// Parses one handshake frame from the front of `in`: nullopt if incomplete. kInvalidArgument
// for a message shorter than `min_size` or longer than `max_size`.
core::Result<std::optional<HandshakeFrame>> parse_handshake_frame(core::ByteView in,
                                                                  size_t min_size, size_t max_size);

// Seals outgoing data into frames.
class StreamSealer {
 public:
  explicit StreamSealer(crypto::TransportCipher cipher) : cipher_(std::move(cipher)) {}

  // Appends the frames of `data` (split every kMaxFramePlaintext bytes; nothing for empty
  // data) to `out`.
  void seal(core::ByteView data, core::Bytes& out);
  // Appends an empty frame: a confirm/keepalive, or (end) the end of the stream.
  void seal_empty(bool end, core::Bytes& out);
  // The bytes seal() appends for `data_size` bytes.
  static size_t sealed_size(size_t data_size);
  uint64_t frames() const { return nonce_; }

 private:
  void seal_frame(core::ByteView plaintext, bool end, core::Bytes& out);
  crypto::TransportCipher cipher_;
  uint64_t nonce_ = 0;
};

// Opens incoming frames.
class StreamOpener {
 public:
  explicit StreamOpener(crypto::TransportCipher cipher) : cipher_(std::move(cipher)) {}

  // Opens the complete frames at the front of `in`, appending their plaintext to `out`, and
  // returns how many bytes of `in` they used (an incomplete frame stays for the next call).
  // Stops after the end frame (ended() becomes true); bytes after it are an error. Errors:
  // kInvalidArgument (bad header, data after the end), kPermissionDenied (tampered, reordered
  // or forged frame). After an error every call fails.
  core::Result<size_t> open(core::ByteView in, core::Bytes& out);

  bool ended() const { return ended_; }
  bool failed() const { return failed_; }
  uint64_t frames() const { return nonce_; }
  // Empty frames without the end bit seen so far (the responder's confirm is the first).
  uint64_t empty_frames() const { return empty_frames_; }

 private:
  crypto::TransportCipher cipher_;
  uint64_t nonce_ = 0;
  uint64_t empty_frames_ = 0;
  bool ended_ = false;
  bool failed_ = false;
};

}  // namespace synapse::dht
