#include "synapse/crypto/multibase.h"

#include <botan/base58.h>

#include <array>
#include <exception>

#include "multibase_internal.h"
#include "text_util.h"

namespace synapse::crypto {

namespace {

constexpr std::string_view kBase58Alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view kBase32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

// Maps a character to its base32 digit value, or -1.
constexpr std::array<int8_t, 256> base32_table() {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (size_t i = 0; i < kBase32Alphabet.size(); ++i) {
    table[static_cast<uint8_t>(kBase32Alphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}
constexpr std::array<int8_t, 256> kBase32Values = base32_table();

core::Error invalid_character(std::string_view base, char c, size_t position,
                              std::string_view hint = {}) {
  std::string message = "invalid " + std::string(base) + " character " + quote_char(c) +
                        " at position " + std::to_string(position);
  if (!hint.empty()) message += " (" + std::string(hint) + ")";
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

namespace internal {

core::Result<core::Bytes> base58btc_decode(std::string_view text, size_t offset) {
  // Botan's error does not say which character is wrong; check first so that ours does.
  for (size_t i = 0; i < text.size(); ++i) {
    if (kBase58Alphabet.find(text[i]) == std::string_view::npos) {
      return tl::unexpected(invalid_character("base58", text[i], offset + i));
    }
  }
  try {
    std::vector<uint8_t> bytes = Botan::base58_decode(text.data(), text.size());
    return core::Bytes(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            std::string("invalid base58: ") + e.what());
  }
}

core::Result<core::Bytes> base32_lower_decode(std::string_view text, size_t offset) {
  core::Bytes out;
  out.reserve(text.size() * 5 / 8);
  uint32_t buffer = 0;  // the bits not yet emitted; fewer than 8 between iterations
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    int8_t value = kBase32Values[static_cast<uint8_t>(c)];
    if (value < 0) {
      std::string_view hint;
      if (c >= 'A' && c <= 'Z') hint = "base32 here is lower case";
      if (c == '=') hint = "base32 here has no padding";
      return tl::unexpected(invalid_character("base32", c, offset + i, hint));
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(buffer >> bits));
      buffer &= (1u << bits) - 1;
    }
  }
  // Whole bytes leave at most 4 bits over; 5 or more means a length of 1, 3 or 6 (mod 8),
  // which no byte string encodes to.
  if (bits >= 5) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "invalid base32 length " + std::to_string(text.size()));
  }
  if (buffer != 0) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "base32 text has non-zero trailing bits");
  }
  return out;
}

}  // namespace internal

std::string base58btc_encode(core::ByteView data) {
  return Botan::base58_encode(data.data(), data.size());
}

core::Result<core::Bytes> base58btc_decode(std::string_view text) {
  return internal::base58btc_decode(text, 0);
}

std::string base32_lower_encode(core::ByteView data) {
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  uint32_t buffer = 0;  // the bits not yet emitted; fewer than 5 between bytes
  int bits = 0;
  for (uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kBase32Alphabet[(buffer >> bits) & 0x1f];
    }
    buffer &= (1u << bits) - 1;
  }
  if (bits > 0) out += kBase32Alphabet[buffer << (5 - bits)];
  return out;
}

core::Result<core::Bytes> base32_lower_decode(std::string_view text) {
  return internal::base32_lower_decode(text, 0);
}

}  // namespace synapse::crypto
