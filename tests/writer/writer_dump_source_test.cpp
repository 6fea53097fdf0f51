// dump with TensorView::source (bytes made on demand, as the Python stsw.dump makes its
// contiguous copies): each source runs when its tensor's turn comes, at most one sourced
// tensor is alive per file being written (the previous one is dropped once staged, also
// when its blocks were queued behind busy buffers), the bytes are those of a plain dump,
// and a wrong size or a throwing source fails the dump with the previous file intact and
// every sourced tensor dropped. Both backends.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "support/backend_name.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

// Counts the sourced tensors alive and the most that were alive at once.
struct Census {
  std::mutex mu;
  std::vector<std::string> calls;  // source calls, in order
  int alive = 0;
  int most = 0;
};

// A view whose bytes (`bytes`, copied) are made by a source and counted in `census`.
TensorView sourced(const std::string& name, const std::vector<std::byte>& bytes, Census& census) {
  TensorView v{name, DType::U8, {bytes.size()}, {}};
  v.source = [name, bytes, &census]() -> SourcedBytes {
    auto copy = std::make_shared<std::vector<std::byte>>(bytes);
    {
      std::lock_guard lock(census.mu);
      census.calls.push_back(name);
      census.most = std::max(census.most, ++census.alive);
    }
    std::shared_ptr<const void> owner(copy.get(), [copy, &census](const void*) mutable {
      std::lock_guard lock(census.mu);
      --census.alive;
      copy.reset();
    });
    return {*copy, std::move(owner)};
  };
  return v;
}

class DumpSource : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    // Small buffers, few of them: a sourced tensor spans many chunks, so most of its blocks
    // are queued when write_block returns and dropping it early would be caught (the
    // copy would read freed memory: a wrong CRC or wrong bytes, and ASan's report).
    engine_ = make_engine(GetParam(), std::size_t{64} * 1024, 2);
    if (!engine_) GTEST_SKIP() << "io_uring is not available on this kernel";
  }
  DumpOptions options() const {
    DumpOptions o;
    o.engine = engine_;
    o.durable = false;
    return o;
  }
  std::shared_ptr<Engine> engine_;
  TempDir dir_;
};

TEST_P(DumpSource, SourcesRunInWriteOrderOneAtATimeAndGiveThePlainBytes) {
  Census census;
  DataMap data;
  std::vector<TensorView> views;
  std::vector<std::byte> plain = pattern(100000, 1);
  data["plain"] = plain;
  views.push_back({"plain", DType::U8, {plain.size()}, plain});
  const std::vector<std::pair<std::string, std::size_t>> sizes = {
      {"s3", 300000}, {"s1", 0}, {"s2", 250001}, {"s0", 7}, {"s4", 500000}};
  unsigned seed = 2;
  for (const auto& [name, n] : sizes) {
    data[name] = pattern(n, seed++);
    views.push_back(sourced(name, data[name], census));
  }
  for (const auto& [shard, parallel] :
       {std::pair<std::uint64_t, unsigned>{UINT64_MAX, 1}, {400000, 1}, {400000, 3}}) {
    census.calls.clear();
    census.most = 0;
    DumpOptions o = options();
    if (shard != UINT64_MAX) o.max_shard_size = shard;
    o.parallel_shards = parallel;
    const DumpResult r = dump(views, dir_.file("m.safetensors"), o);
    EXPECT_EQ(census.alive, 0);
    EXPECT_EQ(census.calls.size(), sizes.size());
    if (parallel == 1) {
      EXPECT_EQ(census.most, 1) << shard;
    } else {
      EXPECT_LE(census.most, static_cast<int>(r.files.size())) << "one per file at most";
    }
    if (!r.index) {  // one file: canonical order within it (all U8: by name)
      EXPECT_EQ(census.calls, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
    }
    for (const std::string& f : r.files) {
      const Header h = check_file(f, true);
      DataMap mine;
      for (const TensorMeta& t : h.tensors) mine[t.name] = data.at(t.name);
      check_file(f, true, &mine);
    }
  }
}

TEST_P(DumpSource, AWrongSizeOrAThrowingSourceLeavesThePreviousFile) {
  const std::string path = dir_.file("m.safetensors");
  const std::vector<std::byte> old = pattern(10, 9);
  std::vector<TensorView> first = {{"old", DType::U8, {old.size()}, old}};
  dump(first, path, options());
  const std::vector<std::byte> before = read_file(path);

  Census census;
  std::vector<TensorView> views = {sourced("a", pattern(200000, 1), census),
                                   sourced("b", pattern(30, 2), census),
                                   sourced("c", pattern(40, 3), census)};
  views[1].shape = {31};  // the source gives 30 bytes
  try {
    dump(views, path, options());
    FAIL() << "a 30-byte source for 31 bytes was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::LengthMismatch) << e.what();
    EXPECT_NE(e.message().find("'b'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(census.calls, (std::vector<std::string>{"a", "b"}));  // "c" never made
  EXPECT_EQ(census.alive, 0);
  EXPECT_EQ(read_file(path), before);

  struct Boom {};
  census.calls.clear();
  views[1].shape = {30};
  views[1].source = []() -> SourcedBytes { throw Boom{}; };
  EXPECT_THROW(dump(views, path, options()), Boom);
  EXPECT_EQ(census.calls, (std::vector<std::string>{"a"}));
  EXPECT_EQ(census.alive, 0);
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"m.safetensors"});
}

INSTANTIATE_TEST_SUITE_P(Backends, DumpSource,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw::writer_test
