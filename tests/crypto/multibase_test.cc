#include "synapse/crypto/multibase.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "synapse/core/rng.h"

namespace synapse::crypto {
namespace {

using ::testing::HasSubstr;

core::Bytes bytes_of(std::string_view text) {
  core::ByteView view = core::as_bytes(text);
  return core::Bytes(view.begin(), view.end());
}

std::string error_of(const core::Result<core::Bytes>& result) {
  EXPECT_FALSE(result.has_value());
  if (result) return "";
  EXPECT_EQ(result.error().code(), core::ErrorCode::kInvalidArgument);
  return result.error().message();
}

TEST(Base32, EncodesTheRfc4648VectorsInLowerCaseWithoutPadding) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "my"},
      {"fo", "mzxq"},
      {"foo", "mzxw6"},
      {"foob", "mzxw6yq"},
      {"fooba", "mzxw6ytb"},
      {"foobar", "mzxw6ytboi"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base32_lower_encode(core::as_bytes(plain)), encoded);
    auto decoded = base32_lower_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded << ": " << decoded.error().message();
    EXPECT_EQ(*decoded, bytes_of(plain));
  }
}

TEST(Base32, RoundTripsRandomBytesOfEveryLengthUpTo100) {
  core::SeededRng rng(7);
  for (size_t size = 0; size <= 100; ++size) {
    core::Bytes data(size);
    rng.fill(data);
    std::string text = base32_lower_encode(data);
    EXPECT_EQ(text.size(), (size * 8 + 4) / 5);
    auto decoded = base32_lower_decode(text);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base32, RejectsUpperCaseAndSaysWhere) {
  EXPECT_THAT(error_of(base32_lower_decode("mzxW6")),
              HasSubstr("invalid base32 character 'W' at position 3 (base32 here is lower case)"));
}

TEST(Base32, RejectsPadding) {
  EXPECT_THAT(error_of(base32_lower_decode("my======")),
              HasSubstr("invalid base32 character '=' at position 2 (base32 here has no padding)"));
}

TEST(Base32, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_THAT(error_of(base32_lower_decode("mz1q")),
              HasSubstr("invalid base32 character '1' at position 2"));
  EXPECT_THAT(error_of(base32_lower_decode("my8")), HasSubstr("'8' at position 2"));
  EXPECT_THAT(error_of(base32_lower_decode(std::string_view("m\0", 2))),
              HasSubstr("invalid base32 character byte 0x00 at position 1"));
}

TEST(Base32, RejectsLengthsThatNoByteStringEncodesTo) {
  EXPECT_THAT(error_of(base32_lower_decode("m")), HasSubstr("invalid base32 length 1"));
  EXPECT_THAT(error_of(base32_lower_decode("mzx")), HasSubstr("invalid base32 length 3"));
  EXPECT_THAT(error_of(base32_lower_decode("mzxw6y")), HasSubstr("invalid base32 length 6"));
}

TEST(Base32, RejectsNonZeroTrailingBits) {
  // "my" is "f"; "mz" has the same first byte and a 1 in the two unused bits.
  EXPECT_THAT(error_of(base32_lower_decode("mz")), HasSubstr("non-zero trailing bits"));
}

TEST(Base58btc, EncodesWithTheBitcoinAlphabet) {
  EXPECT_EQ(base58btc_encode(core::as_bytes("hello world")), "StV1DL6CwTryKyV");
  auto decoded = base58btc_decode("StV1DL6CwTryKyV");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, bytes_of("hello world"));
}

TEST(Base58btc, KeepsLeadingZeroBytesAsOnes) {
  const core::Bytes data = {0, 0, 1};
  EXPECT_EQ(base58btc_encode(data), "112");
  EXPECT_EQ(base58btc_decode("112").value(), data);
  EXPECT_EQ(base58btc_encode({}), "");
  EXPECT_EQ(base58btc_decode("").value(), core::Bytes());
}

TEST(Base58btc, RoundTripsRandomBytes) {
  core::SeededRng rng(8);
  for (size_t size = 0; size <= 64; ++size) {
    core::Bytes data(size);
    rng.fill(data);
    if (size > 2) data[0] = 0;  // exercise leading zeros too
    auto decoded = base58btc_decode(base58btc_encode(data));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base58btc, RejectsCharactersOutsideTheAlphabetAndSaysWhere) {
  EXPECT_THAT(error_of(base58btc_decode("StVl")),
              HasSubstr("invalid base58 character 'l' at position 3"));
  for (char c : {'0', 'O', 'I', 'l', '+', ' '}) {
    EXPECT_THAT(error_of(base58btc_decode(std::string("St") + c)),
                HasSubstr("character '" + std::string(1, c) + "' at position 2"));
  }
}

}  // namespace
}  // namespace synapse::crypto
