#include "synapse/crypto/certificate.h"

#include <botan/base64.h>

#include <algorithm>
#include <exception>

#include "text_util.h"

namespace synapse::crypto {

namespace {

using core::ErrorCode;

constexpr std::string_view kCertificatePrefix = "synapse cert v1";
constexpr std::string_view kRevocationListPrefix = "synapse crl v1";
constexpr std::string_view kCertificateArmor = "SYNAPSE CERTIFICATE";
constexpr std::string_view kRevocationListArmor = "SYNAPSE REVOCATION LIST";
constexpr std::string_view kPublicKeyPrefix = "ed25519:";
constexpr std::string_view kWhitespace = " \t\r\n";
constexpr size_t kArmorLineLength = 64;

// ---- Binary writing and reading (big-endian integers, u8-length-prefixed strings) ----

void put_u8(core::Bytes& out, uint8_t value) { out.push_back(value); }

void put_u32(core::Bytes& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_u64(core::Bytes& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_i64(core::Bytes& out, int64_t value) { put_u64(out, static_cast<uint64_t>(value)); }

void put_raw(core::Bytes& out, core::ByteView bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void put_string(core::Bytes& out, std::string_view text) {
  SYNAPSE_CHECK(text.size() <= 255, "length-prefixed strings are at most 255 bytes");
  put_u8(out, static_cast<uint8_t>(text.size()));
  put_raw(out, core::as_bytes(text));
}

// Reads fields front to back; every read names the field in its error and fails on truncation.
class Reader {
 public:
  Reader(core::ByteView in, std::string_view kind) : in_(in), kind_(kind) {}

  core::Error error(const std::string& problem) const {
    return core::Error(ErrorCode::kInvalidArgument, std::string(kind_) + ": " + problem);
  }

  core::Result<core::ByteView> raw(size_t size, std::string_view field) {
    if (in_.size() - offset_ < size) {
      return tl::unexpected(error("truncated in the " + std::string(field) + " (" +
                                  std::to_string(in_.size()) + " bytes)"));
    }
    core::ByteView out = in_.subspan(offset_, size);
    offset_ += size;
    return out;
  }

  template <size_t N>
  core::Result<std::array<uint8_t, N>> array(std::string_view field) {
    SYNAPSE_ASSIGN_OR_RETURN(core::ByteView bytes, raw(N, field));
    std::array<uint8_t, N> out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
  }

  core::Result<uint64_t> unsigned_int(size_t size, std::string_view field) {
    SYNAPSE_ASSIGN_OR_RETURN(core::ByteView bytes, raw(size, field));
    uint64_t value = 0;
    for (uint8_t byte : bytes) value = value << 8 | byte;
    return value;
  }

  core::Result<int64_t> i64(std::string_view field) {
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t value, unsigned_int(8, field));
    return static_cast<int64_t>(value);
  }

  core::Result<std::string_view> string(std::string_view field) {
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, unsigned_int(1, std::string(field) + " length"));
    SYNAPSE_ASSIGN_OR_RETURN(core::ByteView bytes, raw(size, field));
    return core::as_chars(bytes);
  }

  core::Status expect_prefix(std::string_view prefix, std::string_view what) {
    if (in_.size() < prefix.size() || core::as_chars(in_.first(prefix.size())) != prefix) {
      return tl::unexpected(error("not " + std::string(what) + " (the data does not start with \"" +
                                  std::string(prefix) + "\")"));
    }
    offset_ = prefix.size();
    return core::ok();
  }

  core::Status expect_end() const {
    if (offset_ != in_.size()) {
      return tl::unexpected(
          error(std::to_string(in_.size() - offset_) + " unexpected bytes after the signature"));
    }
    return core::ok();
  }

  size_t remaining() const { return in_.size() - offset_; }

 private:
  core::ByteView in_;
  std::string_view kind_;
  size_t offset_ = 0;
};

// ---- Field rules ----

// Length of the UTF-8 sequence starting at text[i], or 0 if it is not valid UTF-8 (overlong
// forms, surrogates and code points above U+10FFFF are invalid). `code_point` receives the value.
size_t utf8_sequence(std::string_view text, size_t i, uint32_t& code_point) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  uint8_t lead = byte(i);
  size_t length;
  uint32_t min;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2, min = 0x80, code_point = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, min = 0x800, code_point = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code_point = code_point << 6 | (byte(i + k) & 0x3f);
  }
  if (code_point < min || code_point > 0x10ffff) return 0;
  if (code_point >= 0xd800 && code_point <= 0xdfff) return 0;
  return length;
}

core::Status check_name(std::string_view name) {
  auto invalid = [](const std::string& problem) {
    return core::make_error(ErrorCode::kInvalidArgument, "certificate name " + problem);
  };
  if (name.empty()) return invalid("is empty");
  if (name.size() > kMaxCertificateNameSize) {
    return invalid("is " + std::to_string(name.size()) + " bytes, more than " +
                   std::to_string(kMaxCertificateNameSize));
  }
  for (size_t i = 0; i < name.size();) {
    uint32_t code_point = 0;
    size_t length = utf8_sequence(name, i, code_point);
    if (length == 0) return invalid("is not valid UTF-8 (at byte " + std::to_string(i) + ")");
    if (code_point < 0x20 || (code_point >= 0x7f && code_point < 0xa0)) {
      return invalid("holds a control character (at byte " + std::to_string(i) + ")");
    }
    i += length;
  }
  return core::ok();
}

core::Status check_validity(int64_t not_before, int64_t not_after) {
  if (not_before >= not_after) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "certificate validity is empty: not_before (" +
                                format_utc_time(not_before) + ") is not before not_after (" +
                                format_utc_time(not_after) + ")");
  }
  return core::ok();
}

