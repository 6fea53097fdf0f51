// The sharded-set writer through stsw::dump: a set replaced by a larger, smaller or equal
// one (fresh names, the index last, stale shards removed), one file replacing a set and the
// reverse, leftovers of crashed dumps, and failures (injected ENOSPC / EIO at every write
// and sync, a directory in the way) that leave the previous set byte-identical.
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string_view>

#include "io/fault_injection.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

// name -> "<size> bytes, hash <h>" ("dir" for a directory): compact when a check fails.
using Snapshot = std::map<std::string, std::string>;

Snapshot snapshot(const TempDir& dir) {
  Snapshot s;
  for (const std::string& e : dir.entries()) {
    const std::string p = dir.file(e);
    if (std::filesystem::is_directory(p)) {
      s[e] = "dir";
      continue;
    }
    const std::vector<std::byte> b = read_file(p);
    s[e] = std::to_string(b.size()) + " bytes, hash " +
           std::to_string(std::hash<std::string_view>{}(
               std::string_view(reinterpret_cast<const char*>(b.data()), b.size())));
  }
  return s;
}

struct Set {
  std::vector<TensorView> views;
  DataMap data;
};

// `count` tensors of `bytes` bytes each, contents by `seed`.
Set make_set(std::size_t count, std::size_t bytes, unsigned seed) {
  Set s;
  for (std::size_t i = 0; i < count; ++i) {
    s.data["t" + std::to_string(i)] = pattern(bytes, seed * 100 + static_cast<unsigned>(i));
  }
  for (const auto& [name, d] : s.data) s.views.push_back({name, DType::U8, {d.size()}, d});
  return s;
}

// Dumps `set` into shards of `per_shard` tensors of `bytes`.
DumpResult dump_set(const TempDir& dir, const Set& set, std::size_t per_shard, std::size_t bytes,
                    std::shared_ptr<Engine> engine = nullptr, unsigned parallel = 1) {
  DumpOptions o;
  o.max_shard_size = per_shard * bytes;
  o.order = LayoutOrder::Keep;
  o.engine = std::move(engine);
  o.parallel_shards = parallel;
  return dump(set.views, dir.file("model.safetensors"), o);
}

// The index opens strictly, verifies, holds exactly `set`, and the directory holds exactly
// the index and its shards.
void expect_set(const TempDir& dir, const Set& set, const std::vector<std::string>& shards) {
  ReaderOptions ro;
  ro.strict = true;
  const StreamReader r = StreamReader::open(dir.file("model.safetensors.index.json"), ro);
  EXPECT_TRUE(r.verify().get().passed());
  ASSERT_EQ(r.shards().size(), shards.size());
  for (const auto& [name, bytes] : set.data) {
    std::vector<std::byte> got(r.meta(name).nbytes());
    r.read_into(name, got).get();
    EXPECT_EQ(got, bytes) << name;
  }
  std::vector<std::string> want = shards;
  want.push_back("model.safetensors.index.json");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(dir.entries(), want);
}

std::vector<std::string> names(std::size_t n, const std::string& tag = "") {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    char b[64];
    std::snprintf(b, sizeof b, "model-%05zu-of-%05zu%s.safetensors", i + 1, n, tag.c_str());
    out.emplace_back(b);
  }
  return out;
}

constexpr std::size_t kBytes = 40000;

TEST(ShardSet, SmallerAndLargerSetsReplaceTheSetAndStaleShardsGo) {
  TempDir dir;
  const Set a = make_set(8, kBytes, 1), b = make_set(4, kBytes, 2), c = make_set(6, kBytes, 3);
  DumpResult r = dump_set(dir, a, 2, kBytes);  // 4 shards
  expect_set(dir, a, names(4));
  r = dump_set(dir, b, 2, kBytes);  // 2 shards: the 4 old ones are removed
  EXPECT_EQ(r.files.size(), 2U);
  expect_set(dir, b, names(2));
  r = dump_set(dir, c, 2, kBytes);  // 3 shards
  expect_set(dir, c, names(3));
}

TEST(ShardSet, TheSameCountTakesGenerationNamesAndAlternates) {
  TempDir dir;
  const Set a = make_set(6, kBytes, 1), b = make_set(6, kBytes, 2);
  (void)dump_set(dir, a, 2, kBytes);
  expect_set(dir, a, names(3));
  const DumpResult r = dump_set(dir, b, 2, kBytes);
  EXPECT_EQ(r.files[0], dir.file("model-00001-of-00003-g1.safetensors"));
  expect_set(dir, b, names(3, "-g1"));
  (void)dump_set(dir, a, 2, kBytes);
  expect_set(dir, a, names(3));
}

