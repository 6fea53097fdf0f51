// Every StreamWriter error: bad plans, misuse, calls after close/abort, and I/O failures
// (fault injection on both backends, and a real file system that runs out of space).
// After each error the writer aborts cleanly and `path` keeps its previous content.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "io/fault_injection.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "support/tensor_meta.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

using testing::Fault;
using testing::FaultPlan;

template <typename F>
Error error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no stsw::Error thrown";
  return Error(Errc::Io, "none");
}

using test::meta;

class WriterErrors : public ::testing::Test {
 protected:
  WriterOptions opts() {
    WriterOptions o;
    o.engine = engine_;
    return o;
  }
  std::shared_ptr<Engine> engine_ = make_engine(BackendKind::Threads, 16 * 1024, 4);
  TempDir dir_;
};

TEST_F(WriterErrors, BadPlansAreRejectedAtOpenAndLeaveNothing) {
  const std::string path = dir_.file("x.safetensors");
  struct Case {
    std::vector<TensorMeta> metas;
    Errc code;
  };
  const std::vector<Case> cases = {
      {{meta("a", DType::U8, {2}, 0, 2), meta("b", DType::U8, {2}, 1, 3)}, Errc::InvalidOffset},
      {{meta("a", DType::U8, {2}, 0, 2), meta("b", DType::U8, {2}, 4, 6)}, Errc::InvalidOffset},
      {{meta("a", DType::F32, {2}, 0, 4)}, Errc::TensorInvalidInfo},
      {{meta("a", DType::U8, {1}, 0, 1), meta("a", DType::U8, {1}, 1, 2)}, Errc::DuplicateName},
      {{meta("__metadata__", DType::U8, {1}, 0, 1)}, Errc::InvalidName},
      {{meta("bad\xff", DType::U8, {1}, 0, 1)}, Errc::InvalidName},
      {{meta("a", DType::F4, {1}, 0, 1)}, Errc::MisalignedSlice},
      {{meta("a", DType::U64, {std::uint64_t{1} << 62}, 0, 0)}, Errc::ValidationOverflow},
  };
  for (const Case& c : cases) {
    const Error e = error_of([&] { (void)StreamWriter::open(path, c.metas, opts()); });
    EXPECT_EQ(e.code(), c.code) << e.what();
    EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(dir_.entries().empty());
}

TEST_F(WriterErrors, BadOptionsAndPaths) {
  const auto metas = contiguous({{"a", DType::U8, {3}}});
  WriterOptions o = opts();
  o.align = 48;
  EXPECT_EQ(error_of([&] { (void)StreamWriter::open(dir_.file("a"), metas, o); }).code(),
            Errc::InvalidArgument);
  o = opts();
  o.chunk_size = 1 << 20;  // larger than the engine's 16 KiB buffers
  EXPECT_EQ(error_of([&] { (void)StreamWriter::open(dir_.file("a"), metas, o); }).code(),
            Errc::InvalidArgument);
  EXPECT_EQ(error_of([&] { (void)StreamWriter::open(dir_.path(), metas, opts()); }).code(),
            Errc::InvalidArgument);
  EXPECT_EQ(error_of([&] { (void)StreamWriter::open(dir_.path() + "/", metas, opts()); }).code(),
            Errc::InvalidArgument);
  const Error missing =
      error_of([&] { (void)StreamWriter::open(dir_.file("no/such/dir/a"), metas, opts()); });
  EXPECT_EQ(missing.code(), Errc::Io);
  EXPECT_EQ(missing.sys_errno(), ENOENT);
  EXPECT_TRUE(dir_.entries().empty());
}

TEST_F(WriterErrors, OrderUnknownAndLengthMistakesRejectOnlyTheCall) {
  const auto metas =
      contiguous({{"a", DType::U8, {10}}, {"z", DType::U8, {0}}, {"b", DType::U8, {10}}});
  const auto bytes = pattern(20, 1);
  const std::span<const std::byte> a(bytes.data(), 10), b(bytes.data() + 10, 10);
  const std::string path = dir_.file("x.safetensors");
  auto w = StreamWriter::open(path, metas, opts());

  auto code = [](std::future<void> f) {
    try {
      f.get();
    } catch (const Error& e) {
      return e.code();
    }
    return Errc::Io;  // "no error" is never expected here
  };
  EXPECT_EQ(code(w.write_block("b", b)), Errc::TensorOrder);
  EXPECT_EQ(code(w.write_block("nope", a)), Errc::UnknownTensor);
  EXPECT_EQ(code(w.write_block("a", pattern(11, 2))), Errc::LengthMismatch);
  w.write_block("a", a.first(4)).get();
  EXPECT_EQ(error_of([&] { w.finalize_tensor("a"); }).code(), Errc::LengthMismatch);
  EXPECT_EQ(error_of([&] { w.finalize_tensor("b"); }).code(), Errc::TensorOrder);
  EXPECT_EQ(error_of([&] { w.finalize_tensor("nope"); }).code(), Errc::UnknownTensor);
  EXPECT_EQ(code(w.write_block("a", a.subspan(4, 7))), Errc::LengthMismatch);
  EXPECT_EQ(code(w.close()), Errc::LengthMismatch);  // the writer stays open
  w.write_block("a", a.subspan(4)).get();
  // "a" is complete: "b" may follow without finalize (implicit, across the empty "z").
  w.write_block("b", b.first(5)).get();
  EXPECT_EQ(code(w.write_block("a", a.first(1))), Errc::TensorOrder);
  w.finalize_tensor("a");  // already complete: a no-op
  w.write_block("b", b.subspan(5)).get();
  w.finalize_tensor("b");
  w.close().get();
  DataMap data = {{"a", {a.begin(), a.end()}}, {"z", {}}, {"b", {b.begin(), b.end()}}};
  check_file(path, true, &data);
}

TEST_F(WriterErrors, WindowMisuse) {
  const auto metas = contiguous({{"a", DType::U8, {100}}});
  auto w = StreamWriter::open(dir_.file("w"), metas, opts());
  EXPECT_EQ(error_of([&] { w.commit_window(1); }).code(), Errc::InvalidState);
  EXPECT_EQ(error_of([&] { (void)w.window("b"); }).code(), Errc::UnknownTensor);
  EXPECT_TRUE(w.window("a", 0).empty());
  std::span<std::byte> win = w.window("a", 60);
  ASSERT_EQ(win.size(), 60U);
  EXPECT_EQ(error_of([&] { (void)w.window("a"); }).code(), Errc::InvalidState);
  EXPECT_THROW(w.write_block("a", pattern(1, 1)).get(), Error);
  EXPECT_EQ(error_of([&] { w.finalize_tensor("a"); }).code(), Errc::InvalidState);
  EXPECT_THROW(w.close().get(), Error);
  EXPECT_EQ(error_of([&] { w.commit_window(61); }).code(), Errc::LengthMismatch);
  std::fill(win.begin(), win.end(), std::byte{7});
  w.commit_window(60);
  win = w.window("a");
  ASSERT_EQ(win.size(), 40U);
  std::fill(win.begin(), win.end(), std::byte{7});
  w.commit_window(40);
  w.close().get();
  DataMap data = {{"a", std::vector<std::byte>(100, std::byte{7})}};
  check_file(dir_.file("w"), true, &data);
}

TEST_F(WriterErrors, CallsAfterCloseAndAbort) {
  const auto metas = contiguous({{"a", DType::U8, {3}}});
  const auto bytes = pattern(3, 1);
  {
    auto w = StreamWriter::open(dir_.file("closed"), metas, opts());
    w.write_block("a", bytes).get();
    w.close().get();
    EXPECT_THROW(w.write_block("a", bytes).get(), Error);
    EXPECT_EQ(error_of([&] { w.close().get(); }).code(), Errc::InvalidState);
    EXPECT_EQ(error_of([&] { w.finalize_tensor("a"); }).code(), Errc::InvalidState);
    EXPECT_EQ(error_of([&] { (void)w.window("a"); }).code(), Errc::InvalidState);
    w.abort();  // a no-op after close
  }
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"closed"});
  {
    auto w = StreamWriter::open(dir_.file("aborted"), metas, opts());
    w.write_block("a", bytes).get();
    w.abort();
    w.abort();
    EXPECT_EQ(error_of([&] { w.write_block("a", bytes).get(); }).code(), Errc::InvalidState);
    EXPECT_EQ(error_of([&] { w.close().get(); }).code(), Errc::InvalidState);
  }
  {
    auto w = StreamWriter::open(dir_.file("dropped"), metas, opts());
    w.write_block("a", std::span(bytes).first(1)).get();
  }  // destroyed without close: aborted
  {
    auto w = StreamWriter::open(dir_.file("moved"), metas, opts());
    StreamWriter v = std::move(w);
    EXPECT_EQ(error_of([&] { w.close().get(); }).code(), Errc::InvalidState);  // NOLINT
    v.abort();
  }
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"closed"});
}

