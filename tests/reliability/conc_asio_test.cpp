// Asio completion tokens under concurrency: an execution context may be destroyed as soon as
// its run()/join() returns after the last stsw completion, while the engine thread that
// posted that completion may still be inside the executor's post. The adapter must keep the
// context's work count up until that thread is out of it (a race that TSan reported on
// pool.join() followed by ~thread_pool; scripts/tsan runs this test).
#include <gtest/gtest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>

#include "reader/reader_test_support.hpp"
#include "reliability/conc_watchdog.hpp"
#include "stsw/asio.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

namespace asio = boost::asio;
using reliability::wait_or_die;
using reliability::Watchdog;

TEST(ConcurrentAsio, ContextDestroyedRightAfterTheLastCompletion) {
  Watchdog dog("Asio contexts destroyed after completions", std::chrono::seconds(120));
  auto engine = test::make_engine(BackendKind::Threads);
  test::TempDir dir;
  const std::vector<test::TensorData> tensors = {
      {"a", DType::U8, {200000}, test::pattern(200000, 1)},
      {"b", DType::U8, {5}, test::pattern(5, 2)}};
  const std::string path = dir.file("a.safetensors");
  test::write_file(path, test::build_file(tensors));
  ReaderOptions o;
  o.engine = engine;
  const auto r = StreamReader::open(path, o);
  constexpr int kRounds = 50;
  for (int i = 0; i < kRounds; ++i) {
    {
      asio::thread_pool pool(1);
      std::promise<bool> got;
      async_verify(r, asio::bind_executor(pool, [&](std::exception_ptr e, VerifyReport rep) {
                     got.set_value(!e && rep.passed());
                   }));
      EXPECT_TRUE(wait_or_die(got.get_future(), "async_verify on a thread_pool"));
      pool.join();
    }  // ~thread_pool: the engine thread must be out of the pool's scheduler by now
    {
      asio::io_context io;
      std::vector<std::byte> dst(tensors[0].data.size());
      bool ok = false;
      async_read_into(r, "a", dst, asio::bind_executor(io, [&](std::exception_ptr e) { ok = !e; }));
      io.run();  // returns when the work count drops to zero
      EXPECT_TRUE(ok);
      EXPECT_EQ(dst, tensors[0].data);
    }  // ~io_context
  }
}

}  // namespace
}  // namespace stsw
