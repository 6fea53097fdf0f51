// The staging pool grows on demand beyond its registered buffers up to
// EngineOptions::max_buffer_count, serves I/O from the extra (unregistered) buffers, gives
// their memory back, and at the cap fails a blocking acquire at once when nothing in
// flight could return a buffer (issue 16: no deadlock, ever). Both backends.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "engine_test_util.hpp"
#include "io/buffer_pool.hpp"

namespace stsw::test {
namespace {

class PoolGrowth : public ::testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options(unsigned count, unsigned max) const {
    EngineOptions o = small_options(GetParam());
    o.buffer_count = count;
    o.max_buffer_count = max;
    return o;
  }
};

TEST_P(PoolGrowth, GrowsToTheCapThenFailsAtOnceWhenNothingIsInFlight) {
  const EngineOptions o = options(2, 4);
  STSW_ENGINE_OR_SKIP(engine, o);
  std::vector<StagingBuffer> held;
  for (int i = 0; i < 4; ++i) held.push_back(engine->acquire_buffer());
  EXPECT_GE(held[0].index(), 0);
  EXPECT_GE(held[1].index(), 0);
  EXPECT_EQ(held[2].index(), -1) << "extra buffers are not registered";
  EXPECT_EQ(held[3].index(), -1);
  EngineStats s = engine->stats();
  EXPECT_EQ(s.buffers_total, 4U);
  EXPECT_EQ(s.buffers_max, 4U);
  EXPECT_EQ(s.buffers_free, 0U);
  EXPECT_FALSE(engine->try_acquire_buffer().has_value());

  const auto t0 = std::chrono::steady_clock::now();
  const Error e = error_of([&] { (void)engine->acquire_buffer(); });
  EXPECT_EQ(e.code(), Errc::NoSpace) << e.what();
  EXPECT_NE(e.message().find("staging pool exhausted"), std::string::npos) << e.what();
  EXPECT_NE(e.message().find("max_buffer_count"), std::string::npos) << e.what();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  held.pop_back();  // an extra buffer: unmapped, the cap has room again
  EXPECT_EQ(engine->stats().buffers_total, 3U);
  held.push_back(engine->acquire_buffer());
  held.clear();
  s = engine->stats();
  EXPECT_EQ(s.buffers_total, 2U) << "extra buffers are given back";
  EXPECT_EQ(s.buffers_free, 2U);
}

TEST_P(PoolGrowth, DefaultCapIsOneGiBOfBuffers) {
  EngineOptions o = small_options(GetParam());
  STSW_ENGINE_OR_SKIP(engine, o);
  EXPECT_EQ(engine->stats().buffers_max, (1U << 30) / o.chunk_size);
  o.max_buffer_count = 2;  // below buffer_count (4)
  EXPECT_EQ(error_of([&] { (void)Engine::create(o); }).code(), Errc::InvalidArgument);
}

TEST_P(PoolGrowth, ExtraBuffersCarryIo) {
  const EngineOptions o = options(1, 3);
  STSW_ENGINE_OR_SKIP(engine, o);
  TempDir dir;
  File f = File::open(dir.file("x"), O_RDWR | O_CREAT, 0644, IoMode::Buffered);
  StagingBuffer reg = engine->acquire_buffer();
  StagingBuffer extra = engine->acquire_buffer();
  ASSERT_EQ(extra.index(), -1);
  const auto bytes = random_bytes(o.chunk_size, 7);
  std::memcpy(extra.data().data(), bytes.data(), bytes.size());
  auto w = engine->write(f, 0, std::move(extra), bytes.size());
  get_within(w);
  // A staged read (misaligned destination) and a scan also run on extra buffers here.
  std::vector<std::byte> back(bytes.size());
  auto r = engine->read(f, 0, back, true);
  get_within(r);
  EXPECT_EQ(back, bytes);
  std::size_t seen = 0;
  auto sc = engine->scan(f, 0, bytes.size(),
                         [&](std::uint64_t, std::span<const std::byte> c) { seen += c.size(); });
  get_within(sc);
  EXPECT_EQ(seen, bytes.size());
}

TEST_P(PoolGrowth, AtTheCapABlockingAcquireWaitsForInFlightIo) {
  const EngineOptions o = options(1, 2);
  STSW_ENGINE_OR_SKIP(engine, o);
  TempDir dir;
  File f = File::open(dir.file("x"), O_RDWR | O_CREAT, 0644, IoMode::Buffered);
  StagingBuffer held = engine->acquire_buffer();
  // A long transfer that needs a staging buffer keeps the engine busy: a scan of many
  // chunks holds the second (last) buffer through I/O, then returns it.
  const auto bytes = random_bytes(o.chunk_size * 64, 9);
  write_all(*engine, f, 0, bytes);
  std::promise<void> in_scan;
  bool signalled = false;
  auto sc = engine->scan(f, 0, bytes.size(), [&](std::uint64_t, std::span<const std::byte>) {
    if (!signalled) {
      signalled = true;
      in_scan.set_value();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  });
  in_scan.get_future().wait();
  StagingBuffer got = engine->acquire_buffer();  // waits for the scan's buffer
  EXPECT_TRUE(static_cast<bool>(got));
  got.reset();
  get_within(sc);
}

INSTANTIATE_TEST_SUITE_P(Backends, PoolGrowth,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

// Issue 21: a transfer (an asynchronous waiter) whose lease will come back waits for it
// instead of mapping a fresh extra buffer per piece (page faults, and peak RSS up to the cap
// when a loader requested every tensor at once); a blocking caller still grows the pool
// past such waiting transfers.
struct TestWaiter final : detail::BufferWaiter {
  StagingBuffer got;
  int calls = 0;
  void on_buffer(StagingBuffer b) noexcept override {
    got = std::move(b);
    ++calls;
  }
};

TEST(BufferPool, TransfersWaitForTransferLeasesInsteadOfGrowing) {
  detail::BufferPool pool(4096, 1, 4);
  TestWaiter a, b, c;
  StagingBuffer la;
  ASSERT_EQ(pool.acquire_or_wait(&a, la), detail::BufferPool::Wait::Got);
  EXPECT_GE(la.index(), 0);
  StagingBuffer lb;
  // a's buffer comes back on its own: b waits for it rather than growing the pool.
  EXPECT_EQ(pool.acquire_or_wait(&b, lb), detail::BufferPool::Wait::Queued);
  EXPECT_EQ(pool.total(), 1U);
  // A holder is not queued behind b: it grows the pool at once.
  StagingBuffer h = pool.acquire();
  EXPECT_EQ(h.index(), -1);
  EXPECT_EQ(pool.total(), 2U);
  la.reset();  // a's buffer goes to b
  EXPECT_EQ(b.calls, 1);
  EXPECT_TRUE(static_cast<bool>(b.got));
  // With no transfer lease out, a transfer grows the pool as before.
  b.got.reset();
  StagingBuffer lc;
  StagingBuffer la2;
  ASSERT_EQ(pool.acquire_or_wait(&a, la2), detail::BufferPool::Wait::Got);  // registered
  la2.reset();
  h.reset();
  EXPECT_EQ(pool.total(), 1U);
  StagingBuffer held = pool.acquire();  // a holder takes the registered buffer
  ASSERT_EQ(pool.acquire_or_wait(&c, lc), detail::BufferPool::Wait::Got);
  EXPECT_EQ(lc.index(), -1);
  EXPECT_EQ(pool.total(), 2U);
  lc.reset();
  held.reset();
  pool.close();
}

}  // namespace
}  // namespace stsw::test
