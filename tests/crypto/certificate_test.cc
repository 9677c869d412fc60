#include "synapse/crypto/certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <limits>

#include "synapse/crypto/admission.h"
#include "test_util.h"

namespace synapse::crypto {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Fixed times (Unix seconds, UTC).
constexpr int64_t k2025June1 = 1748736000;
constexpr int64_t k2026Jan1 = 1767225600;
constexpr int64_t k2026Nov1 = 1793491200;

class CertificateTest : public ::testing::Test {
 protected:
  CertificateTest()
      : rng_(42),
        ca_(CertificateAuthority::generate(rng_)),
        other_ca_(CertificateAuthority::generate(rng_)),
        node_(NodeIdentity::generate(rng_)),
        other_node_(NodeIdentity::generate(rng_)) {}

  // A certificate for node_ valid from 2025-06-01 until 2026-11-01.
  Certificate issue(std::vector<std::string> roles = {"gpu", "admin"}, uint64_t serial = 7) {
    return ca_
        .sign(node_.node_id(), "alice's laptop", std::move(roles), k2025June1, k2026Nov1, serial)
        .value();
  }

  std::string verify_error(const Certificate& certificate, int64_t now,
                           const RevocationList* list = nullptr) {
    core::Status status =
        verify_certificate_for(node_.node_id(), certificate, ca_.public_key(), now, list);
    EXPECT_FALSE(status.has_value());
    if (status) return "";
    EXPECT_EQ(status.error().code(), core::ErrorCode::kPermissionDenied);
    return status.error().message();
  }

