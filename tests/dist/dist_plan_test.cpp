// Multi-rank checkpoints, pure logic: the layout plan from the ranks' declarations (order
// independence, tiling, replicas written once, shard split) and the CRC assembly.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "stsw/crc32.hpp"
#include "stsw/distributed.hpp"
#include "stsw/error.hpp"

namespace stsw::dist {
namespace {

PieceDecl piece(const std::string& name, std::vector<std::uint64_t> shape, std::uint64_t b,
                std::uint64_t e, DType dt = DType::F32) {
  return {name, dt, std::move(shape), b, e};
}

// Two ranks: "w" [4, 4] F32 row-sharded (32 bytes each), "b" [4] replicated.
std::vector<RankDecl> two_ranks() {
  return {{0, {piece("w", {4, 4}, 0, 32), piece("b", {4}, 0, 16)}},
          {1, {piece("b", {4}, 0, 16), piece("w", {4, 4}, 32, 64)}}};
}

Errc code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return Errc::Io;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(DistPlan, IndependentOfRankOrder) {
  auto ranks = two_ranks();
  const SavePlan a = plan_save(ranks, {});
  std::reverse(ranks.begin(), ranks.end());
  const SavePlan b = plan_save(ranks, {});
  ASSERT_EQ(a.shards.size(), 1U);
  EXPECT_EQ(a.shards[0].tensors, b.shards[0].tensors);
  EXPECT_EQ(a.shards[0].header_size, b.shards[0].header_size);
  ASSERT_EQ(a.writes.size(), b.writes.size());
  for (std::size_t i = 0; i < a.writes.size(); ++i) {
    EXPECT_EQ(a.writes[i].file_offset, b.writes[i].file_offset);
    EXPECT_EQ(a.writes[i].write, b.writes[i].write);
  }
  EXPECT_EQ(a.total_size, 80U);
}

TEST(DistPlan, RowShardsLandContiguouslyAndReplicasAreWrittenOnce) {
  const SavePlan p = plan_save(two_ranks(), {});
  const PlannedShard& sh = p.shards[0];
  ASSERT_EQ(sh.tensors.size(), 2U);
  // Canonical order (same dtype: by name): "b" then "w".
  EXPECT_EQ(sh.tensors[0].name, "b");
  EXPECT_EQ(sh.tensors[1].name, "w");
  EXPECT_EQ((8 + sh.header_size) % 64, 0U);
  const std::uint64_t data = 8 + sh.header_size;
  std::map<std::pair<int, std::size_t>, PieceWrite> by;
  for (const PieceWrite& w : p.writes) by[std::make_pair(w.rank, w.piece)] = w;
  const auto at = [&](int r, std::size_t i) { return by.at(std::make_pair(r, i)); };
  EXPECT_EQ(at(0, 0).file_offset, data + 16);  // w rows 0-1
  EXPECT_EQ(at(1, 1).file_offset, data + 48);  // w rows 2-3
  EXPECT_TRUE(at(0, 1).write);                 // b: rank 0 writes it
  EXPECT_FALSE(at(1, 0).write);                // rank 1 only checksums its replica
  EXPECT_EQ(at(1, 0).file_offset, data);
}

TEST(DistPlan, SplitsIntoShardsLikeDump) {
  SaveOptions o;
  o.max_shard_size = 40;
  const SavePlan p = plan_save(two_ranks(), o);
  ASSERT_EQ(p.shards.size(), 2U);
  EXPECT_EQ(p.tensors[0].shard, 0U);
  EXPECT_EQ(p.tensors[1].shard, 1U);
  ASSERT_TRUE(p.metadata);
  EXPECT_EQ(p.metadata->at("format"), "pt");
  // The header has room for a 10-digit crc32 in every entry.
  EncodeOptions eo;
  eo.align = p.align;
  eo.exact_header_size = p.shards[1].header_size;
  auto t = p.shards[1].tensors;
  t[0].crc32 = 0xFFFFFFFFU;
  EXPECT_NO_THROW((void)encode_header(t, p.metadata, eo));
}

TEST(DistPlan, GapIsAnErrorNamingTensorAndOffset) {
  const std::vector<RankDecl> r = {{0, {piece("w", {4, 4}, 0, 32)}},
                                   {1, {piece("w", {4, 4}, 40, 64)}}};
  EXPECT_EQ(code_of([&] { (void)plan_save(r, {}); }), Errc::InvalidArgument);
  EXPECT_NE(message_of([&] { (void)plan_save(r, {}); }).find("'w': no rank holds bytes [32, 40)"),
            std::string::npos);
  const std::vector<RankDecl> tail = {{0, {piece("w", {4, 4}, 0, 32)}}};
  EXPECT_NE(message_of([&] { (void)plan_save(tail, {}); }).find("bytes [32, 64)"),
            std::string::npos);
}

TEST(DistPlan, OverlapIsAnError) {
  const std::vector<RankDecl> r = {{0, {piece("w", {4, 4}, 0, 40)}},
                                   {1, {piece("w", {4, 4}, 32, 64)}}};
  const std::string m = message_of([&] { (void)plan_save(r, {}); });
  EXPECT_NE(m.find("overlaps"), std::string::npos) << m;
  EXPECT_NE(m.find("rank 1"), std::string::npos) << m;
}

TEST(DistPlan, DisagreeingDtypeOrShapeNamesBothRanks) {
  const std::vector<RankDecl> r = {{0, {piece("w", {4, 4}, 0, 64)}},
                                   {3, {piece("w", {4, 4}, 0, 32, DType::I32)}}};
  const std::string m = message_of([&] { (void)plan_save(r, {}); });
  EXPECT_NE(m.find("rank 0 declares F32 [4, 4], rank 3 declares I32 [4, 4]"), std::string::npos)
      << m;
  const std::vector<RankDecl> s = {{0, {piece("w", {4, 4}, 0, 64)}},
                                   {1, {piece("w", {8, 2}, 0, 64)}}};
  EXPECT_EQ(code_of([&] { (void)plan_save(s, {}); }), Errc::InvalidArgument);
}

TEST(DistPlan, BadRangesAreRefused) {
  EXPECT_EQ(code_of([] {
              (void)plan_save({{0, {piece("w", {4}, 0, 20)}}}, {});
            }),
            Errc::InvalidArgument);
  EXPECT_EQ(code_of([] {
              (void)plan_save({{0, {piece("w", {4}, 8, 4)}}}, {});
            }),
            Errc::InvalidArgument);
  EXPECT_EQ(code_of([] {
              (void)plan_save({{0, {piece("w", {4}, 4, 4)}}}, {});
            }),
            Errc::InvalidArgument);
  EXPECT_EQ(code_of([] {
              (void)plan_save({{0, {piece("w", {4}, 0, 16), piece("w", {4}, 0, 16)}}}, {});
            }),
            Errc::DuplicateName);
  EXPECT_EQ(code_of([] {
              (void)plan_save({{0, {piece("__metadata__", {4}, 0, 16)}}}, {});
            }),
            Errc::InvalidName);
}

TEST(DistPlan, EmptyTensorAndEmptyRank) {
  const SavePlan p = plan_save({{0, {piece("e", {0, 3}, 0, 0)}}, {1, {}}}, {});
  ASSERT_EQ(p.tensors.size(), 1U);
  EXPECT_EQ(p.tensors[0].nbytes, 0U);
}

std::vector<std::byte> bytes(std::size_t n) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 7 + 3);
  return b;
}

