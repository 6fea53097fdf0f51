// 32 StreamWriters open at once on one Engine, each on its own thread, each writing its
// own file (half of them replacing an existing file); every file is checked afterwards with
// the official loader's rules and zlib's CRC-32. Both backends; the engine is sized by the
// buffer contract of writer.hpp (more staging buffers than writers open at once), once
// with room to spare and once with exactly one buffer more than writers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <thread>

#include "reliability/conc_watchdog.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "writer/writer_test_support.hpp"

namespace stsw {
namespace {

using reliability::wait_or_die;
using reliability::Watchdog;
using writer_test::DataMap;

constexpr int kWriters = 32;
constexpr std::size_t kChunk = 16 * 1024;

struct Param {
  BackendKind backend;
  unsigned engine_buffers;  // staging buffers of the shared engine
  unsigned writer_buffers;  // WriterOptions::buffer_count (0: the engine's pool size)
};

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(info.param.backend == BackendKind::Uring ? "uring" : "threads") + "_" +
         std::to_string(info.param.engine_buffers) + "buffers";
}

// Writer `w`'s tensors: sizes differ per writer, so the writers' chunks interleave.
std::vector<TensorMeta> metas_of(int w) {
  const std::uint64_t n = 1000 + 977 * static_cast<std::uint64_t>(w);
  return writer_test::contiguous(
      {{"a", DType::F32, {n}},
       {"z", DType::U8, {0}},
       {"b", DType::U8, {3 * kChunk + 11 * static_cast<std::uint64_t>(w)}},
       {"c", DType::BF16, {static_cast<std::uint64_t>(w) + 1}}});
}

class ConcurrentWriters : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    EngineOptions o;
    o.backend = GetParam().backend;
    o.chunk_size = kChunk;
    o.buffer_count = GetParam().engine_buffers;
    o.queue_depth = 4;
    o.worker_threads = 2;
    engine_ = Engine::create(o);
    if (o.backend == BackendKind::Uring && engine_->backend() != BackendKind::Uring) {
      GTEST_SKIP() << "io_uring is not usable here (io_uring_queue_init denied)";
    }
  }

  // Writes file `w`: odd writers through write_block in uneven pieces (some larger than a
  // chunk), even ones through window/commit_window.
  void write_one(int w, const DataMap& data) {
    const std::string path = dir_.file("w" + std::to_string(w) + ".safetensors");
    WriterOptions o;
    o.engine = engine_;
    o.buffer_count = GetParam().writer_buffers;
    const auto metas = metas_of(w);
    auto writer = StreamWriter::open(path, metas, o);
    for (const TensorMeta& m : metas) {
      const std::vector<std::byte>& bytes = data.at(m.name);
      std::size_t off = 0;
      std::size_t piece = 1 + static_cast<std::size_t>(w) * 731;
      while (off < bytes.size()) {
        const std::size_t n = std::min(piece, bytes.size() - off);
        if (w % 2 == 1) {
          wait_or_die(writer.write_block(m.name, std::span(bytes).subspan(off, n)),
                      "write_block of writer " + std::to_string(w));
          off += n;
        } else {
          std::span<std::byte> win = writer.window(m.name, n);
          std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(off), win.size(), win.begin());
          writer.commit_window(win.size());
          off += win.size();
        }
        piece = piece * 3 % 40000 + 1;
      }
      writer.finalize_tensor(m.name);
    }
    wait_or_die(writer.close(), "close of writer " + std::to_string(w));
  }

  std::shared_ptr<Engine> engine_;
  writer_test::TempDir dir_;
};

TEST_P(ConcurrentWriters, ThirtyTwoWritersOnOneEngine) {
  Watchdog dog("32 concurrent writers", std::chrono::seconds(120));
  std::vector<DataMap> data(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    for (const TensorMeta& m : metas_of(w)) {
      data[w][m.name] = writer_test::pattern(m.nbytes(), 100 * w + data[w].size());
    }
    if (w % 2 == 0) {  // a previous file the writer replaces atomically
      writer_test::write_file(dir_.file("w" + std::to_string(w) + ".safetensors"),
                              writer_test::pattern(5000, w));
    }
  }
  std::latch go(kWriters);
  std::atomic<int> closed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      go.arrive_and_wait();  // all open at once
      try {
        write_one(w, data[w]);
        ++closed;
      } catch (const Error& e) {
        ADD_FAILURE() << "writer " << w << ": " << e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(closed.load(), kWriters);
  std::vector<std::string> want;
  for (int w = 0; w < kWriters; ++w) {
    const std::string name = "w" + std::to_string(w) + ".safetensors";
    want.push_back(name);
    writer_test::check_file(dir_.file(name), true, &data[w]);
  }
  std::sort(want.begin(), want.end());
  EXPECT_EQ(dir_.entries(), want) << "temporary files left behind";
  const EngineStats s = engine_->stats();
  EXPECT_EQ(s.buffers_free, s.buffers_total) << "a staging buffer leaked";
  EXPECT_EQ(s.in_flight, 0U);
  std::printf("concurrency: %d writers on one engine of %u buffers, %d files verified\n", kWriters,
              s.buffers_total, closed.load());
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrentWriters,
                         ::testing::Values(Param{BackendKind::Uring, 2 * kWriters, 2},
                                           Param{BackendKind::Uring, kWriters + 1, 0},
                                           Param{BackendKind::Threads, 2 * kWriters, 2},
                                           Param{BackendKind::Threads, kWriters + 1, 0}),
                         param_name);

}  // namespace
}  // namespace stsw
