// StreamReader::read_range, read_block (2-D column blocks) and read_batch (issue 16): the
// right bytes on both backends and every read path, CRC checks for whole tensors only,
// argument errors naming file, tensor and offset, no element-sized I/O for column blocks,
// the in-flight bound and per-request callbacks of batches, and an EIO / short / EAGAIN
// fault at every read request of each new path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kSmallR = 40, kSmallC = 3000;  // F32: 12000-byte rows
constexpr std::uint64_t kWideR = 6, kWideC = 80000;    // F32: 320000-byte rows

std::vector<test::TensorData> tensors() {
  auto t = test::mixed_tensors();
  t.push_back(
      {"small2d", DType::F32, {kSmallR, kSmallC}, test::pattern(kSmallR * kSmallC * 4, 11)});
  t.push_back({"wide2d", DType::F32, {kWideR, kWideC}, test::pattern(kWideR * kWideC * 4, 12)});
  return t;
}

// The dense row-major bytes of a block, computed from the tensor's bytes.
std::vector<std::byte> expected_block(const test::TensorData& t, const Block2D& b) {
  const std::uint64_t es = 4, row = t.shape[1] * es, seg = (b.col_end - b.col_begin) * es;
  std::vector<std::byte> out;
  for (std::uint64_t r = b.row_begin; r < b.row_end; ++r) {
    const auto* p = t.data.data() + r * row + b.col_begin * es;
    out.insert(out.end(), p, p + seg);
  }
  return out;
}

struct Config {
  BackendKind backend;
  ReadMode mode;
};

class RangeRead : public ::testing::TestWithParam<Config> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(GetParam().backend);
    if (!engine_) GTEST_SKIP() << "io_uring is not available on this kernel";
    tensors_ = tensors();
    path_ = dir_.file("f.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
  }
  StreamReader open() const {
    ReaderOptions o;
    o.engine = engine_;
    o.io_mode = GetParam().mode;
    return StreamReader::open(path_, o);
  }
  const test::TensorData& t(const std::string& name) const {
    for (const auto& x : tensors_) {
      if (x.name == name) return x;
    }
    throw std::runtime_error("no tensor " + name);
  }
  std::vector<std::byte> range(const StreamReader& r, const std::string& name, std::uint64_t off,
                               std::size_t n) const {
    std::vector<std::byte> dst(n);
    auto f = r.read_range(name, off, dst);
    EXPECT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    f.get();
    return dst;
  }
  std::vector<std::byte> slice(const std::string& name, std::uint64_t off, std::size_t n) const {
    const auto& d = t(name).data;
    return {d.begin() + static_cast<std::ptrdiff_t>(off),
            d.begin() + static_cast<std::ptrdiff_t>(off + n)};
  }

  test::TempDir dir_;
  std::string path_;
  std::shared_ptr<Engine> engine_;
  std::vector<test::TensorData> tensors_;
};

TEST_P(RangeRead, RangesOfEveryShape) {
  const auto r = open();
  const std::uint64_t big = t("big").data.size();
  const std::vector<std::pair<std::uint64_t, std::size_t>> cases = {
      {0, 1},         {0, 4096},    {4096, 8192},         {1, 4095},        {123, 200000},
      {65536, 65536}, {big - 1, 1}, {big - 70000, 70000}, {333, big - 333}, {big, 0}};
  for (const auto& [off, n] : cases) {
    SCOPED_TRACE(::testing::Message() << "offset " << off << " size " << n);
    EXPECT_EQ(range(r, "big", off, n), slice("big", off, n));
  }
  EXPECT_EQ(range(r, "odd", 17, 70001 - 17), slice("odd", 17, 70001 - 17));
  EXPECT_EQ(range(r, "last", 4096, 1), slice("last", 4096, 1));
  EXPECT_EQ(range(r, "tail", 0, 100000), slice("tail", 0, 100000));  // whole: CRC-checked
}

