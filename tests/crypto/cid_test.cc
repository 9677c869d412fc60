#include "synapse/crypto/cid.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unordered_set>

#include "synapse/crypto/multibase.h"

namespace synapse::crypto {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kV0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
constexpr std::string_view kV0AsV1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby";
constexpr std::string_view kHelloWorldRaw =
    "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";

Sha256Digest digest_of(std::string_view text) { return sha256(core::as_bytes(text)); }

// version, codec, multihash code, digest length, then `digest_size` bytes of 0xab.
core::Bytes binary_cid(std::initializer_list<uint8_t> prefix, size_t digest_size = 32) {
  core::Bytes bytes(prefix);
  bytes.insert(bytes.end(), digest_size, 0xab);
  return bytes;
}

std::string text_cid(std::initializer_list<uint8_t> prefix, size_t digest_size = 32) {
  return "b" + base32_lower_encode(binary_cid(prefix, digest_size));
}

std::string parse_error(std::string_view text) {
  auto cid = Cid::parse(text);
  EXPECT_FALSE(cid.has_value()) << text << " parsed as " << cid->to_string();
  if (cid) return "";
  EXPECT_EQ(cid.error().code(), core::ErrorCode::kInvalidArgument);
  return cid.error().message();
}

std::string bytes_error(const core::Bytes& bytes) {
  auto cid = Cid::from_bytes(bytes);
  EXPECT_FALSE(cid.has_value()) << "parsed as " << cid->to_string();
  if (cid) return "";
  EXPECT_EQ(cid.error().code(), core::ErrorCode::kInvalidArgument);
  return cid.error().message();
}

TEST(Cid, ParsesCidV0AndFormatsItBackUnchanged) {
  auto cid = Cid::parse(kV0);
  ASSERT_TRUE(cid.has_value()) << cid.error().message();
  EXPECT_EQ(cid->version(), 0);
  EXPECT_EQ(cid->codec(), Codec::kDagPb);
  EXPECT_EQ(core::to_hex(cid->digest()),
            "46d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e");
  EXPECT_EQ(cid->to_string(), kV0);
}

TEST(Cid, ConvertsV0ToV1WithTheSameDigestAndBack) {
  Cid v0 = Cid::parse(kV0).value();
  Cid v1 = v0.to_v1();
  EXPECT_EQ(v1.version(), 1);
  EXPECT_EQ(v1.codec(), Codec::kDagPb);
  EXPECT_EQ(v1.digest(), v0.digest());
  EXPECT_EQ(v1.to_string(), kV0AsV1);
  Cid reparsed = Cid::parse(kV0AsV1).value();
  EXPECT_EQ(reparsed, v1);
  EXPECT_EQ(Cid::v0(reparsed.digest()).to_string(), kV0);
}

TEST(Cid, HelloWorldRawBlockHasTheCidThatIpfsGives) {
  Cid cid = Cid::of(1, Codec::kRaw, core::as_bytes("hello world\n"));
  EXPECT_EQ(cid.to_string(), kHelloWorldRaw);
  EXPECT_EQ(Cid::parse(kHelloWorldRaw).value(), cid);
}

TEST(Cid, EmptyRawBlockHasTheCidThatIpfsGives) {
  EXPECT_EQ(Cid::of(1, Codec::kRaw, {}).to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
}

TEST(Cid, V0TextIsAlways46CharactersStartingWithQm) {
  Cid cid = Cid::of(0, Codec::kDagPb, core::as_bytes("hello world\n"));
  EXPECT_EQ(cid.to_string(), "QmZjTnYw2TFhn9Nn7tjmPSoTBoY7YRkwPzwSrSbabY24Kp");
  Sha256Digest zeros{};
  Sha256Digest ones;
  ones.fill(0xff);
  for (const Sha256Digest& digest : {zeros, ones}) {
    std::string text = Cid::v0(digest).to_string();
    EXPECT_EQ(text.size(), 46u);
    EXPECT_TRUE(text.starts_with("Qm")) << text;
    EXPECT_EQ(Cid::parse(text).value(), Cid::v0(digest));
  }
}

TEST(Cid, BinaryFormIsVersionCodecAndMultihash) {
  Sha256Digest digest = digest_of("x");
  core::Bytes v1 = Cid::v1(Codec::kRaw, digest).to_bytes();
  ASSERT_EQ(v1.size(), 36u);
  EXPECT_EQ(core::Bytes(v1.begin(), v1.begin() + 4), (core::Bytes{0x01, 0x55, 0x12, 0x20}));
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), v1.begin() + 4));
  core::Bytes v0 = Cid::v0(digest).to_bytes();
  ASSERT_EQ(v0.size(), 34u);
  EXPECT_EQ(core::Bytes(v0.begin(), v0.begin() + 2), (core::Bytes{0x12, 0x20}));
}

