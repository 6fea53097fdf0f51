// Multi-rank checkpoints with ranks as threads of one process: every rank writes its pieces
// into the coordinator's temporary files, the coordinator commits; the result is a strict,
// CRC-carrying set; a failed rank or a diverged replica leaves the previous checkpoint
// byte-identical and no temporary file behind. Runs on the engine STSW_IO_BACKEND selects.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "../writer/writer_test_support.hpp"
#include "stsw/distributed.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw::dist {
namespace {

using writer_test::DataMap;
using writer_test::TempDir;

// World of `world` ranks: "emb" [world*8, 16] F32 row-sharded, "norm" [16] F32 replicated,
// "head" [64] BF16 held whole by the last rank. `bad_replica`: that rank's "norm" differs.
struct World {
  int world;
  DataMap whole;                                          // expected tensors
  std::vector<std::vector<std::vector<std::byte>>> bufs;  // [rank][piece]
  std::vector<RankDecl> decls;

  explicit World(int n, int bad_replica = -1) : world(n), bufs(n), decls(n) {
    const std::uint64_t rows = 8ULL * n;
    whole["emb"] = writer_test::pattern(rows * 16 * 4, 1);
    whole["norm"] = writer_test::pattern(64, 2);
    whole["head"] = writer_test::pattern(128, 3);
    const std::uint64_t per = 8 * 16 * 4;
    for (int r = 0; r < n; ++r) {
      decls[r].rank = r;
      auto add = [&](const std::string& name, DType dt, std::vector<std::uint64_t> shape,
                     std::uint64_t b, std::uint64_t e) {
        decls[r].pieces.push_back({name, dt, shape, b, e});
        const auto& w = whole.at(name);
        bufs[r].emplace_back(w.begin() + static_cast<std::ptrdiff_t>(b),
                             w.begin() + static_cast<std::ptrdiff_t>(e));
      };
      add("emb", DType::F32, {rows, 16}, r * per, (r + 1) * per);
      add("norm", DType::F32, {16}, 0, 64);
      if (r == bad_replica) bufs[r].back()[5] ^= std::byte{1};
      if (r == n - 1) add("head", DType::BF16, {64}, 0, 128);
    }
  }

  // Runs the protocol; `fail_rank` reports a failure instead of writing.
  SaveResult save(const std::string& path, const SaveOptions& o, int fail_rank = -1) {
    const SavePlan plan = plan_save(decls, o);
    SaveCoordinator coord(path, plan, o);
    std::vector<RankReport> reports(world);
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        const SavePlan mine = plan_save(decls, o);  // every rank plans for itself
        std::vector<std::span<const std::byte>> data;
        for (const auto& b : bufs[r]) data.emplace_back(b);
        if (r == fail_rank) data.pop_back();  // wrong piece count: a failure on this rank
        reports[r] = write_rank(mine, r, coord.temp_files(), data, o.durable);
      });
    }
    for (auto& t : threads) t.join();
    return coord.commit(reports);
  }
};

void check_set(const SaveResult& res, const World& w) {
  for (const std::string& f : res.files) (void)writer_test::check_file(f, true);
  const StreamReader r = StreamReader::open(res.index ? *res.index : res.files[0]);
  const VerifyReport v = r.verify().get();
  EXPECT_TRUE(v.passed());
  EXPECT_EQ(v.ok, 3U);
  for (const auto& [name, bytes] : w.whole) {
    std::vector<std::byte> got(bytes.size());
    r.read_into(name, got).get();
    EXPECT_EQ(got, bytes) << name;
  }
}

std::vector<std::string> hidden(const TempDir& d) {
  std::vector<std::string> out;
  for (const std::string& e : d.entries()) {
    if (e.find(".stsw-") != std::string::npos) out.push_back(e);
  }
  return out;
}

class DistSave : public ::testing::TestWithParam<int> {};