  core::SeededRng rng_;
  CertificateAuthority ca_;
  CertificateAuthority other_ca_;
  NodeIdentity node_;
  NodeIdentity other_node_;
};

// ---- Certificates ----

TEST_F(CertificateTest, ASignedCertificateVerifiesInsideItsValidity) {
  Certificate certificate = issue();
  EXPECT_TRUE(verify_certificate(certificate, ca_.public_key(), k2026Jan1, nullptr));
  EXPECT_TRUE(
      verify_certificate_for(node_.node_id(), certificate, ca_.public_key(), k2026Jan1, nullptr));
  EXPECT_TRUE(verify_certificate(certificate, ca_.public_key(), k2025June1, nullptr));
  EXPECT_EQ(certificate.issuer, ca_.public_key());
  EXPECT_EQ(certificate.version, 1u);
}

TEST_F(CertificateTest, SigningSortsRolesAndDropsDuplicates) {
  Certificate certificate = issue({"gpu", "admin", "gpu", "build-farm"});
  EXPECT_THAT(certificate.roles, ElementsAre("admin", "build-farm", "gpu"));
  EXPECT_TRUE(certificate.has_role("gpu"));
  EXPECT_FALSE(certificate.has_role("root"));
}

TEST_F(CertificateTest, ACertificateRoundTripsThroughBinaryAndArmor) {
  Certificate certificate = issue();
  core::Bytes bytes = certificate.encode();
  EXPECT_LE(bytes.size(), kMaxCertificateSize);
  EXPECT_EQ(Certificate::decode(bytes).value(), certificate);

  std::string armored = certificate.to_armored();
  EXPECT_THAT(armored, StartsWith("-----BEGIN SYNAPSE CERTIFICATE-----\n"));
  EXPECT_TRUE(armored.ends_with("\n-----END SYNAPSE CERTIFICATE-----\n"));
  EXPECT_EQ(Certificate::from_armored(armored).value(), certificate);
}

TEST_F(CertificateTest, TheBinaryFormHasTheDocumentedLayout) {
  Certificate certificate = issue({"ab"}, 0x0102030405060708);
  core::Bytes expected;
  auto append = [&](std::string_view hex) {
    core::Bytes bytes = core::from_hex(hex).value();
    expected.insert(expected.end(), bytes.begin(), bytes.end());
  };
  auto append_text = [&](std::string_view text) {
    expected.insert(expected.end(), text.begin(), text.end());
  };
  append_text("synapse cert v1");
  append("00000001");
  append(node_.node_id().to_hex());
  append("0e");
  append_text("alice's laptop");
  append(
      "01"
      "02");
  append_text("ab");
  append("00000000683b9800");  // 2025-06-01
  append("000000006ae68100");  // 2026-11-01
  append("0102030405060708");
  append(core::to_hex(ca_.public_key()));
  EXPECT_EQ(core::to_hex(certificate.signed_bytes()), core::to_hex(expected));
  append(core::to_hex(certificate.signature));
  EXPECT_EQ(core::to_hex(certificate.encode()), core::to_hex(expected));
  EXPECT_TRUE(
      verify_signature(ca_.public_key(), certificate.signed_bytes(), certificate.signature));
}

TEST_F(CertificateTest, ExpiredCertificateIsRefusedNamingTheDate) {
  Certificate certificate = issue();
  EXPECT_EQ(verify_error(certificate, k2026Nov1),
            "certificate for " + node_.node_id().short_id() + " expired on 2026-11-01");
  EXPECT_THAT(verify_error(certificate, k2026Nov1 + 86400 * 365), HasSubstr("expired on"));
  // The last second of validity still passes.
  EXPECT_TRUE(verify_certificate(certificate, ca_.public_key(), k2026Nov1 - 1, nullptr));
}

TEST_F(CertificateTest, CertificateIsNotValidBeforeItsStart) {
  EXPECT_EQ(verify_error(issue(), k2025June1 - 1),
            "certificate for " + node_.node_id().short_id() +
                " is not yet valid (valid from 2025-06-01T00:00:00Z)");
}

TEST_F(CertificateTest, CertificateFromAnotherCaIsRefusedAsUnknownCa) {
  Certificate foreign =
      other_ca_.sign(node_.node_id(), "mallory", {"admin"}, k2025June1, k2026Nov1, 1).value();
  EXPECT_THAT(
      verify_error(foreign, k2026Jan1),
      HasSubstr("is signed by an unknown CA (" + format_public_key(other_ca_.public_key())));
}

TEST_F(CertificateTest, ChangingAnySignedFieldBreaksTheSignature) {
  Certificate base = issue();
  std::vector<Certificate> tampered(6, base);
  tampered[0].name = "alice's server";
  tampered[1].roles = {"admin", "gpu", "root"};
  tampered[2].not_after += 86400;
  tampered[3].serial += 1;
  tampered[4].node_id = other_node_.node_id();
  tampered[5].signature[10] ^= 1;
  for (const Certificate& certificate : tampered) {
    core::Status status = verify_certificate(certificate, ca_.public_key(), k2026Jan1, nullptr);
    ASSERT_FALSE(status);
    EXPECT_THAT(status.error().message(), HasSubstr("has a bad signature"));
  }
}

TEST_F(CertificateTest, ACertificateForAnotherNodeIsRefused) {
  Certificate theirs = ca_.sign(other_node_.node_id(), "bob", {}, k2025June1, k2026Nov1, 8).value();
  EXPECT_EQ(verify_error(theirs, k2026Jan1), "certificate for " + other_node_.node_id().short_id() +
                                                 " was issued for another node, not " +
                                                 node_.node_id().short_id());
}

TEST_F(CertificateTest, SigningRejectsBadNamesRolesAndEmptyValidity) {
  const NodeId& id = node_.node_id();
  auto sign_error = [&](std::string_view name, std::vector<std::string> roles, int64_t from,
                        int64_t until) {
    auto certificate = ca_.sign(id, name, std::move(roles), from, until, 1);
    EXPECT_FALSE(certificate.has_value());
    if (certificate) return std::string();
    EXPECT_EQ(certificate.error().code(), core::ErrorCode::kInvalidArgument);
    return certificate.error().message();
  };
  EXPECT_THAT(sign_error("", {}, 0, 1), HasSubstr("name is empty"));
  EXPECT_THAT(sign_error(std::string(256, 'x'), {}, 0, 1), HasSubstr("256 bytes"));
  EXPECT_THAT(sign_error("a\nb", {}, 0, 1), HasSubstr("control character"));
  EXPECT_THAT(sign_error("\xc3\x28", {}, 0, 1), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(sign_error("x", {"Admin"}, 0, 1), HasSubstr("role name 'Admin' holds 'A'"));
  EXPECT_THAT(sign_error("x", {""}, 0, 1), HasSubstr("1 to 64 characters"));
  EXPECT_THAT(sign_error("x", {std::string(65, 'a')}, 0, 1), HasSubstr("1 to 64 characters"));
  std::vector<std::string> many;
  for (int i = 0; i < 33; ++i) many.push_back("r" + std::to_string(i));
  EXPECT_THAT(sign_error("x", many, 0, 1), HasSubstr("33 roles"));
  EXPECT_THAT(sign_error("x", {}, 5, 5), HasSubstr("validity is empty"));
  // Limits themselves are fine; so is a non-ASCII name.
  many.pop_back();
  EXPECT_TRUE(ca_.sign(id, std::string(255, 'x'), many, 0, 1, 1));
  EXPECT_TRUE(ca_.sign(id, "M\xc3\xbcller", {std::string(64, 'z')}, 0, 1, 1));
}

// Re-encodes a certificate with a mutation applied after signing, bypassing the encoder's
// checks, by editing the bytes of a valid encoding.
core::Bytes replace(core::Bytes bytes, size_t offset, core::ByteView with, size_t length) {
  bytes.erase(bytes.begin() + static_cast<ptrdiff_t>(offset),
              bytes.begin() + static_cast<ptrdiff_t>(offset + length));
  bytes.insert(bytes.begin() + static_cast<ptrdiff_t>(offset), with.begin(), with.end());
  return bytes;
}

TEST_F(CertificateTest, TheDecoderRejectsMalformedInputWithOneLineErrors) {
  core::Bytes good = issue({"ab", "cd"}).encode();
  const size_t name_offset = 15 + 4 + 32;  // prefix, version, node ID
  const size_t roles_offset = name_offset + 1 + 14;
  auto decode_error = [](core::ByteView bytes) {
    auto decoded = Certificate::decode(bytes);
    EXPECT_FALSE(decoded.has_value());
    if (decoded) return std::string();
    EXPECT_EQ(decoded.error().message().find('\n'), std::string::npos);
    return decoded.error().message();
  };
  // Every truncation fails, naming where.
  for (size_t size = 0; size < good.size(); ++size) {
    std::string message = decode_error(core::ByteView(good).first(size));
    if (size >= 15) {
      EXPECT_THAT(message, HasSubstr("truncated")) << size;
    }
  }
  core::Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_THAT(decode_error(trailing), HasSubstr("1 unexpected bytes after the signature"));
  EXPECT_THAT(decode_error(core::as_bytes("synapse crl v1 and more")),
              HasSubstr("not a Synapse certificate"));

  core::Bytes version2 = good;
  version2[18] = 2;
  auto unsupported = Certificate::decode(version2);
  ASSERT_FALSE(unsupported);
  EXPECT_EQ(unsupported.error().code(), core::ErrorCode::kUnsupported);

  const uint8_t control_name[] = {0x01, 0x07};
  EXPECT_THAT(decode_error(replace(good, name_offset, control_name, 15)),
              HasSubstr("control character"));
  const uint8_t unsorted_roles[] = {0x02, 0x02, 'c', 'd', 0x02, 'a', 'b'};
  EXPECT_THAT(decode_error(replace(good, roles_offset, unsorted_roles, 7)),
              HasSubstr("not sorted and unique"));
  const uint8_t duplicate_roles[] = {0x02, 0x02, 'a', 'b', 0x02, 'a', 'b'};
  EXPECT_THAT(decode_error(replace(good, roles_offset, duplicate_roles, 7)),
              HasSubstr("not sorted and unique"));
  const uint8_t upper_role[] = {0x02, 0x02, 'A', 'b', 0x02, 'c', 'd'};
  EXPECT_THAT(decode_error(replace(good, roles_offset, upper_role, 7)), HasSubstr("holds 'A'"));
  const uint8_t many_roles[] = {33};
  EXPECT_THAT(decode_error(replace(good, roles_offset, many_roles, 1)), HasSubstr("33 roles"));
  core::Bytes swapped_times = good;
  std::swap_ranges(swapped_times.begin() + roles_offset + 7,
                   swapped_times.begin() + roles_offset + 15,
                   swapped_times.begin() + roles_offset + 15);
  EXPECT_THAT(decode_error(swapped_times), HasSubstr("validity is empty"));

  core::Bytes huge(kMaxCertificateSize + 1, 0);
  EXPECT_THAT(decode_error(huge), HasSubstr("more than " + std::to_string(kMaxCertificateSize)));
}

TEST_F(CertificateTest, ArmorToleratesWhitespaceAndCrlfButNothingElse) {
  Certificate certificate = issue();
  std::string armored = certificate.to_armored();
  std::string crlf;
  for (char c : armored) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  EXPECT_EQ(Certificate::from_armored("\n  " + crlf + "\n\n").value(), certificate);

  auto error = [](std::string_view text) {
    auto parsed = Certificate::from_armored(text);
    EXPECT_FALSE(parsed.has_value());
    return parsed ? std::string() : parsed.error().message();
  };
  EXPECT_THAT(error("hello"), HasSubstr("start with \"-----BEGIN SYNAPSE CERTIFICATE-----\""));
  std::string no_end = armored.substr(0, armored.find("-----END"));
  EXPECT_THAT(error(no_end), HasSubstr("end with \"-----END SYNAPSE CERTIFICATE-----\""));
  std::string junk = armored;
  junk.insert(armored.find('\n') + 5, "!");
  EXPECT_THAT(error(junk), HasSubstr("unexpected '!'"));
  std::string bad_base64 = armored;
  bad_base64.insert(armored.find('\n') + 5, "=");
  EXPECT_THAT(error(bad_base64), StartsWith("invalid certificate file"));
  EXPECT_THAT(error(std::string(kMaxCertificateFileSize + 1, ' ')), HasSubstr("more than 8192"));
  RevocationList list = ca_.revoke(nullptr, {other_node_.node_id()}, {}, k2026Jan1).value();
  EXPECT_THAT(error(list.to_armored()), HasSubstr("BEGIN SYNAPSE CERTIFICATE"));
}

TEST_F(CertificateTest, CertificateFilesLoadAndNameThePathInErrors) {
  testing::TempDir dir;
  Certificate certificate = issue();
  auto& env = core::Env::posix();
  ASSERT_TRUE(
      env.write_file_atomic(dir / "a.cert", core::as_bytes(certificate.to_armored()), 0644, false));
  EXPECT_EQ(Certificate::load(env, dir / "a.cert").value(), certificate);
  ASSERT_TRUE(env.write_file_atomic(dir / "b.cert", core::as_bytes("nonsense"), 0644, false));
  auto bad = Certificate::load(env, dir / "b.cert");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), StartsWith((dir / "b.cert").string() + ": invalid"));
  auto missing = Certificate::load(env, dir / "none.cert");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), core::ErrorCode::kNotFound);
}

