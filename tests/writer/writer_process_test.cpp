// Whole-process properties of StreamWriter, checked in child processes (this binary run
// again with one test selected):
//  - crash safety: a child rewrites a file in a loop and is killed with SIGKILL at random
//    moments; `path` must always hold a complete, valid file (the previous or a new one).
//    STSW_CRASH_POINTS sets the number of kills (default 20; raise it for soak runs).
//  - bounded memory: writing a large file keeps the child's peak RSS under 100 MB.
//    STSW_RSS_BYTES sets the file size (default 512 MiB; 8 GiB for the figure).
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "stsw/writer.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

constexpr const char* kCrashEnv = "STSW_WRITER_CRASH_CHILD";
constexpr const char* kRssEnv = "STSW_WRITER_RSS_CHILD";

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Version `v` of the crash-test file: v is in the metadata and the data depends on its
// parity (so the child can prepare both data sets before the clock starts).
std::vector<TensorMeta> crash_metas() {
  return contiguous({{"embed", DType::BF16, {1000, 1537}},
                     {"norm", DType::F32, {4097}},
                     {"scalar", DType::F64, {}},
                     {"empty", DType::U8, {0}},
                     {"head", DType::U8, {5 << 20}}});
}

DataMap crash_data(std::uint64_t version) {
  DataMap data;
  for (const TensorMeta& t : crash_metas()) {
    data[t.name] = pattern(t.nbytes(), static_cast<unsigned>(version % 2 * 31 + t.offset_begin));
  }
  return data;
}

void write_version(const std::string& path, std::uint64_t version, const DataMap& data) {
  WriterOptions o;
  // A small private engine: the child starts fast and each file takes ~35 writes, so the
  // kills land in every phase (staging, writes in flight, header rewrite, sync, rename).
  o.chunk_size = 256 * 1024;
  o.buffer_count = 4;
  o.metadata = Metadata{{"version", std::to_string(version)}};
  const auto metas = crash_metas();
  auto w = StreamWriter::open(path, metas, o);
  for (const TensorMeta& t : metas) {
    const auto& bytes = data.at(t.name);
    for (std::size_t off = 0; off < bytes.size(); off += 1 << 20) {
      w.write_block(t.name, std::span(bytes).subspan(
                                off, std::min<std::size_t>(1 << 20, bytes.size() - off)))
          .get();
    }
  }
  w.close().get();
}

// The child: rewrites the file until it is killed (or 60 s pass, or the parent dies).
TEST(WriterCrashChild, RewritesUntilKilled) {
  const char* path = std::getenv(kCrashEnv);
  if (path == nullptr) GTEST_SKIP() << "runs only as the child of WriterCrash";
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const DataMap data[2] = {crash_data(0), crash_data(1)};
  write_file(std::string(path) + ".ready", {});  // tells the parent to start its clock
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (std::uint64_t v = 1; std::chrono::steady_clock::now() < deadline; ++v) {
    write_version(path, v, data[v % 2]);
  }
}

TEST(WriterCrash, KillNineNeverLeavesATornFile) {
  TempDir dir;
  const std::string name = "model.safetensors";
  const std::string path = dir.file(name);
  const DataMap data[2] = {crash_data(0), crash_data(1)};
  write_version(path, 0, data[0]);
  const std::uint64_t points = env_u64("STSW_CRASH_POINTS", 20);
  std::mt19937 rng(std::random_device{}());
  std::uint64_t newest = 0;
  std::uint64_t leftovers = 0;
  for (std::uint64_t k = 0; k < points; ++k) {
    const std::string ready = path + ".ready";
    const int pid = spawn_self("WriterCrashChild.RewritesUntilKilled", kCrashEnv, path, true);
    // Kill within the first few files the child writes (each takes tens of milliseconds).
    for (int i = 0; i < 10000 && ::access(ready.c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300000));
    ::kill(pid, SIGKILL);
    ASSERT_EQ(wait_child(pid), 128 + SIGKILL) << "the child ended before it was killed";

    const std::vector<std::byte> file = read_file(path);
    const Header h = parse_file(file);  // throws for a torn file
    ASSERT_TRUE(h.metadata.has_value());
    const std::uint64_t v = std::stoull(h.metadata->at("version"));
    check_bytes(file, path, true, &data[v % 2]);
    if (::testing::Test::HasFailure()) FAIL() << "torn or wrong file after kill " << k;
    newest = std::max(newest, v);
    // Only hidden temporary names may remain (a kill between link and rename); clear them.
    std::remove(ready.c_str());
    for (const std::string& e : dir.entries()) {
      if (e == name) continue;
      EXPECT_EQ(e.rfind("." + name + ".stsw-", 0), 0U) << "unexpected file " << e;
      std::remove(dir.file(e).c_str());
      ++leftovers;
    }
  }
  EXPECT_GT(newest, 0U) << "no child ever completed a file: the kills came too early";
  std::cout << "[ crash ] " << points << " kills, newest version " << newest << ", " << leftovers
            << " hidden leftovers\n";
}

// The child: writes a large file with the default engine and checks its peak RSS.
TEST(WriterRssChild, LargeFileInBoundedMemory) {
  const char* dir = std::getenv(kRssEnv);
  if (dir == nullptr) GTEST_SKIP() << "runs only as the child of WriterMemory";
  const std::uint64_t total = env_u64("STSW_RSS_BYTES", std::uint64_t{512} << 20);
  // A few huge tensors, then many small ones.
  std::vector<Spec> specs;
  std::uint64_t left = total;
  for (int i = 0; left > (std::uint64_t{64} << 20); ++i) {
    const std::uint64_t n = std::min<std::uint64_t>(left - (32 << 20), std::uint64_t{3} << 30);
    specs.push_back({"big." + std::to_string(i), DType::U8, {n}});
    left -= n;
  }
  for (int i = 0; left > 0; ++i) {
    const std::uint64_t n = std::min<std::uint64_t>(left, 4099);
    specs.push_back({"small." + std::to_string(i), DType::U8, {n}});
    left -= n;
  }
  const auto metas = contiguous(specs);
  const std::vector<std::byte> block = pattern(4 << 20, 1);  // reused caller buffer
  auto w = StreamWriter::open(std::string(dir) + "/big.safetensors", metas, {});
  for (const TensorMeta& t : metas) {
    for (std::uint64_t off = 0; off < t.nbytes(); off += block.size()) {
      const std::size_t n = std::min<std::uint64_t>(block.size(), t.nbytes() - off);
      w.write_block(t.name, std::span(block).first(n)).get();
    }
  }
  w.close().get();
  const WriterStats s = w.stats();
  std::cout << "[ rss ] " << total / (1 << 20) << " MiB at " << s.mb_per_s << " MB/s, peak RSS "
            << s.peak_rss_bytes / (1 << 20) << " MiB\n";
#if defined(STSW_ASAN) || defined(STSW_TSAN)
  std::cout << "[ rss ] bound not checked under a sanitizer (shadow memory, quarantine)\n";
#else
  EXPECT_LT(s.peak_rss_bytes, 100U * 1000 * 1000);
#endif
}

TEST(WriterMemory, PeakRssStaysBounded) {
  TempDir dir;
  const int pid = spawn_self("WriterRssChild.LargeFileInBoundedMemory", kRssEnv, dir.path());
  EXPECT_EQ(wait_child(pid), 0) << "the child failed (see its output above)";
}

}  // namespace
}  // namespace stsw::writer_test
