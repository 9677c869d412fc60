// Membership certificates from an optional swarm CA, and the CA's revocation lists.
//
// A certificate binds a node ID (SHA-256 of the node's Ed25519 key; the handshake proves the
// key, so binding the ID is equivalent) to a human name, a set of roles and a validity period,
// signed with the CA's Ed25519 key. A revocation list is a CA-signed set of revoked node IDs and
// serials with a sequence number; a list with a higher sequence replaces one with a lower.
//
// Binary forms, text armor, bounds and policy rules: docs/certificates.md. Every decoder here
// is strict (one encoding per value, no trailing bytes) and bounded, so whatever decodes
// re-encodes to the same bytes. Time is always a parameter (Unix seconds, UTC); nothing here
// reads a clock. Certificate and RevocationList are plain values; the free functions are
// thread-safe; CertificateAuthority's const methods are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"
#include "synapse/core/rng.h"
#include "synapse/crypto/identity.h"

namespace synapse::crypto {

// Bounds enforced by the encoders, the decoders and CertificateAuthority.
inline constexpr size_t kMaxCertificateSize = 3072;
inline constexpr size_t kMaxCertificateNameSize = 255;
inline constexpr size_t kMaxCertificateRoles = 32;
inline constexpr size_t kMaxRoleSize = 64;
inline constexpr size_t kMaxRevocationEntries = 100'000;
// Header, signature and 100,000 node IDs fit with room to spare.
inline constexpr size_t kMaxRevocationListSize = 4 * 1024 * 1024;
// Largest armored file accepted: base64 of the largest binary form plus line breaks.
inline constexpr size_t kMaxCertificateFileSize = 8 * 1024;
inline constexpr size_t kMaxRevocationListFileSize = 6 * 1024 * 1024;

struct Certificate {
  static constexpr uint32_t kVersion = 1;

  uint32_t version = kVersion;
  NodeId node_id;
  // 1 to 255 bytes of UTF-8 without control characters.
  std::string name;
  // At most 32 names of 1 to 64 characters from [a-z0-9_-], sorted, without duplicates.
  std::vector<std::string> roles;
  // Valid from not_before (inclusive) until not_after (exclusive); not_before < not_after.
  int64_t not_before = 0;
  int64_t not_after = 0;
  uint64_t serial = 0;
  Ed25519PublicKey issuer{};  // the CA's public key
  Ed25519Signature signature{};

  bool has_role(std::string_view role) const;

  // The bytes the signature covers: the whole encoding except the trailing signature, which
  // starts with the domain-separation prefix "synapse cert v1".
  core::Bytes signed_bytes() const;
  // The binary form (signed_bytes() followed by the signature). SYNAPSE_CHECKs that the fields
  // are within the bounds above; values from decode() or CertificateAuthority::sign() are.
  core::Bytes encode() const;
  // Parses the binary form. Errors (kInvalidArgument, or kUnsupported for another version)
  // name the first problem in one line. Does not check the signature: see verify_certificate().
  static core::Result<Certificate> decode(core::ByteView bytes);

  // The file form: "-----BEGIN SYNAPSE CERTIFICATE-----", base64 in 64-character lines,
  // "-----END SYNAPSE CERTIFICATE-----", each line ending in "\n".
  std::string to_armored() const;
  // Parses the file form; surrounding whitespace and "\r\n" line ends are accepted.
  static core::Result<Certificate> from_armored(std::string_view text);
  // Reads and parses a certificate file; errors name the path.
  static core::Result<Certificate> load(core::Env& env, const std::filesystem::path& path);

  friend bool operator==(const Certificate&, const Certificate&) = default;
};

struct RevocationList {
  static constexpr uint32_t kVersion = 1;

  uint32_t version = kVersion;
  Ed25519PublicKey issuer{};  // the CA's public key
  // Starts at 1 and grows by one with every list the CA issues.
  uint64_t sequence = 0;
  int64_t issued_at = 0;
  // Sorted, without duplicates; together at most kMaxRevocationEntries.
  std::vector<NodeId> node_ids;
  std::vector<uint64_t> serials;
  Ed25519Signature signature{};