TEST(DistCombine, PiecesInAnyOrderGiveTheWholeCrc) {
  const auto b = bytes(1000);
  const std::span<const std::byte> s(b);
  const std::vector<PieceReport> p = {{"t", 600, 1000, crc32(s.subspan(600))},
                                      {"t", 0, 100, crc32(s.subspan(0, 100))},
                                      {"t", 100, 600, crc32(s.subspan(100, 500))}};
  EXPECT_EQ(combine_pieces("t", 1000, p, {2, 0, 1}), crc32(s));
}

TEST(DistCombine, ReplicasMustAgree) {
  const auto b = bytes(64);
  const std::uint32_t c = crc32(b);
  EXPECT_EQ(combine_pieces("t", 64, {{"t", 0, 64, c}, {"t", 0, 64, c}}, {0, 1}), c);
  try {
    (void)combine_pieces("t", 64, {{"t", 0, 64, c}, {"t", 0, 64, c}, {"t", 0, 64, c ^ 1}},
                         {0, 1, 2});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_NE(
        std::string(e.what()).find("tensor 't': replicas differ in bytes [0, 64): ranks 0, 2"),
        std::string::npos)
        << e.what();
  }
}

TEST(DistCombine, GapsAndOverlapsAreNotATiling) {
  EXPECT_FALSE(combine_pieces("t", 64, {{"t", 0, 32, 1}}, {0}));
  EXPECT_FALSE(combine_pieces("t", 64, {{"t", 0, 40, 1}, {"t", 32, 64, 2}}, {0, 1}));
  EXPECT_EQ(combine_pieces("t", 0, {}, {}), 0U);
}

}  // namespace
}  // namespace stsw::dist
