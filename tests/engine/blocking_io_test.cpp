// stsw/blocking_io.hpp: the one blocking pread/pwrite loop (EINTR and short transfers).
#include "stsw/blocking_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>

#include "engine_test_util.hpp"

namespace stsw {
namespace {

using test::TempDir;
using ::testing::HasSubstr;

struct Fd {
  explicit Fd(const std::string& path, int flags = O_RDWR | O_CREAT) {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << path;
  }
  ~Fd() { ::close(fd); }
  int fd;
};

TEST(BlockingIo, WritesAllAndReadsItBackAtOffsets) {
  TempDir dir;
  const std::string path = dir.file("f");
  Fd f(path);
  const auto data = test::random_bytes(3 << 20, 7);
  pwrite_full(f.fd, data, 4096, path);
  std::vector<std::byte> back(data.size());
  EXPECT_EQ(pread_full(f.fd, back, 4096, path), data.size());
  EXPECT_EQ(back, data);
}

TEST(BlockingIo, ReadStopsAtTheEndOfTheFile) {
  TempDir dir;
  const std::string path = dir.file("f");
  Fd f(path);
  const auto data = test::random_bytes(100, 3);
  pwrite_full(f.fd, data, 0, path);
  std::vector<std::byte> back(64);
  EXPECT_EQ(pread_full(f.fd, back, 60, path), 40U);
  EXPECT_EQ(pread_full(f.fd, back, 100, path), 0U);
  EXPECT_EQ(pread_full(f.fd, back, 1000, path), 0U);
}

TEST(BlockingIo, ErrorsNameThePathAndTheOffset) {
  TempDir dir;
  const std::string path = dir.file("f");
  Fd ro(path, O_RDONLY | O_CREAT);
  const auto data = test::random_bytes(16, 1);
  try {
    pwrite_full(ro.fd, data, 512, path);
    ADD_FAILURE() << "wrote through a read-only descriptor";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    EXPECT_THAT(e.message(), HasSubstr("write " + path + " at offset 512"));
  }
  Fd dirfd(dir.path(), O_RDONLY | O_DIRECTORY);
  std::vector<std::byte> back(16);
  try {
    (void)pread_full(dirfd.fd, back, 8, dir.path());
    ADD_FAILURE() << "read a directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.sys_errno(), EISDIR);
    EXPECT_THAT(e.message(), HasSubstr("read " + dir.path() + " at offset 8"));
  }
}

}  // namespace
}  // namespace stsw
