// Many threads on one StreamReader: 16 threads read random tensors with read_into (bytes
// checked) while another thread runs verify() in a loop, on both backends and in every
// read_into mode; get_slice from many threads at once on fresh readers (the first access
// maps the file and checks the CRC: those first accesses race). No deadlock (watchdog), no
// wrong byte, every staging buffer back in the pool afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <latch>
#include <optional>
#include <random>
#include <thread>

#include "reader/reader_test_support.hpp"
#include "reliability/conc_watchdog.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using reliability::wait_or_die;
using reliability::Watchdog;

constexpr int kReaders = 16;
constexpr int kReadsPerThread = 100;
constexpr int kVerifyRounds = 10;

// Sizes around the 64 KiB chunk and the 4096-byte block: one-byte, block-sized,
// chunk-sized and chunk-straddling tensors, and a few that span many chunks.
std::vector<test::TensorData> tensors() {
  const std::size_t sizes[] = {1,      7,      4096,   4097,   65535, 65536, 65537, 100000,
                               131072, 200003, 262144, 300001, 12345, 8191,  3,     500000};
  std::vector<test::TensorData> out;
  unsigned seed = 1;
  for (std::size_t n : sizes) {
    out.push_back({"t" + std::to_string(seed), DType::U8, {n}, test::pattern(n, seed)});
    ++seed;
  }
  return out;
}

// `size` bytes at `misalign` past a 4096-byte boundary (misalign congruent with the file
// offset: O_DIRECT straight into it; otherwise through staging buffers).
struct AlignedDst {
  AlignedDst(std::size_t size, std::size_t misalign)
      : raw(static_cast<std::byte*>(
            std::aligned_alloc(4096, (size + misalign + 4096) / 4096 * 4096))),
        span(raw + misalign, size) {}
  AlignedDst(const AlignedDst&) = delete;
  AlignedDst& operator=(const AlignedDst&) = delete;
  ~AlignedDst() { std::free(raw); }
  std::byte* raw;
  std::span<std::byte> span;
};

struct Param {
  BackendKind backend;
  ReadMode mode;
};

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(info.param.backend == BackendKind::Uring ? "uring" : "threads") + "_" +
         std::string(to_string(info.param.mode));
}

class ConcurrentReads : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(GetParam().backend);
    if (!engine_) GTEST_SKIP() << "io_uring is not usable here (io_uring_queue_init denied)";
    tensors_ = tensors();
    test::LayoutOptions layout;
    layout.align = 4096;
    path_ = dir_.file("m.safetensors");
    test::write_file(path_, test::build_file(tensors_, layout));
  }

  StreamReader open() const {
    ReaderOptions o;
    o.engine = engine_;
    o.io_mode = GetParam().mode;
    return StreamReader::open(path_, o);
  }

  void expect_pool_full() const {
    // Buffers go back to the pool just after the completion that released them.
    EngineStats s = engine_->stats();
    for (int i = 0; i < 400 && s.buffers_free != s.buffers_total; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      s = engine_->stats();
    }
    EXPECT_EQ(s.buffers_free, s.buffers_total) << "a staging buffer leaked";
    EXPECT_EQ(s.in_flight, 0U);
  }

  std::shared_ptr<Engine> engine_;
  test::TempDir dir_;
  std::string path_;
  std::vector<test::TensorData> tensors_;
};

