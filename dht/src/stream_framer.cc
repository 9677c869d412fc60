#include "synapse/dht/stream_framer.h"

#include <string>

#include "synapse/dht/datagram_packet.h"

namespace synapse::dht {

core::Result<FrameHeader> decode_frame_header(core::ByteView in) {
  SYNAPSE_CHECK(in.size() >= kFrameHeaderSize, "a whole frame header");
  const uint32_t word = get_u32(in.data());
  FrameHeader header;
  header.end = (word & kFrameEndFlag) != 0;
  header.ciphertext_size = word & ~kFrameEndFlag;
  if (header.ciphertext_size < crypto::TransportCipher::kTagSize ||
      header.ciphertext_size > kMaxFrameCiphertext) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "stream: frame of " + std::to_string(header.ciphertext_size) +
                                " bytes (allowed 16 to " + std::to_string(kMaxFrameCiphertext) +
                                ")");
  }
  return header;
}

void append_handshake_frame(core::ByteView message, core::Bytes& out) {
  SYNAPSE_CHECK(message.size() <= 0xffff, "handshake message fits a u16 length");
  const size_t base = out.size();
  out.resize(base + kHandshakeFrameHeaderSize);
  put_u16(out.data() + base, static_cast<uint16_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
}

core::Result<std::optional<HandshakeFrame>> parse_handshake_frame(core::ByteView in,
                                                                  size_t min_size,
                                                                  size_t max_size) {
  if (in.size() < kHandshakeFrameHeaderSize) return std::nullopt;
  const size_t size = get_u16(in.data());
  if (size < min_size || size > max_size) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "stream: handshake message of " + std::to_string(size) + " bytes");
  }
  if (in.size() < kHandshakeFrameHeaderSize + size) return std::nullopt;
  return HandshakeFrame{in.subspan(kHandshakeFrameHeaderSize, size),
                        kHandshakeFrameHeaderSize + size};
}

size_t StreamSealer::sealed_size(size_t data_size) {
  const size_t frames = (data_size + kMaxFramePlaintext - 1) / kMaxFramePlaintext;
  return data_size + frames * (kFrameHeaderSize + crypto::TransportCipher::kTagSize);
}

void StreamSealer::seal_frame(core::ByteView plaintext, bool end, core::Bytes& out) {
  const size_t base = out.size();
  out.resize(base + kFrameHeaderSize);
  uint32_t word = static_cast<uint32_t>(plaintext.size() + crypto::TransportCipher::kTagSize);
  if (end) word |= kFrameEndFlag;
  put_u32(out.data() + base, word);
  // The header is the associated data; seal_into copies it before `out` grows.
  cipher_.seal_into(nonce_++, core::ByteView(out.data() + base, kFrameHeaderSize), plaintext, out);
}

void StreamSealer::seal(core::ByteView data, core::Bytes& out) {
  while (!data.empty()) {
    const size_t take = std::min(data.size(), kMaxFramePlaintext);
    seal_frame(data.first(take), false, out);
    data = data.subspan(take);
  }
}

void StreamSealer::seal_empty(bool end, core::Bytes& out) { seal_frame({}, end, out); }

core::Result<size_t> StreamOpener::open(core::ByteView in, core::Bytes& out) {
  auto fail = [this](core::Error error) -> core::Result<size_t> {
    failed_ = true;
    return tl::unexpected(std::move(error));
  };
  if (failed_) {
    return core::make_error(core::ErrorCode::kFailedPrecondition, "stream: failed earlier");
  }
  size_t consumed = 0;
  while (in.size() - consumed >= kFrameHeaderSize) {
    if (ended_) {
      return fail(core::Error(core::ErrorCode::kInvalidArgument,
                              "stream: data after the end of the stream"));
    }
    core::ByteView rest = in.subspan(consumed);
    auto header = decode_frame_header(rest);
    if (!header) return fail(header.error());
    if (rest.size() < kFrameHeaderSize + header->ciphertext_size) break;
    const size_t before = out.size();
    auto opened = cipher_.open_into(nonce_, rest.first(kFrameHeaderSize),
                                    rest.subspan(kFrameHeaderSize, header->ciphertext_size), out);
    if (!opened) {
      return fail(core::Error(core::ErrorCode::kPermissionDenied,
                              "stream: frame " + std::to_string(nonce_) +
                                  " failed authentication (tampered or forged)"));
    }
    ++nonce_;
    consumed += kFrameHeaderSize + header->ciphertext_size;
    if (header->end) {
      if (out.size() != before) {
        return fail(
            core::Error(core::ErrorCode::kInvalidArgument, "stream: the end frame carries data"));
      }
      ended_ = true;
    } else if (out.size() == before) {
      ++empty_frames_;
    }
  }
  if (ended_ && consumed < in.size()) {
    return fail(
        core::Error(core::ErrorCode::kInvalidArgument, "stream: data after the end of the stream"));
  }
  return consumed;
}

}  // namespace synapse::dht
