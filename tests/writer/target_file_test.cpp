// The writer's target file: O_TMPFILE and the hidden-name fallback, atomic replacement,
// discard, and holding the replaced file open across the rename.
#include "writer/target_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "stsw/error.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

void put(writer::TargetFile& t, const std::string& text) {
  ASSERT_EQ(::pwrite(t.file().fd(), text.data(), text.size(), 0),
            static_cast<ssize_t>(text.size()));
}

std::string text_of(const std::string& path) {
  const auto b = read_file(path);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

class TargetFileTest : public ::testing::TestWithParam<bool> {
 protected:
  bool use_tmpfile() const { return GetParam(); }
  TempDir dir_;
};

TEST_P(TargetFileTest, CommitReplacesAtomicallyAndLeavesOnlyThePath) {
  const std::string path = dir_.file("f");
  const std::string old = "old contents";
  write_file(path, std::as_bytes(std::span(old)));
  auto t = writer::TargetFile::create(path, IoMode::Buffered, 3, use_tmpfile());
  EXPECT_EQ(t.anonymous(), use_tmpfile()) << "ext4 supports O_TMPFILE";
  EXPECT_EQ(t.file().size(), 3U) << "preallocated to the final size";
  // Until commit, `path` is the old file; the fallback shows one hidden name.
  EXPECT_EQ(text_of(path), "old contents");
  const auto during = dir_.entries();
  ASSERT_EQ(during.size(), use_tmpfile() ? 1U : 2U);
  if (!use_tmpfile()) {
    EXPECT_EQ(during[0].rfind(".f.stsw-", 0), 0U) << during[0];
  }
  put(t, "new");
  ASSERT_EQ(::fdatasync(t.file().fd()), 0);
  t.commit(true);
  EXPECT_TRUE(t.committed());
  EXPECT_EQ(text_of(path), "new");
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"f"});
  t.commit(true);  // idempotent
  t.discard();     // after commit: leaves the file alone
  EXPECT_EQ(text_of(path), "new");
}

TEST_P(TargetFileTest, DiscardRemovesEverything) {
  const std::string path = dir_.file("g");
  {
    // O_DIRECT where the file system allows it: only whole aligned blocks can be written.
    auto t = writer::TargetFile::create(path, IoMode::Direct, 1 << 20, use_tmpfile());
    void* block = nullptr;
    ASSERT_EQ(::posix_memalign(&block, 4096, 4096), 0);
    std::memset(block, 'x', 4096);
    const ssize_t n = ::pwrite(t.file().fd(), block, 4096, 0);
    std::free(block);
    ASSERT_EQ(n, 4096);
    t.discard();
    t.discard();
    EXPECT_TRUE(dir_.entries().empty());
  }
  {
    auto t = writer::TargetFile::create(path, IoMode::Buffered, 10, use_tmpfile());
    writer::TargetFile moved = std::move(t);
  }  // destroyed uncommitted
  EXPECT_TRUE(dir_.entries().empty());
}

TEST_P(TargetFileTest, TruncateAndErrors) {
  const std::string path = dir_.file("h");
  auto t = writer::TargetFile::create(path, IoMode::Buffered, 4096, use_tmpfile());
  t.truncate(5);
  EXPECT_EQ(t.file().size(), 5U);
  EXPECT_THROW(
      writer::TargetFile::create(dir_.file("missing/x"), IoMode::Buffered, 1, use_tmpfile()),
      Error);
  ASSERT_EQ(::mkdir(dir_.file("d").c_str(), 0755), 0);
  try {
    (void)writer::TargetFile::create(dir_.file("d"), IoMode::Buffered, 1, use_tmpfile());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Writer, TargetFileTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "tmpfile" : "hidden_name"; });

}  // namespace
}  // namespace stsw::writer_test
