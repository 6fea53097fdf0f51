// The one size parser and byte formatter (stsw/units.hpp): "GB" is decimal, "G"/"GiB"
// binary, everywhere (CLI, stsw-bench).
#include "stsw/units.hpp"

#include <gtest/gtest.h>

namespace stsw {
namespace {

TEST(Units, PlainNumbersAreBytes) {
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("4096"), 4096U);
  EXPECT_EQ(parse_size("4096B"), 4096U);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(Units, SingleLettersAndIecUnitsAreBinary) {
  EXPECT_EQ(parse_size("64K"), 64U << 10);
  EXPECT_EQ(parse_size("64k"), 64U << 10);
  EXPECT_EQ(parse_size("8MiB"), 8U << 20);
  EXPECT_EQ(parse_size("5G"), 5ULL << 30);
  EXPECT_EQ(parse_size("5GiB"), 5ULL << 30);
  EXPECT_EQ(parse_size("4gib"), 4ULL << 30);
  EXPECT_EQ(parse_size("1T"), 1ULL << 40);
}

TEST(Units, TwoLetterSiUnitsAreDecimal) {
  EXPECT_EQ(parse_size("5GB"), 5'000'000'000ULL);
  EXPECT_EQ(parse_size("5gb"), 5'000'000'000ULL);
  EXPECT_EQ(parse_size("500MB"), 500'000'000ULL);
  EXPECT_EQ(parse_size("2kB"), 2000U);
  EXPECT_EQ(parse_size("1TB"), 1'000'000'000'000ULL);
}

TEST(Units, EverythingElseIsRefused) {
  for (const char* bad : {"", "G", "GB", "1.5G", "-1", " 1", "1 G", "4X", "1GBB", "1iB",
                          "99999999999999999999", "20000000000T", "18446744073709551616"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
}

TEST(Units, FormatBytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(64ULL << 20), "64.0 MiB");
  EXPECT_EQ(format_bytes(4ULL << 30), "4.00 GiB");
  EXPECT_EQ(format_bytes(3ULL << 50), "3.00 PiB");
}

}  // namespace
}  // namespace stsw