TEST(ShardSet, OneFileReplacesASetAndASetReplacesOneFile) {
  TempDir dir;
  const Set a = make_set(6, kBytes, 1), b = make_set(3, kBytes, 2);
  (void)dump_set(dir, a, 2, kBytes);
  const DumpResult one = dump(b.views, dir.file("model.safetensors"));
  EXPECT_FALSE(one.index.has_value());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
  (void)check_file(dir.file("model.safetensors"), true, &b.data);
  (void)dump_set(dir, a, 2, kBytes);  // the one file was the previous checkpoint: removed
  expect_set(dir, a, names(3));
}

TEST(ShardSet, LeftoversOfCrashedDumpsAreRemovedAndOtherFilesKept) {
  TempDir dir;
  const Set a = make_set(4, kBytes, 1);
  for (const char* n : {"model-00001-of-00007.safetensors", "model-00003-of-00003-g2.safetensors",
                        "model-extra.safetensors", "other-00001-of-00002.safetensors",
                        "model-00001-of-00002.safetensors.tmp"}) {
    write_file(dir.file(n), pattern(10, 1));
  }
  (void)dump_set(dir, a, 2, kBytes);
  EXPECT_EQ(dir.entries(),
            (std::vector<std::string>{
                "model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors.tmp",
                "model-00002-of-00002.safetensors", "model-extra.safetensors",
                "model.safetensors.index.json", "other-00001-of-00002.safetensors"}));
}

TEST(ShardSet, AnUnreadableIndexKeepsExistingShardNames) {
  TempDir dir;
  const Set a = make_set(4, kBytes, 1), b = make_set(4, kBytes, 2);
  (void)dump_set(dir, a, 2, kBytes);
  write_file(dir.file("model.safetensors.index.json"), pattern(5, 9));  // not JSON
  // The new shards must not overwrite files the broken index might have named.
  DumpOptions o;
  o.max_shard_size = 2 * kBytes;
  o.order = LayoutOrder::Keep;
  const DumpResult r = dump(b.views, dir.file("model.safetensors"), o);
  EXPECT_EQ(r.files[0], dir.file("model-00001-of-00002-g1.safetensors"));
  expect_set(dir, b, names(2, "-g1"));  // the unreachable old shards were removed after it
}

TEST(ShardSet, OneFileThatTheIndexNamesAsAShardIsRefused) {
  TempDir dir;
  const Set a = make_set(2, kBytes, 1);
  const std::string index = R"({"weight_map":{"t0":"model.safetensors"}})";
  write_file(dir.file("model.safetensors.index.json"), std::as_bytes(std::span(index)));
  write_file(dir.file("model.safetensors"), pattern(10, 2));
  const Snapshot before = snapshot(dir);
  try {
    (void)dump(a.views, dir.file("model.safetensors"));
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
  }
  EXPECT_EQ(snapshot(dir), before);
}

TEST(ShardSet, ADirectoryInTheWayLeavesThePreviousSetIntact) {
  TempDir dir;
  const Set a = make_set(6, kBytes, 1), b = make_set(4, kBytes, 2);
  (void)dump_set(dir, a, 2, kBytes);
  // In the way of the second new shard: the first is written, then removed.
  ASSERT_EQ(::mkdir(dir.file("model-00002-of-00002.safetensors").c_str(), 0755), 0);
  Snapshot before = snapshot(dir);
  EXPECT_THROW((void)dump_set(dir, b, 2, kBytes), Error);
  EXPECT_EQ(snapshot(dir), before);
  ASSERT_EQ(::rmdir(dir.file("model-00002-of-00002.safetensors").c_str()), 0);
  // In the way of the index: refused before any shard is written.
  TempDir dir2;
  ASSERT_EQ(::mkdir(dir2.file("model.safetensors.index.json").c_str(), 0755), 0);
  try {
    (void)dump_set(dir2, b, 2, kBytes);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
  }
  EXPECT_EQ(dir2.entries(), std::vector<std::string>{"model.safetensors.index.json"});
}

TEST(ShardSet, ThePreviousIndexNamesItsShardsWhateverTheirNames) {
  TempDir dir;
  const Set a = make_set(4, kBytes, 1), b = make_set(4, kBytes, 2);
  (void)dump_set(dir, a, 2, kBytes);
  // As another tool would name them.
  ASSERT_EQ(::rename(dir.file("model-00001-of-00002.safetensors").c_str(),
                     dir.file("first.safetensors").c_str()),
            0);
  ASSERT_EQ(::rename(dir.file("model-00002-of-00002.safetensors").c_str(),
                     dir.file("second.safetensors").c_str()),
            0);
  const std::string index = R"({"weight_map":{"t0":"first.safetensors","t1":"first.safetensors",)"
                            R"("t2":"second.safetensors","t3":"second.safetensors"}})";
  write_file(dir.file("model.safetensors.index.json"), std::as_bytes(std::span(index)));
  write_file(dir.file("notes.txt"), pattern(3, 1));
  (void)dump_set(dir, b, 2, kBytes);
  std::vector<std::string> want = names(2);
  want.push_back("model.safetensors.index.json");
  want.push_back("notes.txt");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(dir.entries(), want);
}

