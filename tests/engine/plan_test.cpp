// The Planner's piece layout (io/plan.hpp), without I/O: which mode a transfer gets, and
// that its pieces cover the range exactly once. For Shifted reads: body windows aligned,
// each body piece's O_DIRECT landing and bounce block inside its own target, head and
// tail each one aligned block.
#include "io/plan.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace stsw::detail {
namespace {

// A fake destination address `misalign` bytes past a 64 KiB boundary (never dereferenced).
const std::byte* fake_mem(std::uint64_t misalign) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address for the Planner's arithmetic only
  return reinterpret_cast<const std::byte*>(std::uintptr_t{1} << 30) + misalign;
}

// Walks the pieces of `plan` over [begin, begin + length) into `mem` and checks the
// layout; returns the pieces.
std::vector<Piece> walk(const Planner& plan, std::uint64_t begin, std::uint64_t length,
                        const std::byte* mem, std::uint64_t chunk) {
  std::vector<Piece> pieces;
  const std::uint64_t a = plan.alignment();
  std::uint64_t cursor = begin;
  while (cursor < begin + length) {
    const Piece p = plan.at(cursor);
    EXPECT_EQ(p.data_off, cursor);
    EXPECT_GT(p.data_len, 0u);
    EXPECT_LE(p.io_off, p.data_off);
    EXPECT_GE(p.io_off + p.io_len, p.data_off + p.data_len);
    if (plan.shifted()) {
      EXPECT_TRUE(p.direct);
      EXPECT_NE(p.shifted, p.bounced);
      if (p.shifted) {
        EXPECT_EQ(p.io_off, p.data_off);
        EXPECT_EQ(p.io_len, p.data_len);
        EXPECT_TRUE(p.direct);
        EXPECT_EQ(p.io_off % a, 0u);
        EXPECT_EQ(p.io_len % a, 0u);
        EXPECT_GE(p.io_len, a);
        EXPECT_LE(p.io_len, chunk);
        const auto target = reinterpret_cast<std::uintptr_t>(mem) + (p.io_off - begin);
        const std::uint64_t landed = plan.landed(p);
        EXPECT_EQ((target + plan.shift()) % a, 0u) << "landing not aligned";
        // Landing [target + shift, + landed) and bounce [target + landed, + a) inside
        // [target, target + io_len).
        EXPECT_LE(plan.shift() + landed, p.io_len);
        EXPECT_EQ(landed + a, p.io_len);
      } else {
        // Head or tail: inside one block, read whole into the bounce block.
        EXPECT_LT(p.data_len, a) << "head and tail are each under a block";
        EXPECT_EQ(p.io_off % a, 0u);
        EXPECT_EQ(p.io_len, a);
        EXPECT_TRUE(p.data_off == begin || p.data_off + p.data_len == begin + length);
      }
    }
    cursor = p.data_off + p.data_len;
    pieces.push_back(p);
  }
  EXPECT_EQ(cursor, begin + length) << "pieces overrun the range";
  EXPECT_EQ(pieces.size(), plan.count());
  return pieces;
}

TEST(Planner, ShiftedLayoutCoversEveryRangeOnce) {
  for (const std::uint64_t a : {std::uint64_t{512}, std::uint64_t{4096}}) {
    for (const std::uint64_t chunk : {4 * a, std::uint64_t{16} << 10, std::uint64_t{64} << 10}) {
      for (const std::uint64_t begin :
           {std::uint64_t{0}, std::uint64_t{1}, a - 1, a, a + 1, 5 * a + 77, 3 * chunk - 1}) {
        for (const std::uint64_t length :
             {std::uint64_t{1}, a - 1, a, a + 1, 2 * a - 1, 2 * a, 2 * a + 1, chunk - 1, chunk,
              chunk + 1, chunk + a, 2 * chunk, 3 * chunk + 5, 7 * chunk + a - 3}) {
          for (const std::uint64_t misalign :
               {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{7}, a / 2, a - 1, a + 3}) {
            SCOPED_TRACE("a " + std::to_string(a) + " chunk " + std::to_string(chunk) + " begin " +
                         std::to_string(begin) + " length " + std::to_string(length) +
                         " misalign " + std::to_string(misalign));
            const std::byte* mem = fake_mem(misalign);
            const Planner plan(a, begin, length, mem, false, true, chunk);
            const bool congruent = misalign % a == begin % a;
            const bool whole_block = (begin + length) / a * a > (begin + a - 1) / a * a;
            if (congruent) {
              EXPECT_EQ(plan.mode(), Planner::Mode::Split);
            } else if (whole_block) {
              EXPECT_EQ(plan.mode(), Planner::Mode::Shifted);
              EXPECT_GT(plan.shift(), 0u);
              EXPECT_LT(plan.shift(), a);
            } else {
              EXPECT_EQ(plan.mode(), Planner::Mode::Staged);
            }
            EXPECT_EQ(plan.copies(), !congruent);
            const auto pieces = walk(plan, begin, length, mem, chunk);
            if (plan.shifted()) {
              std::uint64_t body = 0;
              for (const Piece& p : pieces) body += p.shifted ? p.io_len : 0;
              EXPECT_EQ(body, (begin + length) / a * a - (begin + a - 1) / a * a);
            }
          }
        }
      }
    }
  }
}

// A chunk size that is not a multiple of the alignment disables O_DIRECT pieces: such a
// read stays Plain (buffered), whatever the destination.
TEST(Planner, ChunkNotAMultipleOfTheAlignmentFallsBackToPlain) {
  const std::uint64_t a = 4096;
  const std::uint64_t chunk = 3 * a + 512;
  for (const std::uint64_t misalign : {std::uint64_t{0}, std::uint64_t{7}}) {
    const Planner plan(a, 0, 10 * chunk, fake_mem(misalign), false, true, chunk);
    EXPECT_EQ(plan.mode(), Planner::Mode::Plain);
    EXPECT_FALSE(plan.copies());
    for (const Piece& p : walk(plan, 0, 10 * chunk, fake_mem(misalign), chunk)) {
      EXPECT_FALSE(p.direct);
      EXPECT_FALSE(p.shifted);
      EXPECT_FALSE(p.bounced);
    }
  }
}

// Scans stay Staged, writes into non-congruent memory stay Plain, buffered files Plain.
TEST(Planner, ScansWritesAndBufferedFilesKeepTheirModes) {
  const std::uint64_t a = 4096;
  const std::uint64_t chunk = 16 << 10;
  EXPECT_EQ(Planner(a, 100, 100000, nullptr, true, true, chunk).mode(), Planner::Mode::Staged);
  EXPECT_EQ(Planner(a, 100, 100000, fake_mem(7), false, false, chunk).mode(), Planner::Mode::Plain);
  EXPECT_EQ(Planner(a, 100, 100000, fake_mem(100), false, false, chunk).mode(),
            Planner::Mode::Split);
  EXPECT_EQ(Planner(1, 100, 100000, fake_mem(7), false, true, chunk).mode(), Planner::Mode::Plain);
}

}  // namespace
}  // namespace stsw::detail
