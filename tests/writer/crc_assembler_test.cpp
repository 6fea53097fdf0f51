// Unit tests of the per-tensor CRC assembly from out-of-order pieces.
#include "writer/crc_assembler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "stsw/crc32.hpp"

namespace stsw::writer {
namespace {

TEST(CrcAssembler, JoinsShuffledPiecesPerTensor) {
  std::mt19937 rng(7);
  std::vector<std::byte> data(100000);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  // Tensors: [0,0) empty, [0,30000), [30000,30000) empty, [30000,100000).
  std::vector<std::uint64_t> ends = {0, 30000, 30000, 100000};
  CrcAssembler a(ends);
  struct P {
    std::uint64_t off, len;
  };
  std::vector<P> pieces;
  std::uint64_t prev = 0;
  for (std::uint64_t e : ends) {
    for (std::uint64_t o = prev; o < e;) {
      const std::uint64_t len = std::min<std::uint64_t>(e - o, 1 + rng() % 7000);
      pieces.push_back({o, len});
      o += len;
    }
    prev = e;
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_FALSE(a.complete());
    const auto& p = pieces[i];
    a.add(p.off, p.len, crc32(std::span(data).subspan(p.off, p.len)));
  }
  ASSERT_TRUE(a.complete());
  EXPECT_EQ(a.assembled(), 100000U);
  EXPECT_EQ(a.crc(0), 0U);
  EXPECT_EQ(a.crc(1), crc32(std::span(data).first(30000)));
  EXPECT_EQ(a.crc(2), 0U);
  EXPECT_EQ(a.crc(3), crc32(std::span(data).subspan(30000)));
}

TEST(CrcAssembler, EmptyPlansAreComplete) {
  EXPECT_TRUE(CrcAssembler(std::vector<std::uint64_t>{}).complete());
  CrcAssembler a({0, 0});
  EXPECT_TRUE(a.complete());
  a.add(0, 0, 123);  // ignored
  EXPECT_EQ(a.crc(1), 0U);
}

TEST(CrcAssembler, WaitsForTheGap) {
  const std::string s = "123456789";
  const auto bytes = std::as_bytes(std::span(s));
  CrcAssembler a({9});
  a.add(4, 5, crc32(bytes.subspan(4)));
  EXPECT_EQ(a.assembled(), 0U);
  EXPECT_FALSE(a.complete());
  a.add(0, 4, crc32(bytes.first(4)));
  EXPECT_TRUE(a.complete());
  EXPECT_EQ(a.crc(0), 0xCBF43926U);
}

}  // namespace
}  // namespace stsw::writer