// The index is the last thing written: when it cannot be (here: larger than RLIMIT_FSIZE
// allows, while every shard fits) the new shards go and the previous set stays.
TEST(ShardSet, AFailedIndexLeavesThePreviousSetIntact) {
  TempDir dir;
  Set old;
  Set next;
  for (int i = 0; i < 200; ++i) {
    const std::string name = std::string(200, 'n') + std::to_string(1000 + i);
    old.data[name] = pattern(1, static_cast<unsigned>(i));
    next.data[name] = pattern(1, static_cast<unsigned>(i + 7));
  }
  for (Set* s : {&old, &next}) {
    for (const auto& [name, d] : s->data) s->views.push_back({name, DType::U8, {1}, d});
  }
  DumpOptions o;
  o.max_shard_size = 100;  // two shards of 100 tensors: ~30 kB each, the index ~50 kB
  (void)dump(old.views, dir.file("model.safetensors"), o);
  const Snapshot before = snapshot(dir);
  ASSERT_LT(std::filesystem::file_size(dir.file("model-00001-of-00002.safetensors")), 40000U);
  ASSERT_GT(std::filesystem::file_size(dir.file("model.safetensors.index.json")), 40000U);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 40000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  try {
    (void)dump(next.views, dir.file("model.safetensors"), o);
    ADD_FAILURE() << "the index was written";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("model.safetensors.index.json"), std::string::npos) << e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(snapshot(dir), before);
}

class ShardSetFaults : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    if (GetParam() == BackendKind::Uring && !make_engine(BackendKind::Uring)) {
      GTEST_SKIP() << "io_uring is not available on this kernel";
    }
  }
  std::shared_ptr<Engine> faulty(testing::FaultPlan plan,
                                 std::shared_ptr<testing::FaultCounters>* counters = nullptr) {
    EngineOptions eo;
    eo.backend = GetParam();
    eo.chunk_size = 16 * 1024;
    eo.buffer_count = 4;
    return testing::make_faulty_engine(eo, std::move(plan), counters);
  }
};

// ENOSPC / EIO at every write and every sync of the new set (3 shards over 3, so the new
// names are generation names; and 2 shards over 3), sequential and parallel: the dump
// throws and the directory is byte-identical.
TEST_P(ShardSetFaults, AFailureAtAnyShardLeavesThePreviousSetIntact) {
  const Set old = make_set(6, kBytes, 1);
  for (const std::size_t per_shard : {std::size_t{2}, std::size_t{3}}) {
    for (const unsigned parallel : {1U, 2U}) {
      SCOPED_TRACE("per_shard " + std::to_string(per_shard) + ", parallel " +
                   std::to_string(parallel));
      const Set next = make_set(6, kBytes, 2);
      std::shared_ptr<testing::FaultCounters> counters;
      {
        TempDir probe;  // the same dump on a clean directory counts the requests
        (void)dump_set(probe, old, 2, kBytes);
        (void)dump_set(probe, next, per_shard, kBytes, faulty({}, &counters), parallel);
      }
      const std::uint64_t writes = counters->count(testing::Fault::Op::Write);
      const std::uint64_t syncs = counters->count(testing::Fault::Op::Sync);
      ASSERT_GE(writes, 6U);
      ASSERT_GE(syncs, 2U);
      TempDir dir;
      (void)dump_set(dir, old, 2, kBytes);
      const Snapshot before = snapshot(dir);
      std::vector<testing::Fault> faults;
      for (std::uint64_t i = 0; i < writes; ++i) {
        faults.push_back({testing::Fault::Op::Write, i, testing::Fault::Kind::Enospc});
      }
      for (std::uint64_t i = 0; i < syncs; ++i) {
        faults.push_back({testing::Fault::Op::Sync, i, testing::Fault::Kind::Eio});
      }
      for (const testing::Fault& f : faults) {
        SCOPED_TRACE((f.op == testing::Fault::Op::Write ? "write " : "sync ") +
                     std::to_string(f.index));
        try {
          (void)dump_set(dir, next, per_shard, kBytes, faulty({{f}}), parallel);
          ADD_FAILURE() << "the dump succeeded";
        } catch (const Error& e) {
          EXPECT_TRUE(e.code() == Errc::NoSpace || e.code() == Errc::Io) << e.what();
        }
        EXPECT_EQ(snapshot(dir), before);
      }
      expect_set(dir, old, names(3));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ShardSetFaults, ::testing::ValuesIn(both_backends()),
                         BackendName());

}  // namespace
}  // namespace stsw::writer_test
