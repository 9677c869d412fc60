#include "synapse/crypto/swarm_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

#include "test_util.h"

namespace synapse::crypto {
namespace {

using ::testing::HasSubstr;

// The key 00 01 02 ... 1f.
constexpr std::string_view kHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr std::string_view kBase64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::string_view kHeader = "/key/swarm/psk/1.0.0/\n";

std::array<uint8_t, SwarmKey::kSize> counting_key() {
  std::array<uint8_t, SwarmKey::kSize> key;
  std::iota(key.begin(), key.end(), 0);
  return key;
}

core::Result<SwarmKey> parse(std::string_view text) {
  return SwarmKey::parse(core::as_bytes(text));
}

std::string parse_error(std::string_view text) {
  auto key = parse(text);
  EXPECT_FALSE(key.has_value());
  if (key) return "";
  EXPECT_EQ(key.error().code(), core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(key.error().message().find('\n'), std::string::npos);
  return key.error().message();
}

TEST(SwarmKey, ParsesBase16AndWritesItBackUnchanged) {
  std::string text = std::string(kHeader) + "/base16/\n" + std::string(kHex) + "\n";
  auto key = parse(text);
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), counting_key());
  EXPECT_EQ(key->to_file_text(), text);
}

TEST(SwarmKey, AcceptsUpperCaseHexAndTrailingWhitespace) {
  std::string upper(kHex);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  auto key = parse(std::string(kHeader) + "/base16/\n" + upper + " \t\n\n");
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), counting_key());
}

TEST(SwarmKey, AcceptsAKeyWithoutAFinalNewline) {
  auto key = parse(std::string(kHeader) + "/base16/\n" + std::string(kHex));
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), counting_key());
}

TEST(SwarmKey, AcceptsCrlfLineEnds) {
  auto key = parse("/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + std::string(kHex) + "\r\n");
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), counting_key());
}

TEST(SwarmKey, ParsesBase64) {
  auto key = parse(std::string(kHeader) + "/base64/\n" + std::string(kBase64) + "\n");
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), counting_key());
  auto crlf = parse("/key/swarm/psk/1.0.0/\r\n/base64/\r\n" + std::string(kBase64) + "\r\n");
  ASSERT_TRUE(crlf.has_value()) << crlf.error().message();
  EXPECT_EQ(crlf->secret(), counting_key());
}

TEST(SwarmKey, ParsesBinAsExactly32RawBytes) {
  std::array<uint8_t, SwarmKey::kSize> secret = counting_key();
  secret[0] = '\n';  // raw bytes may be anything, newlines and spaces included
  secret[31] = ' ';
  std::string text = std::string(kHeader) + "/bin/\n";
  text.append(secret.begin(), secret.end());
  auto key = parse(text);
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), secret);
  EXPECT_THAT(parse_error(text + "\n"), HasSubstr("key is 33 bytes, expected 32"));
}

TEST(SwarmKey, RejectsAMissingHeader) {
  const std::string_view cases[] = {"", "/base16/\n", "/key/swarm/psk/2.0.0/\n/base16/\n",
                                    "/key/swarm/psk/1.0.0/"};
  for (std::string_view text : cases) {
    EXPECT_EQ(parse_error(text), "swarm key: missing header /key/swarm/psk/1.0.0/") << text;
  }
}

TEST(SwarmKey, RejectsAMissingEncodingLine) {
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base16/"),
            "swarm key: missing encoding line after the header");
}

TEST(SwarmKey, NamesAnUnknownEncoding) {
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base32/\nAAAA\n"),
            "swarm key: unknown encoding '/base32/' (expected /base16/, /base64/ or /bin/)");
  EXPECT_THAT(parse_error(std::string(kHeader) + "/base\x01/\n"), HasSubstr("'/base?/'"));
}

TEST(SwarmKey, RejectsAKeyOfTheWrongLength) {
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base16/\n" + std::string(kHex.substr(2)) + "\n"),
            "swarm key: key is 31 bytes, expected 32");
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base16/\n" + std::string(kHex) + "00\n"),
            "swarm key: key is 33 bytes, expected 32");
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base16/\n"),
            "swarm key: key is 0 bytes, expected 32");
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base64/\n" +
                        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n"),
            "swarm key: key is 31 bytes, expected 32");
  EXPECT_EQ(parse_error(std::string(kHeader) + "/bin/\n" + std::string(31, 'x')),
            "swarm key: key is 31 bytes, expected 32");
}

