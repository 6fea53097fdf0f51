// Engine::scan: every byte of the range delivered exactly once through staging buffers,
// errors from the callback or the file fail the scan, buffers go back to the pool.
#include <fcntl.h>

#include <map>
#include <mutex>
#include <thread>

#include "engine_test_util.hpp"

namespace stsw {
namespace {

using test::get_within;
using test::TempDir;

class EngineScan : public ::testing::TestWithParam<BackendKind> {
 protected:
  // A file of `size` random bytes in a fresh directory.
  File make_file(Engine& engine, IoMode mode, std::size_t size) {
    data_ = test::random_bytes(size, 11);
    File f = File::open(dir_.file("scan"), O_RDWR | O_CREAT | O_TRUNC, 0644, mode);
    test::write_all(engine, f, 0, data_);
    return f;
  }

  // Scans [offset, offset + length) and checks that each byte came once, intact.
  void scan_and_check(Engine& engine, const File& f, std::uint64_t offset, std::uint64_t length,
                      bool alone = true) {
    std::mutex mu;
    std::map<std::uint64_t, std::vector<std::byte>> chunks;
    auto fut = engine.scan(f, offset, length, [&](std::uint64_t off, std::span<const std::byte> d) {
      std::lock_guard lock(mu);
      EXPECT_TRUE(chunks.emplace(off, std::vector<std::byte>(d.begin(), d.end())).second);
    });
    get_within(fut);
    std::uint64_t next = offset;
    for (const auto& [off, bytes] : chunks) {
      ASSERT_EQ(off, next) << "gap or overlap";
      ASSERT_FALSE(bytes.empty());
      ASSERT_TRUE(std::equal(bytes.begin(), bytes.end(), data_.begin() + off)) << "at " << off;
      next += bytes.size();
    }
    EXPECT_EQ(next, offset + length);
    if (alone) {
      const EngineStats s = engine.stats();
      EXPECT_EQ(s.buffers_free, s.buffers_total);
    }
  }

  TempDir dir_;
  std::vector<std::byte> data_;
};

TEST_P(EngineScan, DeliversEveryByteOnce) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  for (IoMode mode : {IoMode::Direct, IoMode::Buffered}) {
    File f = make_file(*engine, mode, 300000);
    scan_and_check(*engine, f, 0, 300000);
    scan_and_check(*engine, f, 4097, 100000);
    scan_and_check(*engine, f, 299999, 1);
    scan_and_check(*engine, f, 12345, 300000 - 12345);
  }
  EXPECT_GT(engine->stats().callback_seconds, 0.0);
}

TEST_P(EngineScan, ConcurrentScansShareASmallPool) {
  EngineOptions o = test::small_options(GetParam());
  o.buffer_count = 2;
  o.queue_depth = 3;
  STSW_ENGINE_OR_SKIP(engine, o);
  File f = make_file(*engine, IoMode::Direct, 200000);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { scan_and_check(*engine, f, 1000 * i, 150000, false); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(engine->stats().buffers_free, 2u);
}

TEST_P(EngineScan, WaitsForBuffersHeldByTheCaller) {
  EngineOptions o = test::small_options(GetParam());
  o.buffer_count = 2;
  o.max_buffer_count = 2;  // no growth: the caller holds the whole pool
  STSW_ENGINE_OR_SKIP(engine, o);
  File f = make_file(*engine, IoMode::Direct, 100000);
  StagingBuffer a = engine->acquire_buffer();
  StagingBuffer b = engine->acquire_buffer();
  EXPECT_FALSE(engine->try_acquire_buffer());
  std::atomic<std::uint64_t> seen{0};
  auto fut = engine->scan(f, 0, 100000,
                          [&](std::uint64_t, std::span<const std::byte> d) { seen += d.size(); });
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  a.reset();
  get_within(fut);
  EXPECT_EQ(seen.load(), 100000u);
  b.reset();
  EXPECT_EQ(engine->stats().buffers_free, 2u);
}

TEST_P(EngineScan, CallbackExceptionFailsTheScan) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  File f = make_file(*engine, IoMode::Direct, 200000);
  std::atomic<int> calls{0};
  auto fut = engine->scan(f, 0, 200000, [&](std::uint64_t off, std::span<const std::byte>) {
    ++calls;
    if (off >= 50000) throw std::runtime_error("callback refused chunk");
  });
  EXPECT_THROW(get_within(fut), std::runtime_error);
  EXPECT_LT(calls.load(), 13);  // the scan stopped issuing chunks
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total);
}

TEST_P(EngineScan, PastEndOfFileFails) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  File f = make_file(*engine, IoMode::Direct, 50000);
  auto fut = engine->scan(f, 10, 60000, [](std::uint64_t, std::span<const std::byte>) {});
  const Error e = test::error_of([&] { get_within(fut); });
  EXPECT_EQ(e.code(), Errc::Io);
  EXPECT_NE(e.message().find("unexpected end of file"), std::string::npos) << e.what();
  EXPECT_EQ(engine->stats().buffers_free, engine->stats().buffers_total);
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineScan,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
