// A file truncated after open(): errors on every engine path and on get_slice, never a
// crash (SIGBUS would kill the test binary).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

class TruncateTest : public ::testing::TestWithParam<std::tuple<BackendKind, ReadMode>> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(std::get<0>(GetParam()));
    if (!engine_) GTEST_SKIP() << "io_uring is not available here";
    path_ = dir_.file("t.safetensors");
    test::write_file(path_, test::build_file(test::mixed_tensors(), test::mixed_layout()));
  }
  StreamReader open() const {
    ReaderOptions o;
    o.engine = engine_;
    o.io_mode = std::get<1>(GetParam());
    o.chunk_size = 64 * 1024;
    return StreamReader::open(path_, o);
  }
  void truncate_to(std::uint64_t size) const {
    ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(size)), 0);
  }

  test::TempDir dir_;
  std::string path_;
  std::shared_ptr<Engine> engine_;
};

TEST_P(TruncateTest, EveryPathFailsWithIo) {
  const auto r = open();
  const std::uint64_t data = r.shards()[0].data_offset;
  // Map the file before the truncation, as a long-running server would have.
  EXPECT_EQ(r.get_slice("tiny").size(), 10U);
  truncate_to(data + r.meta("big").offset_begin + 100000);

  std::vector<std::byte> dst(r.meta("big").nbytes());
  try {
    r.read_into("big", dst).get();
    FAIL() << "read past the end succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io) << e.what();
    EXPECT_THAT(e.message(), HasSubstr("tensor 'big'"));
  }
  std::vector<std::byte> last(r.meta("last").nbytes());
  EXPECT_THROW(r.read_into("last", last).get(), Error);

  try {
    (void)r.verify().get();
    FAIL() << "verify of a truncated file succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io) << e.what();
  }

  try {
    r.for_each([](const TensorMeta&, std::uint64_t, std::span<const std::byte>) {});
    FAIL() << "for_each of a truncated file succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io) << e.what();
  }

  try {
    (void)r.get_slice("last");
    FAIL() << "get_slice handed out vanished pages";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    EXPECT_THAT(e.message(), HasSubstr("truncated after open"));
  }
}

// O_DIRECT into memory not congruent to the file offset (a packed arena: the engine's
// shifted reads), with the end of file inside the tensor: the error names the tensor, the
// file and the offset where the bytes ran out.
TEST_P(TruncateTest, NonCongruentReadIntoNamesTensorFileAndOffset) {
  if (std::get<1>(GetParam()) != ReadMode::Direct) GTEST_SKIP() << "O_DIRECT reads only";
  const auto r = open();
  const std::uint64_t begin = r.shards()[0].data_offset + r.meta("big").offset_begin;
  const std::uint64_t cut = begin + 100000;
  truncate_to(cut);
  const std::size_t n = r.meta("big").nbytes();
  std::vector<std::byte> arena(n + 8192);
  // dst + k is congruent to `begin` for exactly one k in [0, 4096): take the next one.
  const auto base = reinterpret_cast<std::uintptr_t>(arena.data());
  const std::size_t k = ((begin % 4096) + 4096 - base % 4096) % 4096;
  const std::span<std::byte> dst(arena.data() + k + 1, n);
  try {
    r.read_into("big", dst).get();
    FAIL() << "read past the end succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io) << e.what();
    EXPECT_THAT(e.message(), HasSubstr("tensor 'big'"));
    EXPECT_THAT(e.message(), HasSubstr(path_));
    EXPECT_THAT(e.message(), HasSubstr("offset"));
  }
}

TEST_P(TruncateTest, TruncatedToTheHeaderOnly) {
  const auto r = open();
  truncate_to(r.shards()[0].data_offset);
  for (const auto& name : r.keys()) {
    std::vector<std::byte> dst(r.meta(name).nbytes());
    if (dst.empty()) continue;
    EXPECT_THROW(r.read_into(name, dst).get(), Error) << name;
  }
  EXPECT_THROW((void)r.verify().get(), Error);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, TruncateTest,
    ::testing::Combine(::testing::Values(BackendKind::Threads, BackendKind::Uring),
                       ::testing::Values(ReadMode::Buffered, ReadMode::Direct, ReadMode::Mmap)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == BackendKind::Uring ? "uring" : "threads") +
             "_" + std::string(to_string(std::get<1>(info.param)));
    });

}  // namespace
}  // namespace stsw
