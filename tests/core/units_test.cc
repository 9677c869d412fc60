#include "synapse/core/units.h"

#include <gtest/gtest.h>

namespace synapse::core {
namespace {

TEST(ParseSize, AcceptsBareNumbersAndBinarySuffixes) {
  EXPECT_EQ(parse_size("1048576").value(), 1048576u);
  EXPECT_EQ(parse_size("512K").value(), 512u * 1024);
  EXPECT_EQ(parse_size("512KiB").value(), 512u * 1024);
  EXPECT_EQ(parse_size("1.5G").value(), 3ull << 29);
  EXPECT_EQ(parse_size(" 10 GB ").value(), 10ull << 30);
  EXPECT_EQ(parse_size("0").value(), 0u);
}

TEST(ParseSize, RejectsGarbageUnknownUnitsAndOverflow) {
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("-1M"));
  EXPECT_FALSE(parse_size("12Q"));
  EXPECT_FALSE(parse_size("abc"));
  EXPECT_FALSE(parse_size("99999E"));
  auto bad = parse_size("3 furlongs");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("furlongs"), std::string::npos);
}

TEST(FormatSize, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(2ull << 30), "2.0 GiB");
}

TEST(ParseDuration, AcceptsUnitsCombinationsAndBareSeconds) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parse_duration("90s").value(), milliseconds(90'000));
  EXPECT_EQ(parse_duration("10m").value(), milliseconds(600'000));
  EXPECT_EQ(parse_duration("1h30m").value(), milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("250ms").value(), milliseconds(250));
  EXPECT_EQ(parse_duration("2").value(), milliseconds(2000));
}

TEST(ParseDuration, RejectsUnknownUnitsAndMissingUnits) {
  EXPECT_FALSE(parse_duration("5 fortnights"));
  EXPECT_FALSE(parse_duration("1h30"));
  EXPECT_FALSE(parse_duration(""));
}

}  // namespace
}  // namespace synapse::core
