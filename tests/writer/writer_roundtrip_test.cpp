// StreamWriter round trips on both backends, O_DIRECT and buffered: every file written must
// pass the official loader's strict checks, carry zlib's CRC-32 of each tensor, and hold
// exactly the bytes written.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

class WriterRoundTrip : public ::testing::TestWithParam<IoConfig> {
 protected:
  // An engine with `chunk` staging buffers on the parameter's backend (skips the test
  // where io_uring is denied).
  std::shared_ptr<Engine> engine(std::size_t chunk = 64 * 1024, unsigned buffers = 8) {
    auto e = make_engine(GetParam().backend, chunk, buffers);
    return e;
  }
  WriterOptions options(std::shared_ptr<Engine> e) {
    WriterOptions o;
    o.engine = std::move(e);
    o.io_mode = GetParam().mode;
    return o;
  }
  void expect_mode(const StreamWriter& w) {
    if (GetParam().mode == IoMode::Direct) {
      EXPECT_EQ(w.io_mode(), IoMode::Direct) << "ext4 supports O_DIRECT";
    } else {
      EXPECT_EQ(w.io_mode(), IoMode::Buffered);
    }
  }
  TempDir dir_;
};

#define NEED_ENGINE(e)                                                  \
  if (!(e)) GTEST_SKIP() << "io_uring is not available on this kernel"; \
  static_assert(true)

// Writes every tensor in blocks of random sizes in [1, max_block].
void write_all(StreamWriter& w, const std::vector<TensorMeta>& metas, const DataMap& data,
               std::size_t max_block, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::future<void>> staged;
  for (const TensorMeta& t : metas) {
    const std::vector<std::byte>& bytes = data.at(t.name);
    std::size_t off = 0;
    while (off < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - off, 1 + rng() % max_block);
      staged.push_back(w.write_block(t.name, std::span(bytes).subspan(off, n)));
      off += n;
    }
    w.finalize_tensor(t.name);
  }
  for (auto& f : staged) f.get();
}

DataMap make_data(const std::vector<TensorMeta>& metas) {
  DataMap data;
  unsigned seed = 1;
  for (const TensorMeta& t : metas) data[t.name] = pattern(t.nbytes(), seed++);
  return data;
}

TEST_P(WriterRoundTrip, EveryDtypeOddSizesEmptyAndScalar) {
  auto e = engine(16 * 1024);
  NEED_ENGINE(e);
  std::vector<Spec> specs;
  for (DType d : kAllDTypes) {
    specs.push_back({std::string(to_string(d)) + ".odd", d, {4, 1001}});  // never 4096-aligned
    specs.push_back(
        {std::string(to_string(d)) + ".scalar_or_pair", d,
         bit_size(d) % 8 == 0 ? std::vector<std::uint64_t>{} : std::vector<std::uint64_t>{4}});
    specs.push_back({std::string(to_string(d)) + ".empty", d, {0, 7}});
  }
  specs.push_back({"big.odd", DType::F32, {3, 11111}});
  const auto metas = contiguous(specs);
  const DataMap data = make_data(metas);
  const std::string path = dir_.file("every_dtype.safetensors");
  auto w = StreamWriter::open(path, metas, options(e));
  expect_mode(w);
  write_all(w, metas, data, 5000, 1);
  w.close().get();
  const Header h = check_file(path, true, &data);
  EXPECT_EQ(h.data_offset() % 64, 0U);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"every_dtype.safetensors"});
  // tensors() reports the CRCs that were stored.
  for (const TensorMeta& t : w.tensors()) {
    ASSERT_TRUE(t.crc32.has_value()) << t.name;
    EXPECT_EQ(*t.crc32, zlib_crc(data.at(t.name))) << t.name;
  }
}

TEST_P(WriterRoundTrip, TenThousandSmallTensorsWithAHeaderLargerThanAChunk) {
  auto e = engine(std::size_t{64} * 1024, 4);
  NEED_ENGINE(e);
  std::vector<Spec> specs;
  std::mt19937 rng(3);
  for (int i = 0; i < 10000; ++i) {
    specs.push_back({"layer." + std::to_string(i) + ".weight", DType::BF16, {1 + rng() % 100}});
  }
  const auto metas = contiguous(specs);
  const DataMap data = make_data(metas);
  const std::string path = dir_.file("many.safetensors");
  auto w = StreamWriter::open(path, metas, options(e));
  EXPECT_GT(w.header_size(), 64U * 1024 * 4) << "the header spans several staging buffers";
  write_all(w, metas, data, 64, 2);
  w.close().get();
  check_file(path, true, &data);
}