TEST_P(DistSave, RanksAsThreadsWriteOneStrictVerifiedSet) {
  TempDir dir;
  World w(GetParam());
  SaveOptions o;
  o.max_shard_size = 300;  // "emb" alone, then the rest
  const SaveResult res = w.save(dir.file("model.safetensors"), o);
  ASSERT_TRUE(res.index);
  EXPECT_EQ(res.files.size(), 2U);
  check_set(res, w);
  EXPECT_TRUE(hidden(dir).empty());
}

TEST_P(DistSave, OneFileWhenItFits) {
  TempDir dir;
  World w(GetParam());
  const SaveResult res = w.save(dir.file("model.safetensors"), {});
  EXPECT_FALSE(res.index);
  ASSERT_EQ(res.files.size(), 1U);
  check_set(res, w);
}

INSTANTIATE_TEST_SUITE_P(World, DistSave, ::testing::Values(1, 2, 4));

// The previous checkpoint: a dumped set; returns file name -> bytes.
std::map<std::string, std::vector<std::byte>> contents(const TempDir& d) {
  std::map<std::string, std::vector<std::byte>> m;
  for (const std::string& e : d.entries()) m[e] = writer_test::read_file(d.file(e));
  return m;
}

void dump_previous(const TempDir& dir) {
  const auto a = writer_test::pattern(400, 9);
  DumpOptions o;
  o.max_shard_size = 200;
  (void)dump({{"old_a", DType::U8, {200}, std::span(a).first(200)},
              {"old_b", DType::U8, {200}, std::span(a).subspan(200)}},
             dir.file("model.safetensors"), o);
}

TEST(DistSaveFailure, AFailedRankLeavesThePreviousSetIntact) {
  TempDir dir;
  dump_previous(dir);
  const auto before = contents(dir);
  World w(4);
  SaveOptions o;
  o.max_shard_size = 300;
  try {
    (void)w.save(dir.file("model.safetensors"), o, /*fail_rank=*/2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("rank 2: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("previous checkpoint is unchanged"), std::string::npos);
  }
  EXPECT_EQ(contents(dir), before);
}

TEST(DistSaveFailure, ADivergedReplicaIsCaughtAndNothingPublished) {
  TempDir dir;
  dump_previous(dir);
  const auto before = contents(dir);
  World w(4, /*bad_replica=*/3);
  try {
    (void)w.save(dir.file("model.safetensors"), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_NE(std::string(e.what()).find("'norm'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ranks 0, 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(contents(dir), before);
}

TEST(DistSaveFailure, MissingReportIsRefused) {
  TempDir dir;
  World w(2);
  const SavePlan plan = plan_save(w.decls, {});
  SaveCoordinator coord(dir.file("model.safetensors"), plan, {});
  EXPECT_EQ(coord.temp_files().size(), 1U);
  EXPECT_EQ(hidden(dir).size(), 1U);
  std::vector<std::span<const std::byte>> data;
  for (const auto& b : w.bufs[0]) data.emplace_back(b);
  const RankReport r0 = write_rank(plan, 0, coord.temp_files(), data, false);
  ASSERT_TRUE(r0.ok) << r0.error;
  EXPECT_THROW((void)coord.commit({r0}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors")));
}

TEST(DistSaveFailure, AbandonedCoordinatorRemovesItsTemporaryFiles) {
  TempDir dir;
  World w(2);
  SaveOptions o;
  o.max_shard_size = 300;
  {
    SaveCoordinator coord(dir.file("model.safetensors"), plan_save(w.decls, o), o);
    EXPECT_GE(hidden(dir).size(), 2U);  // two shards (and the index without O_TMPFILE)
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(DistSaveFailure, RankWritingToAMissingFileReportsIo) {
  World w(1);
  const SavePlan plan = plan_save(w.decls, {});
  std::vector<std::span<const std::byte>> data;
  for (const auto& b : w.bufs[0]) data.emplace_back(b);
  const RankReport r = write_rank(plan, 0, {"/nonexistent-dir/x"}, data, false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errc, Errc::Io);
  EXPECT_NE(r.error.find("/nonexistent-dir/x"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace stsw::dist