TEST_P(RangeRead, OnlyAWholeTensorRangeIsCrcChecked) {
  // Corrupt byte 1000 of "tail".
  {
    const auto r = open();
    const std::uint64_t at = r.shards()[0].data_offset + r.meta("tail").offset_begin + 1000;
    test::flip_byte(path_, at);
  }
  const auto r = open();
  std::vector<std::byte> dst(100000);
  try {
    r.read_range("tail", 0, dst).get();
    FAIL() << "a whole-tensor range must be CRC-checked";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch) << e.what();
  }
  // A partial range cannot be checked: it returns the bytes the file holds now.
  auto got = range(r, "tail", 900, 200);
  auto want = slice("tail", 900, 200);
  EXPECT_NE(got, want);
  want[100] = ~want[100];
  EXPECT_EQ(got, want);
  EXPECT_EQ(range(r, "tail", 1001, 5000), slice("tail", 1001, 5000));
}

TEST_P(RangeRead, ArgumentErrorsNameFileTensorAndOffset) {
  const auto r = open();
  std::vector<std::byte> dst(10);
  try {
    r.read_range("odd", 70000, dst).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_THAT(e.message(), HasSubstr(path_));
    EXPECT_THAT(e.message(), HasSubstr("tensor 'odd'"));
    EXPECT_THAT(e.message(), HasSubstr("offset 70000"));
  }
  try {
    r.read_range("odd", UINT64_MAX, dst).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
  }
  try {
    r.read_range("nope", 0, dst).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::UnknownTensor);
  }
  std::vector<std::byte> none;
  r.read_range("odd", 70001, none).get();  // empty at the end: fine
  // The callback form reports argument errors too, exactly once.
  std::promise<std::exception_ptr> p;
  r.read_range("odd", 70001, dst, [&](std::exception_ptr e) { p.set_value(e); });
  EXPECT_TRUE(p.get_future().get() != nullptr);
}

TEST_P(RangeRead, ColumnBlocksWithoutElementSizedIo) {
  const auto r = open();
  struct Case {
    std::string name;
    Block2D b;
    std::uint64_t max_requests;  // engine requests allowed (element-sized I/O would be far more)
  };
  const std::vector<Case> cases = {
      {"small2d", {0, kSmallR, 1000, 2000}, 40},     // small segments: one scan
      {"small2d", {3, 37, 0, 1}, 40},                // one column
      {"small2d", {5, 6, 17, 2999}, 40},             // one row
      {"small2d", {0, kSmallR, 0, kSmallC}, 40},     // the whole tensor (CRC-checked)
      {"small2d", {7, 30, 0, kSmallC}, 40},          // whole rows: one range
      {"wide2d", {0, kWideR, 40000, 80000}, 6 * 8},  // large segments: one read per row
      {"wide2d", {1, 5, 123, 40123}, 6 * 8},
      {"small2d", {4, 4, 0, 10}, 0},  // empty
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.name << " rows [" << c.b.row_begin << ", " << c.b.row_end
                                      << ") cols [" << c.b.col_begin << ", " << c.b.col_end << ")");
    const auto want = expected_block(t(c.name), c.b);
    std::vector<std::byte> dst(want.size());
    const std::uint64_t before = engine_->stats().requests_submitted;
    auto f = r.read_block(c.name, c.b, dst);
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    f.get();
    EXPECT_EQ(dst, want);
    if (GetParam().mode != ReadMode::Mmap) {
      EXPECT_LE(engine_->stats().requests_submitted - before, c.max_requests);
    }
  }
}

TEST_P(RangeRead, ColumnBlockErrors) {
  const auto r = open();
  std::vector<std::byte> dst(16);
  auto code_of = [&](const std::string& name, Block2D b, std::size_t n) {
    std::vector<std::byte> d(n);
    try {
      r.read_block(name, b, d).get();
    } catch (const Error& e) {
      EXPECT_THAT(e.message(), HasSubstr(path_));
      EXPECT_THAT(e.message(), HasSubstr("tensor '" + name + "'"));
      return e.code();
    }
    return Errc::HeaderTooSmall;  // "no error"
  };
  EXPECT_EQ(code_of("big", {0, 1, 0, 1}, 4), Errc::InvalidArgument);  // 1-D
  EXPECT_EQ(code_of("small2d", {0, kSmallR + 1, 0, 1}, 164), Errc::InvalidArgument);
  EXPECT_EQ(code_of("small2d", {0, 1, 5, 4}, 0), Errc::InvalidArgument);
  EXPECT_EQ(code_of("small2d", {0, 1, 0, kSmallC + 1}, 12004), Errc::InvalidArgument);
  EXPECT_EQ(code_of("small2d", {0, 2, 0, 2}, 15), Errc::LengthMismatch);
  try {
    r.read_block("nope", {0, 1, 0, 1}, dst).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::UnknownTensor);
  }
}

