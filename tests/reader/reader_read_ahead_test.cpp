// Read-ahead of staged read_into calls in file order (engine/reader/read_ahead.hpp): the
// bytes are right whatever order the calls come in, the window saves requests, a reader
// destroyed with read-ahead in flight leaks no staging buffer, a file rewritten after the
// window was read is read again, and a fault in a read-ahead request either is read
// again or fails the call that needs the bytes naming file, tensor and offset. Both
// backends.
#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "io/fault_injection.hpp"
#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"
#include "support/backend_name.hpp"

namespace stsw {
namespace {

using testing::Fault;
using testing::FaultCounters;
using testing::FaultPlan;
using ::testing::HasSubstr;

// A destination for `n` bytes whose address is NOT congruent to `file_offset` mod 4096
// (so O_DIRECT reads of it are staged).
struct PackedDst {
  PackedDst(std::size_t n, std::uint64_t file_offset)
      : raw(static_cast<std::byte*>(std::aligned_alloc(4096, (n + 8192) / 4096 * 4096))),
        span(raw + (file_offset + 1) % 4096, n) {}
  ~PackedDst() { std::free(raw); }
  PackedDst(const PackedDst&) = delete;
  PackedDst& operator=(const PackedDst&) = delete;
  std::byte* raw;
  std::span<std::byte> span;
};

EngineStats settled(const Engine& e) {
  EngineStats st = e.stats();
  for (int i = 0; i < 500 && (st.in_flight != 0 || st.buffers_free != st.buffers_total); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    st = e.stats();
  }
  return st;
}

class ReadAheadTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    // A big tensor, a run of tiny ones (norms and biases), two more big ones.
    tensors_ = {{"big0", DType::U8, {300000}, test::pattern(300000, 1)}};
    for (int i = 0; i < 6; ++i) {
      tensors_.push_back({"tiny" + std::to_string(i),
                          DType::U8,
                          {100 + std::uint64_t(i)},
                          test::pattern(100 + i, 10 + i)});
    }
    tensors_.push_back({"big1", DType::U8, {200001}, test::pattern(200001, 2)});
    tensors_.push_back({"big2", DType::U8, {150003}, test::pattern(150003, 3)});
    path_ = dir_.file("f.safetensors");
    test::write_file(path_, test::build_file(tensors_));
    options_.backend = GetParam();
    options_.chunk_size = std::size_t{64} * 1024;
    options_.queue_depth = 4;
    options_.buffer_count = 6;
    if (Engine::create(options_)->backend() != GetParam()) {
      GTEST_SKIP() << "backend " << to_string(GetParam()) << " unavailable here";
    }
  }

  std::shared_ptr<Engine> engine(FaultPlan plan = {},
                                 std::shared_ptr<FaultCounters>* counters = nullptr) const {
    return testing::make_faulty_engine(options_, std::move(plan), counters);
  }

  StreamReader open(const std::shared_ptr<Engine>& e, bool read_ahead = true,
                    bool crc = true) const {
    ReaderOptions o;
    o.engine = e;
    o.io_mode = ReadMode::Direct;
    o.read_ahead = read_ahead;
    o.verify_crc = crc;
    return StreamReader::open(path_, o);
  }

  bool direct(const StreamReader& r) const { return r.shards().at(0).mode == ReadMode::Direct; }

  std::uint64_t abs(const StreamReader& r, const std::string& name) const {
    return r.shards().at(0).data_offset + r.meta(name).offset_begin;
  }

  // Reads `order` one call at a time into packed destinations and checks every byte.
  void read_in_order(const StreamReader& r, const std::vector<std::size_t>& order) const {
    for (std::size_t i : order) {
      const auto& t = tensors_[i];
      PackedDst dst(t.data.size(), abs(r, t.name));
      r.read_into(t.name, dst.span).get();
      EXPECT_TRUE(std::equal(t.data.begin(), t.data.end(), dst.span.begin())) << t.name;
    }
  }