core::Status check_roles(const std::vector<std::string>& roles) {
  if (roles.size() > kMaxCertificateRoles) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "certificate has " + std::to_string(roles.size()) +
                                " roles, more than " + std::to_string(kMaxCertificateRoles));
  }
  for (size_t i = 0; i < roles.size(); ++i) {
    SYNAPSE_RETURN_IF_ERROR(check_role_name(roles[i]));
    if (i > 0 && roles[i - 1] >= roles[i]) {
      return core::make_error(
          ErrorCode::kInvalidArgument,
          "certificate roles are not sorted and unique (at " + quote_text(roles[i]) + ")");
    }
  }
  return core::ok();
}

bool fields_valid(const Certificate& c) {
  return c.version == Certificate::kVersion && check_name(c.name) && check_roles(c.roles) &&
         check_validity(c.not_before, c.not_after);
}

bool fields_valid(const RevocationList& list) {
  return list.version == RevocationList::kVersion && list.sequence >= 1 &&
         list.node_ids.size() + list.serials.size() <= kMaxRevocationEntries &&
         std::adjacent_find(list.node_ids.begin(), list.node_ids.end(), std::greater_equal<>()) ==
             list.node_ids.end() &&
         std::adjacent_find(list.serials.begin(), list.serials.end(), std::greater_equal<>()) ==
             list.serials.end();
}

// ---- Armor ----

std::string armor(std::string_view label, core::ByteView bytes) {
  std::string base64 = Botan::base64_encode(bytes.data(), bytes.size());
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < base64.size(); i += kArmorLineLength) {
    out += base64.substr(i, kArmorLineLength);
    out += '\n';
  }
  return out + "-----END " + std::string(label) + "-----\n";
}