TEST_P(RangeRead, BatchReadsEveryTensorWithPerTensorCallbacks) {
  const auto r = open();
  std::vector<std::vector<std::byte>> dst;
  std::vector<ReadRequest> reqs;
  for (const auto& x : tensors_) dst.emplace_back(x.data.size());
  for (std::size_t i = 0; i < tensors_.size(); ++i) reqs.push_back({tensors_[i].name, 0, dst[i]});
  reqs.push_back({"big", 4096, std::span(dst[0]).first(0)});  // an empty range
  std::mutex mu;
  std::vector<std::size_t> order;
  ReadBatchOptions o;
  o.max_bytes_in_flight = 1;  // one request at a time: completions arrive in order
  o.on_done = [&](std::size_t i, std::exception_ptr e) {
    EXPECT_FALSE(e);
    if (i < tensors_.size()) {
      EXPECT_EQ(dst[i], tensors_[i].data) << tensors_[i].name;
    }
    std::lock_guard lock(mu);
    order.push_back(i);
  };
  auto f = r.read_batch(reqs, o);
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  f.get();
  ASSERT_EQ(order.size(), reqs.size());
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);

  // Unbounded: all at once, every callback still exactly once.
  for (auto& d : dst) std::fill(d.begin(), d.end(), std::byte{0});
  order.clear();
  o.max_bytes_in_flight = UINT64_MAX;
  r.read_batch(reqs, o).get();
  EXPECT_EQ(order.size(), reqs.size());
  for (std::size_t i = 0; i < tensors_.size(); ++i) EXPECT_EQ(dst[i], tensors_[i].data);
}

TEST_P(RangeRead, BatchStopsAfterTheFirstFailure) {
  const auto r = open();
  std::vector<std::byte> a(100000), b(10), c(5000);
  std::vector<ReadRequest> reqs = {{"tail", 0, a}, {"missing", 0, b}, {"nocrc", 0, c}};
  std::mutex mu;
  std::map<std::size_t, Errc> codes;
  ReadBatchOptions o;
  o.max_bytes_in_flight = 1;
  o.on_done = [&](std::size_t i, std::exception_ptr e) {
    std::lock_guard lock(mu);
    if (!e) {
      codes[i] = Errc::HeaderTooSmall;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const Error& err) {
      codes[i] = err.code();
    }
  };
  try {
    r.read_batch(reqs, o).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::UnknownTensor);
  }
  EXPECT_EQ(codes.size(), 3U);
  EXPECT_EQ(codes[0], Errc::HeaderTooSmall);  // succeeded
  EXPECT_EQ(codes[1], Errc::UnknownTensor);
  EXPECT_EQ(codes[2], Errc::Cancelled);
  // An empty batch completes.
  r.read_batch({}).get();
}