// ---- Revocation lists ----

TEST_F(CertificateTest, RevokedByNodeIdOrSerialIsRefused) {
  Certificate certificate = issue({}, 7);
  RevocationList by_node = ca_.revoke(nullptr, {node_.node_id()}, {}, k2026Jan1).value();
  RevocationList by_serial = ca_.revoke(nullptr, {}, {7}, k2026Jan1).value();
  RevocationList other = ca_.revoke(nullptr, {other_node_.node_id()}, {8}, k2026Jan1).value();
  std::string expected = "certificate for " + node_.node_id().short_id() + " is revoked (serial 7)";
  EXPECT_EQ(verify_error(certificate, k2026Jan1, &by_node), expected);
  EXPECT_EQ(verify_error(certificate, k2026Jan1, &by_serial), expected);
  EXPECT_TRUE(verify_certificate(certificate, ca_.public_key(), k2026Jan1, &other));
}

TEST_F(CertificateTest, EachRevocationKeepsEarlierEntriesAndRaisesTheSequence) {
  RevocationList first = ca_.revoke(nullptr, {node_.node_id()}, {}, k2025June1).value();
  EXPECT_EQ(first.sequence, 1u);
  RevocationList second = ca_.revoke(&first, {}, {9, 3, 9}, k2026Jan1).value();
  EXPECT_EQ(second.sequence, 2u);
  EXPECT_EQ(second.issued_at, k2026Jan1);
  EXPECT_THAT(second.node_ids, ElementsAre(node_.node_id()));
  EXPECT_THAT(second.serials, ElementsAre(3u, 9u));
  RevocationList third = ca_.revoke(&second, {node_.node_id()}, {3}, k2026Jan1).value();
  EXPECT_EQ(third.sequence, 3u);
  EXPECT_EQ(third.node_ids, second.node_ids);
  EXPECT_EQ(third.serials, second.serials);
  EXPECT_TRUE(verify_revocation_list(third, ca_.public_key()));

  auto foreign = other_ca_.revoke(&first, {}, {1}, k2026Jan1);
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message(), HasSubstr("signed by an unknown CA"));
}