// Extracts the bytes between "-----BEGIN <label>-----" and "-----END <label>-----". `what`
// names the file kind in errors.
core::Result<core::Bytes> dearmor(std::string_view text, std::string_view label,
                                  std::string_view what, size_t max_size) {
  auto invalid = [&](const std::string& problem) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "invalid " + std::string(what) + ": " + problem);
  };
  if (text.size() > max_size) {
    return invalid("it is " + std::to_string(text.size()) + " bytes, more than " +
                   std::to_string(max_size));
  }
  size_t first = text.find_first_not_of(kWhitespace);
  size_t last = text.find_last_not_of(kWhitespace);
  text =
      first == std::string_view::npos ? std::string_view() : text.substr(first, last - first + 1);
  std::string begin = "-----BEGIN " + std::string(label) + "-----";
  std::string end = "-----END " + std::string(label) + "-----";
  if (!text.starts_with(begin)) return invalid("expected it to start with \"" + begin + "\"");
  text.remove_prefix(begin.size());
  if (!text.ends_with(end)) return invalid("expected it to end with \"" + end + "\"");
  text.remove_suffix(end.size());
  // Canonical shape only: base64 characters, whitespace between them, '=' only as the final
  // padding of a multiple of four characters.
  std::string base64;
  base64.reserve(text.size());
  for (char c : text) {
    if (kWhitespace.find(c) != std::string_view::npos) continue;
    bool digit = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/' || c == '=';
    if (!digit) return invalid("unexpected " + quote_char(c) + " between the BEGIN and END lines");
    base64 += c;
  }
  size_t padding = base64.size() - std::min(base64.size(), base64.find('='));
  if (base64.size() % 4 != 0 || padding > 2 ||
      base64.find_first_not_of('=', base64.size() - padding) != std::string::npos) {
    return invalid("bad base64 between the BEGIN and END lines");
  }
  try {
    Botan::secure_vector<uint8_t> decoded =
        Botan::base64_decode(base64.data(), base64.size(), /*ignore_ws=*/false);
    return core::Bytes(decoded.begin(), decoded.end());
  } catch (const std::exception&) {
    return invalid("bad base64 between the BEGIN and END lines");
  }
}

core::Error refused(const Certificate& certificate, const std::string& problem) {
  return core::Error(ErrorCode::kPermissionDenied,
                     "certificate for " + certificate.node_id.short_id() + " " + problem);
}

// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned mp = (5 * day_of_year + 2) / 153;
  day = day_of_year - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
}

// Splits Unix seconds into whole days and seconds of the day (floor division, no overflow).
void split_time(int64_t unix_seconds, int64_t& days, int64_t& seconds_of_day) {
  days = unix_seconds / 86400;
  seconds_of_day = unix_seconds % 86400;
  if (seconds_of_day < 0) {
    seconds_of_day += 86400;
    days -= 1;
  }
}

std::string two_digits(unsigned value) {
  return std::string(1, static_cast<char>('0' + value / 10)) + static_cast<char>('0' + value % 10);
}

}  // namespace

// ---- Certificate ----

bool Certificate::has_role(std::string_view role) const {
  return std::binary_search(roles.begin(), roles.end(), role);
}

core::Bytes Certificate::signed_bytes() const {
  SYNAPSE_CHECK(fields_valid(*this), "certificate fields are within their bounds");
  core::Bytes out;
  out.reserve(512);
  put_raw(out, core::as_bytes(kCertificatePrefix));
  put_u32(out, version);
  put_raw(out, node_id.bytes());
  put_string(out, name);
  put_u8(out, static_cast<uint8_t>(roles.size()));
  for (const std::string& role : roles) put_string(out, role);
  put_i64(out, not_before);
  put_i64(out, not_after);
  put_u64(out, serial);
  put_raw(out, issuer);
  return out;
}

core::Bytes Certificate::encode() const {
  core::Bytes out = signed_bytes();
  put_raw(out, signature);
  return out;
}

