// The real fallback paths, each in a child process of this test binary (so that the
// restrictions stay there): io_uring denied by seccomp as in Docker's default profile
// (the engine must use the threads backend), and RLIMIT_MEMLOCK too small to register
// the staging buffers (the engine must use unregistered buffers).
#include <fcntl.h>
#include <linux/capability.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>

#include "engine_test_util.hpp"
#include "stsw/crc32.hpp"
#include "support/seccomp_deny.hpp"

extern char** environ;

namespace stsw {
namespace {

using test::get_within;
using test::TempDir;

constexpr const char* kChildEnv = "STSW_ENGINE_FALLBACK_CHILD";

using test::round_trip;

// Runs `test` (a test name of this binary) in a child process with kChildEnv=`role`.
void run_child(const char* test, const char* role) {
  std::string self(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  ASSERT_GT(n, 0);
  self.resize(static_cast<std::size_t>(n));
  std::string filter = std::string("--gtest_filter=") + test;
  std::vector<std::string> env_storage{std::string(kChildEnv) + "=" + role};
  std::vector<char*> env{env_storage[0].data()};
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(nullptr);
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, env.data()), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "the child failed; rerun it with " << kChildEnv << "=" << role << " " << filter;
}

bool is_child(const char* role) {
  const char* v = std::getenv(kChildEnv);
  return v != nullptr && std::string(v) == role;
}

TEST(EngineFallbackChild, SeccompDeniesIoUring) {
  if (!is_child("seccomp")) GTEST_SKIP() << "runs only as a child of EngineFallback tests";
#if defined(__x86_64__)
  ASSERT_TRUE(test::deny_syscall(__NR_io_uring_setup, EPERM)) << "seccomp refused";
  for (BackendKind kind : {BackendKind::Uring, BackendKind::Auto}) {
    auto engine = Engine::create(test::small_options(kind));
    EXPECT_EQ(engine->backend(), BackendKind::Threads);
    EXPECT_FALSE(engine->stats().buffers_registered);
    round_trip(*engine);
  }
#else
  GTEST_SKIP() << "the seccomp filter is written for x86_64";
#endif
}

TEST(EngineFallbackChild, MemlockTooSmallToRegister) {
  if (!is_child("memlock")) GTEST_SKIP() << "runs only as a child of EngineFallback tests";
  // Root is exempt from RLIMIT_MEMLOCK through CAP_IPC_LOCK: drop it first.
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

TEST(EngineFallback, IoUringDeniedUsesThreads) {
  run_child("EngineFallbackChild.SeccompDeniesIoUring", "seccomp");
}

TEST(EngineFallback, MemlockLimitUsesUnregisteredBuffers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop CAP_IPC_LOCK in the child";
  EngineOptions o = test::small_options(BackendKind::Uring);
  o.buffer_count = 1;
  if (Engine::create(o)->backend() != BackendKind::Uring) {
    GTEST_SKIP() << "io_uring is not usable here";
  }
  run_child("EngineFallbackChild.MemlockTooSmallToRegister", "memlock");
}

}  // namespace
}  // namespace stsw
