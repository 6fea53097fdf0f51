// Reads from an O_DIRECT file into memory that is not congruent to the file offset (the
// Shifted mode of io/plan.hpp): byte-exact at many misalignments and lengths around block
// and chunk boundaries, nothing written outside the destination, no staging buffer
// taken, and faults, short reads and end of file in the O_DIRECT part and in the bounce
// block reported with file and offset. Both backends.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "engine_test_util.hpp"
#include "io/fault_injection.hpp"
#include "io/plan.hpp"
#include "stsw/crc32.hpp"

namespace stsw {
namespace {

using stsw::testing::Fault;
using stsw::testing::FaultCounters;
using stsw::testing::FaultPlan;
using stsw::testing::make_faulty_engine;
using test::AlignedBytes;
using test::get_within;
using test::TempDir;

constexpr std::size_t kGuard = 8192;  // a multiple of 4096: keeps the misalignment
constexpr auto kPattern = std::byte{0xA5};

class ShiftedRead : public ::testing::TestWithParam<BackendKind> {
 protected:
  // A direct file holding `n` random bytes; skips where O_DIRECT is not available.
  std::optional<File> direct_file(Engine& engine, std::size_t n) {
    File f = File::open(dir_.file("d"), O_RDWR | O_CREAT | O_TRUNC, 0644, IoMode::Direct);
    if (!f.direct() || f.alignment() <= 1) return std::nullopt;
    data_ = test::random_bytes(n, 41);
    test::write_all(engine, f, 0, data_);
    return f;
  }

  // Reads [offset, offset + len) into a destination `misalign` bytes past a page, with
  // kGuard bytes of kPattern before and after it that must stay untouched. Returns
  // whether the engine's planner shifted the read.
  bool read_checked(Engine& engine, const File& f, std::uint64_t offset, std::size_t len,
                    std::size_t misalign) {
    SCOPED_TRACE("offset " + std::to_string(offset) + " len " + std::to_string(len) + " misalign " +
                 std::to_string(misalign));
    AlignedBytes buf(len + 2 * kGuard, misalign);
    std::fill_n(buf.data(), len + 2 * kGuard, kPattern);
    const std::span<std::byte> dst(buf.data() + kGuard, len);
    const bool shifted =
        detail::Planner(f, offset, len, dst.data(), false, true, engine.options().chunk_size)
            .shifted();
    auto r = engine.read(f, offset, dst, true);
    const auto want = std::span<const std::byte>(data_).subspan(offset, len);
    EXPECT_EQ(get_within(r), crc32(want));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), dst.begin()));
    for (std::size_t i = 0; i < kGuard; ++i) {
      EXPECT_EQ(buf.data()[i], kPattern) << "spill before the destination at -" << kGuard - i;
      EXPECT_EQ(buf.data()[kGuard + len + i], kPattern) << "spill after the destination at +" << i;
      if (HasFailure()) break;
    }
    return shifted;
  }

  TempDir dir_;
  std::vector<std::byte> data_;
};

TEST_P(ShiftedRead, ByteExactAtManyMisalignmentsAndLengths) {
  EngineOptions o = test::small_options(GetParam());  // 16 KiB chunks
  STSW_ENGINE_OR_SKIP(engine, o);
  auto f = direct_file(*engine, 300000);
  if (!f) GTEST_SKIP() << "O_DIRECT is not available in " << dir_.path();
  const std::size_t a = f->alignment();
  const std::size_t chunk = o.chunk_size;
  unsigned shifted = 0;
  for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, a - 1, a, 2 * a + 300}) {
    for (const std::size_t len :
         {std::size_t{1}, a - 1, a, a + 1, 2 * a - 1, 2 * a, 2 * a + 1, chunk - 1, chunk, chunk + 1,
          chunk + a, 2 * chunk + a - 1, 3 * chunk, std::size_t{100000}, std::size_t{250000}}) {
      for (const std::size_t misalign : {std::size_t{1}, std::size_t{7}, std::size_t{511},
                                         std::size_t{2048}, std::size_t{4095}}) {
        if (misalign % a == offset % a) continue;  // congruent: Split, not under test
        shifted += read_checked(*engine, *f, offset, len, misalign) ? 1 : 0;
        if (HasFailure()) return;
      }
    }
  }
  EXPECT_GT(shifted, 100u) << "the cases must exercise the Shifted mode";
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.buffers_free, s.buffers_total);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.requests_submitted, s.requests_completed);
}

// The default 8 MiB chunk with a larger transfer: many pieces in flight at once, each
// moved into place by the workers in whatever order they land.
TEST_P(ShiftedRead, LargeReadWithDefaultChunks) {
  EngineOptions o;
  o.backend = GetParam();
  o.worker_threads = 2;
  STSW_ENGINE_OR_SKIP(engine, o);
  auto f = direct_file(*engine, (std::size_t{40} << 20) + 12345);
  if (!f) GTEST_SKIP() << "O_DIRECT is not available in " << dir_.path();
  read_checked(*engine, *f, 4096 + 3, data_.size() - 4096 - 3 - 100, 64);
  read_checked(*engine, *f, 0, data_.size(), 13);
}

