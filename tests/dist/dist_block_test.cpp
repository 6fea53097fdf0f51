// Multi-rank saves of pieces that are not whole row blocks of small tensors: ranks' byte
// ranges meeting inside a disk block (the blocks wholly inside a piece go O_DIRECT, the
// shared ones through the page cache), source memory congruent with the file offsets
// (written in place) or not (staged), and column blocks of a 2-D tensor (one byte range
// per row and rank, interleaved across ranks). Ranks run as threads; the set must be
// byte-exact, strictly valid and CRC-verified. Runs on the engine STSW_IO_BACKEND selects.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "../writer/writer_test_support.hpp"
#include "stsw/aligned_buffer.hpp"
#include "stsw/distributed.hpp"
#include "stsw/reader.hpp"

namespace stsw::dist {
namespace {

using writer_test::TempDir;

constexpr std::uint64_t kBlock = 4096;

// One tensor "t" of `shape` (U8), split among `world` ranks by `pieces_of(rank)`.
struct Split {
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> whole;
  std::vector<RankDecl> decls;

  Split(int world, std::vector<std::uint64_t> s,
        const std::function<std::vector<std::pair<std::uint64_t, std::uint64_t>>(int)>& pieces_of)
      : shape(std::move(s)), decls(world) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    whole = writer_test::pattern(n, 7);
    for (int r = 0; r < world; ++r) {
      decls[r].rank = r;
      for (auto [b, e] : pieces_of(r)) decls[r].pieces.push_back({"t", DType::U8, shape, b, e});
    }
  }

  // Runs the protocol. `congruent`: each rank's source bytes sit at an address congruent
  // with their file offset modulo 4096 (written in place); else one byte off (staged).
  SaveResult save(const std::string& path, bool congruent) {
    SaveOptions o;
    const SavePlan plan = plan_save(decls, o);
    SaveCoordinator coord(path, plan, o);
    const int world = static_cast<int>(decls.size());
    std::vector<RankReport> reports(world);
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        std::vector<AlignedBuffer> store;
        std::vector<std::span<const std::byte>> data(decls[r].pieces.size());
        for (const PieceWrite& w : plan.writes) {
          if (w.rank != r) continue;
          const std::uint64_t len = w.end - w.begin;
          store.emplace_back(static_cast<std::size_t>(len + 2 * kBlock));
          const std::uint64_t skew = (w.file_offset + (congruent ? 0 : 1)) % kBlock;
          std::byte* at = store.back().data() + skew;
          std::memcpy(at, whole.data() + w.begin, len);
          data[w.piece] = {at, static_cast<std::size_t>(len)};
        }
        reports[r] = write_rank(plan, r, coord.temp_files(), data, true);
      });
    }
    for (auto& t : threads) t.join();
    for (const RankReport& rep : reports) EXPECT_TRUE(rep.ok) << rep.error;
    return coord.commit(reports);
  }

  void check(const SaveResult& res) const {
    ASSERT_EQ(res.files.size(), 1U);
    (void)writer_test::check_file(res.files[0], true);
    const StreamReader r = StreamReader::open(res.files[0]);
    const VerifyReport v = r.verify().get();
    EXPECT_TRUE(v.passed());
    EXPECT_EQ(v.ok, 1U);
    std::vector<std::byte> got(whole.size());
    r.read_into("t", got).get();
    EXPECT_TRUE(got == whole);
  }
};

// Row blocks of an odd row size: every boundary between two ranks falls inside a block.
std::vector<std::pair<std::uint64_t, std::uint64_t>> rows_of(int r, int world, std::uint64_t rows,
                                                             std::uint64_t row) {
  const std::uint64_t per = rows / static_cast<std::uint64_t>(world);
  return {{r * per * row, (r + 1 == world ? rows : (r + 1) * per) * row}};
}

// Columns [r*C/world, (r+1)*C/world) of every row of a [rows, cols] U8 tensor.
std::vector<std::pair<std::uint64_t, std::uint64_t>> cols_of(int r, int world, std::uint64_t rows,
                                                             std::uint64_t cols) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  const std::uint64_t c0 = cols * r / world, c1 = cols * (r + 1) / world;
  for (std::uint64_t i = 0; i < rows; ++i) out.emplace_back(i * cols + c0, i * cols + c1);
  return out;
}

class DistBlocks : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(DistBlocks, RowBlocksMeetingInsideDiskBlocks) {
  const auto [world, congruent] = GetParam();
  TempDir dir;
  const std::uint64_t rows = 1999, row = 4099;  // ~8 MB: >= 2 MB a rank, odd boundaries
  Split s(world, {rows, row}, [&, w = world](int r) { return rows_of(r, w, rows, row); });
  s.check(s.save(dir.file("model.safetensors"), congruent));
}

TEST_P(DistBlocks, ColumnBlocksInterleaveAcrossRanks) {
  const auto [world, congruent] = GetParam();
  TempDir dir;
  const std::uint64_t rows = 96, cols = 3 * 8192 + 12;  // pieces of several blocks and odd ends
  Split s(world, {rows, cols}, [&, w = world](int r) { return cols_of(r, w, rows, cols); });
  EXPECT_EQ(s.decls[0].pieces.size(), rows);
  s.check(s.save(dir.file("model.safetensors"), congruent));
}

INSTANTIATE_TEST_SUITE_P(World, DistBlocks,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()));

// The plan of column pieces: one write per (rank, row), at the row's file offset, and the
// tiling check still finds a missing column range.
TEST(DistPlanColumns, OneWritePerRowAndRankAtTheRowsOffset) {
  const std::uint64_t rows = 4, cols = 10;
  Split s(2, {rows, cols}, [&](int r) { return cols_of(r, 2, rows, cols); });
  const SavePlan plan = plan_save(s.decls, {});
  ASSERT_EQ(plan.writes.size(), 2 * rows);
  const std::uint64_t base = plan.writes[0].file_offset;
  for (const PieceWrite& w : plan.writes) {
    EXPECT_TRUE(w.write);
    EXPECT_EQ(w.file_offset - base, w.begin);
    EXPECT_EQ(w.end - w.begin, cols / 2);
  }
  s.decls[1].pieces.erase(s.decls[1].pieces.begin() + 2);  // row 2's right half
  try {
    (void)plan_save(s.decls, {});
    FAIL() << "a missing column range must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("bytes [25, 30)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stsw::dist