std::vector<Config> configs() {
  std::vector<Config> out;
  for (BackendKind b : {BackendKind::Uring, BackendKind::Threads}) {
    for (ReadMode m : {ReadMode::Direct, ReadMode::Buffered, ReadMode::Mmap}) out.push_back({b, m});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Paths, RangeRead, ::testing::ValuesIn(configs()), [](const auto& info) {
  return std::string(info.param.backend == BackendKind::Uring ? "uring_" : "threads_") +
         std::string(to_string(info.param.mode));
});

// ---- fault injection: every read request of the new paths ------------------------------

class RangeFault : public ::testing::TestWithParam<Config> {
 protected:
  void SetUp() override {
    tensors_ = {{"a", DType::U8, {300000}, test::pattern(300000, 1)},
                {"m", DType::F32, {20, 3000}, test::pattern(20 * 3000 * 4, 2)},
                {"w", DType::F32, {3, 80000}, test::pattern(3 * 80000 * 4, 3)}};
    path_ = dir_.file("f.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
    options_.backend = GetParam().backend;
    options_.chunk_size = 64 * 1024;
    options_.queue_depth = 4;
    options_.buffer_count = 4;
    auto probe = Engine::create(options_);
    if (options_.backend == BackendKind::Uring && probe->backend() != BackendKind::Uring) {
      GTEST_SKIP() << "io_uring is not available on this kernel";
    }
  }
  StreamReader open(const std::shared_ptr<Engine>& engine) const {
    ReaderOptions o;
    o.engine = engine;
    o.io_mode = GetParam().mode;
    // The sweep expects every injected EIO to fail the batch; a read-ahead window nobody
    // claims (or one whose bytes are read again) would not. Faults in read-ahead:
    // reader_read_ahead_test.cpp.
    o.read_ahead = false;
    return StreamReader::open(path_, o);
  }
  // Every read request of `op` failing in turn (test::sweep_read_faults); an EIO names the
  // file, the offset and the tensor.
  template <typename Op>
  void sweep(Op op) {
    (void)test::sweep_read_faults(
        options_, [this](const std::shared_ptr<Engine>& e) { return open(e); }, op, 1,
        [this](const Error& e) {
          EXPECT_THAT(e.message(), HasSubstr(path_));
          EXPECT_THAT(e.message(), HasSubstr("offset"));
          EXPECT_THAT(e.message(), HasSubstr("tensor '"));
        });
  }
  std::vector<std::byte> bytes(std::size_t i, std::uint64_t off, std::size_t n) const {
    const auto& d = tensors_[i].data;
    return {d.begin() + static_cast<std::ptrdiff_t>(off),
            d.begin() + static_cast<std::ptrdiff_t>(off + n)};
  }

  test::TempDir dir_;
  std::string path_;
  EngineOptions options_;
  std::vector<test::TensorData> tensors_;
};

TEST_P(RangeFault, ReadRange) {
  sweep([&](const StreamReader& r) {
    std::vector<std::byte> dst(200001);
    r.read_range("a", 333, dst).get();
    EXPECT_EQ(dst, bytes(0, 333, 200001));
  });
}

TEST_P(RangeFault, ReadBlockScatter) {
  sweep([&](const StreamReader& r) {
    const Block2D b{1, 19, 100, 1100};
    std::vector<std::byte> dst(18 * 1000 * 4);
    r.read_block("m", b, dst).get();
    test::TensorData t = tensors_[1];
    EXPECT_EQ(dst, expected_block(t, b));
  });
}

TEST_P(RangeFault, ReadBlockPerRow) {
  sweep([&](const StreamReader& r) {
    const Block2D b{0, 3, 40000, 80000};
    std::vector<std::byte> dst(3 * 40000 * 4);
    r.read_block("w", b, dst).get();
    test::TensorData t = tensors_[2];
    EXPECT_EQ(dst, expected_block(t, b));
  });
}

TEST_P(RangeFault, ReadBatch) {
  sweep([&](const StreamReader& r) {
    std::vector<std::byte> a(300000), m(20 * 3000 * 4), w(1000);
    std::atomic<int> calls{0};
    ReadBatchOptions o;
    o.max_bytes_in_flight = 100000;
    o.on_done = [&](std::size_t, std::exception_ptr) { ++calls; };
    auto f = r.read_batch({{"a", 0, a}, {"m", 0, m}, {"w", 5, w}}, o);
    try {
      f.get();
    } catch (...) {
      EXPECT_EQ(calls.load(), 3);
      throw;
    }
    EXPECT_EQ(calls.load(), 3);
    EXPECT_EQ(a, tensors_[0].data);
    EXPECT_EQ(m, tensors_[1].data);
    EXPECT_EQ(w, bytes(2, 5, 1000));
  });
}

INSTANTIATE_TEST_SUITE_P(Paths, RangeFault,
                         ::testing::Values(Config{BackendKind::Uring, ReadMode::Direct},
                                           Config{BackendKind::Threads, ReadMode::Direct},
                                           Config{BackendKind::Threads, ReadMode::Buffered}),
                         [](const auto& info) {
                           return std::string(info.param.backend == BackendKind::Uring
                                                  ? "uring_"
                                                  : "threads_") +
                                  std::string(to_string(info.param.mode));
                         });

}  // namespace
}  // namespace stsw
