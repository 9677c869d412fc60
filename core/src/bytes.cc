#include "synapse/core/bytes.h"

namespace synapse::core {

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument, "hex string has an odd number of digits");
  }
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int high = hex_value(hex[2 * i]);
    int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "invalid hex digit at position " + std::to_string(high < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return out;
}

void append_varint(Bytes& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value) | 0x80);
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

Result<uint64_t> read_varint(ByteView& in) {
  uint64_t value = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i >= in.size()) return make_error(ErrorCode::kInvalidArgument, "truncated varint");
    uint8_t byte = in[i];
    if (i == 9 && byte > 1)
      return make_error(ErrorCode::kInvalidArgument, "varint overflows 64 bits");
    value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in = in.subspan(i + 1);
      return value;
    }
  }
  return make_error(ErrorCode::kInvalidArgument, "varint longer than 10 bytes");
}

}  // namespace synapse::core
