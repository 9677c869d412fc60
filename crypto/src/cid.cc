#include "synapse/crypto/cid.h"

#include <algorithm>
#include <utility>

#include "multibase_internal.h"
#include "synapse/crypto/multibase.h"
#include "text_util.h"

namespace synapse::crypto {

namespace {

constexpr uint64_t kCidV1 = 1;
constexpr uint64_t kSha2_256 = 0x12;
constexpr size_t kCidV0TextSize = 46;

core::Error invalid(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

std::string hex_code(uint64_t code) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string digits;
  do {
    digits.insert(digits.begin(), kDigits[code & 0xf]);
    code >>= 4;
  } while (code != 0);
  if (digits.size() % 2 != 0) digits.insert(digits.begin(), '0');
  return "0x" + digits;
}

// Reads one varint of a CID. Multiformats varints must be minimally encoded, so that every
// CID has exactly one binary form.
core::Result<uint64_t> read_cid_varint(core::ByteView& in, std::string_view what) {
  core::ByteView start = in;
  auto value = core::read_varint(in);
  if (!value) return tl::unexpected(value.error().with_context(what));
  size_t used = start.size() - in.size();
  if (used > 1 && start[used - 1] == 0) {
    return tl::unexpected(invalid(std::string(what) + ": varint is not minimally encoded"));
  }
  return *value;
}

// Reads a sha2-256 multihash (code, length, digest) from the front of `in`.
core::Result<Sha256Digest> read_multihash(core::ByteView& in) {
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t code, read_cid_varint(in, "multihash code"));
  if (code != kSha2_256) return tl::unexpected(invalid("unsupported multihash " + hex_code(code)));
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, read_cid_varint(in, "multihash length"));
  Sha256Digest digest;
  if (size != digest.size()) {
    return tl::unexpected(
        invalid("sha2-256 digest length is " + std::to_string(size) + " bytes, expected 32"));
  }
  if (in.size() < digest.size()) {
    return tl::unexpected(
        invalid("truncated CID: digest has " + std::to_string(in.size()) + " of 32 bytes"));
  }
  std::copy_n(in.begin(), digest.size(), digest.begin());
  in = in.subspan(digest.size());
  return digest;
}

core::Status expect_end(core::ByteView rest) {
  if (rest.empty()) return core::ok();
  return tl::unexpected(invalid("CID has " + std::to_string(rest.size()) + " trailing bytes"));
}

// The common multibase prefixes that we do not accept, named in the error message.
constexpr std::pair<char, std::string_view> kOtherMultibases[] = {
    {'f', "base16"},         {'F', "base16upper"}, {'B', "base32upper"},    {'c', "base32pad"},
    {'C', "base32padupper"}, {'v', "base32hex"},   {'V', "base32hexupper"}, {'h', "base32z"},
    {'k', "base36"},         {'K', "base36upper"}, {'Z', "base58flickr"},   {'m', "base64"},
    {'M', "base64pad"},      {'u', "base64url"},   {'U', "base64urlpad"},
};

core::Result<Cid> parse_v1_text(std::string_view text, std::string_view base) {
  // Positions in digit errors count the one-character prefix.
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, base == "base32"
                                                  ? internal::base32_lower_decode(text, 1)
                                                  : internal::base58btc_decode(text, 1));
  SYNAPSE_ASSIGN_OR_RETURN(Cid cid, Cid::from_bytes(bytes));
  if (cid.version() != 1) {
    return tl::unexpected(
        invalid("CIDv0 in multibase " + std::string(base) + " (CIDv0 text is bare base58btc)"));
  }
  return cid;
}

}  // namespace

std::string_view codec_name(Codec codec) {
  switch (codec) {
    case Codec::kRaw:
      return "raw";
    case Codec::kDagPb:
      return "dag-pb";
  }
  return "unknown";
}

Cid Cid::v0(const Sha256Digest& digest) { return Cid(0, Codec::kDagPb, digest); }

Cid Cid::v1(Codec codec, const Sha256Digest& digest) { return Cid(1, codec, digest); }

