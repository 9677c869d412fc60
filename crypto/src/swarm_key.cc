#include "synapse/crypto/swarm_key.h"

#include <botan/base64.h>
#include <botan/mem_ops.h>

#include <exception>
#include <optional>

#include "synapse/crypto/hash.h"
#include "text_util.h"

namespace synapse::crypto {

namespace {

constexpr std::string_view kHeader = "/key/swarm/psk/1.0.0/";
constexpr std::string_view kIdContext = "synapse swarm id v1";
constexpr std::string_view kWhitespace = " \t\r\n";

core::Error invalid(std::string_view problem) {
  return core::Error(core::ErrorCode::kInvalidArgument, "swarm key: " + std::string(problem));
}

core::Error wrong_size(size_t size) {
  return invalid("key is " + std::to_string(size) + " bytes, expected 32");
}

// Splits off the first line of `text` (without its "\n" or "\r\n"); nullopt if there is no
// newline.
std::optional<std::string_view> take_line(std::string_view& text) {
  size_t end = text.find('\n');
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view line = text.substr(0, end);
  text.remove_prefix(end + 1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

std::string_view trim_trailing_whitespace(std::string_view text) {
  size_t end = text.find_last_not_of(kWhitespace);
  return end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

core::Status decode_base16(std::string_view text, std::array<uint8_t, SwarmKey::kSize>& key) {
  text = trim_trailing_whitespace(text);
  for (size_t i = 0; i < text.size(); ++i) {
    if (hex_value(text[i]) < 0) {
      return tl::unexpected(invalid("invalid hex digit " + quote_char(text[i]) + " at position " +
                                    std::to_string(i) + " of the key"));
    }
  }
  if (text.size() % 2 != 0) {
    return tl::unexpected(
        invalid("key has an odd number of hex digits (" + std::to_string(text.size()) + ")"));
  }
  if (text.size() != 2 * key.size()) return tl::unexpected(wrong_size(text.size() / 2));
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<uint8_t>(hex_value(text[2 * i]) << 4 | hex_value(text[2 * i + 1]));
  }
  return core::ok();
}

core::Status decode_base64(std::string_view text, std::array<uint8_t, SwarmKey::kSize>& key) {
  text = trim_trailing_whitespace(text);
  Botan::secure_vector<uint8_t> decoded;
  try {
    decoded = Botan::base64_decode(text.data(), text.size(), /*ignore_ws=*/false);
  } catch (const std::exception&) {
    return tl::unexpected(invalid("invalid base64 in the key"));
  }
  if (decoded.size() != key.size()) return tl::unexpected(wrong_size(decoded.size()));
  std::copy(decoded.begin(), decoded.end(), key.begin());
  return core::ok();
}

core::Status decode_bin(std::string_view text, std::array<uint8_t, SwarmKey::kSize>& key) {
  if (text.size() != key.size()) return tl::unexpected(wrong_size(text.size()));
  std::copy(text.begin(), text.end(), key.begin());
  return core::ok();
}

}  // namespace

SwarmKey::~SwarmKey() { Botan::secure_scrub_memory(secret_.data(), secret_.size()); }

SwarmKey SwarmKey::generate(core::Rng& rng) {
  std::array<uint8_t, kSize> secret;
  rng.fill(secret);
  SwarmKey key(secret);
  Botan::secure_scrub_memory(secret.data(), secret.size());
  return key;
}

core::Result<SwarmKey> SwarmKey::parse(core::ByteView file_text) {
  if (file_text.size() > kMaxFileSize) {
    return tl::unexpected(invalid("file is " + std::to_string(file_text.size()) +
                                  " bytes, larger than " + std::to_string(kMaxFileSize)));
  }
  std::string_view text = core::as_chars(file_text);
  std::optional<std::string_view> header = take_line(text);
  if (!header || *header != kHeader) {
    return tl::unexpected(invalid("missing header " + std::string(kHeader)));
  }
  std::optional<std::string_view> encoding = take_line(text);
  if (!encoding) return tl::unexpected(invalid("missing encoding line after the header"));
  std::array<uint8_t, kSize> secret;
  core::Status decoded;
  if (*encoding == "/base16/") {
    decoded = decode_base16(text, secret);
  } else if (*encoding == "/base64/") {
    decoded = decode_base64(text, secret);
  } else if (*encoding == "/bin/") {
    decoded = decode_bin(text, secret);
  } else {
    return tl::unexpected(invalid("unknown encoding " + quote_text(*encoding) +
                                  " (expected /base16/, /base64/ or /bin/)"));
  }
  if (!decoded) return tl::unexpected(decoded.error());
  SwarmKey key(secret);
  Botan::secure_scrub_memory(secret.data(), secret.size());
  return key;
}

core::Result<SwarmKey> SwarmKey::load(core::Env& env, const std::filesystem::path& path) {
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes file, env.read_file(path, kMaxFileSize));
  auto key = parse(file);
  Botan::secure_scrub_memory(file.data(), file.size());
  if (!key) return tl::unexpected(key.error().with_context(path.string()));
  return key;
}

std::string SwarmKey::to_file_text() const {
  return std::string(kHeader) + "\n/base16/\n" + core::to_hex(secret_) + "\n";
}

std::string SwarmKey::id() const {
  Sha256 hash;
  hash.update(core::as_bytes(kIdContext));
  hash.update(secret_);
  Sha256Digest digest = hash.finish();
  return core::to_hex(core::ByteView(digest).first(8));
}

}  // namespace synapse::crypto