core::Result<Certificate> Certificate::decode(core::ByteView bytes) {
  Reader in(bytes, "invalid certificate");
  if (bytes.size() > kMaxCertificateSize) {
    return tl::unexpected(in.error(std::to_string(bytes.size()) + " bytes, more than " +
                                   std::to_string(kMaxCertificateSize)));
  }
  SYNAPSE_RETURN_IF_ERROR(in.expect_prefix(kCertificatePrefix, "a Synapse certificate"));
  Certificate c;
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t version, in.unsigned_int(4, "version"));
  if (version != kVersion) {
    return core::make_error(
        ErrorCode::kUnsupported,
        "certificate version " + std::to_string(version) + " is not supported (this is version 1)");
  }
  SYNAPSE_ASSIGN_OR_RETURN(auto node_id, in.array<NodeId::kSize>("node ID"));
  c.node_id = NodeId(node_id);
  SYNAPSE_ASSIGN_OR_RETURN(std::string_view name, in.string("name"));
  if (auto status = check_name(name); !status)
    return tl::unexpected(in.error(status.error().message()));
  c.name = std::string(name);
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t role_count, in.unsigned_int(1, "role count"));
  if (role_count > kMaxCertificateRoles) {
    return tl::unexpected(in.error(std::to_string(role_count) + " roles, more than " +
                                   std::to_string(kMaxCertificateRoles)));
  }
  for (uint64_t i = 0; i < role_count; ++i) {
    SYNAPSE_ASSIGN_OR_RETURN(std::string_view role, in.string("roles"));
    c.roles.emplace_back(role);
  }
  if (auto status = check_roles(c.roles); !status) {
    return tl::unexpected(in.error(status.error().message()));
  }
  SYNAPSE_ASSIGN_OR_RETURN(c.not_before, in.i64("not_before"));
  SYNAPSE_ASSIGN_OR_RETURN(c.not_after, in.i64("not_after"));
  if (auto status = check_validity(c.not_before, c.not_after); !status) {
    return tl::unexpected(in.error(status.error().message()));
  }
  SYNAPSE_ASSIGN_OR_RETURN(c.serial, in.unsigned_int(8, "serial"));
  SYNAPSE_ASSIGN_OR_RETURN(c.issuer, in.array<32>("issuer key"));
  SYNAPSE_ASSIGN_OR_RETURN(c.signature, in.array<64>("signature"));
  SYNAPSE_RETURN_IF_ERROR(in.expect_end());
  return c;
}

std::string Certificate::to_armored() const { return armor(kCertificateArmor, encode()); }

core::Result<Certificate> Certificate::from_armored(std::string_view text) {
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, dearmor(text, kCertificateArmor, "certificate file",
                                                      kMaxCertificateFileSize));
  return decode(bytes);
}

core::Result<Certificate> Certificate::load(core::Env& env, const std::filesystem::path& path) {
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes file, env.read_file(path, kMaxCertificateFileSize));
  auto certificate = from_armored(core::as_chars(file));
  if (!certificate) return tl::unexpected(certificate.error().with_context(path.string()));
  return certificate;
}

// ---- RevocationList ----

bool RevocationList::revokes_node(const NodeId& node_id) const {
  return std::binary_search(node_ids.begin(), node_ids.end(), node_id);
}

bool RevocationList::revokes_serial(uint64_t serial) const {
  return std::binary_search(serials.begin(), serials.end(), serial);
}

bool RevocationList::revokes(const Certificate& certificate) const {
  return revokes_node(certificate.node_id) || revokes_serial(certificate.serial);
}

core::Bytes RevocationList::signed_bytes() const {
  SYNAPSE_CHECK(fields_valid(*this), "revocation list fields are within their bounds");
  core::Bytes out;
  out.reserve(kRevocationListPrefix.size() + 64 + 32 * node_ids.size() + 8 * serials.size());
  put_raw(out, core::as_bytes(kRevocationListPrefix));
  put_u32(out, version);
  put_raw(out, issuer);
  put_u64(out, sequence);
  put_i64(out, issued_at);
  put_u32(out, static_cast<uint32_t>(node_ids.size()));
  for (const NodeId& id : node_ids) put_raw(out, id.bytes());
  put_u32(out, static_cast<uint32_t>(serials.size()));
  for (uint64_t serial : serials) put_u64(out, serial);
  return out;
}

core::Bytes RevocationList::encode() const {
  core::Bytes out = signed_bytes();
  put_raw(out, signature);
  return out;
}

