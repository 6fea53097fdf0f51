// Write/read round trips through both backends: random sizes, offsets and memory
// misalignments (O_DIRECT split and staged paths, buffered, tmpfs, DontCache), CRC on
// read, staging-buffer writes, end of file, invalid arguments, statistics.
#include <fcntl.h>

#include <random>

#include "engine_test_util.hpp"
#include "stsw/crc32.hpp"

namespace stsw {
namespace {

using test::AlignedBytes;
using test::get_within;
using test::TempDir;

class EngineRoundTrip : public ::testing::TestWithParam<BackendKind> {};

// Random ranges: writes from (mis)aligned memory, reads back with and without CRC into
// memory congruent or not with the offset, in a file of `mode`.
void random_round_trips(Engine& engine, const File& f, unsigned seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 24; ++i) {
    const std::size_t size = 1 + rng() % (150 << 10);
    const std::uint64_t offset = rng() % (1 << 20);
    const auto data = test::random_bytes(size, rng());
    AlignedBytes src(size, (i % 3 == 0) ? offset % 4096 : rng() % 4096);
    std::copy(data.begin(), data.end(), src.data());
    auto w = engine.write(f, offset, src.span());
    get_within(w);

    AlignedBytes dst(size, (i % 2 == 0) ? offset % 4096 : rng() % 4096);
    const bool crc = i % 4 != 3;
    auto r = engine.read(f, offset, dst.span(), crc);
    const std::uint32_t got = get_within(r);
    ASSERT_TRUE(std::equal(data.begin(), data.end(), dst.data()))
        << "size " << size << " offset " << offset;
    EXPECT_EQ(got, crc ? crc32(data) : 0u);
  }
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.buffers_free, s.buffers_total);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.requests_submitted, s.requests_completed);
  EXPECT_GE(s.bytes_completed, s.bytes_submitted / 2);
}

TEST_P(EngineRoundTrip, DirectRandomRanges) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("d"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  random_round_trips(*engine, f, 1);
  EXPECT_GT(engine->stats().crc_seconds, 0.0);
}

TEST_P(EngineRoundTrip, BufferedRandomRanges) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("b"), O_RDWR | O_CREAT, 0644, IoMode::Buffered);
  random_round_trips(*engine, f, 2);
}

TEST_P(EngineRoundTrip, DevShmRandomRanges) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir("engine", "/dev/shm");
  File f = File::open(dir.file("s"), O_RDWR | O_CREAT, 0644, IoMode::Auto);
  random_round_trips(*engine, f, 3);
}

TEST_P(EngineRoundTrip, DontCacheRandomRanges) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  for (const std::string& parent : {TempDir::default_parent(), std::string("/dev/shm")}) {
    TempDir dir("engine", parent);
    File f = File::open(dir.file("c"), O_WRONLY | O_CREAT, 0644, IoMode::DontCache);
    File r = File::open(dir.file("c"), O_RDONLY, 0, IoMode::DontCache);
    const auto data = test::random_bytes(100000, 4);
    test::write_all(*engine, f, 777, data);
    // A write-only file cannot be probed at open: the first refused write switches it.
    EXPECT_EQ(f.dontcache(), r.dontcache()) << parent;
    std::vector<std::byte> back(data.size());
    auto fut = engine->read(r, 777, back, true);
    EXPECT_EQ(get_within(fut), crc32(data));
    EXPECT_EQ(back, data);
  }
}

TEST_P(EngineRoundTrip, TmpfileDirect) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.path(), O_TMPFILE | O_RDWR, 0600, IoMode::Direct);
  random_round_trips(*engine, f, 5);
}

TEST_P(EngineRoundTrip, StagingBufferWriteAndRead) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("s"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  StagingBuffer b = engine->acquire_buffer();
  ASSERT_TRUE(b);
  EXPECT_EQ(b.capacity(), engine->options().chunk_size);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data().data()) % 4096, 0u);
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total - 1);
  const auto data = test::random_bytes(b.capacity(), 6);
  std::copy(data.begin(), data.end(), b.data().begin());
  auto w = engine->write(f, 8192, std::move(b), data.size() - 100);
  EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move): the engine took it
  get_within(w);
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total);

  StagingBuffer into = engine->acquire_buffer();
  auto r = engine->read(f, 8192, into.data().first(data.size() - 100), true);
  EXPECT_EQ(get_within(r), crc32(std::span(data).first(data.size() - 100)));
  EXPECT_TRUE(std::equal(data.begin(), data.end() - 100, into.data().begin()));
  into.reset();
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total);
}