TEST(SwarmKey, NamesAnInvalidHexDigit) {
  std::string hex(kHex);
  hex[5] = 'g';
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base16/\n" + hex + "\n"),
            "swarm key: invalid hex digit 'g' at position 5 of the key");
  EXPECT_THAT(parse_error(std::string(kHeader) + "/base16/\n00 " + std::string(kHex) + "\n"),
              HasSubstr("invalid hex digit ' ' at position 2"));
}

TEST(SwarmKey, RejectsAnOddNumberOfHexDigits) {
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base16/\n" + std::string(kHex.substr(1)) + "\n"),
            "swarm key: key has an odd number of hex digits (63)");
}

TEST(SwarmKey, RejectsInvalidBase64) {
  EXPECT_EQ(parse_error(std::string(kHeader) + "/base64/\n!!!!\n"),
            "swarm key: invalid base64 in the key");
}

TEST(SwarmKey, RejectsAFileLargerThanTheLimit) {
  std::string text = std::string(kHeader) + "/base16/\n" + std::string(kHex);
  text.resize(SwarmKey::kMaxFileSize + 1, '\n');
  EXPECT_EQ(parse_error(text), "swarm key: file is 1025 bytes, larger than 1024");
}

TEST(SwarmKey, IdIsAStableFingerprintThatDiffersBetweenKeys) {
  SwarmKey key = parse(std::string(kHeader) + "/base16/\n" + std::string(kHex)).value();
  EXPECT_EQ(key.id(), "a050c933c54c4905");  // sha256("synapse swarm id v1" || key)[0:8]
  core::SeededRng rng(9);
  SwarmKey other = SwarmKey::generate(rng);
  EXPECT_NE(other.id(), key.id());
  EXPECT_EQ(other.id().size(), 16u);
  EXPECT_EQ(SwarmKey(other).id(), other.id());
}

TEST(SwarmKey, GenerateDrawsTheKeyFromTheRng) {
  core::SeededRng a(10);
  core::SeededRng b(10);
  SwarmKey first = SwarmKey::generate(a);
  EXPECT_EQ(SwarmKey::generate(b).secret(), first.secret());
  EXPECT_NE(SwarmKey::generate(a).secret(), first.secret());
  auto reparsed = parse(first.to_file_text());
  ASSERT_TRUE(reparsed.has_value());
  EXPECT_EQ(reparsed->secret(), first.secret());
}

TEST(SwarmKey, LoadReadsAFile) {
  testing::TempDir dir;
  auto path = dir.path() / "swarm.key";
  std::string text = std::string(kHeader) + "/base16/\n" + std::string(kHex) + "\n";
  ASSERT_TRUE(core::Env::posix().write_file_atomic(path, core::as_bytes(text), 0600, false));
  auto key = SwarmKey::load(core::Env::posix(), path);
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->secret(), counting_key());
}

TEST(SwarmKey, LoadPrefixesErrorsWithThePath) {
  testing::TempDir dir;
  auto path = dir.path() / "swarm.key";
  ASSERT_TRUE(core::Env::posix().write_file_atomic(path, core::as_bytes("hello\n"), 0600, false));
  auto key = SwarmKey::load(core::Env::posix(), path);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().message(),
            path.string() + ": swarm key: missing header /key/swarm/psk/1.0.0/");
}

TEST(SwarmKey, LoadReportsAMissingOrOversizedFile) {
  testing::TempDir dir;
  auto missing = SwarmKey::load(core::Env::posix(), dir.path() / "none.key");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), core::ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("none.key"));

  auto path = dir.path() / "big.key";
  std::string big(SwarmKey::kMaxFileSize + 1, '\n');
  ASSERT_TRUE(core::Env::posix().write_file_atomic(path, core::as_bytes(big), 0600, false));
  auto oversized = SwarmKey::load(core::Env::posix(), path);
  ASSERT_FALSE(oversized.has_value());
  EXPECT_THAT(oversized.error().message(), HasSubstr("big.key is larger than 1024 bytes"));
}

}  // namespace
}  // namespace synapse::crypto