  std::vector<std::size_t> file_order() const {
    std::vector<std::size_t> v(tensors_.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  }

  test::TempDir dir_;
  std::string path_;
  EngineOptions options_;
  std::vector<test::TensorData> tensors_;
};

TEST_P(ReadAheadTest, FileOrderReadsRightBytesWithFewerRequests) {
  std::uint64_t with = 0;
  std::uint64_t without = 0;
  for (bool ra : {true, false}) {
    std::shared_ptr<FaultCounters> c;
    auto e = engine({}, &c);
    {
      const auto r = open(e, ra);
      if (!direct(r)) GTEST_SKIP() << "no O_DIRECT in " << path_;
      read_in_order(r, file_order());
    }
    const EngineStats st = settled(*e);
    EXPECT_EQ(st.buffers_free, st.buffers_total) << "a staging buffer leaked";
    (ra ? with : without) = c->count(Fault::Op::Read);
  }
  // The tiny tensors and the heads of big1 and big2 come from windows read ahead.
  EXPECT_LT(with, without);
}

TEST_P(ReadAheadTest, OutOfOrderCallsAfterReadAheadReadRightBytes) {
  auto e = engine();
  {
    const auto r = open(e);
    if (!direct(r)) GTEST_SKIP() << "no O_DIRECT in " << path_;
    // In order (windows start), then jumps back and forth across and inside windows.
    read_in_order(r, {0, 1, 2, 5, 3, 4, 8, 7, 6, 0, 1, 2, 3, 7, 8, 8});
  }
  // The reader's last window goes with it.
  const EngineStats st = settled(*e);
  EXPECT_EQ(st.buffers_free, st.buffers_total) << "a staging buffer leaked";
}

TEST_P(ReadAheadTest, ConcurrentCallsInFileOrderReadRightBytes) {
  auto e = engine();
  const auto r = open(e);
  if (!direct(r)) GTEST_SKIP() << "no O_DIRECT in " << path_;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<PackedDst>> dst;
    std::vector<std::future<void>> f;
    for (const auto& t : tensors_) {
      dst.push_back(std::make_unique<PackedDst>(t.data.size(), abs(r, t.name)));
      f.push_back(r.read_into(t.name, dst.back()->span));
    }
    for (std::size_t i = 0; i < f.size(); ++i) {
      f[i].get();
      EXPECT_TRUE(
          std::equal(tensors_[i].data.begin(), tensors_[i].data.end(), dst[i]->span.begin()))
          << tensors_[i].name;
    }
  }
}

TEST_P(ReadAheadTest, ReaderDestroyedWithReadAheadInFlightReturnsTheBuffer) {
  auto e = engine();
  for (int round = 0; round < 20; ++round) {
    const auto r = open(e);
    if (!direct(r)) GTEST_SKIP() << "no O_DIRECT in " << path_;
    // Two calls in order: the second starts a window, then the reader goes at once.
    read_in_order(r, {0, 1});
  }
  const EngineStats st = settled(*e);
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.buffers_free, st.buffers_total) << "a read-ahead buffer leaked";
}

TEST_P(ReadAheadTest, FileRewrittenAfterReadAheadIsReadAgain) {
  auto e = engine();
  const auto r = open(e, true, /*crc=*/false);
  if (!direct(r)) GTEST_SKIP() << "no O_DIRECT in " << path_;
  read_in_order(r, {0, 1});  // the window after tiny0 holds tiny1..5 and big1's head
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the window has landed
  // Rewrite tiny2 and the head of big1 in place, a timestamp tick later.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (std::size_t i : {std::size_t{3}, std::size_t{7}}) {
    auto& t = tensors_[i];
    for (auto& b : t.data) b = ~b;
    const auto n = std::min<std::size_t>(t.data.size(), 4096);
    ASSERT_EQ(::pwrite(fd, t.data.data(), n, static_cast<off_t>(abs(r, t.name))),
              static_cast<ssize_t>(n));
    // Only the first n bytes changed.
    if (n < t.data.size()) {
      for (std::size_t k = n; k < t.data.size(); ++k) t.data[k] = ~t.data[k];
    }
  }
  ::close(fd);
  read_in_order(r, {2, 3, 4, 5, 6, 7});
}

TEST_P(ReadAheadTest, FaultsInReadAheadAreReadAgainOrNameFileTensorAndOffset) {
  std::shared_ptr<FaultCounters> counters;
  {
    const auto r = open(engine({}, &counters));
    if (!direct(r)) GTEST_SKIP() << "no O_DIRECT in " << path_;
    read_in_order(r, file_order());
  }
  const std::uint64_t n = counters->count(Fault::Op::Read);
  unsigned survived = 0;
  unsigned failed = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    SCOPED_TRACE(::testing::Message() << "request " << i);
    auto e = engine(FaultPlan{{Fault{Fault::Op::Read, i, Fault::Kind::Eio}}, false});
    {
      const auto r = open(e);
      try {
        read_in_order(r, file_order());
        ++survived;  // the fault hit a window whose bytes were read again (or no one's)
      } catch (const Error& err) {
        ++failed;
        EXPECT_EQ(err.code(), Errc::Io) << err.what();
        EXPECT_THAT(err.message(), HasSubstr(path_));
        EXPECT_THAT(err.message(), HasSubstr("tensor '"));
        EXPECT_THAT(err.message(), HasSubstr("at offset"));
      }
    }
    const EngineStats st = settled(*e);
    EXPECT_EQ(st.buffers_free, st.buffers_total) << "a staging buffer leaked";
  }
  EXPECT_GT(failed, 0u);
  EXPECT_GT(survived, 0u) << "no fault landed on a read-ahead window";
}

INSTANTIATE_TEST_SUITE_P(Io, ReadAheadTest,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