TEST_P(EngineRoundTrip, ReadPastEndOfFileFails) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  for (IoMode mode : {IoMode::Direct, IoMode::Buffered}) {
    File f = File::open(dir.file(std::string(to_string(mode))), O_RDWR | O_CREAT, 0644, mode);
    const auto data = test::random_bytes(40000, 7);
    test::write_all(*engine, f, 0, data);
    for (std::size_t misalign : {0, 1}) {
      AlignedBytes dst(30000, misalign);
      auto r = engine->read(f, 20000, dst.span(), true);
      const Error e = test::error_of([&] { (void)get_within(r); });
      EXPECT_EQ(e.code(), Errc::Io);
      EXPECT_NE(e.message().find("unexpected end of file"), std::string::npos) << e.what();
      EXPECT_NE(e.message().find(f.path()), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total);
}

// Staged reads copy and checksum each piece block by block (256 KiB): pieces of several
// blocks and a partial last block give the CRC of the whole range, and the bytes land.
TEST_P(EngineRoundTrip, StagedReadCrcCoversPiecesOfManyBlocks) {
  EngineOptions o = test::small_options(GetParam());
  o.chunk_size = std::size_t{1} << 20;
  STSW_ENGINE_OR_SKIP(engine, o);
  TempDir dir;
  File f = File::open(dir.file("s"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  const auto data = test::random_bytes((std::size_t{5} << 20) + 12345, 21);
  test::write_all(*engine, f, 0, data);
  AlignedBytes dst(data.size() - 4096 - 77, 3);  // not congruent: the staged path
  auto r = engine->read(f, 4096 + 77, dst.span(), true);
  const auto want = std::span(data).subspan(4096 + 77);
  EXPECT_EQ(get_within(r), crc32(want));
  EXPECT_TRUE(std::equal(want.begin(), want.end(), dst.span().begin()));
}

TEST_P(EngineRoundTrip, EmptyTransfersCompleteAtOnce) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("e"), O_RDWR | O_CREAT, 0644, IoMode::Auto);
  auto w = engine->write(f, 5, std::span<const std::byte>());
  get_within(w);
  auto r = engine->read(f, 5, std::span<std::byte>(), true);
  EXPECT_EQ(get_within(r), 0u);
  auto s = engine->sync(f);
  get_within(s);
  auto s2 = engine->sync(f, false);
  get_within(s2);
  EXPECT_EQ(f.size(), 0u);
}

TEST_P(EngineRoundTrip, InvalidArgumentsFailTheFuture) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  File closed;
  std::vector<std::byte> buf(10);
  auto r = engine->read(closed, 0, buf);
  EXPECT_EQ(test::error_of([&] { (void)get_within(r); }).code(), Errc::InvalidArgument);
  auto w = engine->write(closed, 0, buf);
  EXPECT_EQ(test::error_of([&] { get_within(w); }).code(), Errc::InvalidArgument);

  TempDir dir;
  File f = File::open(dir.file("i"), O_RDWR | O_CREAT, 0644, IoMode::Auto);
  auto big = engine->write(f, 0, engine->acquire_buffer(), engine->options().chunk_size + 1);
  EXPECT_EQ(test::error_of([&] { get_within(big); }).code(), Errc::InvalidArgument);
  auto empty = engine->write(f, 0, StagingBuffer{}, 1);
  EXPECT_EQ(test::error_of([&] { get_within(empty); }).code(), Errc::InvalidArgument);
  auto overflow = engine->read(f, ~std::uint64_t{0} - 3, buf);
  EXPECT_EQ(test::error_of([&] { (void)get_within(overflow); }).code(), Errc::InvalidArgument);
  auto noscan = engine->scan(f, 0, 10, ChunkCallback{});
  EXPECT_EQ(test::error_of([&] { get_within(noscan); }).code(), Errc::InvalidArgument);
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total);
}

TEST_P(EngineRoundTrip, LargerTransferDefaultOptions) {
  EngineOptions o;
  o.backend = GetParam();
  o.chunk_size = 1 << 20;
  STSW_ENGINE_OR_SKIP(engine, o);
  TempDir dir;
  File f = File::open(dir.file("l"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  const auto data = test::random_bytes((24 << 20) + 12345, 8);
  test::write_all(*engine, f, 0, data);
  auto s = engine->sync(f);
  get_within(s);
  std::vector<std::byte> back(data.size());
  auto r = engine->read(f, 0, back, true);
  EXPECT_EQ(get_within(r), crc32(data));
  EXPECT_EQ(back, data);
  const EngineStats st = engine->stats();
  EXPECT_EQ(st.backend, GetParam());
  EXPECT_GE(st.bytes_completed, 2 * data.size());
  EXPECT_GE(st.requests_completed, 2u * 24);
}

#if defined(__SANITIZE_ADDRESS__) || defined(STSW_ASAN)
// Buffers in the pool are poisoned: touching one after it went back is reported.
TEST(EngineAsan, ReleasedStagingBufferIsPoisoned) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  auto engine = Engine::create(test::small_options(BackendKind::Threads));
  StagingBuffer b = engine->acquire_buffer();
  volatile std::byte* p = b.data().data();
  p[0] = std::byte{1};  // live while leased
  b.reset();
  EXPECT_DEATH(p[1] = std::byte{2}, "use-after-poison");
}
#endif

INSTANTIATE_TEST_SUITE_P(Backends, EngineRoundTrip,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
