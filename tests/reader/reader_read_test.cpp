// read_into and get_slice on both backends and every I/O mode.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "reader/read_fixture.hpp"

namespace stsw {
namespace {

using test::AlignedBytes;
using test::ReadTest;
using ::testing::HasSubstr;

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

INSTANTIATE_TEST_SUITE_P(Modes, ReadTest, test::all_modes(), test::param_name);

}  // namespace
}  // namespace stsw
