// Handshake patterns and protocol names (Noise revision 34, sections 7, 8 and 9).
#include <algorithm>
#include <string>
#include <vector>

#include "synapse/crypto/noise.h"
#include "text_util.h"

namespace synapse::crypto {

namespace {

// A pattern as the specification writes it: pre-messages, then the messages, each starting
// with its direction ("->" initiator to responder, "<-" back) and separated by '|'.
struct PatternText {
  std::string_view name;
  std::string_view initiator_premessage;
  std::string_view responder_premessage;
  std::string_view messages;
};

constexpr PatternText kPatterns[] = {
    // One-way (7.4).
    {"N", "", "s", "-> e, es"},
    {"K", "s", "s", "-> e, es, ss"},
    {"X", "", "s", "-> e, es, s, ss"},
    // Interactive fundamental patterns (7.5).
    {"NN", "", "", "-> e | <- e, ee"},
    {"NK", "", "s", "-> e, es | <- e, ee"},
    {"NX", "", "", "-> e | <- e, ee, s, es"},
    {"XN", "", "", "-> e | <- e, ee | -> s, se"},
    {"XK", "", "s", "-> e, es | <- e, ee | -> s, se"},
    {"XX", "", "", "-> e | <- e, ee, s, es | -> s, se"},
    {"KN", "s", "", "-> e | <- e, ee, se"},
    {"KK", "s", "s", "-> e, es, ss | <- e, ee, se"},
    {"KX", "s", "", "-> e | <- e, ee, se, s, es"},
    {"IN", "", "", "-> e, s | <- e, ee, se"},
    {"IK", "", "s", "-> e, es, s, ss | <- e, ee, se"},
    {"IX", "", "", "-> e, s | <- e, ee, se, s, es"},
    // Deferred patterns (7.6).
    {"NK1", "", "s", "-> e | <- e, ee, es"},
    {"NX1", "", "", "-> e | <- e, ee, s | -> es"},
    {"X1N", "", "", "-> e | <- e, ee | -> s | <- se"},
    {"X1K", "", "s", "-> e, es | <- e, ee | -> s | <- se"},
    {"XK1", "", "s", "-> e | <- e, ee, es | -> s, se"},
    {"X1K1", "", "s", "-> e | <- e, ee, es | -> s | <- se"},
    {"X1X", "", "", "-> e | <- e, ee, s, es | -> s | <- se"},
    {"XX1", "", "", "-> e | <- e, ee, s | -> es, s, se"},
    {"X1X1", "", "", "-> e | <- e, ee, s | -> es, s | <- se"},
    {"K1N", "s", "", "-> e | <- e, ee | -> se"},
    {"K1K", "s", "s", "-> e, es | <- e, ee | -> se"},
    {"KK1", "s", "s", "-> e | <- e, ee, se, es"},
    {"K1K1", "s", "s", "-> e | <- e, ee, es | -> se"},
    {"K1X", "s", "", "-> e | <- e, ee, s, es | -> se"},
    {"KX1", "s", "", "-> e | <- e, ee, se, s | -> es"},
    {"K1X1", "s", "", "-> e | <- e, ee, s | -> se, es"},
    {"I1N", "", "", "-> e, s | <- e, ee | -> se"},
    {"I1K", "", "s", "-> e, es, s | <- e, ee | -> se"},
    {"IK1", "", "s", "-> e, s | <- e, ee, se, es"},
    {"I1K1", "", "s", "-> e, s | <- e, ee, es | -> se"},
    {"I1X", "", "", "-> e, s | <- e, ee, s, es | -> se"},
    {"IX1", "", "", "-> e, s | <- e, ee, se, s | -> es"},
    {"I1X1", "", "", "-> e, s | <- e, ee, s | -> se, es"},
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

// Splits `text` at every `separator`.
std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t end = text.find(separator);
    parts.push_back(text.substr(0, end));
    if (end == std::string_view::npos) return parts;
    text.remove_prefix(end + 1);
  }
}

// The table above is constant, so a token it cannot parse is a bug in the table.
NoiseToken token_of(std::string_view text) {
  if (text == "e") return NoiseToken::kE;
  if (text == "s") return NoiseToken::kS;
  if (text == "ee") return NoiseToken::kEe;
  if (text == "es") return NoiseToken::kEs;
  if (text == "se") return NoiseToken::kSe;
  if (text == "ss") return NoiseToken::kSs;
  core::check_failed("known token", __FILE__, __LINE__, std::string(text));
}

std::vector<NoiseToken> tokens_of(std::string_view text) {
  std::vector<NoiseToken> tokens;
  text = trim(text);
  if (text.empty()) return tokens;
  for (std::string_view token : split(text, ',')) tokens.push_back(token_of(trim(token)));
  return tokens;
}

NoisePattern expand(const PatternText& text) {
  NoisePattern pattern;
  pattern.name = std::string(text.name);
  pattern.initiator_premessage = tokens_of(text.initiator_premessage);
  pattern.responder_premessage = tokens_of(text.responder_premessage);
  std::vector<std::string_view> messages = split(text.messages, '|');
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string_view message = trim(messages[i]);
    std::string_view arrow = i % 2 == 0 ? "->" : "<-";
    SYNAPSE_CHECK(message.starts_with(arrow), "pattern messages alternate, starting with ->");
    message.remove_prefix(arrow.size());
    pattern.messages.push_back(tokens_of(message));
  }
  return pattern;
}