TEST_P(ConcurrentReads, SixteenReadersWhileVerifying) {
  Watchdog dog("16 readers + verify loop", std::chrono::seconds(120));
  std::optional<StreamReader> reader(open());
  const StreamReader& r = *reader;
  const std::uint64_t data_offset = r.shards().at(0).data_offset;
  std::latch go(kReaders + 1);
  std::atomic<int> reads{0};
  std::atomic<int> verifies{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      go.arrive_and_wait();
      for (int i = 0; i < kReadsPerThread; ++i) {
        const test::TensorData& want = tensors_[rng() % tensors_.size()];
        const TensorMeta& m = r.meta(want.name);
        const std::size_t congruent = (data_offset + m.offset_begin) % 4096;
        AlignedDst dst(want.data.size(), rng() % 2 == 0 ? congruent : 7);
        std::fill(dst.span.begin(), dst.span.end(), std::byte{0xEE});
        try {
          wait_or_die(r.read_into(want.name, dst.span), "read_into of '" + want.name + "'");
        } catch (const Error& e) {
          ADD_FAILURE() << "read_into of '" << want.name << "': " << e.what();
          continue;
        }
        EXPECT_TRUE(std::equal(want.data.begin(), want.data.end(), dst.span.begin()))
            << "wrong bytes in '" << want.name << "' (thread " << t << ")";
        ++reads;
      }
    });
  }
  threads.emplace_back([&] {
    go.arrive_and_wait();
    for (int i = 0; i < kVerifyRounds; ++i) {
      const VerifyReport rep = wait_or_die(r.verify(), "verify");
      EXPECT_TRUE(rep.passed());
      EXPECT_EQ(rep.ok, tensors_.size());
      ++verifies;
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(reads.load(), kReaders * kReadsPerThread);
  EXPECT_EQ(verifies.load(), kVerifyRounds);
  std::printf("concurrency: %d read_into + %d verify, %d threads, 0 errors expected\n",
              reads.load(), verifies.load(), kReaders + 1);
  // A live reader may keep one buffer for an unclaimed read-ahead window
  // (ReaderOptions::read_ahead): every buffer is back once the reader is gone.
  reader.reset();
  expect_pool_full();
}

// Fresh readers each round, so 16 threads race on the first mapping of the file and on
// the first (CRC-checked) access of each tensor; one tensor is corrupt and must fail for
// every thread on every access, never be handed out.
// get_slice is mmap-based: one backend and mode are enough.
class ConcurrentSlices : public ConcurrentReads {};

TEST_P(ConcurrentSlices, GetSliceFromManyThreads) {
  Watchdog dog("get_slice from 16 threads", std::chrono::seconds(120));
  const TensorMeta bad_meta = open().meta("t9");
  test::flip_byte(path_, open().shards().at(0).data_offset + bad_meta.offset_begin + 17);
  constexpr int kRounds = 20;
  std::atomic<int> slices{0};
  std::atomic<int> mismatches{0};
  for (int round = 0; round < kRounds; ++round) {
    const StreamReader r = open();
    std::latch go(kReaders);
    std::vector<std::thread> threads;
    for (int t = 0; t < kReaders; ++t) {
      threads.emplace_back([&, t] {
        go.arrive_and_wait();
        // Every thread visits every tensor, starting at a different one.
        for (std::size_t k = 0; k < tensors_.size(); ++k) {
          const test::TensorData& want = tensors_[(k + t) % tensors_.size()];
          try {
            const std::span<const std::byte> v = r.get_slice(want.name);
            EXPECT_NE(want.name, "t9") << "a corrupt tensor was handed out";
            EXPECT_TRUE(std::equal(want.data.begin(), want.data.end(), v.begin(), v.end()))
                << "wrong bytes in '" << want.name << "'";
            ++slices;
          } catch (const Error& e) {
            EXPECT_EQ(want.name, "t9") << e.what();
            EXPECT_EQ(e.code(), Errc::CrcMismatch) << e.what();
            ++mismatches;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(mismatches.load(), kRounds * kReaders);
  EXPECT_EQ(slices.load(), kRounds * kReaders * static_cast<int>(tensors_.size() - 1));
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrentReads,
                         ::testing::Values(Param{BackendKind::Uring, ReadMode::Direct},
                                           Param{BackendKind::Uring, ReadMode::Buffered},
                                           Param{BackendKind::Uring, ReadMode::Mmap},
                                           Param{BackendKind::Threads, ReadMode::Direct},
                                           Param{BackendKind::Threads, ReadMode::Buffered},
                                           Param{BackendKind::Threads, ReadMode::Mmap}),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Threads, ConcurrentSlices,
                         ::testing::Values(Param{BackendKind::Threads, ReadMode::Auto}),
                         param_name);

}  // namespace
}  // namespace stsw