TEST(Cid, BinaryFormRoundTripsForEveryVersionAndCodec) {
  Sha256Digest digest = digest_of("round trip");
  for (const Cid& cid :
       {Cid::v0(digest), Cid::v1(Codec::kRaw, digest), Cid::v1(Codec::kDagPb, digest)}) {
    auto parsed = Cid::from_bytes(cid.to_bytes());
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, cid);
    EXPECT_EQ(Cid::parse(cid.to_string()).value(), cid);
  }
}

TEST(Cid, AcceptsBase58btcCidV1AndFormatsItAsBase32) {
  Cid cid = Cid::parse(kHelloWorldRaw).value();
  auto parsed = Cid::parse("z" + base58btc_encode(cid.to_bytes()));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(*parsed, cid);
  EXPECT_EQ(parsed->to_string(), kHelloWorldRaw);
}

TEST(Cid, MatchesOnlyTheDataItWasMadeFrom) {
  Cid cid = Cid::parse(kHelloWorldRaw).value();
  EXPECT_TRUE(cid.matches(core::as_bytes("hello world\n")));
  EXPECT_FALSE(cid.matches(core::as_bytes("hello world")));
  EXPECT_FALSE(Cid::parse(kV0).value().matches({}));
}

TEST(Cid, EqualCidsCompareAndHashAlike) {
  Cid a = Cid::parse(kHelloWorldRaw).value();
  Cid b = Cid::of(1, Codec::kRaw, core::as_bytes("hello world\n"));
  Cid dag = Cid::v1(Codec::kDagPb, a.digest());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, dag);
  EXPECT_NE(dag, Cid::v0(a.digest()));
  std::unordered_set<Cid> set = {a, b, dag, Cid::v0(a.digest())};
  EXPECT_EQ(set.size(), 3u);
}

TEST(Cid, CodecNamesAreTheMulticodecNames) {
  EXPECT_EQ(codec_name(Codec::kRaw), "raw");
  EXPECT_EQ(codec_name(Codec::kDagPb), "dag-pb");
}

TEST(CidDeathTest, OfAbortsOnARawCidV0) {
  EXPECT_DEATH(Cid::of(0, Codec::kRaw, {}), "CIDv0 is always dag-pb");
}

TEST(Cid, ParseRejectsEmptyText) { EXPECT_THAT(parse_error(""), HasSubstr("empty CID")); }

TEST(Cid, ParseRejectsTextLongerThanTheLimit) {
  std::string text = "b" + std::string(Cid::kMaxTextSize, 'a');
  EXPECT_THAT(parse_error(text), HasSubstr("129 characters, longer than 128"));
}

TEST(Cid, ParseNamesAnUnsupportedMultibasePrefix) {
  EXPECT_THAT(parse_error("f01551220abcd"), HasSubstr("unsupported multibase prefix 'f' (base16)"));
  EXPECT_THAT(parse_error("BAFKREIFJJCIE6LYPI6NY7AMXNFFTAGCLBUXNDQONFIPMB64F2KM2DEVEI4"),
              HasSubstr("unsupported multibase prefix 'B' (base32upper)"));
  EXPECT_THAT(parse_error("Qx"), HasSubstr("unsupported multibase prefix 'Q'"));
  EXPECT_THAT(parse_error("\x01"), HasSubstr("unsupported multibase prefix byte 0x01"));
}

TEST(Cid, ParseRejectsQmTextOfTheWrongLength) {
  EXPECT_THAT(parse_error(kV0.substr(0, 45)), HasSubstr("45 characters, expected 46"));
  EXPECT_THAT(parse_error(std::string(kV0) + "a"), HasSubstr("47 characters, expected 46"));
}

TEST(Cid, ParseNamesABadBase58Digit) {
  std::string text(kV0);
  text[3] = 'l';
  EXPECT_THAT(parse_error(text), HasSubstr("invalid base58 character 'l' at position 3"));
}

