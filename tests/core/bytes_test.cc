#include "synapse/core/bytes.h"

#include <gtest/gtest.h>

namespace synapse::core {
namespace {

TEST(Hex, EncodesLowerCaseAndDecodesBothCases) {
  Bytes data = {0x00, 0xab, 0xff, 0x10};
  EXPECT_EQ(to_hex(data), "00abff10");
  EXPECT_EQ(from_hex("00ABff10").value(), data);
}

TEST(Hex, RejectsOddLengthAndBadDigitsNamingThePosition) {
  EXPECT_EQ(from_hex("abc").error().code(), ErrorCode::kInvalidArgument);
  auto bad = from_hex("00zz");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("position 2"), std::string::npos);
}

TEST(Varint, RoundTripsBoundaryValues) {
  for (uint64_t value :
       std::initializer_list<uint64_t>{0, 1, 127, 128, 300, 16383, 16384, UINT64_MAX}) {
    Bytes out;
    append_varint(out, value);
    ByteView in = out;
    EXPECT_EQ(read_varint(in).value(), value);
    EXPECT_TRUE(in.empty());
  }
}

TEST(Varint, EncodesThreeHundredAsTwoBytes) {
  Bytes out;
  append_varint(out, 300);
  EXPECT_EQ(out, (Bytes{0xac, 0x02}));
}

TEST(Varint, RejectsTruncatedOverlongAndOverflowingInput) {
  Bytes truncated = {0x80, 0x80};
  ByteView in = truncated;
  EXPECT_FALSE(read_varint(in));
  Bytes overflow(9, 0xff);
  overflow.push_back(0x02);
  in = overflow;
  EXPECT_FALSE(read_varint(in));
  Bytes overlong(11, 0x80);
  in = overlong;
  EXPECT_FALSE(read_varint(in));
}

}  // namespace
}  // namespace synapse::core