core::Result<RevocationList> RevocationList::decode(core::ByteView bytes) {
  Reader in(bytes, "invalid revocation list");
  if (bytes.size() > kMaxRevocationListSize) {
    return tl::unexpected(in.error(std::to_string(bytes.size()) + " bytes, more than " +
                                   std::to_string(kMaxRevocationListSize)));
  }
  SYNAPSE_RETURN_IF_ERROR(in.expect_prefix(kRevocationListPrefix, "a Synapse revocation list"));
  RevocationList list;
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t version, in.unsigned_int(4, "version"));
  if (version != kVersion) {
    return core::make_error(ErrorCode::kUnsupported, "revocation list version " +
                                                         std::to_string(version) +
                                                         " is not supported (this is version 1)");
  }
  SYNAPSE_ASSIGN_OR_RETURN(list.issuer, in.array<32>("issuer key"));
  SYNAPSE_ASSIGN_OR_RETURN(list.sequence, in.unsigned_int(8, "sequence"));
  if (list.sequence == 0) return tl::unexpected(in.error("sequence 0 (sequences start at 1)"));
  SYNAPSE_ASSIGN_OR_RETURN(list.issued_at, in.i64("issue time"));

  SYNAPSE_ASSIGN_OR_RETURN(uint64_t node_count, in.unsigned_int(4, "node count"));
  auto too_many = [&](uint64_t count) {
    return tl::unexpected(in.error(std::to_string(count) + " entries, more than " +
                                   std::to_string(kMaxRevocationEntries)));
  };
  if (node_count > kMaxRevocationEntries) return too_many(node_count);
  // Bound the allocation by the input actually present before reserving.
  if (node_count * NodeId::kSize > in.remaining()) {
    return tl::unexpected(
        in.error("truncated in the node IDs (" + std::to_string(bytes.size()) + " bytes)"));
  }
  list.node_ids.reserve(node_count);
  for (uint64_t i = 0; i < node_count; ++i) {
    SYNAPSE_ASSIGN_OR_RETURN(auto id, in.array<NodeId::kSize>("node IDs"));
    list.node_ids.emplace_back(id);
    if (i > 0 && list.node_ids[i - 1] >= list.node_ids[i]) {
      return tl::unexpected(
          in.error("node IDs are not sorted and unique (at entry " + std::to_string(i) + ")"));
    }
  }
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t serial_count, in.unsigned_int(4, "serial count"));
  if (node_count + serial_count > kMaxRevocationEntries) return too_many(node_count + serial_count);
  if (serial_count * 8 > in.remaining()) {
    return tl::unexpected(
        in.error("truncated in the serials (" + std::to_string(bytes.size()) + " bytes)"));
  }
  list.serials.reserve(serial_count);
  for (uint64_t i = 0; i < serial_count; ++i) {
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t serial, in.unsigned_int(8, "serials"));
    if (i > 0 && list.serials.back() >= serial) {
      return tl::unexpected(
          in.error("serials are not sorted and unique (at entry " + std::to_string(i) + ")"));
    }
    list.serials.push_back(serial);
  }
  SYNAPSE_ASSIGN_OR_RETURN(list.signature, in.array<64>("signature"));
  SYNAPSE_RETURN_IF_ERROR(in.expect_end());
  return list;
}

std::string RevocationList::to_armored() const { return armor(kRevocationListArmor, encode()); }

core::Result<RevocationList> RevocationList::from_armored(std::string_view text) {
  SYNAPSE_ASSIGN_OR_RETURN(
      core::Bytes bytes,
      dearmor(text, kRevocationListArmor, "revocation list file", kMaxRevocationListFileSize));
  return decode(bytes);
}

core::Result<RevocationList> RevocationList::load(core::Env& env,
                                                  const std::filesystem::path& path) {
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes file, env.read_file(path, kMaxRevocationListFileSize));
  auto list = from_armored(core::as_chars(file));
  if (!list) return tl::unexpected(list.error().with_context(path.string()));
  return list;
}

// ---- Verification ----