TEST(Cid, ParseNamesABadBase32DigitCountingThePrefix) {
  std::string text(kHelloWorldRaw);
  text[5] = 'E';
  EXPECT_THAT(parse_error(text), HasSubstr("invalid base32 character 'E' at position 5"));
  EXPECT_THAT(parse_error("z" + std::string("0")), HasSubstr("'0' at position 1"));
}

TEST(Cid, ParseRejectsTruncatedText) {
  std::string_view text = kHelloWorldRaw.substr(0, 30);
  EXPECT_THAT(parse_error(text), HasSubstr("truncated"));
}

TEST(Cid, ParseRejectsAnUnsupportedVersion) {
  EXPECT_THAT(parse_error(text_cid({0x02, 0x55, 0x12, 0x20})),
              HasSubstr("unsupported CID version 2"));
  EXPECT_THAT(parse_error(text_cid({0x00, 0x55, 0x12, 0x20})),
              HasSubstr("unsupported CID version 0"));
}

TEST(Cid, ParseRejectsAnUnsupportedCodec) {
  EXPECT_THAT(parse_error(text_cid({0x01, 0x71, 0x12, 0x20})), HasSubstr("unsupported codec 0x71"));
}

TEST(Cid, ParseRejectsAnUnsupportedMultihash) {
  EXPECT_THAT(parse_error(text_cid({0x01, 0x55, 0x13, 0x20})),
              HasSubstr("unsupported multihash 0x13"));
  // blake2b-256 (0xb220) needs a two-byte varint.
  EXPECT_THAT(parse_error(text_cid({0x01, 0x55, 0xa0, 0xe4, 0x02, 0x20})),
              HasSubstr("unsupported multihash 0xb220"));
}

TEST(Cid, ParseRejectsADigestLengthOtherThan32) {
  EXPECT_THAT(parse_error(text_cid({0x01, 0x55, 0x12, 0x14}, 20)),
              HasSubstr("digest length is 20 bytes, expected 32"));
}

TEST(Cid, ParseRejectsTrailingBytes) {
  EXPECT_THAT(parse_error(text_cid({0x01, 0x55, 0x12, 0x20}, 33)), HasSubstr("1 trailing bytes"));
}

TEST(Cid, ParseRejectsAMultihashInBase32) {
  EXPECT_THAT(parse_error(text_cid({0x12, 0x20})), HasSubstr("CIDv0 in multibase base32"));
}

TEST(Cid, ParseRejectsAnInvalidMultihashInQmText) {
  // A 46-character "Qm" string whose digits do not decode to 0x12 0x20 + 32 bytes.
  std::string text = base58btc_encode(binary_cid({0x12, 0x1f}, 32));
  ASSERT_TRUE(text.starts_with("Qm")) << text;
  ASSERT_EQ(text.size(), 46u);
  EXPECT_THAT(parse_error(text), HasSubstr("digest length is 31 bytes"));
}

TEST(Cid, FromBytesRejectsEmptyAndOversizedInput) {
  EXPECT_THAT(bytes_error({}), HasSubstr("empty CID"));
  EXPECT_THAT(bytes_error(binary_cid({0x01, 0x55, 0x12, 0x20}, 61)),
              HasSubstr("65 bytes, longer than 64"));
}

TEST(Cid, FromBytesRejectsNonMinimalVarints) {
  EXPECT_THAT(bytes_error(binary_cid({0x81, 0x00, 0x55, 0x12, 0x20})),
              HasSubstr("CID version: varint is not minimally encoded"));
  EXPECT_THAT(bytes_error(binary_cid({0x01, 0xd5, 0x00, 0x12, 0x20})),
              HasSubstr("CID codec: varint is not minimally encoded"));
}

TEST(Cid, FromBytesRejectsTruncatedInput) {
  EXPECT_THAT(bytes_error({0x01, 0x55, 0x12, 0x20, 0xab}), HasSubstr("digest has 1 of 32 bytes"));
  EXPECT_THAT(bytes_error({0x01, 0x55}), HasSubstr("multihash code: truncated varint"));
  EXPECT_THAT(bytes_error({0x01, 0x80}), HasSubstr("CID codec: truncated varint"));
}

TEST(Cid, FromBytesRejectsTrailingBytesAfterAV0Multihash) {
  EXPECT_THAT(bytes_error(binary_cid({0x12, 0x20}, 34)), HasSubstr("2 trailing bytes"));
}

}  // namespace
}  // namespace synapse::crypto