TEST_F(WriterErrors, AbortLeavesAnExistingFileUntouched) {
  const std::string path = dir_.file("keep.safetensors");
  const auto old = pattern(5000, 9);
  write_file(path, old);
  const auto metas = contiguous({{"a", DType::U8, {100000}}});
  const auto bytes = pattern(100000, 1);
  auto w = StreamWriter::open(path, metas, opts());
  w.write_block("a", std::span(bytes).first(70000)).get();
  w.abort();
  EXPECT_EQ(read_file(path), old);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keep.safetensors"});
}

// ---- injected I/O faults -------------------------------------------------------------------

struct FaultRun {
  std::exception_ptr error;  // the first failure seen (write_block or close)
};

// Writes a 3-tensor file through an engine with `plan`; aborts on failure.
FaultRun write_with_faults(const std::string& path, BackendKind backend, FaultPlan plan,
                           std::shared_ptr<testing::FaultCounters>* counters, IoMode mode) {
  EngineOptions eo;
  eo.backend = backend;
  eo.chunk_size = 16 * 1024;
  eo.buffer_count = 4;
  WriterOptions o;
  o.engine = testing::make_faulty_engine(eo, std::move(plan), counters);
  o.io_mode = mode;
  const auto metas =
      contiguous({{"a", DType::F32, {10000}}, {"b", DType::U8, {12345}}, {"c", DType::U8, {7}}});
  FaultRun run;
  auto w = StreamWriter::open(path, metas, o);
  try {
    for (const TensorMeta& t : metas) {
      const auto bytes = pattern(t.nbytes(), 3);
      for (std::size_t off = 0; off < bytes.size(); off += 5000) {
        w.write_block(
             t.name, std::span(bytes).subspan(off, std::min<std::size_t>(5000, bytes.size() - off)))
            .get();
      }
    }
    w.close().get();
  } catch (...) {
    run.error = std::current_exception();
    w.abort();
  }
  return run;
}