Cid Cid::of(int version, Codec codec, core::ByteView data) {
  SYNAPSE_CHECK(version == 0 || version == 1, "CID version must be 0 or 1");
  SYNAPSE_CHECK(version == 1 || codec == Codec::kDagPb, "CIDv0 is always dag-pb");
  return Cid(version, codec, sha256(data));
}

core::Result<Cid> Cid::parse(std::string_view text) {
  if (text.empty()) return tl::unexpected(invalid("empty CID"));
  if (text.size() > kMaxTextSize) {
    return tl::unexpected(invalid("CID is " + std::to_string(text.size()) +
                                  " characters, longer than " + std::to_string(kMaxTextSize)));
  }
  if (text.starts_with("Qm")) {
    if (text.size() != kCidV0TextSize) {
      return tl::unexpected(invalid("CIDv0 \"Qm...\" is " + std::to_string(text.size()) +
                                    " characters, expected 46"));
    }
    SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, base58btc_decode(text));
    core::ByteView rest = bytes;
    SYNAPSE_ASSIGN_OR_RETURN(Sha256Digest digest, read_multihash(rest));
    SYNAPSE_RETURN_IF_ERROR(expect_end(rest));
    return v0(digest);
  }
  char prefix = text.front();
  if (prefix == 'b') return parse_v1_text(text.substr(1), "base32");
  if (prefix == 'z') return parse_v1_text(text.substr(1), "base58btc");
  std::string message = "unsupported multibase prefix " + quote_char(prefix);
  for (const auto& [other, name] : kOtherMultibases) {
    if (other == prefix) message += " (" + std::string(name) + ")";
  }
  return tl::unexpected(invalid(message + "; expected 'b' (base32) or a CIDv0 \"Qm...\""));
}

core::Result<Cid> Cid::from_bytes(core::ByteView bytes) {
  if (bytes.empty()) return tl::unexpected(invalid("empty CID"));
  if (bytes.size() > kMaxBinarySize) {
    return tl::unexpected(invalid("binary CID is " + std::to_string(bytes.size()) +
                                  " bytes, longer than " + std::to_string(kMaxBinarySize)));
  }
  core::ByteView rest = bytes;
  // A CIDv0 is a bare multihash; no CID version is 0x12, so its first byte tells them apart.
  if (bytes.front() == kSha2_256) {
    SYNAPSE_ASSIGN_OR_RETURN(Sha256Digest digest, read_multihash(rest));
    SYNAPSE_RETURN_IF_ERROR(expect_end(rest));
    return v0(digest);
  }
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t version, read_cid_varint(rest, "CID version"));
  if (version != kCidV1) {
    return tl::unexpected(invalid("unsupported CID version " + std::to_string(version)));
  }
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t codec, read_cid_varint(rest, "CID codec"));
  if (codec != static_cast<uint64_t>(Codec::kRaw) &&
      codec != static_cast<uint64_t>(Codec::kDagPb)) {
    return tl::unexpected(invalid("unsupported codec " + hex_code(codec)));
  }
  SYNAPSE_ASSIGN_OR_RETURN(Sha256Digest digest, read_multihash(rest));
  SYNAPSE_RETURN_IF_ERROR(expect_end(rest));
  return v1(static_cast<Codec>(codec), digest);
}

std::string Cid::to_string() const {
  core::Bytes bytes = to_bytes();
  if (version_ == 0) return base58btc_encode(bytes);
  return "b" + base32_lower_encode(bytes);
}

core::Bytes Cid::to_bytes() const {
  core::Bytes out;
  out.reserve(4 + digest_.size());
  if (version_ == 1) {
    core::append_varint(out, kCidV1);
    core::append_varint(out, static_cast<uint64_t>(codec_));
  }
  core::append_varint(out, kSha2_256);
  core::append_varint(out, digest_.size());
  out.insert(out.end(), digest_.begin(), digest_.end());
  return out;
}

bool Cid::matches(core::ByteView data) const { return sha256(data) == digest_; }

}  // namespace synapse::crypto