TEST_P(WriterRoundTrip, FewLargeTensorsInWholeBlocks) {
  auto e = engine(1 << 20, 4);
  NEED_ENGINE(e);
  const auto metas = contiguous({{"a", DType::F32, {1234567}},
                                 {"b", DType::U8, {3 * (1 << 20) + 17}},
                                 {"c", DType::F64, {333333}}});
  const DataMap data = make_data(metas);
  const std::string path = dir_.file("large.safetensors");
  auto w = StreamWriter::open(path, metas, options(e));
  for (const TensorMeta& t : metas) w.write_block(t.name, data.at(t.name)).get();
  w.close().get();
  check_file(path, true, &data);
  const WriterStats s = w.stats();
  EXPECT_EQ(s.bytes_total, metas.back().offset_end);
  EXPECT_EQ(s.bytes_staged, s.bytes_total);
  EXPECT_EQ(s.bytes_written, s.bytes_total);
  EXPECT_GT(s.mb_per_s, 0.0);
  EXPECT_EQ(s.eta_seconds, 0.0);
  EXPECT_GT(s.peak_rss_bytes, 0U);
}

TEST_P(WriterRoundTrip, ZeroCopyWindows) {
  auto e = engine(64 * 1024, 4);
  NEED_ENGINE(e);
  const auto metas =
      contiguous({{"x", DType::I32, {70001}}, {"empty", DType::U8, {0}}, {"y", DType::U16, {5}}});
  const DataMap data = make_data(metas);
  const std::string path = dir_.file("window.safetensors");
  auto w = StreamWriter::open(path, metas, options(e));
  std::mt19937 rng(5);
  for (const TensorMeta& t : metas) {
    const auto& bytes = data.at(t.name);
    std::size_t off = 0;
    while (off < bytes.size()) {
      std::span<std::byte> win = w.window(t.name, 1 + rng() % 100000);
      ASSERT_FALSE(win.empty());
      // Commit part of the window now and then: the rest is offered again.
      const std::size_t n = rng() % 4 == 0 ? win.size() / 2 : win.size();
      std::memcpy(win.data(), bytes.data() + off, n);
      w.commit_window(n);
      off += n;
    }
    EXPECT_TRUE(w.window(t.name).empty()) << "a complete tensor offers no window";
  }
  w.close().get();
  check_file(path, true, &data);
}

// tensor_crc32: the CRC the writer assembled for a tensor, once every byte of it was staged
// (write_block futures ready, or commit_window returned); nullopt before that and with
// crc32 off; UnknownTensor for a name outside the plan.
TEST_P(WriterRoundTrip, TensorCrcOnceStaged) {
  auto e = engine(64 * 1024, 4);
  NEED_ENGINE(e);
  const auto metas = contiguous(
      {{"a", DType::U8, {200001}}, {"empty", DType::U8, {0}}, {"w", DType::I32, {7001}}});
  const DataMap data = make_data(metas);
  for (const bool crc : {true, false}) {
    WriterOptions o = options(e);
    o.crc32 = crc;
    auto w = StreamWriter::open(dir_.file(crc ? "c" : "n"), metas, o);
    EXPECT_FALSE(w.tensor_crc32("a").has_value());
    const auto& a = data.at("a");
    w.write_block("a", std::span(a).first(1000)).get();
    EXPECT_FALSE(w.tensor_crc32("a").has_value()) << "part of the tensor";
    w.write_block("a", std::span(a).subspan(1000)).get();
    EXPECT_EQ(w.tensor_crc32("a"), crc ? std::optional(zlib_crc(a)) : std::nullopt);
    EXPECT_EQ(w.tensor_crc32("empty"), crc ? std::optional(0u) : std::nullopt);
    const auto& wb = data.at("w");
    std::span<std::byte> win = w.window("w");
    std::size_t off = 0;
    while (!win.empty()) {
      std::memcpy(win.data(), wb.data() + off, win.size());
      off += win.size();
      w.commit_window(win.size());
      win = w.window("w");
    }
    EXPECT_EQ(w.tensor_crc32("w"), crc ? std::optional(zlib_crc(wb)) : std::nullopt);
    EXPECT_THROW((void)w.tensor_crc32("nope"), Error);
    w.close().get();
  }
}

