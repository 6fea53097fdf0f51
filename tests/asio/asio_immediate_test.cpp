// Asio's rule for immediate completion: a handler never runs inside the initiating
// function, even when the operation completes there (the engine completes empty ranges
// and invalid arguments inline, on the caller's thread). Each test initiates from inside
// io_context::run(), where a plain dispatch would run the handler at once.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <span>
#include <thread>
#include <vector>

#include "stsw/asio.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"

namespace asio = boost::asio;

namespace {

class AsioImmediateTest : public ::testing::Test {
 protected:
  std::shared_ptr<stsw::Engine> engine_ = stsw::Engine::create({});
  stsw::File file_ = stsw::File::open("/proc/self/exe", O_RDONLY, 0, stsw::IoMode::Buffered);
};

TEST_F(AsioImmediateTest, EmptyReadHandlerRunsAfterTheInitiatingCallReturned) {
  asio::io_context io;
  bool returned = false;
  bool ran = false;
  bool ran_after_return = false;
  asio::post(io, [&] {
    stsw::async_read(*engine_, file_, 0, std::span<std::byte>(), false,
                     asio::bind_executor(io, [&](std::exception_ptr error, std::uint32_t) {
                       EXPECT_FALSE(error);
                       ran = true;
                       ran_after_return = returned;
                     }));
    EXPECT_FALSE(ran) << "the handler ran inside async_read";
    returned = true;
  });
  io.run();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(ran_after_return);
}

TEST_F(AsioImmediateTest, InvalidArgumentErrorIsPostedToo) {
  asio::io_context io;
  bool returned = false;
  bool ran_after_return = false;
  std::exception_ptr seen;
  std::vector<std::byte> dst(16);
  stsw::File closed;  // not open: the engine refuses it inline
  asio::post(io, [&] {
    stsw::async_read(*engine_, closed, 0, dst, false,
                     asio::bind_executor(io, [&](std::exception_ptr error, std::uint32_t) {
                       seen = error;
                       ran_after_return = returned;
                     }));
    returned = true;
  });
  io.run();
  ASSERT_TRUE(seen);
  EXPECT_THROW(std::rethrow_exception(seen), stsw::Error);
  EXPECT_TRUE(ran_after_return);
}

TEST_F(AsioImmediateTest, PlainCallbackOnTheSystemExecutorDoesNotRunInline) {
  // No associated executor: the system executor. Its post runs the handler on another
  // thread, possibly before async_read returns, but never inside it on this thread.
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> inside{true};
  std::atomic<bool> ran_inline{false};
  std::atomic<bool> done{false};
  stsw::async_write(*engine_, file_, 0, std::span<const std::byte>(), [&](std::exception_ptr) {
    if (inside.load() && std::this_thread::get_id() == caller) {
      ran_inline = true;
    }
    done = true;
    done.notify_one();
  });
  inside = false;
  done.wait(false);
  EXPECT_FALSE(ran_inline);
}

TEST_F(AsioImmediateTest, CoAwaitOfAnImmediateOperation) {
  asio::io_context io;
  int completed = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 1000; ++i) {
          co_await stsw::async_read(*engine_, file_, 0, std::span<std::byte>(), false,
                                    asio::use_awaitable);
          ++completed;
        }
      },
      asio::detached);
  io.run();
  EXPECT_EQ(completed, 1000);
}

}  // namespace
