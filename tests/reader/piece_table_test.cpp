// Joining per-piece CRCs in order.
#include "reader/piece_table.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "stsw/crc32.hpp"

namespace stsw::detail {
namespace {

std::vector<std::byte> bytes(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i * 7 + 3);
  return v;
}

TEST(PieceTable, OutOfOrderPiecesJoinToTheWholeCrc) {
  const auto b = bytes(1000);
  PieceTable t(2);
  const std::span<const std::byte> s(b);
  t.add(0, {600, 400, crc32(s.subspan(600))});
  t.add(0, {0, 250, crc32(s.subspan(0, 250))});
  t.add(1, {0, 10, crc32(s.first(10))});
  t.add(0, {250, 350, crc32(s.subspan(250, 350))});
  EXPECT_EQ(t.combine(0, 1000), crc32(s));
  EXPECT_EQ(t.combine(1, 10), crc32(s.first(10)));
}

TEST(PieceTable, GapsOverlapsAndShortCoverageAreDetected) {
  const auto b = bytes(100);
  const std::span<const std::byte> s(b);
  PieceTable gap(1);
  gap.add(0, {0, 40, crc32(s.first(40))});
  gap.add(0, {50, 50, crc32(s.subspan(50))});
  EXPECT_FALSE(gap.combine(0, 100).has_value());

  PieceTable overlap(1);
  overlap.add(0, {0, 60, crc32(s.first(60))});
  overlap.add(0, {50, 50, crc32(s.subspan(50))});
  EXPECT_FALSE(overlap.combine(0, 100).has_value());

  PieceTable shorter(1);
  shorter.add(0, {0, 60, crc32(s.first(60))});
  EXPECT_FALSE(shorter.combine(0, 100).has_value());
}

TEST(PieceTable, EmptySlotIsTheEmptyCrc) {
  PieceTable t(1);
  EXPECT_EQ(t.combine(0, 0), 0U);
}

}  // namespace
}  // namespace stsw::detail
