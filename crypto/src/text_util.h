// Helpers for error messages about text that came from outside (a user, a file, a peer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synapse::crypto {

// Quotes one character for an error message: "'x'" if printable ASCII, else "byte 0x0a", so
// that a message stays one printable line whatever the input held.
inline std::string quote_char(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + c + "'";
  static constexpr char kDigits[] = "0123456789abcdef";
  auto byte = static_cast<uint8_t>(c);
  return std::string("byte 0x") + kDigits[byte >> 4] + kDigits[byte & 0xf];
}

// Quotes a short piece of text for an error message: printable ASCII is kept, anything else
// becomes '?', and text longer than `max_size` is cut and marked with "...".
inline std::string quote_text(std::string_view text, size_t max_size = 32) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < max_size; ++i) {
    out += text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
  }
  if (text.size() > max_size) out += "...";
  return out + "'";
}

}  // namespace synapse::crypto
