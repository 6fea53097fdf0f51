// read_into, get_slice and for_each on both backends and every I/O mode.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using test::TensorData;
using ::testing::HasSubstr;

struct Param {
  BackendKind backend;
  ReadMode mode;
};

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(info.param.backend == BackendKind::Uring ? "uring" : "threads") + "_" +
         std::string(to_string(info.param.mode));
}

class ReadTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(GetParam().backend);
    if (!engine_) GTEST_SKIP() << "io_uring is not available here (denied or unsupported)";
    tensors_ = test::mixed_tensors();
    path_ = dir_.file("mixed.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
  }

  StreamReader open(ReaderOptions o = {}) const {
    o.engine = engine_;
    o.io_mode = GetParam().mode;
    o.chunk_size = 64 * 1024;
    o.buffer_count = 3;
    return StreamReader::open(path_, o);
  }

  const TensorData& tensor(const std::string& name) const {
    for (const auto& t : tensors_) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no " + name);
  }

  test::TempDir dir_;
  std::string path_;
  std::shared_ptr<Engine> engine_;
  std::vector<TensorData> tensors_;
};

// Page-aligned memory with a chosen misalignment, so O_DIRECT sees congruent and
// non-congruent destinations.
struct AlignedBytes {
  explicit AlignedBytes(std::size_t n, std::size_t shift = 0)
      : raw(static_cast<std::byte*>(
            std::aligned_alloc(4096, (n + shift + 4095) / 4096 * 4096 + 4096))),
        span(raw + shift, n) {}
  ~AlignedBytes() { std::free(raw); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  std::byte* raw;
  std::span<std::byte> span;
};

TEST_P(ReadTest, EffectiveModeIsReported) {
  const auto r = open();
  const ReadMode got = r.shards().at(0).mode;
  switch (GetParam().mode) {
    case ReadMode::Buffered: EXPECT_EQ(got, ReadMode::Buffered); break;
    case ReadMode::Mmap: EXPECT_EQ(got, ReadMode::Mmap); break;
    // /tmp is a disk file system: O_DIRECT works (tmpfs falls back, see below).
    case ReadMode::Direct: EXPECT_EQ(got, ReadMode::Direct); break;
    case ReadMode::Auto: EXPECT_NE(got, ReadMode::Auto); break;
  }
}

TEST_P(ReadTest, ReadIntoFillsExactlyTheTensorWhateverTheDestinationAlignment) {
  const auto r = open();
  for (const auto& t : tensors_) {
    SCOPED_TRACE(t.name);
    for (std::size_t shift : {0, 1, 512, 4095}) {
      AlignedBytes dst(t.data.size(), shift);
      std::fill(dst.span.begin(), dst.span.end(), std::byte{0xAA});
      r.read_into(t.name, dst.span).get();
      EXPECT_TRUE(std::equal(dst.span.begin(), dst.span.end(), t.data.begin(), t.data.end()))
          << "shift " << shift;
    }
  }
}

TEST_P(ReadTest, ManyReadsInFlightAtOnce) {
  const auto r = open();
  std::vector<std::vector<std::byte>> dst;
  std::vector<std::future<void>> futures;
  for (int round = 0; round < 4; ++round) {
    for (const auto& t : tensors_) dst.emplace_back(t.data.size());
  }
  std::size_t i = 0;
  for (int round = 0; round < 4; ++round) {
    for (const auto& t : tensors_) futures.push_back(r.read_into(t.name, dst[i++]));
  }
  for (auto& f : futures) f.get();
  i = 0;
  for (int round = 0; round < 4; ++round) {
    for (const auto& t : tensors_) EXPECT_EQ(dst[i++], t.data) << t.name;
  }
}

TEST_P(ReadTest, EightThreadsReadConcurrently) {
  const auto r = open();
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (unsigned th = 0; th < 8; ++th) {
    threads.emplace_back([&, th] {
      std::mt19937 rng(th);
      for (int k = 0; k < 24; ++k) {
        const auto& t = tensors_[rng() % tensors_.size()];
        std::vector<std::byte> dst(t.data.size());
        try {
          r.read_into(t.name, dst).get();
          if (dst != t.data) ++bad;
          const auto view = r.get_slice(t.name);
          if (!std::equal(view.begin(), view.end(), t.data.begin(), t.data.end())) ++bad;
        } catch (...) {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(ReadTest, WrongDestinationSizeIsLengthMismatch) {
  const auto r = open();
  std::vector<std::byte> small(tensor("odd").data.size() - 1);
  try {
    r.read_into("odd", small).get();
    FAIL() << "accepted a short destination";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::LengthMismatch);
    EXPECT_THAT(e.message(), HasSubstr("tensor 'odd'"));
    EXPECT_THAT(e.message(), HasSubstr("70001"));
    EXPECT_THAT(e.message(), HasSubstr("70000"));
  }
  std::vector<std::byte> big(5);
  EXPECT_THROW(r.read_into("empty", big).get(), Error);
}

TEST_P(ReadTest, UnknownNameIsUnknownTensorOnEveryEntryPoint) {
  const auto r = open();
  std::vector<std::byte> dst(4);
  auto expect_unknown = [&](auto&& fn) {
    try {
      fn();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::UnknownTensor);
      EXPECT_THAT(e.message(), HasSubstr("'nope'"));
      EXPECT_THAT(e.message(), HasSubstr(path_));
    }
  };
  expect_unknown([&] { r.read_into("nope", dst).get(); });
  expect_unknown([&] { (void)r.meta("nope"); });
  expect_unknown([&] { (void)r.get_slice("nope"); });
  expect_unknown([&] { (void)r.file_of("nope"); });
  EXPECT_FALSE(r.contains("nope"));

  // Callback form: runs once, on an engine thread, with the error.
  std::promise<std::exception_ptr> p;
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  r.read_into("nope", dst, [&](std::exception_ptr e) {
    ran_on = std::this_thread::get_id();
    p.set_value(e);
  });
  auto err = p.get_future().get();
  ASSERT_TRUE(err);
  EXPECT_NE(ran_on, caller);
}

TEST_P(ReadTest, CorruptByteFailsOnlyThatTensorWithExpectedAndActualCrc) {
  const auto r = open();
  const TensorMeta& odd = r.meta("odd");
  test::flip_byte(path_, r.shards()[0].data_offset + odd.offset_begin + 777);
  std::vector<std::byte> dst(odd.nbytes());
  try {
    r.read_into("odd", dst).get();
    FAIL() << "corruption not detected";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    char expected[32];
    std::snprintf(expected, sizeof expected, "expected 0x%08x, got 0x", *odd.crc32);
    EXPECT_THAT(e.message(), HasSubstr(path_ + ": tensor 'odd' (" + expected));
  }
  for (const auto& t : tensors_) {
    if (t.name == "odd") continue;
    std::vector<std::byte> ok(t.data.size());
    EXPECT_NO_THROW(r.read_into(t.name, ok).get()) << t.name;
  }
  EXPECT_THROW((void)r.get_slice("odd"), Error);

  // verify_crc = false hands out the (corrupt) bytes without complaint.
  ReaderOptions o;
  o.verify_crc = false;
  const auto unchecked = open(o);
  EXPECT_NO_THROW(unchecked.read_into("odd", dst).get());
  EXPECT_NE(dst, tensor("odd").data);
  EXPECT_NO_THROW((void)unchecked.get_slice("odd"));
}

TEST_P(ReadTest, GetSliceChecksOnceAndCachesTheResult) {
  const auto r = open();
  const auto view = r.get_slice("tail");
  EXPECT_TRUE(std::equal(view.begin(), view.end(), tensor("tail").data.begin()));
  // After a successful check, later corruption is not re-detected (the result is cached)...
  test::flip_byte(path_, r.shards()[0].data_offset + r.meta("tail").offset_begin);
  EXPECT_NO_THROW((void)r.get_slice("tail"));
  // ...while a mismatch is reported on every access.
  test::flip_byte(path_, r.shards()[0].data_offset + r.meta("tiny").offset_begin);
  for (int i = 0; i < 3; ++i) {
    try {
      (void)r.get_slice("tiny");
      ADD_FAILURE() << "no CRC error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::CrcMismatch);
      EXPECT_THAT(e.message(), HasSubstr("tensor 'tiny'"));
    }
  }
  EXPECT_TRUE(r.get_slice("empty").empty());
}

TEST_P(ReadTest, ForEachDeliversFileOrderInPiecesThroughSmallBuffers) {
  const auto r = open();
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::byte>> got;
  std::map<std::string, int> pieces;
  r.for_each([&](const TensorMeta& m, std::uint64_t off, std::span<const std::byte> b) {
    if (off == 0) order.push_back(m.name);
    EXPECT_EQ(order.back(), m.name) << "pieces of one tensor must be consecutive";
    auto& v = got[m.name];
    EXPECT_EQ(off, v.size());
    EXPECT_LE(b.size(), 64U * 1024);
    v.insert(v.end(), b.begin(), b.end());
    ++pieces[m.name];
  });
  EXPECT_EQ(order, r.keys());
  for (const auto& t : tensors_) EXPECT_EQ(got[t.name], t.data) << t.name;
  EXPECT_GE(pieces["big"], 16);  // 1 MiB through 64 KiB buffers
  EXPECT_EQ(pieces["tiny"], 1);
  EXPECT_EQ(pieces["empty"], 1);
}

TEST_P(ReadTest, ForEachCrcMismatch) {
  const auto r = open();
  // A tensor that fits in a buffer is checked before the callback sees it.
  test::flip_byte(path_, r.shards()[0].data_offset + r.meta("tiny").offset_begin + 5);
  std::vector<std::string> seen;
  try {
    r.for_each([&](const TensorMeta& m, std::uint64_t, std::span<const std::byte>) {
      seen.push_back(m.name);
    });
    FAIL() << "no CRC error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.message(), HasSubstr("tensor 'tiny'"));
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "tiny"), 0);
  EXPECT_GE(std::count(seen.begin(), seen.end(), "odd"), 2);
  EXPECT_GE(std::count(seen.begin(), seen.end(), "big"), 1);
}

TEST_P(ReadTest, ForEachLargeTensorMismatchIsReportedAfterItsLastPiece) {
  const auto r = open();
  test::flip_byte(path_, r.shards()[0].data_offset + r.meta("big").offset_begin + 300000);
  std::uint64_t big_bytes = 0;
  bool saw_next = false;
  try {
    r.for_each([&](const TensorMeta& m, std::uint64_t, std::span<const std::byte> b) {
      if (m.name == "big") big_bytes += b.size();
      if (m.name == "tail") saw_next = true;
    });
    FAIL() << "no CRC error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.message(), HasSubstr("tensor 'big'"));
  }
  EXPECT_EQ(big_bytes, r.meta("big").nbytes());
  EXPECT_FALSE(saw_next);
}

TEST_P(ReadTest, ForEachPropagatesTheCallbacksException) {
  const auto r = open();
  int calls = 0;
  EXPECT_THROW(r.for_each([&](const TensorMeta&, std::uint64_t, std::span<const std::byte>) {
    if (++calls == 3) throw std::logic_error("stop");
  }),
               std::logic_error);
  EXPECT_EQ(calls, 3);
  // The reader is still usable afterwards.
  std::vector<std::byte> dst(r.meta("last").nbytes());
  EXPECT_NO_THROW(r.read_into("last", dst).get());
}

TEST_P(ReadTest, ReaderMayBeDestroyedWhileReadsArePending) {
  std::vector<std::vector<std::byte>> dst;
  std::vector<std::future<void>> futures;
  {
    const auto r = open();
    for (const auto& t : tensors_) dst.emplace_back(t.data.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      futures.push_back(r.read_into(tensors_[i].name, dst[i]));
    }
  }
  for (auto& f : futures) f.get();
  for (std::size_t i = 0; i < tensors_.size(); ++i) EXPECT_EQ(dst[i], tensors_[i].data);
}

TEST_P(ReadTest, MovedFromReaderIsInvalidState) {
  auto r = open();
  StreamReader other = std::move(r);
  EXPECT_EQ(other.size(), tensors_.size());
  try {
    (void)r.keys();  // NOLINT(bugprone-use-after-move): the documented behaviour
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidState);
  }
  std::vector<std::byte> dst(4);
  EXPECT_THROW(r.read_into("scalar", dst).get(), Error);  // NOLINT(bugprone-use-after-move)
}

INSTANTIATE_TEST_SUITE_P(Modes, ReadTest,
                         ::testing::Values(Param{BackendKind::Threads, ReadMode::Buffered},
                                           Param{BackendKind::Threads, ReadMode::Direct},
                                           Param{BackendKind::Threads, ReadMode::Mmap},
                                           Param{BackendKind::Threads, ReadMode::Auto},
                                           Param{BackendKind::Uring, ReadMode::Buffered},
                                           Param{BackendKind::Uring, ReadMode::Direct},
                                           Param{BackendKind::Uring, ReadMode::Mmap},
                                           Param{BackendKind::Uring, ReadMode::Auto}),
                         param_name);

}  // namespace
}  // namespace stsw
