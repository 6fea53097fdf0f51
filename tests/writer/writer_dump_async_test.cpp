// dump_async and dump's progress / cancellation hooks (issue 16): progress reports that
// add up, a stop that leaves the previous file untouched and no partial new set behind, a
// throwing progress callback, and an EIO / ENOSPC at every write of an asynchronous dump.
// Both backends.
#include <gtest/gtest.h>

#include <mutex>
#include <stop_token>

#include "io/fault_injection.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "support/backend_name.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

using testing::Fault;
using testing::FaultPlan;

struct Views {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<TensorView> views;
  DataMap data;
};

Views make_views() {
  Views v;
  const std::vector<std::pair<std::string, std::size_t>> sizes = {
      {"a", 40000}, {"b", 100000}, {"c", 0}, {"d", 70000}, {"e", 12}};
  v.bytes.reserve(sizes.size());
  unsigned seed = 1;
  for (const auto& [name, n] : sizes) {
    v.bytes.push_back(pattern(n, seed++));
    v.views.push_back({name, DType::U8, {n}, v.bytes.back()});
    v.data[name] = v.bytes.back();
  }
  return v;
}

class DumpAsync : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    engine_ = make_engine(GetParam(), 64 * 1024, 8);
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

TEST_P(DumpAsync, WritesTheFileAndReportsProgress) {
  const Views v = make_views();
  std::mutex mu;
  std::vector<DumpProgress> seen;
  DumpControl c;
  c.on_progress = [&](const DumpProgress& p) {
    std::lock_guard lock(mu);
    seen.push_back(p);
  };
  const std::string path = dir_.file("m.safetensors");
  auto f = dump_async(v.views, path, options(), c);
  ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  const DumpResult r = f.get();
  EXPECT_EQ(r.files, std::vector<std::string>{path});
  check_file(path, true, &v.data);
  ASSERT_FALSE(seen.empty());
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].bytes_done, seen[i - 1].bytes_done);
  }
  EXPECT_EQ(seen.back().bytes_done, 210012U);
  EXPECT_EQ(seen.back().bytes_total, 210012U);
  EXPECT_EQ(seen.back().tensors_done, 5U);
  EXPECT_EQ(seen.back().files_done, 1U);
  EXPECT_EQ(seen.back().files_total, 1U);
}

TEST_P(DumpAsync, ShardedProgressCountsEveryFileAndTheIndex) {
  const Views v = make_views();
  DumpOptions o = options();
  o.max_shard_size = 100000;
  DumpProgress last;
  DumpControl c;
  c.on_progress = [&](const DumpProgress& p) { last = p; };
  const DumpResult r = dump_async(v.views, dir_.file("m.safetensors"), o, c).get();
  ASSERT_TRUE(r.index.has_value());
  EXPECT_EQ(last.files_done, r.files.size() + 1);
  EXPECT_EQ(last.files_total, r.files.size() + 1);
  EXPECT_EQ(last.bytes_done, 210012U);
}

TEST_P(DumpAsync, AStopLeavesThePreviousFileUntouched) {
  const Views v = make_views();
  const std::string path = dir_.file("m.safetensors");
  const auto old = pattern(999, 77);
  write_file(path, old);
  std::stop_source stop;
  DumpControl c;
  c.stop = stop.get_token();
  c.on_progress = [&](const DumpProgress& p) {
    if (p.tensors_done >= 1) stop.request_stop();  // mid-file
  };
  auto f = dump_async(v.views, path, options(), c);
  try {
    f.get();
    FAIL() << "a stopped dump must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Cancelled) << e.what();
    EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(path), old);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"m.safetensors"});
}

TEST_P(DumpAsync, AStopBeforeTheStartWritesNothing) {
  const Views v = make_views();
  std::stop_source stop;
  stop.request_stop();
  DumpControl c;
  c.stop = stop.get_token();
  DumpOptions o = options();
  o.max_shard_size = 100000;
  EXPECT_THROW(dump_async(v.views, dir_.file("m.safetensors"), o, c).get(), Error);
  EXPECT_TRUE(dir_.entries().empty());
}

TEST_P(DumpAsync, AStopBetweenShardsLeavesNoPartialSet) {
  const Views v = make_views();
  DumpOptions o = options();
  o.max_shard_size = 100000;
  std::stop_source stop;
  DumpControl c;
  c.stop = stop.get_token();
  c.on_progress = [&](const DumpProgress& p) {
    if (p.files_done == 1) stop.request_stop();
  };
  try {
    (void)dump(v.views, dir_.file("m.safetensors"), o, c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Cancelled) << e.what();
  }
  EXPECT_TRUE(dir_.entries().empty()) << "the shards already written are removed";
}

TEST_P(DumpAsync, AThrowingProgressCallbackFailsTheDump) {
  const Views v = make_views();
  const std::string path = dir_.file("m.safetensors");
  const auto old = pattern(999, 78);
  write_file(path, old);
  DumpControl c;
  c.on_progress = [](const DumpProgress& p) {
    if (p.bytes_done > 0) throw std::runtime_error("caller gave up");
  };
  EXPECT_THROW(dump_async(v.views, path, options(), c).get(), std::runtime_error);
  EXPECT_EQ(read_file(path), old);
}

TEST_P(DumpAsync, EveryFailedWriteSurfacesAndLeavesThePathUntouched) {
  const Views v = make_views();
  const std::string path = dir_.file("m.safetensors");
  const auto old = pattern(999, 79);
  write_file(path, old);
  EngineOptions eo;
  eo.backend = GetParam();
  eo.chunk_size = 16 * 1024;
  eo.buffer_count = 4;
  std::shared_ptr<testing::FaultCounters> counters;
  {
    DumpOptions o = options();
    o.engine = testing::make_faulty_engine(eo, {}, &counters);
    (void)dump_async(v.views, dir_.file("clean"), o).get();
  }
  const std::uint64_t writes = counters->count(Fault::Op::Write);
  ASSERT_GE(writes, 3U);
  for (Fault::Kind kind : {Fault::Kind::Eio, Fault::Kind::Enospc}) {
    for (std::uint64_t i = 0; i < writes; ++i) {
      SCOPED_TRACE(i);
      DumpOptions o = options();
      o.engine =
          testing::make_faulty_engine(eo, FaultPlan{{Fault{Fault::Op::Write, i, kind}}, false});
      try {
        (void)dump_async(v.views, path, o).get();
        ADD_FAILURE() << "fault " << i << " was not reported";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), kind == Fault::Kind::Eio ? Errc::Io : Errc::NoSpace) << e.what();
        EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
      }
      EXPECT_EQ(read_file(path), old);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, DumpAsync,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw::writer_test
