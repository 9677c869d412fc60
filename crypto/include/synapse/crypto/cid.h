// Content identifiers (https://github.com/multiformats/cid), restricted to what Synapse stores:
// CIDv0 and CIDv1, codecs raw (0x55) and dag-pb (0x70), multihash sha2-256 (0x12, 32 bytes).
// Text form: CIDv0 is base58btc without prefix ("Qm..."), CIDv1 is multibase base32 lower
// ("b..."). Cid is a small value type; all methods are thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/hash.h"

namespace synapse::crypto {

enum class Codec : uint64_t {
  kRaw = 0x55,
  kDagPb = 0x70,
};

std::string_view codec_name(Codec codec);  // "raw", "dag-pb"

class Cid {
 public:
  // Longest text form we accept; longer input is rejected before decoding.
  static constexpr size_t kMaxTextSize = 128;
  // Longest binary form we accept.
  static constexpr size_t kMaxBinarySize = 64;

  // CIDv0: always dag-pb.
  static Cid v0(const Sha256Digest& digest);
  static Cid v1(Codec codec, const Sha256Digest& digest);
  // Hashes `data` and returns its CID. Version 0 requires codec dag-pb (checked).
  static Cid of(int version, Codec codec, core::ByteView data);

  // Parses a text CID; accepts "Qm..." (v0) and "b..." (v1 base32). Errors name the problem:
  // unknown multibase prefix, bad base58/base32 digit, unsupported codec or hash, truncated.
  static core::Result<Cid> parse(std::string_view text);
  // Parses the binary form (v0: the bare multihash; v1: varint version, codec, multihash);
  // the whole input must be consumed.
  static core::Result<Cid> from_bytes(core::ByteView bytes);

  int version() const { return version_; }
  Codec codec() const { return codec_; }
  const Sha256Digest& digest() const { return digest_; }

  std::string to_string() const;
  core::Bytes to_bytes() const;
  // The same content as CIDv1 (v0 dag-pb becomes v1 dag-pb); the block store's key form.
  Cid to_v1() const { return v1(codec_, digest_); }

  // True if sha2-256(data) equals this CID's digest.
  bool matches(core::ByteView data) const;

  friend bool operator==(const Cid&, const Cid&) = default;
  friend auto operator<=>(const Cid&, const Cid&) = default;

 private:
  Cid(int version, Codec codec, const Sha256Digest& digest)
      : version_(version), codec_(codec), digest_(digest) {}

  int version_;
  Codec codec_;
  Sha256Digest digest_;
};

}  // namespace synapse::crypto

template <>
struct std::hash<synapse::crypto::Cid> {
  size_t operator()(const synapse::crypto::Cid& cid) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= sizeof(synapse::crypto::Sha256Digest));
    std::memcpy(&h, cid.digest().data(), sizeof(h));
    return h ^ static_cast<size_t>(cid.codec()) ^ static_cast<size_t>(cid.version());
  }
};