  // True if the certificate's node ID or its serial is listed.
  bool revokes(const Certificate& certificate) const;
  bool revokes_node(const NodeId& node_id) const;
  bool revokes_serial(uint64_t serial) const;

  // As for Certificate; the signed bytes start with "synapse crl v1".
  core::Bytes signed_bytes() const;
  core::Bytes encode() const;
  static core::Result<RevocationList> decode(core::ByteView bytes);
  // Armor "SYNAPSE REVOCATION LIST".
  std::string to_armored() const;
  static core::Result<RevocationList> from_armored(std::string_view text);
  static core::Result<RevocationList> load(core::Env& env, const std::filesystem::path& path);

  friend bool operator==(const RevocationList&, const RevocationList&) = default;
};

// Checks a certificate against the CA key, the time and an optional revocation list (which the
// caller has verified with verify_revocation_list()). Checks run in this order and the first
// failure is returned as kPermissionDenied with a one-line message:
//   "certificate for 1a2b3c4d is signed by an unknown CA (ed25519:...)",
//   "... has a bad signature", "... is revoked (serial N)", "... is not yet valid (valid from
//   2026-11-01)", "... expired on 2026-11-01".
core::Status verify_certificate(const Certificate& certificate, const Ed25519PublicKey& ca,
                                int64_t now, const RevocationList* revocation_list);
// As above, after the signature checks also requires the certificate to name `node_id`
// ("certificate for 1a2b3c4d was issued for another node, not 5e6f7a8b").
core::Status verify_certificate_for(const NodeId& node_id, const Certificate& certificate,
                                    const Ed25519PublicKey& ca, int64_t now,
                                    const RevocationList* revocation_list);
// Checks that a revocation list was issued and signed by `ca` (kPermissionDenied otherwise).
core::Status verify_revocation_list(const RevocationList& list, const Ed25519PublicKey& ca);

// The CA: an Ed25519 key kept offline, away from the nodes. Same PKCS#8 PEM file form as a
// node identity.
class CertificateAuthority {
 public:
  static CertificateAuthority generate(core::Rng& rng);
  static core::Result<CertificateAuthority> load(core::Env& env, const std::filesystem::path& path);
  // Writes the key as PKCS#8 PEM, mode 0600; an existing file is never replaced
  // (kAlreadyExists).
  core::Status save(core::Env& env, const std::filesystem::path& path) const;

  const Ed25519PublicKey& public_key() const { return key_.public_key(); }

  // Issues a certificate. Roles are sorted and duplicates dropped. Errors (kInvalidArgument):
  // empty, too long or control characters in the name, a bad role name, too many roles,
  // not_before >= not_after.
  core::Result<Certificate> sign(const NodeId& node_id, std::string_view name,
                                 std::vector<std::string> roles, int64_t not_before,
                                 int64_t not_after, uint64_t serial) const;

  // Issues the next revocation list: the entries of `previous` (if any; it must be this CA's,
  // kPermissionDenied otherwise) plus the given ones, with sequence previous + 1 (or 1).
  // Errors: more than kMaxRevocationEntries entries (kInvalidArgument).
  core::Result<RevocationList> revoke(const RevocationList* previous,
                                      const std::vector<NodeId>& node_ids,
                                      const std::vector<uint64_t>& serials,
                                      int64_t issued_at) const;

 private:
  explicit CertificateAuthority(NodeIdentity key) : key_(std::move(key)) {}
  NodeIdentity key_;
};

// Public keys as text: "ed25519:" followed by 64 hex digits (lower case when formatted; either
// case parsed).
std::string format_public_key(const Ed25519PublicKey& key);
core::Result<Ed25519PublicKey> parse_public_key(std::string_view text);

// Checks one role name: 1 to 64 characters from [a-z0-9_-].
core::Status check_role_name(std::string_view role);

// UTC calendar forms of Unix seconds, for messages and human output: "2026-11-01" and
// "2026-11-01T08:30:00Z". Defined for every int64_t.
std::string format_utc_date(int64_t unix_seconds);
std::string format_utc_time(int64_t unix_seconds);

}  // namespace synapse::crypto
