// CRC-32 (zlib's crc32 / crc32_combine) against an independent bitwise reference.
#include "stsw/crc32.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace stsw {
namespace {

constexpr std::uint32_t kPoly = 0xEDB88320U;  // reflected IEEE 802.3

std::uint32_t bitwise_crc(std::span<const std::byte> data, std::uint32_t crc = 0) {
  crc = ~crc;
  for (std::byte b : data) {
    crc ^= static_cast<std::uint8_t>(b);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1U) != 0 ? kPoly : 0U);
  }
  return ~crc;
}

// GF(2) polynomial product modulo the CRC polynomial, reflected bit order (bit 31
// holds the coefficient of x^0).
std::uint32_t mul_mod(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (int i = 0; i < 32; ++i) {
    if ((a & (0x80000000U >> i)) != 0) product ^= b;
    b = (b & 1U) != 0 ? (b >> 1) ^ kPoly : b >> 1;  // b *= x
  }
  return product;
}

// x^(8 n) mod P by square-and-multiply: the effect of n zero bytes on the register.
std::uint32_t x_pow_8n(std::uint64_t n) {
  std::uint32_t result = 0x80000000U;  // 1
  std::uint32_t base = 0x00800000U;    // x^8
  for (; n != 0; n >>= 1) {
    if ((n & 1U) != 0) result = mul_mod(result, base);
    base = mul_mod(base, base);
  }
  return result;
}

std::uint32_t reference_combine(std::uint32_t a, std::uint32_t b, std::uint64_t len_b) {
  return mul_mod(x_pow_8n(len_b), a) ^ b;
}

std::vector<std::byte> random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

std::span<const std::byte> text(std::string_view s) { return std::as_bytes(std::span(s)); }

TEST(Crc32, CheckValue) {
  EXPECT_EQ(crc32(text("123456789")), 0xCBF43926U);
  EXPECT_EQ(bitwise_crc(text("123456789")), 0xCBF43926U);
  EXPECT_EQ(crc32({}), 0U);
  EXPECT_EQ(crc32(text("a")), 0xE8B7BE43U);  // zlib.crc32(b"a")
}

TEST(Crc32, MatchesBitwiseReferenceOnRandomBuffers) {
  std::mt19937_64 rng(42);
  const auto data = random_bytes(rng, 70000);
  for (std::size_t len :
       {0UL, 1UL, 3UL, 7UL, 8UL, 15UL, 16UL, 63UL, 64UL, 255UL, 256UL, 1000UL, 4096UL, 65537UL}) {
    for (std::size_t start : {0UL, 1UL, 3UL}) {
      const auto piece = std::span(data).subspan(start, len);
      EXPECT_EQ(crc32(piece), bitwise_crc(piece)) << "len " << len << " start " << start;
    }
  }
}

TEST(Crc32, StreamingEqualsOneShot) {
  std::mt19937_64 rng(7);
  const auto data = random_bytes(rng, 100000);
  const std::uint32_t whole = crc32(data);
  for (int round = 0; round < 50; ++round) {
    Crc32 stream;
    std::size_t pos = 0;
    while (pos < data.size()) {
      const std::size_t n = std::min<std::size_t>(rng() % 5000, data.size() - pos);
      stream.update(std::span(data).subspan(pos, n));
      EXPECT_EQ(crc32(std::span(data).subspan(pos, n), crc32(std::span(data).first(pos))),
                crc32(std::span(data).first(pos + n)));
      pos += n;
    }
    EXPECT_EQ(stream.value(), whole);
    EXPECT_EQ(stream.length(), data.size());
  }
}

TEST(Crc32, AppendOfChunkCrcsEqualsOneShot) {
  std::mt19937_64 rng(11);
  const auto data = random_bytes(rng, 50000);
  Crc32 joined;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t n = std::min<std::size_t>(rng() % 3000, data.size() - pos);
    const auto chunk = std::span(data).subspan(pos, n);
    joined.append(crc32(chunk), n);
    pos += n;
  }
  EXPECT_EQ(joined.value(), crc32(data));
  EXPECT_EQ(joined.length(), data.size());
}

TEST(Crc32, ReferenceCombineIsRight) {
  // The reference itself, against real data, before it judges crc32_combine.
  std::mt19937_64 rng(3);
  const auto data = random_bytes(rng, 5000);
  for (int i = 0; i < 200; ++i) {
    const std::size_t split = rng() % (data.size() + 1);
    const auto a = std::span(data).first(split);
    const auto b = std::span(data).subspan(split);
    EXPECT_EQ(reference_combine(bitwise_crc(a), bitwise_crc(b), b.size()), bitwise_crc(data));
  }
}

TEST(Crc32, CombineOfRandomSplitsEqualsWhole) {
  std::mt19937_64 rng(5);
  const auto data = random_bytes(rng, 20000);
  const std::uint32_t whole = crc32(data);
  for (int i = 0; i < 500; ++i) {
    std::size_t split = rng() % (data.size() + 1);
    if (i == 0) split = 0;
    if (i == 1) split = data.size();  // len_b == 0
    const auto a = std::span(data).first(split);
    const auto b = std::span(data).subspan(split);
    EXPECT_EQ(crc32_combine(crc32(a), crc32(b), b.size()), whole) << "split " << split;
  }
}

TEST(Crc32, CombineWithZeroLengthKeepsFirst) {
  EXPECT_EQ(crc32_combine(0x12345678U, 0U, 0), 0x12345678U);
  EXPECT_EQ(crc32_combine(0U, 0U, 0), 0U);
}

TEST(Crc32, CombineHugeLengthsMatchReference) {
  std::mt19937_64 rng(9);
  const std::uint64_t lengths[] = {1,
                                   4095,
                                   (1ULL << 32) - 1,
                                   1ULL << 32,
                                   (1ULL << 32) + 7,
                                   1ULL << 40,
                                   123456789012345ULL,
                                   (1ULL << 63) + 12345,
                                   UINT64_MAX};
  for (std::uint64_t len : lengths) {
    for (int i = 0; i < 8; ++i) {
      const auto a = static_cast<std::uint32_t>(rng());
      const auto b = static_cast<std::uint32_t>(rng());
      EXPECT_EQ(crc32_combine(a, b, len), reference_combine(a, b, len)) << "len " << len;
    }
  }
}

TEST(Crc32, CombineIsAssociativeForHugeLengths) {
  // crc(A ++ B ++ C) two ways, with B and C far larger than memory.
  const std::uint32_t a = 0xDEADBEEF, b = 0x01234567, c = 0x89ABCDEF;
  const std::uint64_t lb = 5ULL << 40, lc = (3ULL << 33) + 1;
  const std::uint32_t left = crc32_combine(crc32_combine(a, b, lb), c, lc);
  const std::uint32_t right = crc32_combine(a, crc32_combine(b, c, lc), lb + lc);
  EXPECT_EQ(left, right);
}

}  // namespace
}  // namespace stsw