namespace {

core::Status verify_signed_by(const Certificate& certificate, const Ed25519PublicKey& ca) {
  if (certificate.issuer != ca) {
    return tl::unexpected(refused(
        certificate, "is signed by an unknown CA (" + format_public_key(certificate.issuer) + ")"));
  }
  if (!fields_valid(certificate) ||
      !verify_signature(ca, certificate.signed_bytes(), certificate.signature)) {
    return tl::unexpected(refused(certificate, "has a bad signature"));
  }
  return core::ok();
}

core::Status verify_status(const Certificate& certificate, int64_t now,
                           const RevocationList* revocation_list) {
  if (revocation_list != nullptr && revocation_list->revokes(certificate)) {
    return tl::unexpected(
        refused(certificate, "is revoked (serial " + std::to_string(certificate.serial) + ")"));
  }
  if (now < certificate.not_before) {
    return tl::unexpected(refused(certificate, "is not yet valid (valid from " +
                                                   format_utc_time(certificate.not_before) + ")"));
  }
  if (now >= certificate.not_after) {
    return tl::unexpected(
        refused(certificate, "expired on " + format_utc_date(certificate.not_after)));
  }
  return core::ok();
}

}  // namespace

core::Status verify_certificate(const Certificate& certificate, const Ed25519PublicKey& ca,
                                int64_t now, const RevocationList* revocation_list) {
  SYNAPSE_RETURN_IF_ERROR(verify_signed_by(certificate, ca));
  return verify_status(certificate, now, revocation_list);
}

core::Status verify_certificate_for(const NodeId& node_id, const Certificate& certificate,
                                    const Ed25519PublicKey& ca, int64_t now,
                                    const RevocationList* revocation_list) {
  SYNAPSE_RETURN_IF_ERROR(verify_signed_by(certificate, ca));
  if (certificate.node_id != node_id) {
    return tl::unexpected(
        refused(certificate, "was issued for another node, not " + node_id.short_id()));
  }
  return verify_status(certificate, now, revocation_list);
}

core::Status verify_revocation_list(const RevocationList& list, const Ed25519PublicKey& ca) {
  if (list.issuer != ca) {
    return core::make_error(ErrorCode::kPermissionDenied, "revocation list " +
                                                              std::to_string(list.sequence) +
                                                              " is signed by an unknown CA (" +
                                                              format_public_key(list.issuer) + ")");
  }
  if (!fields_valid(list) || !verify_signature(ca, list.signed_bytes(), list.signature)) {
    return core::make_error(
        ErrorCode::kPermissionDenied,
        "revocation list " + std::to_string(list.sequence) + " has a bad signature");
  }
  return core::ok();
}

// ---- CertificateAuthority ----

CertificateAuthority CertificateAuthority::generate(core::Rng& rng) {
  return CertificateAuthority(NodeIdentity::generate(rng));
}

core::Result<CertificateAuthority> CertificateAuthority::load(core::Env& env,
                                                              const std::filesystem::path& path) {
  SYNAPSE_ASSIGN_OR_RETURN(NodeIdentity key, NodeIdentity::load(env, path));
  return CertificateAuthority(std::move(key));
}

core::Status CertificateAuthority::save(core::Env& env, const std::filesystem::path& path) const {
  return key_.save(env, path, /*overwrite=*/false);
}

core::Result<Certificate> CertificateAuthority::sign(const NodeId& node_id, std::string_view name,
                                                     std::vector<std::string> roles,
                                                     int64_t not_before, int64_t not_after,
                                                     uint64_t serial) const {
  SYNAPSE_RETURN_IF_ERROR(check_name(name));
  for (const std::string& role : roles) SYNAPSE_RETURN_IF_ERROR(check_role_name(role));
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  SYNAPSE_RETURN_IF_ERROR(check_roles(roles));
  SYNAPSE_RETURN_IF_ERROR(check_validity(not_before, not_after));
  Certificate certificate;
  certificate.node_id = node_id;
  certificate.name = std::string(name);
  certificate.roles = std::move(roles);
  certificate.not_before = not_before;
  certificate.not_after = not_after;
  certificate.serial = serial;
  certificate.issuer = public_key();
  certificate.signature = key_.sign(certificate.signed_bytes());
  return certificate;
}