class WriterFaults : public ::testing::TestWithParam<IoConfig> {
 protected:
  void SetUp() override {
    if (GetParam().backend == BackendKind::Uring && !make_engine(BackendKind::Uring)) {
      GTEST_SKIP() << "io_uring is not available on this kernel";
    }
  }
  TempDir dir_;
};

TEST_P(WriterFaults, EveryFailedWriteOrSyncSurfacesAndLeavesThePathUntouched) {
  const std::string path = dir_.file("f.safetensors");
  const auto old = pattern(777, 5);
  write_file(path, old);
  std::shared_ptr<testing::FaultCounters> counters;
  const FaultRun clean =
      write_with_faults(dir_.file("clean"), GetParam().backend, {}, &counters, GetParam().mode);
  ASSERT_EQ(clean.error, nullptr);
  const std::uint64_t writes = counters->count(Fault::Op::Write);
  const std::uint64_t syncs = counters->count(Fault::Op::Sync);
  ASSERT_GE(writes, 5U);
  ASSERT_GE(syncs, 1U);
  sweep_write_faults(
      path, writes, syncs,
      [&](const FaultPlan& plan) {
        return FaultedRun{
            write_with_faults(path, GetParam().backend, plan, nullptr, GetParam().mode).error};
      },
      [&](bool) {
        EXPECT_EQ(read_file(path), old);
        EXPECT_EQ(dir_.entries(), (std::vector<std::string>{"clean", "f.safetensors"}));
      });
}

TEST_P(WriterFaults, RetriedAndShortTransfersStillProduceAValidFile) {
  const std::string path = dir_.file("r.safetensors");
  std::shared_ptr<testing::FaultCounters> counters;
  ASSERT_EQ(write_with_faults(path, GetParam().backend, {}, &counters, GetParam().mode).error,
            nullptr);
  const std::uint64_t writes = counters->count(Fault::Op::Write);
  FaultPlan plan;
  for (std::uint64_t i = 0; i < writes; ++i) {
    const Fault::Kind kinds[] = {Fault::Kind::Eagain, Fault::Kind::Eintr, Fault::Kind::Short};
    plan.faults.push_back({Fault::Op::Write, i, kinds[i % 3]});
  }
  plan.fail_buffer_registration = true;
  ASSERT_EQ(write_with_faults(path, GetParam().backend, plan, nullptr, GetParam().mode).error,
            nullptr);
  check_file(path, true);
}

INSTANTIATE_TEST_SUITE_P(Io, WriterFaults, ::testing::ValuesIn(io_configs()),
                         [](const auto& info) { return config_name(info.param); });

// ---- a real file system without space ------------------------------------------------------

class SmallTmpfs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=4m") != 0) {
      GTEST_SKIP() << "mount -t tmpfs -o size=4m failed: " << std::strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  TempDir dir_;
  bool mounted_ = false;
};

TEST_F(SmallTmpfs, NoSpaceIsReportedAndTheOldFileSurvives) {
  const std::string path = dir_.file("m.safetensors");
  WriterOptions o;
  o.engine = make_engine(BackendKind::Threads, 64 * 1024, 4);
  // 3 MiB fits in 4 MiB.
  const auto small = contiguous({{"a", DType::U8, {3 << 20}}});
  const auto bytes = pattern(3 << 20, 1);
  {
    auto w = StreamWriter::open(path, small, o);
    w.write_block("a", bytes).get();
    w.close().get();
  }
  const auto before = read_file(path);
  // Replacing it needs another 3 MiB while the old file still exists.
  const Error e = error_of([&] {
    auto w = StreamWriter::open(path, small, o);
    w.write_block("a", bytes).get();
    w.close().get();
  });
  EXPECT_EQ(e.code(), Errc::NoSpace) << e.what();
  EXPECT_EQ(e.sys_errno(), ENOSPC);
  EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"m.safetensors"});
  // Buffered mode too, and a file far larger than the file system.
  o.io_mode = IoMode::Buffered;
  const auto huge = contiguous({{"a", DType::U8, {64 << 20}}});
  EXPECT_EQ(error_of([&] { (void)StreamWriter::open(path, huge, o); }).code(), Errc::NoSpace);
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"m.safetensors"});
}

}  // namespace
}  // namespace stsw::writer_test
