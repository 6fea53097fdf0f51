// Mixed load on one Engine: 8 writers (each holding a partly filled staging buffer between
// calls), 8 readers (O_DIRECT read_into, staged through the same pool when the destination
// is not congruent) and a verify loop (a scan through the pool), with only a few buffers
// more than writers. Nothing may starve or deadlock (watchdog); every byte is checked.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <optional>
#include <random>
#include <thread>

#include "reliability/conc_watchdog.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"
#include "support/backend_name.hpp"
#include "writer/writer_test_support.hpp"

namespace stsw {
namespace {

using reliability::wait_or_die;
using reliability::Watchdog;
using writer_test::DataMap;

constexpr int kWriters = 8;
constexpr int kFilesPerWriter = 3;
constexpr int kReaders = 8;
constexpr int kReadsPerReader = 40;
constexpr std::size_t kChunk = 64 * 1024;

std::vector<TensorMeta> metas_of(int seed) {
  return writer_test::contiguous({{"a", DType::U8, {150000 + 4099 * std::uint64_t(seed)}},
                                  {"b", DType::F32, {1000 + std::uint64_t(seed)}},
                                  {"c", DType::U8, {3}}});
}

DataMap data_of(int seed) {
  DataMap d;
  for (const TensorMeta& m : metas_of(seed)) {
    d[m.name] = writer_test::pattern(m.nbytes(), 10 * seed + d.size());
  }
  return d;
}

void write_file(const std::string& path, int seed, const std::shared_ptr<Engine>& engine) {
  WriterOptions o;
  o.engine = engine;
  o.buffer_count = 2;
  const DataMap data = data_of(seed);
  const auto metas = metas_of(seed);
  auto w = StreamWriter::open(path, metas, o);
  for (const TensorMeta& m : metas) {
    const auto& bytes = data.at(m.name);
    for (std::size_t off = 0; off < bytes.size(); off += 30000) {
      const std::size_t n = std::min<std::size_t>(30000, bytes.size() - off);
      wait_or_die(w.write_block(m.name, std::span(bytes).subspan(off, n)), "write_block");
    }
  }
  wait_or_die(w.close(), "close of " + path);
}

class MixedLoad : public ::testing::TestWithParam<BackendKind> {};

TEST_P(MixedLoad, WritersReadersAndVerifyShareOneEngine) {
  EngineOptions eo;
  eo.backend = GetParam();
  eo.chunk_size = kChunk;
  eo.buffer_count = kWriters + 3;
  eo.worker_threads = 2;
  auto engine = Engine::create(eo);
  if (GetParam() == BackendKind::Uring && engine->backend() != BackendKind::Uring) {
    GTEST_SKIP() << "io_uring is not usable here (io_uring_queue_init denied)";
  }
  Watchdog dog("mixed writers, readers and verify on one engine", std::chrono::seconds(120));
  writer_test::TempDir dir;
  const std::string source = dir.file("source.safetensors");
  write_file(source, 999, engine);
  const DataMap source_data = data_of(999);
  ReaderOptions ro;
  ro.engine = engine;
  ro.io_mode = ReadMode::Direct;
  std::optional<StreamReader> reader(StreamReader::open(source, ro));
  const StreamReader& r = *reader;

  std::latch go(kWriters + kReaders + 1);
  std::atomic<bool> writers_done{false};
  std::atomic<int> reads{0}, verifies{0}, files{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      go.arrive_and_wait();
      for (int k = 0; k < kFilesPerWriter; ++k) {
        const int seed = w * kFilesPerWriter + k;
        try {
          write_file(dir.file("f" + std::to_string(seed)), seed, engine);
          ++files;
        } catch (const Error& e) {
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      go.arrive_and_wait();
      for (int i = 0; i < kReadsPerReader; ++i) {
        const char* name = i % 3 == 0 ? "a" : (i % 3 == 1 ? "b" : "c");
        const auto& want = source_data.at(name);
        // A vector's data is rarely congruent with the file offset: staged reads.
        std::vector<std::byte> dst(want.size() + (rng() % 2));
        std::span<std::byte> view(dst.data() + (dst.size() - want.size()), want.size());
        try {
          wait_or_die(r.read_into(name, view), "read_into");
          EXPECT_TRUE(std::equal(want.begin(), want.end(), view.begin()));
          ++reads;
        } catch (const Error& e) {
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  threads.emplace_back([&] {
    go.arrive_and_wait();
    while (!writers_done.load() || verifies.load() == 0) {
      EXPECT_TRUE(wait_or_die(r.verify(), "verify").passed());
      ++verifies;
    }
  });
  for (int i = 0; i < kWriters + kReaders; ++i) threads[i].join();
  writers_done = true;
  threads.back().join();

  EXPECT_EQ(files.load(), kWriters * kFilesPerWriter);
  EXPECT_EQ(reads.load(), kReaders * kReadsPerReader);
  for (int seed = 0; seed < kWriters * kFilesPerWriter; ++seed) {
    const DataMap d = data_of(seed);
    writer_test::check_file(dir.file("f" + std::to_string(seed)), true, &d);
  }
  // A live reader may keep one buffer for an unclaimed read-ahead window
  // (ReaderOptions::read_ahead): every buffer is back once the reader is gone.
  reader.reset();
  EngineStats s = engine->stats();  // buffers come back just after the last completions
  for (int i = 0; i < 400 && s.buffers_free != s.buffers_total; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s = engine->stats();
  }
  EXPECT_EQ(s.buffers_free, s.buffers_total) << "a staging buffer leaked";
  std::printf(
      "concurrency: %d files written, %d read_into, %d verify on one engine of %u buffers\n",
      files.load(), reads.load(), verifies.load(), s.buffers_total);
}

INSTANTIATE_TEST_SUITE_P(Backends, MixedLoad,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