// Four threads call write_block on one writer with no coordination of their own, so
// the writer's lock is what orders them. Every block of a tensor holds the same 1000
// bytes, so any order the lock picks yields the same file; a lost or doubled block, a
// torn offset or a wrong CRC shows in the file. A barrier between the tensors keeps the
// contract that tensors are written in order.
TEST_P(WriterRoundTrip, ConcurrentCallersOnOneWriter) {
  auto e = engine(64 * 1024, 4);
  NEED_ENGINE(e);
  constexpr std::size_t kBlock = 1000;
  constexpr int kThreads = 4;
  const auto metas =
      contiguous({{"t0", DType::U8, {300 * kBlock}}, {"t1", DType::U8, {124 * kBlock}}});
  DataMap data;
  std::map<std::string, std::vector<std::byte>> block_of;
  for (const TensorMeta& t : metas) {
    auto& p = block_of[t.name];
    for (std::size_t i = 0; i < kBlock; ++i) {
      p.push_back(static_cast<std::byte>((i * 7 + t.name.back()) & 0xFF));
    }
    auto& d = data[t.name];
    for (std::size_t off = 0; off < t.nbytes(); off += kBlock)
      d.insert(d.end(), p.begin(), p.end());
  }
  const std::string path = dir_.file("threads.safetensors");
  auto w = StreamWriter::open(path, metas, options(e));
  std::atomic<int> arrived{0};
  std::atomic<std::uint64_t> calls{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&] {
      for (std::size_t ti = 0; ti < metas.size(); ++ti) {
        const TensorMeta& t = metas[ti];
        std::vector<std::future<void>> staged;
        for (std::size_t i = 0; i < t.nbytes() / kBlock / kThreads; ++i) {
          staged.push_back(w.write_block(t.name, block_of.at(t.name)));
          calls.fetch_add(1);
          (void)w.stats();  // concurrent reads of the statistics are safe
        }
        for (auto& f : staged) f.get();
        // Barrier: every block of this tensor is written before the next tensor starts.
        arrived.fetch_add(1);
        while (arrived.load() < kThreads * static_cast<int>(ti + 1)) std::this_thread::yield();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), (300 + 124) * 1U);
  w.close().get();
  check_file(path, true, &data);
}