TEST_F(CertificateTest, RevocationListsRoundTripAndVerifyOnlyAgainstTheirCa) {
  RevocationList list =
      ca_.revoke(nullptr, {node_.node_id(), other_node_.node_id()}, {1, 2}, k2026Jan1).value();
  EXPECT_EQ(RevocationList::decode(list.encode()).value(), list);
  std::string armored = list.to_armored();
  EXPECT_THAT(armored, StartsWith("-----BEGIN SYNAPSE REVOCATION LIST-----\n"));
  EXPECT_EQ(RevocationList::from_armored(armored).value(), list);
  EXPECT_THAT(core::as_chars(list.signed_bytes()), StartsWith("synapse crl v1"));

  core::Status foreign = verify_revocation_list(list, other_ca_.public_key());
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message(), HasSubstr("unknown CA"));
  RevocationList tampered = list;
  tampered.serials.pop_back();
  core::Status bad = verify_revocation_list(tampered, ca_.public_key());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "revocation list 1 has a bad signature");
}

TEST_F(CertificateTest, TheRevocationListDecoderBoundsCountsBeforeAllocating) {
  RevocationList list = ca_.revoke(nullptr, {}, {1, 2}, k2026Jan1).value();
  core::Bytes good = list.encode();
  const size_t node_count_offset = 14 + 4 + 32 + 8 + 8;
  auto decode_error = [](core::ByteView bytes) {
    auto decoded = RevocationList::decode(bytes);
    EXPECT_FALSE(decoded.has_value());
    return decoded ? std::string() : decoded.error().message();
  };
  for (size_t size = 0; size < good.size(); ++size) {
    decode_error(core::ByteView(good).first(size));
  }
  const uint8_t too_many[] = {0x00, 0x01, 0x86, 0xa1};  // 100,001
  EXPECT_THAT(decode_error(replace(good, node_count_offset, too_many, 4)),
              HasSubstr("100001 entries"));
  const uint8_t claims_many[] = {0x00, 0x01, 0x00, 0x00};  // 65,536 IDs, none present
  EXPECT_THAT(decode_error(replace(good, node_count_offset, claims_many, 4)),
              HasSubstr("truncated in the node IDs"));
  // Serials 1, 2 swapped.
  core::Bytes unsorted = good;
  std::swap_ranges(unsorted.begin() + node_count_offset + 8,
                   unsorted.begin() + node_count_offset + 16,
                   unsorted.begin() + node_count_offset + 16);
  EXPECT_THAT(decode_error(unsorted), HasSubstr("serials are not sorted"));
  core::Bytes sequence_zero = good;
  std::fill(sequence_zero.begin() + 50, sequence_zero.begin() + 58, 0);
  EXPECT_THAT(decode_error(sequence_zero), HasSubstr("sequence 0"));
}

