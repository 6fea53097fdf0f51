// stsw::File: O_DIRECT where the file system allows it, buffered fallbacks, DontCache,
// alignment, the buffered twin descriptor; the enum names used by options and the CLI.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine_test_util.hpp"

namespace stsw {
namespace {

using test::TempDir;

TEST(EngineNames, RoundTrip) {
  for (IoMode m : {IoMode::Auto, IoMode::Direct, IoMode::Buffered, IoMode::DontCache}) {
    EXPECT_EQ(parse_io_mode(to_string(m)), m);
  }
  for (BackendKind k : {BackendKind::Auto, BackendKind::Uring, BackendKind::Threads}) {
    EXPECT_EQ(parse_backend(to_string(k)), k);
  }
  EXPECT_EQ(to_string(BackendKind::Uring), "io_uring");
  EXPECT_EQ(parse_backend("uring"), BackendKind::Uring);
  EXPECT_FALSE(parse_backend("epoll"));
  EXPECT_FALSE(parse_io_mode("Direct"));
}

TEST(EngineFile, DirectOnDiskHasTwinAndAlignment) {
  TempDir dir;
  File f = File::open(dir.file("a"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  ASSERT_TRUE(f.is_open());
  if (!f.direct()) GTEST_SKIP() << TempDir::default_parent() << " does not support O_DIRECT";
  EXPECT_EQ(f.mode(), IoMode::Direct);
  EXPECT_GE(f.alignment(), 4096u);
  EXPECT_EQ(f.alignment() & (f.alignment() - 1), 0u);
  EXPECT_NE(f.buffered_fd(), f.fd());
  EXPECT_EQ(::fcntl(f.fd(), F_GETFL) & O_DIRECT, O_DIRECT);
  EXPECT_EQ(::fcntl(f.buffered_fd(), F_GETFL) & O_DIRECT, 0);
  EXPECT_EQ(f.path(), dir.file("a"));
}

TEST(EngineFile, BufferedHasNoTwin) {
  TempDir dir;
  File f = File::open(dir.file("a"), O_RDWR | O_CREAT, 0644, IoMode::Buffered);
  EXPECT_FALSE(f.direct());
  EXPECT_EQ(f.mode(), IoMode::Buffered);
  EXPECT_EQ(f.alignment(), 1u);
  EXPECT_EQ(f.buffered_fd(), f.fd());
  EXPECT_FALSE(f.dontcache());
}

TEST(EngineFile, TmpfileDirectTwinWorks) {
  TempDir dir;
  File f = File::open(dir.path(), O_TMPFILE | O_RDWR, 0600, IoMode::Auto);
  ASSERT_TRUE(f.is_open());
  const char msg[] = "twin";
  ASSERT_EQ(::pwrite(f.buffered_fd(), msg, 4, 3), 4);
  EXPECT_EQ(f.size(), 7u);
}

TEST(EngineFile, MissingFileThrowsWithPathAndErrno) {
  TempDir dir;
  const Error e =
      test::error_of([&] { (void)File::open(dir.file("missing"), O_RDONLY, 0, IoMode::Auto); });
  EXPECT_EQ(e.code(), Errc::Io);
  EXPECT_EQ(e.sys_errno(), ENOENT);
  EXPECT_NE(e.message().find(dir.file("missing")), std::string::npos) << e.what();
}

TEST(EngineFile, MoveTransfersOwnership) {
  TempDir dir;
  File a = File::open(dir.file("a"), O_RDWR | O_CREAT, 0644, IoMode::DontCache);
  const int fd = a.fd();
  const bool dc = a.dontcache();
  File b = std::move(a);
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_FALSE(a.dontcache());
  EXPECT_EQ(b.fd(), fd);
  EXPECT_EQ(b.dontcache(), dc);
  b.close();
  EXPECT_FALSE(b.is_open());
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // closed
}

// tmpfs accepts O_DIRECT since Linux 6.6 and refuses it before: either way Auto opens
// the file without an error, and a direct file gets at least 4096-byte alignment.
TEST(EngineFile, DevShmOpensWithOrWithoutDirect) {
  TempDir dir("engine", "/dev/shm");
  File f = File::open(dir.file("a"), O_RDWR | O_CREAT, 0644, IoMode::Auto);
  ASSERT_TRUE(f.is_open());
  if (f.direct()) {
    EXPECT_GE(f.alignment(), 4096u);
  } else {
    EXPECT_EQ(f.mode(), IoMode::Buffered);
  }
}

// DontCache is kept where the file system takes RWF_DONTCACHE and falls back to
// Buffered where it does not (tmpfs); mode() and dontcache() agree.
TEST(EngineFile, DontCacheFallsBackWhereUnsupported) {
  for (const std::string& parent : {TempDir::default_parent(), std::string("/dev/shm")}) {
    TempDir dir("engine", parent);
    File f = File::open(dir.file("a"), O_RDWR | O_CREAT, 0644, IoMode::DontCache);
    EXPECT_FALSE(f.direct());
    EXPECT_EQ(f.dontcache(), f.mode() == IoMode::DontCache) << parent;
    EXPECT_TRUE(f.mode() == IoMode::DontCache || f.mode() == IoMode::Buffered) << parent;
  }
}

// A file system without O_DIRECT (ramfs refuses it with EINVAL): Direct falls back to
// buffered I/O, even with O_CREAT | O_EXCL (open created the file before refusing).
TEST(EngineFile, NoDirectFileSystemFallsBack) {
  TempDir dir;
  if (::mount("none", dir.path().c_str(), "ramfs", 0, nullptr) != 0) {
    GTEST_SKIP() << "cannot mount ramfs (needs root): " << std::strerror(errno);
  }
  {
    File f = File::open(dir.file("a"), O_RDWR | O_CREAT | O_EXCL, 0644, IoMode::Direct);
    EXPECT_TRUE(f.is_open());
    EXPECT_FALSE(f.direct());
    EXPECT_EQ(f.mode(), IoMode::Buffered);
    EXPECT_EQ(f.alignment(), 1u);
    auto engine = Engine::create(test::small_options(BackendKind::Auto));
    const auto data = test::random_bytes(50000, 1);
    test::write_all(*engine, f, 123, data);
    std::vector<std::byte> back(data.size());
    auto r = engine->read(f, 123, back);
    test::get_within(r);
    EXPECT_EQ(back, data);
  }
  ::umount(dir.path().c_str());
}

}  // namespace
}  // namespace stsw
