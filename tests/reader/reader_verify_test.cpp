// verify(): the whole-file scrub names exactly the corrupted tensors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "reader/reader_test_support.hpp"
#include "stsw/crc32.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

class VerifyTest : public ::testing::TestWithParam<std::tuple<BackendKind, ReadMode>> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(std::get<0>(GetParam()));
    if (!engine_) GTEST_SKIP() << "io_uring is not available here";
    tensors_ = test::mixed_tensors();
    path_ = dir_.file("v.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
  }
  StreamReader open() const {
    ReaderOptions o;
    o.engine = engine_;
    o.io_mode = std::get<1>(GetParam());
    return StreamReader::open(path_, o);
  }
  test::TempDir dir_;
  std::string path_;
  std::shared_ptr<Engine> engine_;
  std::vector<test::TensorData> tensors_;
};

TEST_P(VerifyTest, CleanFilePassesWithTotals) {
  const auto r = open();
  const VerifyReport rep = r.verify().get();
  EXPECT_TRUE(rep.passed());
  EXPECT_TRUE(rep.failures().empty());
  ASSERT_EQ(rep.tensors.size(), tensors_.size());
  EXPECT_EQ(rep.unchecked, 1U);  // "nocrc"
  EXPECT_EQ(rep.ok, tensors_.size() - 1);
  EXPECT_EQ(rep.mismatched, 0U);
  std::uint64_t total = 0;
  for (const auto& t : tensors_) total += t.data.size();
  EXPECT_GE(rep.bytes, total);
  EXPECT_GT(rep.seconds, 0.0);
  // Entries follow keys() and carry the computed CRC even without a stored one.
  const auto keys = r.keys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& c = rep.tensors[i];
    EXPECT_EQ(c.name, keys[i]);
    EXPECT_EQ(c.file, path_);
    EXPECT_EQ(c.nbytes, r.meta(keys[i]).nbytes());
    const auto& data = tensors_[i].data;
    EXPECT_EQ(c.actual, crc32(data)) << c.name;
    if (c.name == "nocrc") {
      EXPECT_EQ(c.status, TensorStatus::NoChecksum);
      EXPECT_FALSE(c.expected.has_value());
    } else {
      EXPECT_EQ(c.status, TensorStatus::Ok) << c.name;
      EXPECT_EQ(c.expected, c.actual);
    }
  }
}

TEST_P(VerifyTest, OneFlippedByteNamesOnlyItsTensor) {
  const auto r = open();
  const std::uint64_t data = r.shards()[0].data_offset;
  for (const auto& t : tensors_) {
    if (t.data.empty() || t.name == "nocrc") continue;
    SCOPED_TRACE(t.name);
    // Flip a byte (the middle one: inside a chunk, or at a chunk boundary for "big").
    const std::uint64_t at = data + r.meta(t.name).offset_begin + t.data.size() / 2;
    test::flip_byte(path_, at);
    const VerifyReport rep = r.verify().get();
    test::flip_byte(path_, at);  // restore
    EXPECT_FALSE(rep.passed());
    EXPECT_EQ(rep.mismatched, 1U);
    const auto bad = rep.failures();
    ASSERT_EQ(bad.size(), 1U);
    EXPECT_EQ(bad[0]->name, t.name);
    EXPECT_EQ(bad[0]->status, TensorStatus::Mismatch);
    EXPECT_EQ(bad[0]->expected, crc32(t.data));
    EXPECT_NE(bad[0]->actual, crc32(t.data));
    EXPECT_TRUE(rep.notes.empty());  // not a Python stsw file
  }
  EXPECT_TRUE(r.verify().get().passed());
}

TEST_P(VerifyTest, FlipInATensorWithoutCrcStillPasses) {
  const auto r = open();
  const std::uint64_t data = r.shards()[0].data_offset;
  test::flip_byte(path_, data + r.meta("nocrc").offset_begin + 1);
  const VerifyReport rep = r.verify().get();
  EXPECT_TRUE(rep.passed());  // nothing to compare against
  for (const auto& c : rep.tensors) {
    if (c.name == "nocrc") {
      EXPECT_NE(c.actual, crc32(tensors_[6].data));
    }
  }
}

TEST_P(VerifyTest, CallbackFormAndConcurrentScrubs) {
  const auto r = open();
  std::promise<VerifyReport> p;
  r.verify([&](std::exception_ptr e, VerifyReport rep) {
    if (e) {
      p.set_exception(e);
    } else {
      p.set_value(std::move(rep));
    }
  });
  EXPECT_TRUE(p.get_future().get().passed());

  std::vector<std::future<VerifyReport>> many;
  for (int i = 0; i < 4; ++i) many.push_back(r.verify());
  std::vector<std::byte> dst(r.meta("big").nbytes());
  r.read_into("big", dst).get();
  for (auto& f : many) EXPECT_TRUE(f.get().passed());
}

TEST_P(VerifyTest, ReaderMayBeDestroyedWhileVerifying) {
  std::future<VerifyReport> f;
  {
    const auto r = open();
    f = r.verify();
  }
  EXPECT_TRUE(f.get().passed());
}

INSTANTIATE_TEST_SUITE_P(
    Modes, VerifyTest,
    ::testing::Combine(::testing::Values(BackendKind::Threads, BackendKind::Uring),
                       ::testing::Values(ReadMode::Buffered, ReadMode::Direct)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == BackendKind::Uring ? "uring" : "threads") +
             "_" + std::string(to_string(std::get<1>(info.param)));
    });

TEST(VerifyEmpty, FileWithoutTensors) {
  test::TempDir dir;
  const std::string path = dir.file("e.safetensors");
  test::write_file(path, test::build_file({}));
  const auto rep = StreamReader::open(path).verify().get();
  EXPECT_TRUE(rep.passed());
  EXPECT_TRUE(rep.tensors.empty());
  EXPECT_EQ(rep.bytes, 0U);
}

TEST(VerifyStatus, Names) {
  EXPECT_EQ(to_string(TensorStatus::Ok), "ok");
  EXPECT_EQ(to_string(TensorStatus::Mismatch), "mismatch");
  EXPECT_EQ(to_string(TensorStatus::NoChecksum), "no checksum");
  EXPECT_EQ(to_string(TensorStatus::Missing), "missing");
}

}  // namespace
}  // namespace stsw
