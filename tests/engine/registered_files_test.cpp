// Registered (fixed) files through both backends: a descriptor number that a closed File
// gave back and another File got reaches the new file (a slot found by number alone would
// reach the old one), more Files than the ring's table has slots, Files and engines
// destroyed in either order, moves, many threads opening and closing at once, and the
// option that turns registration off. The threads backend registers nothing: the same
// tests must pass there. io/file_table.hpp is the contract.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "engine_test_util.hpp"
#include "io/file_table.hpp"

namespace stsw {
namespace {

using test::AlignedBytes;
using test::get_within;
using test::random_bytes;
using test::TempDir;

constexpr std::size_t kBytes = 64 << 10;

// Writes `data` to `path` through a descriptor of its own (not an engine's).
void put_file(const std::string& path, const std::vector<std::byte>& data) {
  File f = File::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, IoMode::Buffered);
  ASSERT_EQ(::pwrite(f.fd(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
}

// The first `n` bytes of `path`, read through a descriptor of its own.
std::vector<std::byte> file_bytes(const std::string& path, std::size_t n) {
  File f = File::open(path, O_RDONLY, 0, IoMode::Buffered);
  std::vector<std::byte> v(n);
  EXPECT_EQ(::pread(f.fd(), v.data(), n, 0), static_cast<ssize_t>(n)) << path;
  return v;
}

// Reads [0, kBytes) of `f` through the engine, aligned (the O_DIRECT descriptor) and then
// 3 bytes in from a misaligned address (the buffered twin or the staged path).
void expect_engine_reads(Engine& e, const File& f, const std::vector<std::byte>& want) {
  AlignedBytes aligned(kBytes, 0);
  auto r = e.read(f, 0, aligned.span(), true);
  EXPECT_EQ(get_within(r), crc32(want)) << f.path();
  EXPECT_TRUE(std::equal(want.begin(), want.end(), aligned.data())) << f.path();
  AlignedBytes odd(kBytes - 3, 5);
  auto r2 = e.read(f, 3, odd.span(), false);
  get_within(r2);
  EXPECT_TRUE(std::equal(want.begin() + 3, want.end(), odd.data())) << f.path();
}

// Polls until the ring's table holds `n` descriptors (slots of closed Files are cleared
// by the driver shortly after the close).
bool registered_becomes(const Engine& e, unsigned n) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (e.stats().files_registered != n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class RegisteredFiles : public ::testing::TestWithParam<BackendKind> {
 protected:
  // Whether the engine is on io_uring and its ring holds a registered file now (false on
  // kernels without sparse file tables: callers then skip their registration checks).
  static bool registered(const Engine& e) {
    return e.backend() == BackendKind::Uring && e.stats().files_registered > 0;
  }
};

TEST_P(RegisteredFiles, DescriptorNumberReusedByAnotherFileReachesTheNewFile) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  const auto a_bytes = random_bytes(kBytes, 1);
  const auto b_bytes = random_bytes(kBytes, 2);
  const auto c_bytes = random_bytes(kBytes, 3);
  put_file(dir.file("a"), a_bytes);
  put_file(dir.file("b"), b_bytes);

  File a = File::open(dir.file("a"), O_RDWR, 0, IoMode::Direct);
  expect_engine_reads(*engine, a, a_bytes);
  if (GetParam() == BackendKind::Uring && !registered(*engine)) {
    GTEST_SKIP() << "the ring registered no file (kernel without sparse file tables?)";
  }
  const int fd = a.fd();
  const int bfd = a.buffered_fd();
  a.close();
  File b = File::open(dir.file("b"), O_RDWR, 0, IoMode::Direct);
  if (b.fd() != fd || b.buffered_fd() != bfd) {
    GTEST_SKIP() << "open(2) did not hand out the closed numbers again";
  }
  // Reads and writes on the new file's numbers reach the new file, not the old one.
  expect_engine_reads(*engine, b, b_bytes);
  AlignedBytes src(kBytes, 0);
  std::copy(c_bytes.begin(), c_bytes.end(), src.data());
  auto w = engine->write(b, 0, src.span());
  get_within(w);
  auto w2 = engine->write(b, 1, std::span<const std::byte>(c_bytes).subspan(1, 100));
  get_within(w2);
  EXPECT_EQ(file_bytes(dir.file("b"), kBytes), c_bytes);
  EXPECT_EQ(file_bytes(dir.file("a"), kBytes), a_bytes);
  auto s = engine->sync(b);
  get_within(s);
}

TEST_P(RegisteredFiles, MoreFilesThanTableSlotsAllWorkAndSlotsComeBackOnClose) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  const unsigned n = detail::kRegisteredFileSlots + 16;
  for (int round = 0; round < 2; ++round) {
    std::vector<File> files;
    std::vector<std::vector<std::byte>> data;
    for (unsigned i = 0; i < n; ++i) {
      files.push_back(
          File::open(dir.file("f" + std::to_string(i)), O_RDWR | O_CREAT, 0644, IoMode::Direct));
      data.push_back(random_bytes(kBytes, 100 * round + i));
      test::write_all(*engine, files.back(), 0, data.back());
    }
    for (unsigned i = 0; i < n; ++i) expect_engine_reads(*engine, files[i], data[i]);
    const unsigned in_table = engine->stats().files_registered;
    EXPECT_LE(in_table, detail::kRegisteredFileSlots);
    if (registered(*engine)) {
      EXPECT_EQ(in_table, detail::kRegisteredFileSlots);
    }
    for (unsigned i = 0; i < n; ++i) {
      EXPECT_EQ(file_bytes(dir.file("f" + std::to_string(i)), kBytes), data[i]) << i;
    }
    files.clear();
    EXPECT_TRUE(registered_becomes(*engine, 0)) << engine->stats().files_registered;
  }
}

TEST_P(RegisteredFiles, FileOutlivesItsEngineAndEngineOutlivesItsFile) {
  TempDir dir;
  const auto a_bytes = random_bytes(kBytes, 4);
  put_file(dir.file("a"), a_bytes);
  File a = File::open(dir.file("a"), O_RDWR, 0, IoMode::Direct);
  {
    STSW_ENGINE_OR_SKIP(first, test::small_options(GetParam()));
    expect_engine_reads(*first, a, a_bytes);
    // Two engines hold the same File: closing it must reach both (below).
    STSW_ENGINE_OR_SKIP(second, test::small_options(GetParam()));
    expect_engine_reads(*second, a, a_bytes);
    first.reset();  // the engine goes first; the File stays usable
    expect_engine_reads(*second, a, a_bytes);
    a.close();  // the File goes first; the engine lives on
    put_file(dir.file("b"), random_bytes(kBytes, 5));
    File b = File::open(dir.file("b"), O_RDWR, 0, IoMode::Direct);
    expect_engine_reads(*second, b, random_bytes(kBytes, 5));
    a = std::move(b);  // a File moved after use keeps its registration
    expect_engine_reads(*second, a, random_bytes(kBytes, 5));
  }
  // Every engine is gone; the File still reads and closes.
  std::vector<std::byte> back(kBytes);
  EXPECT_EQ(::pread(a.buffered_fd(), back.data(), kBytes, 0), static_cast<ssize_t>(kBytes));
  EXPECT_EQ(back, random_bytes(kBytes, 5));
  a.close();
}

TEST_P(RegisteredFiles, ThreadsOpeningReadingAndClosingAtOnceReadTheirOwnFiles) {
  STSW_ENGINE_OR_SKIP(engine, test::small_options(GetParam()));
  TempDir dir;
  constexpr int kThreads = 4;
  constexpr int kRounds = 40;
  for (int t = 0; t < kThreads; ++t)
    put_file(dir.file("t" + std::to_string(t)), random_bytes(kBytes, 10 + t));
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto want = random_bytes(kBytes, 10 + t);
      std::vector<std::byte> got(kBytes);
      for (int i = 0; i < kRounds; ++i) {
        // Each close hands the numbers to whichever thread opens next.
        File f = File::open(dir.file("t" + std::to_string(t)), O_RDONLY, 0,
                            i % 2 == 0 ? IoMode::Direct : IoMode::Buffered);
        auto r = engine->read(f, 0, got, false);
        get_within(r);
        if (got != want) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_TRUE(registered_becomes(*engine, 0)) << engine->stats().files_registered;
}

TEST_P(RegisteredFiles, RegistrationOffUsesPlainDescriptors) {
  auto o = test::small_options(GetParam());
  o.register_files = false;
  STSW_ENGINE_OR_SKIP(engine, o);
  test::round_trip(*engine);
  EXPECT_EQ(engine->stats().files_registered, 0u);
}

INSTANTIATE_TEST_SUITE_P(Io, RegisteredFiles,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
