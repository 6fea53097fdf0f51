// for_each's read planning: windows, alignment, pieces.
#include "reader/window_plan.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>

namespace stsw::detail {
namespace {

// Every invariant for_each relies on.
void check_plan(const std::vector<Extent>& ext, std::uint64_t align, std::uint64_t cap,
                std::uint64_t file_size) {
  const auto windows = plan_windows(ext, align, cap, file_size);
  std::size_t next_tensor = 0;
  std::uint64_t next_offset = 0;
  for (const Window& w : windows) {
    EXPECT_EQ(w.offset % align, 0U);
    EXPECT_LE(w.length, cap);
    const std::uint64_t end = w.offset + w.length;
    if (w.length > 0 && end != file_size) {
      EXPECT_EQ(end % align, 0U) << "only a window at end of file may have an unaligned end";
    }
    for (const Delivery& d : w.pieces) {
      // Deliveries are in tensor order, and within a tensor in offset order.
      if (d.tensor != next_tensor) {
        ASSERT_EQ(next_offset, ext[next_tensor].end - ext[next_tensor].begin);
        ++next_tensor;
        next_offset = 0;
      }
      ASSERT_EQ(d.tensor, next_tensor);
      EXPECT_EQ(d.offset_in_tensor, next_offset);
      EXPECT_EQ(d.first, d.offset_in_tensor == 0);
      const Extent& e = ext[d.tensor];
      EXPECT_EQ(d.last, d.offset_in_tensor + d.length == e.end - e.begin);
      if (d.length > 0) {
        EXPECT_EQ(w.offset + d.pos, e.begin + d.offset_in_tensor)
            << "piece read from the wrong place";
        if (e.end <= file_size) {
          EXPECT_LE(d.pos + d.length, w.length);
        }
      }
      next_offset += d.length;
      // A tensor that fits in one buffer (counting its alignment slack) arrives whole.
      if (e.end - e.begin + e.begin % align <= cap) {
        EXPECT_TRUE(d.first && d.last) << "tensor " << d.tensor;
      }
    }
  }
  ASSERT_EQ(next_tensor + 1, ext.size());
  EXPECT_EQ(next_offset, ext.back().end - ext.back().begin);
}

TEST(WindowPlan, SmallTensorsShareOneWindow) {
  const std::vector<Extent> ext = {{100, 110}, {110, 300}, {300, 300}, {300, 1000}};
  const auto w = plan_windows(ext, 1, 4096, 1000);
  ASSERT_EQ(w.size(), 1U);
  EXPECT_EQ(w[0].offset, 100U);
  EXPECT_EQ(w[0].length, 900U);
  ASSERT_EQ(w[0].pieces.size(), 4U);
  EXPECT_EQ(w[0].pieces[2].length, 0U);
  check_plan(ext, 1, 4096, 1000);
}

TEST(WindowPlan, LargeTensorIsSplitAtBufferBoundaries) {
  const std::vector<Extent> ext = {{64, 100}, {100, 100 + 3 * 4096 + 5}};
  const auto w = plan_windows(ext, 4096, 4096, 100 + 3 * 4096 + 5);
  ASSERT_EQ(w.size(), 4U);
  EXPECT_EQ(w[0].offset, 0U);
  EXPECT_EQ(w[0].pieces.size(), 2U);  // the small tensor and the head of the large one
  EXPECT_EQ(w[1].offset, 4096U);
  EXPECT_EQ(w[3].length, 100U + 5U);  // the unaligned tail at end of file
  check_plan(ext, 4096, 4096, 100 + 3 * 4096 + 5);
}

TEST(WindowPlan, DirectWindowsStartAlignedAndRereadTheSharedPage) {
  // The second tensor does not fit in the first window: its window starts at the aligned
  // offset below it, so the page shared with the first tensor is read twice.
  const std::vector<Extent> ext = {{8, 6000}, {6000, 9000}};
  const auto w = plan_windows(ext, 4096, 8192, 1 << 20);
  ASSERT_EQ(w.size(), 2U);
  EXPECT_EQ(w[0].length, 8192U);
  EXPECT_EQ(w[1].offset, 4096U);
  ASSERT_EQ(w[1].pieces.size(), 1U);
  EXPECT_EQ(w[1].pieces[0].pos, 6000U - 4096U);
  EXPECT_EQ(w[1].pieces[0].length, 3000U);
  EXPECT_EQ(w[1].length, 8192U);
}

TEST(WindowPlan, OnlyZeroSizeTensorsReadNothing) {
  const std::vector<Extent> ext = {{80, 80}, {80, 80}};
  const auto w = plan_windows(ext, 4096, 8192, 80);
  ASSERT_EQ(w.size(), 1U);
  EXPECT_EQ(w[0].length, 0U);
  EXPECT_EQ(w[0].pieces.size(), 2U);
}

TEST(WindowPlan, ReadsStopAtTheEndOfAPartialFile) {
  // A partial file: reads stop at its end; the pieces beyond it fall outside the read.
  const std::vector<Extent> ext = {{16, 500}, {500, 5000}, {5000, 20000}};
  const auto w = plan_windows(ext, 4096, 8192, 1000);
  ASSERT_EQ(w.size(), 3U);
  EXPECT_EQ(w[0].offset + w[0].length, 1000U);
  EXPECT_LE(w[0].pieces[0].pos + w[0].pieces[0].length, w[0].length);
  EXPECT_GT(w[0].pieces[1].pos + w[0].pieces[1].length, w[0].length);
  EXPECT_EQ(w[1].length, 0U);  // starts past the end: nothing to read
}

TEST(WindowPlan, RandomLayoutsKeepEveryInvariant) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    const std::uint64_t align = std::array<std::uint64_t, 3>{1, 512, 4096}[rng() % 3];
    const std::uint64_t cap = 4096 * (1 + rng() % 4);
    std::vector<Extent> ext;
    std::uint64_t pos = 8 + rng() % 5000;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t kind = rng() % 10;
      const std::uint64_t size = kind == 0 ? 0 : kind < 7 ? rng() % 3000 : rng() % 40000;
      ext.push_back({pos, pos + size});
      pos += size;
      if (rng() % 4 == 0) pos += rng() % 100;  // lenient files have holes
    }
    // Mostly complete files (maybe with trailing bytes), sometimes partial ones.
    const std::uint64_t file_size =
        rng() % 5 == 0 ? rng() % (ext.back().end + 1) : ext.back().end + rng() % 70;
    SCOPED_TRACE(::testing::Message() << "round " << round << " align " << align << " cap " << cap);
    check_plan(ext, align, cap, file_size);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace stsw::detail
