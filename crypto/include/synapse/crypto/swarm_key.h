// The swarm key: a 32-byte pre-shared secret in the IPFS private-network file format
//
//   /key/swarm/psk/1.0.0/
//   /base16/            (or /base64/ or /bin/)
//   <64 hex digits>     (or base64 of 32 bytes, or the 32 raw bytes)
//
// so the same file works with IPFS tools. The key itself is never logged or printed by
// Synapse except by to_file_text(). Thread-safe (immutable after construction).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "synapse/core/bytes.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"

namespace synapse::crypto {

class SwarmKey {
 public:
  static constexpr size_t kSize = 32;
  // Largest file we read: the header lines plus base64 of 32 bytes and some whitespace.
  static constexpr size_t kMaxFileSize = 1024;

  static SwarmKey generate(core::Rng& rng);
  // Parses the file text. Errors name the problem in one line: missing or wrong header, unknown
  // encoding line, bad digits, wrong key length.
  static core::Result<SwarmKey> parse(core::ByteView file_text);
  static core::Result<SwarmKey> load(core::Env& env, const std::filesystem::path& path);

  // The /base16/ form, ending in a newline.
  std::string to_file_text() const;
  const std::array<uint8_t, kSize>& secret() const { return secret_; }
  // A public fingerprint safe to print and log: the first 8 bytes, in hex, of
  // SHA-256("synapse swarm id v1" || key). Nodes with the same key show the same ID.
  std::string id() const;

  ~SwarmKey();
  SwarmKey(const SwarmKey&) = default;
  SwarmKey& operator=(const SwarmKey&) = default;

 private:
  explicit SwarmKey(const std::array<uint8_t, kSize>& secret) : secret_(secret) {}
  std::array<uint8_t, kSize> secret_{};
};

}  // namespace synapse::crypto