TEST_F(CertificateTest, ALargeRevocationListStaysWithinItsBounds) {
  std::vector<NodeId> ids;
  for (uint64_t i = 0; i < kMaxRevocationEntries; ++i) {
    std::array<uint8_t, NodeId::kSize> bytes{};
    for (int k = 0; k < 8; ++k) bytes[k] = static_cast<uint8_t>(i >> (56 - 8 * k));
    ids.emplace_back(bytes);
  }
  RevocationList full = ca_.revoke(nullptr, ids, {}, k2026Jan1).value();
  core::Bytes bytes = full.encode();
  EXPECT_LE(bytes.size(), kMaxRevocationListSize);
  EXPECT_LE(full.to_armored().size(), kMaxRevocationListFileSize);
  EXPECT_EQ(RevocationList::from_armored(full.to_armored()).value(), full);
  auto over = ca_.revoke(&full, {}, {1}, k2026Jan1);
  ASSERT_FALSE(over);
  EXPECT_THAT(over.error().message(), HasSubstr("100001 entries"));
}

// ---- The CA key ----

TEST_F(CertificateTest, TheCaKeyIsSavedPrivatelyLoadsBackAndIsNeverOverwritten) {
  testing::TempDir dir;
  auto& env = core::Env::posix();
  ASSERT_TRUE(ca_.save(env, dir / "ca.key"));
  struct stat st {};
  ASSERT_EQ(::stat((dir / "ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CertificateAuthority loaded = CertificateAuthority::load(env, dir / "ca.key").value();
  EXPECT_EQ(loaded.public_key(), ca_.public_key());
  Certificate certificate = loaded.sign(node_.node_id(), "x", {}, k2025June1, k2026Nov1, 1).value();
  EXPECT_TRUE(verify_certificate(certificate, ca_.public_key(), k2026Jan1, nullptr));

  auto again = other_ca_.save(env, dir / "ca.key");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), core::ErrorCode::kAlreadyExists);
  EXPECT_EQ(CertificateAuthority::load(env, dir / "ca.key")->public_key(), ca_.public_key());
}

TEST(CertificateText, PublicKeysRoundTripAndBadFormsAreNamed) {
  Ed25519PublicKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7);
  std::string text = format_public_key(key);
  EXPECT_THAT(text, StartsWith("ed25519:00070e15"));
  EXPECT_EQ(text.size(), 8u + 64u);
  EXPECT_EQ(parse_public_key(text).value(), key);
  std::string upper = text;
  for (size_t i = 8; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_EQ(parse_public_key(upper).value(), key);
  EXPECT_THAT(parse_public_key(text.substr(8)).error().message(),
              HasSubstr("expected \"ed25519:\""));
  EXPECT_THAT(parse_public_key(text + "00").error().message(), HasSubstr("got 66"));
  std::string bad = text;
  bad[20] = 'g';
  EXPECT_FALSE(parse_public_key(bad));
}

TEST(CertificateText, UtcDatesAreFormattedForEveryTime) {
  EXPECT_EQ(format_utc_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc_time(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_utc_date(951782400), "2000-02-29");
  EXPECT_EQ(format_utc_time(k2026Nov1 + 8 * 3600 + 30 * 60 + 5), "2026-11-01T08:30:05Z");
  EXPECT_EQ(format_utc_date(253402300799), "9999-12-31");
  EXPECT_FALSE(format_utc_time(std::numeric_limits<int64_t>::max()).empty());
  EXPECT_FALSE(format_utc_time(std::numeric_limits<int64_t>::min()).empty());
}

// ---- Admission ----

class AdmissionTest : public CertificateTest {
 protected:
  AdmissionPolicy policy(bool require, std::optional<RevocationList> list = std::nullopt) {
    return AdmissionPolicy::create({ca_.public_key(), require, std::move(list)}).value();
  }
  std::optional<core::Bytes> bytes_of(const Certificate& certificate) {
    return certificate.encode();
  }
};

TEST_F(AdmissionTest, WithoutACaTheSwarmKeyAloneAdmitsMembers) {
  AdmissionPolicy open = AdmissionPolicy::create({}).value();
  EXPECT_TRUE(open.admit(node_.node_id(), std::nullopt, k2026Jan1));
  // A certificate cannot be checked without a CA: it is ignored, even an unreadable one.
  EXPECT_TRUE(open.admit(node_.node_id(), core::Bytes{1, 2, 3}, k2026Jan1));
  Member member = open.member(node_.node_id(), bytes_of(issue()), k2026Jan1).value();
  EXPECT_FALSE(member.certificate);
  EXPECT_THAT(member.roles(), IsEmpty());
}

TEST_F(AdmissionTest, ARequiredCertificateMustBePresentAndValid) {
  AdmissionPolicy strict = policy(true);
  core::Status missing = strict.admit(node_.node_id(), std::nullopt, k2026Jan1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(missing.error().message(), "peer " + node_.node_id().short_id() +
                                           " has no certificate and this swarm requires one");

  Member member = strict.member(node_.node_id(), bytes_of(issue()), k2026Jan1).value();
  EXPECT_THAT(member.roles(), ElementsAre("admin", "gpu"));
  EXPECT_TRUE(member.has_role("gpu"));
  EXPECT_EQ(member.certificate->name, "alice's laptop");
  EXPECT_THAT(strict.roles_of(node_.node_id(), bytes_of(issue()), k2026Jan1).value(),
              ElementsAre("admin", "gpu"));

  core::Status expired = strict.admit(node_.node_id(), bytes_of(issue()), k2026Nov1);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().message(), "peer " + node_.node_id().short_id() + ": certificate for " +
                                           node_.node_id().short_id() + " expired on 2026-11-01");
  core::Status stolen = strict.admit(other_node_.node_id(), bytes_of(issue()), k2026Jan1);
  ASSERT_FALSE(stolen);
  EXPECT_THAT(stolen.error().message(), HasSubstr("issued for another node"));
  core::Status garbage = strict.admit(node_.node_id(), core::Bytes{1, 2, 3}, k2026Jan1);
  ASSERT_FALSE(garbage);
  EXPECT_THAT(garbage.error().message(), HasSubstr("sent an unreadable certificate"));
  Certificate foreign = other_ca_.sign(node_.node_id(), "x", {}, k2025June1, k2026Nov1, 1).value();
  EXPECT_THAT(strict.admit(node_.node_id(), bytes_of(foreign), k2026Jan1).error().message(),
              HasSubstr("unknown CA"));
}

TEST_F(AdmissionTest, AnOptionalCertificateIsStillCheckedWhenPresented) {
  AdmissionPolicy optional = policy(false);
  Member anonymous = optional.member(node_.node_id(), std::nullopt, k2026Jan1).value();
  EXPECT_THAT(anonymous.roles(), IsEmpty());
  EXPECT_TRUE(optional.admit(node_.node_id(), bytes_of(issue()), k2026Jan1));
  core::Status expired = optional.admit(node_.node_id(), bytes_of(issue()), k2026Nov1 + 1);
  ASSERT_FALSE(expired);
  EXPECT_THAT(expired.error().message(), HasSubstr("expired on 2026-11-01"));
}

TEST_F(AdmissionTest, ANewerRevocationListReplacesAnOlderOne) {
  RevocationList first = ca_.revoke(nullptr, {other_node_.node_id()}, {}, k2025June1).value();
  RevocationList second = ca_.revoke(&first, {node_.node_id()}, {}, k2026Jan1).value();
  AdmissionPolicy strict = policy(true, first);
  EXPECT_EQ(strict.revocation_sequence(), 1u);
  EXPECT_TRUE(strict.admit(node_.node_id(), bytes_of(issue()), k2026Jan1));

  ASSERT_TRUE(strict.update_revocation_list(second));
  EXPECT_EQ(strict.revocation_sequence(), 2u);
  core::Status revoked = strict.admit(node_.node_id(), bytes_of(issue()), k2026Jan1);
  ASSERT_FALSE(revoked);
  EXPECT_THAT(revoked.error().message(), HasSubstr("is revoked (serial 7)"));

  core::Status older = strict.update_revocation_list(first);
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code(), core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(strict.revocation_sequence(), 2u);
  EXPECT_FALSE(strict.update_revocation_list(second));  // same sequence: not newer

  RevocationList foreign = other_ca_.revoke(nullptr, {}, {}, k2026Jan1).value();
  foreign.sequence = 99;
  EXPECT_EQ(strict.update_revocation_list(foreign).error().code(),
            core::ErrorCode::kPermissionDenied);
}

TEST_F(AdmissionTest, InconsistentOptionsAreRefused) {
  auto no_ca = AdmissionPolicy::create({std::nullopt, true, std::nullopt});
  ASSERT_FALSE(no_ca);
  EXPECT_THAT(no_ca.error().message(), HasSubstr("needs a CA"));
  RevocationList list = ca_.revoke(nullptr, {}, {1}, k2026Jan1).value();
  EXPECT_FALSE(AdmissionPolicy::create({std::nullopt, false, list}));
  auto foreign = AdmissionPolicy::create({other_ca_.public_key(), true, list});
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code(), core::ErrorCode::kPermissionDenied);
  AdmissionPolicy open = AdmissionPolicy::create({}).value();
  EXPECT_EQ(open.update_revocation_list(list).error().code(), core::ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace synapse::crypto
