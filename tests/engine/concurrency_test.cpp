// Many threads on one engine, post(), and shutdown: destroying an engine completes every
// pending operation (Cancelled where not done) and joins its threads, even when the last
// reference dies inside one of its own callbacks.
#include <fcntl.h>

#include <latch>
#include <thread>

#include "engine_test_util.hpp"
#include "stsw/crc32.hpp"

namespace stsw {
namespace {

using test::get_within;
using test::TempDir;

class EngineConcurrency : public ::testing::TestWithParam<BackendKind> {};

TEST_P(EngineConcurrency, ManyThreadsSubmittingAtOnce) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("m"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  constexpr int kThreads = 8;
  constexpr std::size_t kRegion = 70000;  // not a multiple of 4096: neighbours share blocks
  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int round = 0; round < 6; ++round) {
        const auto data = test::random_bytes(kRegion, 100 * t + round);
        const std::uint64_t off = t * kRegion;
        auto w = engine->write(f, off, data);
        get_within(w);
        std::vector<std::byte> back(kRegion);
        auto r = engine->read(f, off, back, true);
        EXPECT_EQ(get_within(r), crc32(data));
        EXPECT_EQ(back, data);
      }
    });
  }
  for (auto& th : threads) th.join();
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.buffers_free, s.buffers_total);
  EXPECT_EQ(s.in_flight, 0u);
}

TEST_P(EngineConcurrency, PostRunsTasksAndCarriesExceptions) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  std::promise<void> ok;
  std::atomic<bool> ran{false};
  engine->post([&] { ran = true; },
               [&](std::exception_ptr e) { e ? ok.set_exception(e) : ok.set_value(); });
  auto f1 = ok.get_future();
  get_within(f1);
  EXPECT_TRUE(ran);
  std::promise<void> bad;
  engine->post([] { throw std::logic_error("task failed"); },
               [&](std::exception_ptr e) { e ? bad.set_exception(e) : bad.set_value(); });
  auto f2 = bad.get_future();
  EXPECT_THROW(get_within(f2), std::logic_error);
}

// A scan whose callback is slow, and posted tasks stuck behind a blocked worker:
// destroying the engine cancels what has not run and returns only when all is done.
TEST_P(EngineConcurrency, DestructionCancelsPendingOperations) {
  EngineOptions o = test::small_options(GetParam());
  o.worker_threads = 1;
  o.queue_depth = 1;
  STSW_ENGINE_OR_SKIP(engine, o);
  TempDir dir;
  File f = File::open(dir.file("c"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  test::write_all(*engine, f, 0, test::random_bytes(400000, 3));

  std::promise<void> first_chunk;
  std::atomic<int> chunks{0};
  auto scan = engine->scan(f, 0, 400000, [&](std::uint64_t, std::span<const std::byte>) {
    if (chunks++ == 0) {
      first_chunk.set_value();
      // Long enough for the test thread to post and start the shutdown meanwhile.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  first_chunk.get_future().wait();
  std::vector<std::future<void>> posted;
  for (int i = 0; i < 5; ++i) {
    auto p = std::make_shared<std::promise<void>>();
    posted.push_back(p->get_future());
    engine->post([] {}, [p](std::exception_ptr e) { e ? p->set_exception(e) : p->set_value(); });
  }
  engine.reset();  // the destructor returns after every callback ran

  ASSERT_EQ(scan.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(test::error_of([&] { scan.get(); }).code(), Errc::Cancelled);
  EXPECT_LT(chunks.load(), 400000 / (16 << 10));
  int cancelled = 0;
  for (auto& p : posted) {
    ASSERT_EQ(p.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    try {
      p.get();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Cancelled);
      ++cancelled;
    }
  }
  EXPECT_EQ(cancelled, 5);  // the only worker was busy with the scan until shutdown
}

TEST_P(EngineConcurrency, DestructionWithManyOperationsInFlight) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("d"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  const auto data = test::random_bytes(1 << 20, 4);
  std::vector<std::future<void>> writes;
  for (int i = 0; i < 16; ++i) writes.push_back(engine->write(f, i * data.size(), data));
  engine.reset();
  for (auto& w : writes) {
    ASSERT_EQ(w.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    try {
      w.get();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Cancelled) << e.what();
    }
  }
}

// The last reference to the engine dies in a completion callback, on an engine thread.
TEST_P(EngineConcurrency, LastReferenceReleasedInCallback) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  File f = File::open(dir.file("l"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  const auto data = test::random_bytes(100000, 5);
  std::promise<void> done;
  auto holder = std::make_shared<std::shared_ptr<Engine>>(engine);
  Engine* raw = engine.get();
  engine.reset();
  raw->write(f, 0, data, [holder, &done](std::exception_ptr e) mutable {
    holder->reset();
    e ? done.set_exception(e) : done.set_value();
  });
  holder.reset();
  auto fut = done.get_future();
  get_within(fut);
  EXPECT_EQ(f.size(), data.size());
}

TEST(EngineShared, IsOneProcessWideEngine) {
  auto a = Engine::shared();
  auto b = Engine::shared();
  ASSERT_TRUE(a);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a->options().chunk_size, EngineOptions{}.chunk_size);
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineConcurrency,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
