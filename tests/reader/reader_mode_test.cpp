// ReadMode: names, Auto's page-cache probe, the tmpfs fallback, mmap's fault-safe copy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader/mapping.hpp"
#include "reader/reader_test_support.hpp"
#include "reader/residency.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

TEST(ReadModeNames, RoundTrip) {
  for (ReadMode m : {ReadMode::Auto, ReadMode::Direct, ReadMode::Buffered, ReadMode::Mmap}) {
    EXPECT_EQ(parse_read_mode(to_string(m)), m);
  }
  EXPECT_EQ(to_string(ReadMode::Mmap), "mmap");
  EXPECT_FALSE(parse_read_mode("Direct").has_value());
  EXPECT_FALSE(parse_read_mode("").has_value());
}

class ModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("m.safetensors");
    test::write_file(path_,
                     test::build_file({{"w", DType::U8, {8 << 20}, test::pattern(8 << 20, 9)}}));
  }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(ModeTest, AutoReadsAWarmFileBufferedAndAColdFileDirect) {
  ReaderOptions o;  // Auto is the default
  {
    std::vector<std::byte> all = test::read_file(path_);  // warm the cache
    ASSERT_FALSE(all.empty());
    const int fd = ::open(path_.c_str(), O_RDONLY);
    const auto frac = detail::resident_fraction(fd, 0, all.size());
    ::close(fd);
    ASSERT_TRUE(frac.has_value());
    EXPECT_GT(*frac, 0.9);
    EXPECT_EQ(StreamReader::open(path_, o).shards()[0].mode, ReadMode::Buffered);
  }
  test::drop_from_cache(path_);
  const int fd = ::open(path_.c_str(), O_RDONLY);
  const auto frac = detail::resident_fraction(fd, 0, 8 << 20);
  ::close(fd);
  ASSERT_TRUE(frac.has_value());
  if (*frac > 0.1) GTEST_SKIP() << "this file system keeps dropped pages cached";
  auto r = StreamReader::open(path_, o);
  EXPECT_EQ(r.shards()[0].mode, ReadMode::Direct);
  std::vector<std::byte> dst(8 << 20);
  r.read_into("w", dst).get();
  EXPECT_EQ(dst, test::pattern(8 << 20, 9));
}

TEST_F(ModeTest, ResidencyProbeHandlesOddRanges) {
  const int fd = ::open(path_.c_str(), O_RDONLY);
  EXPECT_FALSE(detail::resident_fraction(fd, 100, 0).has_value());
  EXPECT_TRUE(detail::resident_fraction(fd, 4097, 3).has_value());
  EXPECT_TRUE(detail::resident_fraction(fd, 1, (8 << 20) + 50).has_value());
  ::close(fd);
  EXPECT_FALSE(detail::resident_fraction(-1, 0, 4096).has_value());
}

// tmpfs refuses O_DIRECT before Linux 6.6 (the reader then reads buffered) and accepts it
// since; either way the effective mode is reported and reads work.
TEST(ModeFallback, DirectOnTmpfsReadsEitherWay) {
  struct stat st {};
  if (::stat("/dev/shm", &st) != 0) GTEST_SKIP() << "no /dev/shm";
  const std::string path = "/dev/shm/stsw-reader-" + std::to_string(::getpid()) + ".safetensors";
  test::write_file(path, test::build_file({{"w", DType::U8, {3}, test::pattern(3, 1)}}));
  ReaderOptions o;
  o.io_mode = ReadMode::Direct;
  {
    auto r = StreamReader::open(path, o);
    const ReadMode m = r.shards()[0].mode;
    EXPECT_TRUE(m == ReadMode::Direct || m == ReadMode::Buffered);
    std::vector<std::byte> dst(3);
    r.read_into("w", dst).get();
    EXPECT_EQ(dst, test::pattern(3, 1));
  }
  ::unlink(path.c_str());
}

TEST(SafeCopy, ReportsVanishedPagesInsteadOfRaisingSigbus) {
  test::TempDir dir;
  const std::string path = dir.file("t.bin");
  test::write_file(path, test::pattern(64 * 1024, 3));
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  auto map = detail::Mapping::map(fd, 64 * 1024, path);
  std::vector<std::byte> dst(64 * 1024);
  EXPECT_EQ(detail::safe_copy(dst, map.bytes(), fd, 0), dst.size());
  EXPECT_EQ(dst, test::pattern(64 * 1024, 3));
  ASSERT_EQ(::ftruncate(fd, 8192), 0);
  const std::size_t got = detail::safe_copy(dst, map.bytes(), fd, 0);
  EXPECT_GE(got, 8192U);
  EXPECT_LT(got, dst.size());
  EXPECT_EQ(
      detail::safe_copy(std::span(dst).first(100), map.bytes().subspan(20000, 100), fd, 20000), 0U);
  ::close(fd);
}

TEST(Mapping, EmptyMappingAndMove) {
  auto m = detail::Mapping::map(-1, 0, "none");
  EXPECT_EQ(m.size(), 0U);
  EXPECT_THROW((void)detail::Mapping::map(-1, 4096, "bad-fd"), Error);
}

}  // namespace
}  // namespace stsw