// A shifted read takes no staging buffer: with every buffer of the pool held (up to the
// cap), it still completes (a staged read would wait for a buffer).
TEST_P(ShiftedRead, NeedsNoStagingBuffer) {
  EngineOptions o = test::small_options(GetParam());
  o.max_buffer_count = o.buffer_count;
  STSW_ENGINE_OR_SKIP(engine, o);
  auto f = direct_file(*engine, 200000);
  if (!f) GTEST_SKIP() << "O_DIRECT is not available in " << dir_.path();
  std::vector<StagingBuffer> held;
  while (auto b = engine->try_acquire_buffer()) held.push_back(std::move(*b));
  ASSERT_EQ(held.size(), o.buffer_count);
  AlignedBytes dst(150000, 9);
  auto r = engine->read(*f, 4096 + 100, dst.span(), true);
  const auto status = r.wait_for(std::chrono::seconds(10));
  held.clear();  // lets a read that waits for a buffer finish before dst goes away
  ASSERT_EQ(status, std::future_status::ready) << "the read waited for a staging buffer";
  const auto want = std::span<const std::byte>(data_).subspan(4096 + 100, 150000);
  EXPECT_EQ(r.get(), crc32(want));
  EXPECT_TRUE(std::equal(want.begin(), want.end(), dst.data()));
}

// One body piece [4096, 16384) into memory 7 bytes past a page: request 0 is its
// O_DIRECT part [4096, 12288), request 1 its bounce block [12288, 16384). A fault in
// either names the file and the offset of the failed request; a short result in either
// is completed and the bytes are exact.
TEST_P(ShiftedRead, FaultsInTheDirectPartAndTheBounceBlock) {
  EngineOptions o = test::small_options(GetParam());
  std::shared_ptr<FaultCounters> counters;
  {
    auto engine = make_faulty_engine(o, {}, &counters);
    if (o.backend == BackendKind::Uring && engine->backend() != BackendKind::Uring) {
      GTEST_SKIP() << "io_uring is not usable here";
    }
    auto f = direct_file(*engine, 65536);
    if (!f) GTEST_SKIP() << "O_DIRECT is not available in " << dir_.path();
    if (f->alignment() != 4096) GTEST_SKIP() << "the offsets below assume 4096-byte blocks";
  }
  for (const std::uint64_t index : {std::uint64_t{0}, std::uint64_t{1}}) {
    const std::uint64_t at = index == 0 ? 4096 : 12288;
    for (const Fault::Kind kind : {Fault::Kind::Eio, Fault::Kind::Short}) {
      SCOPED_TRACE("request " + std::to_string(index) + " kind " +
                   std::to_string(static_cast<int>(kind)));
      std::shared_ptr<FaultCounters> fc;
      auto engine = make_faulty_engine(o, FaultPlan{{{Fault::Op::Read, index, kind}}}, &fc);
      auto f = direct_file(*engine, 65536);
      ASSERT_TRUE(f);
      const std::uint64_t reads_before = fc->reads.load();
      AlignedBytes dst(12288, 7);
      auto r = engine->read(*f, 4096, dst.span(), true);
      const auto want = std::span<const std::byte>(data_).subspan(4096, 12288);
      if (kind == Fault::Kind::Eio) {
        const Error e = test::error_of([&] { (void)get_within(r); });
        EXPECT_EQ(e.code(), Errc::Io);
        EXPECT_NE(e.message().find(f->path()), std::string::npos) << e.what();
        EXPECT_NE(e.message().find("at offset " + std::to_string(at)), std::string::npos)
            << e.what();
      } else {
        EXPECT_EQ(get_within(r), crc32(want));
        EXPECT_TRUE(std::equal(want.begin(), want.end(), dst.data()));
        EXPECT_EQ(fc->reads.load() - reads_before, 3u) << "a short result is resubmitted once";
      }
      EXPECT_EQ(fc->injected.load(), 1u);
      const EngineStats s = engine->stats();
      EXPECT_EQ(s.buffers_free, s.buffers_total);
      EXPECT_EQ(s.in_flight, 0u);
    }
  }
}

// The file shrinks under the reader: the end of file falls in the O_DIRECT part of a
// body piece, or in its bounce block; either is "unexpected end of file" at the offset
// where the bytes ran out.
TEST_P(ShiftedRead, EndOfFileInTheDirectPartAndTheBounceBlock) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  for (const std::uint64_t size : {std::uint64_t{5000}, std::uint64_t{14000}}) {
    auto f = direct_file(*engine, 65536);
    if (!f) GTEST_SKIP() << "O_DIRECT is not available in " << dir_.path();
    if (f->alignment() != 4096) GTEST_SKIP() << "the offsets below assume 4096-byte blocks";
    ASSERT_EQ(::ftruncate(f->buffered_fd(), static_cast<off_t>(size)), 0);
    AlignedBytes dst(16384, 7);  // [0, 16384): one body piece, bounce block at 12288
    auto r = engine->read(*f, 0, dst.span(), true);
    const Error e = test::error_of([&] { (void)get_within(r); });
    EXPECT_EQ(e.code(), Errc::Io);
    EXPECT_NE(e.message().find("unexpected end of file"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find(f->path()), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("at offset " + std::to_string(size)), std::string::npos) << e.what();
    const EngineStats s = engine->stats();
    EXPECT_EQ(s.buffers_free, s.buffers_total);
    EXPECT_EQ(s.in_flight, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ShiftedRead,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