TEST_P(WriterRoundTrip, ManyWritersShareOneEngine) {
  auto e = engine(64 * 1024, 8);
  NEED_ENGINE(e);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      const auto metas =
          contiguous({{"a", DType::F16, {50000 + 17 * static_cast<std::uint64_t>(k)}},
                      {"b", DType::U8, {99999}}});
      const DataMap data = make_data(metas);
      const std::string path = dir_.file("w" + std::to_string(k) + ".safetensors");
      WriterOptions o = options(e);
      o.buffer_count = 2;  // 4 writers x 2 buffers fit the pool of 8
      auto w = StreamWriter::open(path, metas, o);
      write_all(w, metas, data, 20000, 10 + k);
      w.close().get();
      const Header h = check_file(path, true, &data);
      if (h.tensors.size() != 2) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(WriterRoundTrip, CallbackForms) {
  auto e = engine();
  NEED_ENGINE(e);
  const auto metas = contiguous({{"a", DType::F32, {100000}}, {"b", DType::I8, {3}}});
  const DataMap data = make_data(metas);
  const std::string path = dir_.file("callbacks.safetensors");
  auto w = StreamWriter::open(path, metas, options(e));
  std::promise<void> all;
  std::atomic<int> left{2};
  std::atomic<int> errors{0};
  for (const TensorMeta& t : metas) {
    w.write_block(t.name, data.at(t.name), [&](std::exception_ptr ex) {
      if (ex) ++errors;
      if (--left == 0) all.set_value();
    });
  }
  all.get_future().get();
  std::promise<std::exception_ptr> closed;
  w.close([&](std::exception_ptr ex) { closed.set_value(ex); });
  EXPECT_EQ(closed.get_future().get(), nullptr);
  EXPECT_EQ(errors.load(), 0);
  check_file(path, true, &data);
}

TEST_P(WriterRoundTrip, ReplacesAnExistingFileAndLeavesNothingElse) {
  auto e = engine();
  NEED_ENGINE(e);
  const std::string path = dir_.file("model.safetensors");
  for (unsigned round = 0; round < 3; ++round) {
    const auto metas = contiguous({{"w", DType::F32, {1000 + 1000ULL * round}}});
    DataMap data = {{"w", pattern(metas[0].nbytes(), 100 + round)}};
    auto w = StreamWriter::open(path, metas, options(e));
    write_all(w, metas, data, 3000, round);
    w.close().get();
    check_file(path, true, &data);
    EXPECT_EQ(dir_.entries(), std::vector<std::string>{"model.safetensors"});
  }
}

TEST_P(WriterRoundTrip, CrcOffAndAlignments) {
  auto e = engine();
  NEED_ENGINE(e);
  const auto metas = contiguous({{"a", DType::U8, {5}}, {"b", DType::I64, {3, 3}}});
  const DataMap data = make_data(metas);
  for (std::uint64_t align : {8ULL, 64ULL, 4096ULL}) {
    for (bool crc : {false, true}) {
      const std::string path = dir_.file("a" + std::to_string(align) + (crc ? "c" : "n"));
      WriterOptions o = options(e);
      o.align = align;
      o.crc32 = crc;
      auto w = StreamWriter::open(path, metas, o);
      write_all(w, metas, data, 7, 9);
      w.close().get();
      const Header h = check_file(path, crc, &data);
      EXPECT_EQ(h.data_offset() % align, 0U) << path;
      EXPECT_EQ(h.data_offset(), w.header_size() + 8);
    }
  }
}

TEST_P(WriterRoundTrip, MetadataAbsentEmptyOrSet) {
  auto e = engine();
  NEED_ENGINE(e);
  const auto metas = contiguous({{"a", DType::U8, {3}}});
  const DataMap data = make_data(metas);
  const std::vector<std::optional<Metadata>> cases = {
      std::nullopt, Metadata{}, Metadata{{"format", "pt"}, {"note", "caf\xc3\xa9 \"q\""}}};
  int i = 0;
  for (const auto& md : cases) {
    const std::string path = dir_.file("md" + std::to_string(i++));
    WriterOptions o = options(e);
    o.metadata = md;
    auto w = StreamWriter::open(path, metas, o);
    write_all(w, metas, data, 2, 1);
    w.close().get();
    const Header h = check_file(path, true, &data);
    EXPECT_EQ(h.metadata, md);
  }
}

TEST_P(WriterRoundTrip, NoTensorsAtAll) {
  auto e = engine();
  NEED_ENGINE(e);
  const std::string path = dir_.file("empty.safetensors");
  auto w = StreamWriter::open(path, {}, options(e));
  w.close().get();
  const Header h = check_file(path, true);
  EXPECT_TRUE(h.tensors.empty());
}

// durable = false drops the fsyncs, not the atomic replace: the file at `path` is the
// previous one until close() publishes the new one, an abort leaves the previous one,
// and no temporary file stays behind either way.
TEST_P(WriterRoundTrip, NotDurableStillAtomic) {
  auto e = engine();
  NEED_ENGINE(e);
  const std::string path = dir_.file("fast.safetensors");
  const auto old_metas = contiguous({{"old", DType::U8, {777}}});
  const DataMap old_data = make_data(old_metas);
  {
    auto w = StreamWriter::open(path, old_metas, options(e));
    write_all(w, old_metas, old_data, 999, 3);
    w.close().get();
  }
  const std::vector<std::byte> previous = read_file(path);

  const auto metas = contiguous({{"a", DType::U8, {10000}}});
  const DataMap data = make_data(metas);
  WriterOptions o = options(e);
  o.durable = false;
  {
    auto w = StreamWriter::open(path, metas, o);
    write_all(w, metas, data, 999, 4);
    EXPECT_EQ(read_file(path), previous) << "replaced before close()";
    w.abort();
  }
  EXPECT_EQ(read_file(path), previous) << "an aborted writer changed the file";
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"fast.safetensors"});

  auto w = StreamWriter::open(path, metas, o);
  write_all(w, metas, data, 999, 4);
  EXPECT_EQ(read_file(path), previous) << "replaced before close()";
  w.close().get();
  check_file(path, true, &data);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"fast.safetensors"});
}

INSTANTIATE_TEST_SUITE_P(Io, WriterRoundTrip, ::testing::ValuesIn(io_configs()),
                         [](const auto& info) { return config_name(info.param); });

}  // namespace
}  // namespace stsw::writer_test