core::Result<RevocationList> CertificateAuthority::revoke(const RevocationList* previous,
                                                          const std::vector<NodeId>& node_ids,
                                                          const std::vector<uint64_t>& serials,
                                                          int64_t issued_at) const {
  RevocationList list;
  list.issuer = public_key();
  list.issued_at = issued_at;
  list.sequence = 1;
  if (previous != nullptr) {
    SYNAPSE_RETURN_IF_ERROR(verify_revocation_list(*previous, public_key()));
    if (previous->sequence == UINT64_MAX) {
      return core::make_error(ErrorCode::kInvalidArgument,
                              "revocation list sequence cannot grow past its maximum");
    }
    list.sequence = previous->sequence + 1;
    list.node_ids = previous->node_ids;
    list.serials = previous->serials;
  }
  list.node_ids.insert(list.node_ids.end(), node_ids.begin(), node_ids.end());
  list.serials.insert(list.serials.end(), serials.begin(), serials.end());
  std::sort(list.node_ids.begin(), list.node_ids.end());
  list.node_ids.erase(std::unique(list.node_ids.begin(), list.node_ids.end()), list.node_ids.end());
  std::sort(list.serials.begin(), list.serials.end());
  list.serials.erase(std::unique(list.serials.begin(), list.serials.end()), list.serials.end());
  size_t entries = list.node_ids.size() + list.serials.size();
  if (entries > kMaxRevocationEntries) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "revocation list would hold " + std::to_string(entries) +
                                " entries, more than " + std::to_string(kMaxRevocationEntries));
  }
  list.signature = key_.sign(list.signed_bytes());
  return list;
}

// ---- Text forms ----

std::string format_public_key(const Ed25519PublicKey& key) {
  return std::string(kPublicKeyPrefix) + core::to_hex(key);
}

core::Result<Ed25519PublicKey> parse_public_key(std::string_view text) {
  auto invalid = [&](const std::string& problem) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "invalid public key " + quote_text(text, 80) + ": " + problem);
  };
  if (!text.starts_with(kPublicKeyPrefix)) {
    return invalid("expected \"ed25519:\" followed by 64 hex digits");
  }
  std::string_view hex = text.substr(kPublicKeyPrefix.size());
  if (hex.size() != 64) {
    return invalid("expected 64 hex digits after \"ed25519:\", got " + std::to_string(hex.size()));
  }
  auto bytes = core::from_hex(hex);
  if (!bytes) return invalid(bytes.error().message());
  Ed25519PublicKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

core::Status check_role_name(std::string_view role) {
  if (role.empty() || role.size() > kMaxRoleSize) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "role name " + quote_text(role) + " must be 1 to " +
                                std::to_string(kMaxRoleSize) + " characters");
  }
  for (char c : role) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return core::make_error(ErrorCode::kInvalidArgument, "role name " + quote_text(role) +
                                                               " holds " + quote_char(c) +
                                                               " (allowed: a-z, 0-9, '_' and '-')");
    }
  }
  return core::ok();
}

std::string format_utc_date(int64_t unix_seconds) {
  int64_t days, seconds_of_day;
  split_time(unix_seconds, days, seconds_of_day);
  int64_t year;
  unsigned month, day;
  civil_from_days(days, year, month, day);
  std::string year_text = std::to_string(year < 0 ? -year : year);
  if (year_text.size() < 4) year_text.insert(0, 4 - year_text.size(), '0');
  if (year < 0) year_text.insert(0, 1, '-');
  return year_text + "-" + two_digits(month) + "-" + two_digits(day);
}

std::string format_utc_time(int64_t unix_seconds) {
  int64_t days, seconds_of_day;
  split_time(unix_seconds, days, seconds_of_day);
  auto s = static_cast<unsigned>(seconds_of_day);
  return format_utc_date(unix_seconds) + "T" + two_digits(s / 3600) + ":" +
         two_digits(s / 60 % 60) + ":" + two_digits(s % 60) + "Z";
}

}  // namespace synapse::crypto
