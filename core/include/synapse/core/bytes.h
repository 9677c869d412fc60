// Byte buffers and their text forms.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/result.h"

namespace synapse::core {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_chars(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Lower-case hexadecimal.
std::string to_hex(ByteView bytes);
// Accepts upper and lower case; rejects odd lengths and non-hex characters.
Result<Bytes> from_hex(std::string_view hex);

// Unsigned LEB128 varints as used by multiformats and protobuf.
void append_varint(Bytes& out, uint64_t value);
// Reads a varint at the start of `in`; on success advances `in` past it. Rejects varints longer
// than 10 bytes, values over 64 bits, and truncated input.
Result<uint64_t> read_varint(ByteView& in);

}  // namespace synapse::core
