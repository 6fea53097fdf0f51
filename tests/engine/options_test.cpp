// Engine options: validation, backend selection (option, STSW_IO_BACKEND, fallback),
// registered and unregistered staging buffers, including a real RLIMIT_MEMLOCK failure.
#include <fcntl.h>
#include <linux/capability.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "engine_test_util.hpp"
#include "stsw/crc32.hpp"

extern char** environ;

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

void round_trip(Engine& engine) {
  TempDir dir;
  File f = File::open(dir.file("r"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  const auto data = test::random_bytes(100000, 31);
  test::write_all(engine, f, 4096, data);
  std::vector<std::byte> back(data.size());
  auto r = engine.read(f, 4096, back, true);
  EXPECT_EQ(get_within(r), crc32(data));
  EXPECT_EQ(back, data);
  std::uint64_t seen = 0;
  auto s = engine.scan(f, 4096, data.size(), [&](std::uint64_t, std::span<const std::byte> d) {
    seen += d.size();  // one worker: no race
  });
  get_within(s);
  EXPECT_EQ(seen, data.size());
}

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

// Runs in a child process (see RealMemlockLimitFallsBack): drops CAP_IPC_LOCK, lowers
// RLIMIT_MEMLOCK below the pool size, and checks that registration fails and the
// engine still works with unregistered buffers.
TEST(EngineMemlockChild, RegistrationFailsAndEngineWorks) {
  if (std::getenv("STSW_ENGINE_MEMLOCK_CHILD") == nullptr) {
    GTEST_SKIP() << "runs only as the child process of RealMemlockLimitFallsBack";
  }
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2]{};
  ASSERT_EQ(::syscall(SYS_capget, &hdr, caps), 0);
  caps[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
  caps[CAP_TO_INDEX(CAP_IPC_LOCK)].permitted &= ~CAP_TO_MASK(CAP_IPC_LOCK);
  ASSERT_EQ(::syscall(SYS_capset, &hdr, caps), 0);
  const rlimit lim{64 << 10, 64 << 10};
  ASSERT_EQ(::setrlimit(RLIMIT_MEMLOCK, &lim), 0);
  EngineOptions o = test::small_options(BackendKind::Uring);
  o.buffer_count = 8;
  o.chunk_size = 1 << 20;  // 8 MiB of buffers against a 64 KiB limit
  STSW_ENGINE_OR_SKIP(engine, o);
  EXPECT_FALSE(engine->stats().buffers_registered);
  round_trip(*engine);
}

TEST(EngineOptionsTest, RealMemlockLimitFallsBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop CAP_IPC_LOCK in a child";
  if (!uring_usable()) GTEST_SKIP() << "io_uring is not usable here";
  std::string self(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  ASSERT_GT(n, 0);
  self.resize(static_cast<std::size_t>(n));
  ScopedEnv env("STSW_ENGINE_MEMLOCK_CHILD", "1");
  std::string filter = "--gtest_filter=EngineMemlockChild.RegistrationFailsAndEngineWorks";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, environ), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child test failed; run it with "
                                       "STSW_ENGINE_MEMLOCK_CHILD=1 "
                                    << filter;
}

}  // namespace
}  // namespace stsw
