// Node identity: an Ed25519 key pair. The node ID is SHA-256 of the 32-byte public key, so a
// node cannot choose its ID. On disk the key is PKCS#8 PEM (readable by `openssl pkey`), mode
// 0600. All const methods are thread-safe.
#pragma once

#include <array>
#include <compare>
#include <filesystem>
#include <memory>
#include <string>

#include "synapse/core/bytes.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"

namespace synapse::crypto {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

class NodeId {
 public:
  static constexpr size_t kSize = 32;
  NodeId() = default;
  explicit NodeId(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}
  static NodeId of_public_key(const Ed25519PublicKey& key);
  // Parses 64 hex digits.
  static core::Result<NodeId> parse(std::string_view hex);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  std::string to_hex() const;
  // First 8 hex digits, for logs and human output.
  std::string short_id() const;

  friend bool operator==(const NodeId&, const NodeId&) = default;
  friend auto operator<=>(const NodeId&, const NodeId&) = default;

 private:
  std::array<uint8_t, kSize> bytes_{};
};

class NodeIdentity {
 public:
  static NodeIdentity generate(core::Rng& rng);
  // From the 32-byte Ed25519 seed (RFC 8032 private key).
  static core::Result<NodeIdentity> from_seed(core::ByteView seed);
  // Reads a PKCS#8 PEM Ed25519 key. Errors: not found, not PEM, not Ed25519, bad key.
  static core::Result<NodeIdentity> load(core::Env& env, const std::filesystem::path& path);

  // Writes the key as PKCS#8 PEM with mode 0600; refuses to replace an existing file unless
  // `overwrite`.
  core::Status save(core::Env& env, const std::filesystem::path& path, bool overwrite) const;

  const Ed25519PublicKey& public_key() const { return public_key_; }
  const NodeId& node_id() const { return node_id_; }
  Ed25519Signature sign(core::ByteView message) const;

  NodeIdentity(NodeIdentity&&) noexcept;
  NodeIdentity& operator=(NodeIdentity&&) noexcept;
  ~NodeIdentity();

 private:
  struct Key;
  explicit NodeIdentity(std::unique_ptr<Key> key);

  std::unique_ptr<Key> key_;
  Ed25519PublicKey public_key_{};
  NodeId node_id_;
};

bool verify_signature(const Ed25519PublicKey& key, core::ByteView message,
                      const Ed25519Signature& signature);

}  // namespace synapse::crypto
