// Engine options: validation, backend selection (option, STSW_IO_BACKEND), registered
// and unregistered staging buffers (the real fallbacks are in fallback_test.cpp).
#include <fcntl.h>

#include <atomic>
#include <cstdlib>
#include <optional>

#include "engine_test_util.hpp"
#include "stsw/crc32.hpp"

namespace stsw {
namespace {

using test::get_within;
using test::TempDir;

// Sets an environment variable for one scope, restoring the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

bool uring_usable() {
  EngineOptions o;
  o.backend = BackendKind::Uring;
  o.chunk_size = 4096;
  o.buffer_count = 1;
  return Engine::create(o)->backend() == BackendKind::Uring;
}

using test::round_trip;

TEST(EngineOptionsTest, ImpossibleOptionsThrowInvalidArgument) {
  auto expect_invalid = [](EngineOptions o) {
    EXPECT_EQ(test::error_of([&] { (void)Engine::create(o); }).code(), Errc::InvalidArgument);
  };
  EngineOptions o;
  o.chunk_size = 0;
  expect_invalid(o);
  o.chunk_size = 1000;
  expect_invalid(o);
  o.chunk_size = std::size_t{2} << 30;
  expect_invalid(o);
  o = {};
  o.queue_depth = 0;
  expect_invalid(o);
  o = {};
  o.buffer_count = 0;
  expect_invalid(o);
  o = {};
  o.worker_threads = 0;
  expect_invalid(o);
  o = {};
  o.io_threads = 0;
  expect_invalid(o);
}

TEST(EngineOptionsTest, EnvironmentSelectsBackendForAuto) {
  EngineOptions o;
  o.buffer_count = 1;
  o.chunk_size = 4096;
  {
    ScopedEnv env("STSW_IO_BACKEND", "threads");
    EXPECT_EQ(Engine::create(o)->backend(), BackendKind::Threads);
    o.backend = BackendKind::Uring;  // an explicit option wins over the environment
    const bool uring = uring_usable();
    EXPECT_EQ(Engine::create(o)->backend(), uring ? BackendKind::Uring : BackendKind::Threads);
    o.backend = BackendKind::Auto;
  }
  {
    ScopedEnv env("STSW_IO_BACKEND", "uring");
    EXPECT_EQ(Engine::create(o)->backend(),
              uring_usable() ? BackendKind::Uring : BackendKind::Threads);
  }
  {
    ScopedEnv env("STSW_IO_BACKEND", "bogus");  // ignored, with a warning
    EXPECT_EQ(Engine::create(o)->backend(),
              uring_usable() ? BackendKind::Uring : BackendKind::Threads);
  }
  {
    ScopedEnv env("STSW_IO_BACKEND", nullptr);
    auto e = Engine::create(o);
    EXPECT_EQ(e->backend(), uring_usable() ? BackendKind::Uring : BackendKind::Threads);
    EXPECT_EQ(e->options().backend, e->backend());
    EXPECT_EQ(e->stats().backend, e->backend());
  }
}

TEST(EngineOptionsTest, ThreadsBackendNeverRegisters) {
  EngineOptions o = test::small_options(BackendKind::Threads);
  auto e = Engine::create(o);
  EXPECT_EQ(e->backend(), BackendKind::Threads);
  EXPECT_FALSE(e->stats().buffers_registered);
  round_trip(*e);
}

TEST(EngineOptionsTest, UringRegistersBuffersUnlessTold) {
  EngineOptions o = test::small_options(BackendKind::Uring);
  STSW_ENGINE_OR_SKIP(registered, o);
  // Root (CAP_IPC_LOCK) or a large RLIMIT_MEMLOCK lets 4 x 16 KiB register.
  EXPECT_TRUE(registered->stats().buffers_registered);
  round_trip(*registered);
  o.register_buffers = false;
  auto plain = Engine::create(o);
  EXPECT_FALSE(plain->stats().buffers_registered);
  round_trip(*plain);
}

}  // namespace
}  // namespace stsw
