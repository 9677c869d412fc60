// Fuzzes the block exchange's wire format: decode_message on the input and a FrameReader fed
// the input in pieces whose sizes come from the input itself must never crash, throw or fail
// with anything but kInvalidArgument, and whatever decodes must encode to a frame that decodes
// to the same message (the same bytes when encoded again).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "synapse/exchange/messages.h"

namespace {

using namespace synapse;

void check_round_trip(const exchange::Message& message) {
  const core::Bytes frame = exchange::encode_frame(message);
  if (frame.size() < 4 || frame.size() - 4 > exchange::kMaxFrameSize) __builtin_trap();
  auto again = exchange::decode_message(core::ByteView(frame).subspan(4));
  if (!again || again->index() != message.index()) __builtin_trap();
  if (exchange::encode_frame(*again) != frame) __builtin_trap();
  // The frame read back through a FrameReader in one piece gives the same message.
  exchange::FrameReader reader;
  int delivered = 0;
  auto status = reader.feed(frame, [&](exchange::Message m) {
    ++delivered;
    if (exchange::encode_frame(m) != frame) __builtin_trap();
    return core::ok();
  });
  if (!status || delivered != 1 || reader.buffered() != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const core::ByteView input(data, size);

  // The whole input as one payload.
  if (auto message = exchange::decode_message(input)) {
    check_round_trip(*message);
  } else if (message.error().code() != core::ErrorCode::kInvalidArgument) {
    __builtin_trap();
  }

  // The whole input as a stream, cut into pieces of 1 to 256 bytes whose sizes are taken from
  // the input's bytes in turn.
  exchange::FrameReader reader;
  size_t at = 0;
  size_t turn = 0;
  size_t messages = 0;
  while (at < size) {
    const size_t piece = std::min<size_t>(size - at, size_t{data[turn++ % size]} + 1);
    auto status = reader.feed(input.subspan(at, piece), [&](exchange::Message m) {
      ++messages;
      check_round_trip(m);
      return core::ok();
    });
    at += piece;
    if (!status) {
      if (status.error().code() != core::ErrorCode::kInvalidArgument) __builtin_trap();
      return 0;  // the reader must not be fed again after an error
    }
    if (reader.buffered() > exchange::kMaxFrameSize + 4) __builtin_trap();
  }
  // Every byte is either part of a delivered frame or held of an incomplete one.
  if (reader.buffered() > size) __builtin_trap();
  (void)messages;
  return 0;
}