core::Error invalid(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument, "noise: " + std::move(message));
}

// Applies one modifier ("psk0", "psk2", ...) to `pattern` (section 9.2: psk0 goes first in
// the first message, pskN last in the N-th message).
core::Status apply_modifier(std::string_view modifier, NoisePattern& pattern,
                            std::vector<bool>& used_psk_positions) {
  if (modifier == "fallback") {
    return core::make_error(core::ErrorCode::kUnsupported,
                            "noise: the fallback modifier is not supported");
  }
  constexpr std::string_view kPsk = "psk";
  std::string_view digits = modifier.substr(std::min(modifier.size(), kPsk.size()));
  if (!modifier.starts_with(kPsk) || digits.empty() || digits.size() > 2 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (digits.size() > 1 && digits[0] == '0')) {
    return tl::unexpected(invalid("unknown pattern modifier " + quote_text(modifier)));
  }
  size_t position = std::stoul(std::string(digits));
  if (position > pattern.messages.size()) {
    return tl::unexpected(invalid("modifier " + std::string(modifier) + " is past the pattern's " +
                                  std::to_string(pattern.messages.size()) + " messages"));
  }
  if (used_psk_positions[position]) {
    return tl::unexpected(invalid("modifier " + std::string(modifier) + " appears twice"));
  }
  used_psk_positions[position] = true;
  if (position == 0) {
    auto& first = pattern.messages.front();
    first.insert(first.begin(), NoiseToken::kPsk);
  } else {
    pattern.messages[position - 1].push_back(NoiseToken::kPsk);
  }
  ++pattern.psk_count;
  return core::ok();
}

}  // namespace

core::Result<NoisePattern> NoisePattern::parse(std::string_view name) {
  if (name.size() > kNoiseMaxProtocolNameSize) {
    return tl::unexpected(invalid("pattern name is too long"));
  }
  size_t modifiers_start = name.find_first_of("abcdefghijklmnopqrstuvwxyz");
  std::string_view base = name.substr(0, modifiers_start);
  const PatternText* text = nullptr;
  for (const PatternText& candidate : kPatterns) {
    if (candidate.name == base) text = &candidate;
  }
  if (text == nullptr)
    return tl::unexpected(invalid("unknown handshake pattern " + quote_text(base)));
  NoisePattern pattern = expand(*text);
  if (modifiers_start != std::string_view::npos) {
    std::vector<bool> used_psk_positions(pattern.messages.size() + 1, false);
    for (std::string_view modifier : split(name.substr(modifiers_start), '+')) {
      SYNAPSE_RETURN_IF_ERROR(apply_modifier(modifier, pattern, used_psk_positions));
    }
  }
  pattern.name = std::string(name);
  return pattern;
}

core::Result<NoiseProtocol> NoiseProtocol::parse(std::string_view name) {
  if (name.size() > kNoiseMaxProtocolNameSize) {
    return tl::unexpected(invalid("protocol name is " + std::to_string(name.size()) +
                                  " characters, longer than " +
                                  std::to_string(kNoiseMaxProtocolNameSize)));
  }
  std::vector<std::string_view> parts = split(name, '_');
  if (parts.size() != 5 || parts[0] != "Noise") {
    return tl::unexpected(
        invalid("protocol name " + quote_text(name) + " is not Noise_PATTERN_DH_CIPHER_HASH"));
  }
  NoiseProtocol protocol;
  protocol.name = std::string(name);
  if (parts[2] == "448") {
    return core::make_error(core::ErrorCode::kUnsupported, "noise: DH 448 is not supported");
  }
  if (parts[2] != "25519") {
    return tl::unexpected(invalid("unknown DH function " + quote_text(parts[2])));
  }
  if (parts[3] == "ChaChaPoly") {
    protocol.cipher = NoiseCipher::kChaChaPoly;
  } else if (parts[3] == "AESGCM") {
    protocol.cipher = NoiseCipher::kAesGcm;
  } else {
    return tl::unexpected(invalid("unknown cipher " + quote_text(parts[3])));
  }
  if (parts[4] == "SHA256") {
    protocol.hash = NoiseHash::kSha256;
  } else if (parts[4] == "SHA512") {
    protocol.hash = NoiseHash::kSha512;
  } else if (parts[4] == "BLAKE2b") {
    protocol.hash = NoiseHash::kBlake2b;
  } else if (parts[4] == "BLAKE2s") {
    return core::make_error(core::ErrorCode::kUnsupported, "noise: hash BLAKE2s is not supported");
  } else {
    return tl::unexpected(invalid("unknown hash function " + quote_text(parts[4])));
  }
  SYNAPSE_ASSIGN_OR_RETURN(protocol.pattern, NoisePattern::parse(parts[1]));
  return protocol;
}

size_t noise_hash_size(NoiseHash hash) { return hash == NoiseHash::kSha256 ? 32 : 64; }

}  // namespace synapse::crypto
