// Malformed files are rejected at open() with the official error kind and a message naming
// the file (and tensor); nothing crashes, hangs or allocates what a file merely claims.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"
#include "support/peak_rss.hpp"

namespace stsw {
namespace {

using test::peak_rss;
using test::reset_peak_rss;

using test::TensorData;
using ::testing::HasSubstr;

std::vector<std::byte> raw(std::uint64_t n, const std::string& json, std::size_t data = 0) {
  std::vector<std::byte> f(8);
  for (int i = 0; i < 8; ++i) f[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  for (char c : json) f.push_back(static_cast<std::byte>(c));
  f.resize(f.size() + data, std::byte{0});
  return f;
}

std::vector<std::byte> with_header(const std::string& json, std::size_t data = 0) {
  return raw(json.size(), json, data);
}

class BadInput : public ::testing::Test {
 protected:
  Error open_error(const std::vector<std::byte>& bytes, ReaderOptions o = {}) {
    const std::string path = dir_.file("bad" + std::to_string(counter_++) + ".safetensors");
    test::write_file(path, bytes);
    try {
      (void)StreamReader::open(path, o);
    } catch (const Error& e) {
      EXPECT_THAT(e.message(), HasSubstr(path)) << e.what();
      return e;
    }
    ADD_FAILURE() << "accepted";
    return Error(Errc::Io, "accepted");
  }
  std::string write(const std::vector<std::byte>& bytes) {
    const std::string path = dir_.file("f" + std::to_string(counter_++) + ".safetensors");
    test::write_file(path, bytes);
    return path;
  }
  test::TempDir dir_;
  int counter_ = 0;
};

TEST_F(BadInput, FilesShorterThanEightBytesAreHeaderTooSmall) {
  for (std::size_t n = 0; n < 8; ++n) {
    EXPECT_EQ(open_error(std::vector<std::byte>(n, std::byte{1})).code(), Errc::HeaderTooSmall)
        << n;
  }
}

TEST_F(BadInput, HugeHeaderLengthsAreHeaderTooLarge) {
  EXPECT_EQ(open_error(raw(~std::uint64_t{0}, "{}")).code(), Errc::HeaderTooLarge);
  EXPECT_EQ(open_error(raw(100'000'001, "{}")).code(), Errc::HeaderTooLarge);
}

TEST_F(BadInput, ClaimedHeaderBeyondTheFileAllocatesNothing) {
  // The shared engine's staging pool (64 MiB) is created on first use: create it before
  // measuring, so that only what open() allocates for the file counts.
  (void)stsw::Engine::shared();
  const bool can_reset = reset_peak_rss();
  const std::uint64_t before = peak_rss();
  EXPECT_EQ(open_error(raw(99'999'999, "{}    ")).code(), Errc::InvalidHeaderLength);
  EXPECT_EQ(open_error(raw(200, "{}")).code(), Errc::InvalidHeaderLength);
  if (!can_reset || before == 0) {
    GTEST_SKIP() << "/proc/self/clear_refs cannot be written (or VmHWM is unreadable): the "
                    "errors were checked, the memory bound was not";
  }
  EXPECT_LT(peak_rss() - before, std::uint64_t{32} << 20) << "allocated what the file claims";
}

TEST_F(BadInput, AHundredMegabyteHeaderIsReadWithBoundedWork) {
  // A legal header of 99,999,992 bytes: "{}" and spaces. It must load, not hang.
  const std::uint64_t n = 99'999'992;
  std::string file(8 + n, ' ');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  file[8] = '{';
  file[9] = '}';
  const std::string path = dir_.file("big-header.safetensors");
  std::ofstream(path, std::ios::binary)
      .write(file.data(), static_cast<std::streamsize>(file.size()));
  file = std::string();
  auto r = StreamReader::open(path);
  EXPECT_EQ(r.size(), 0U);
  EXPECT_EQ(r.header().header_size, 99'999'992U);
  EXPECT_TRUE(r.verify().get().passed());
}

TEST_F(BadInput, OffsetsBeyondTheFile) {
  const Error e = open_error(
      with_header(R"({"w":{"dtype":"U8","shape":[1000000],"data_offsets":[0,1000000]}})", 10));
  EXPECT_EQ(e.code(), Errc::MetadataIncompleteBuffer);
  const Error e2 = open_error(with_header(
      R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,18446744073709551615]}})", 4));
  EXPECT_NE(e2.code(), Errc::Io);
}

TEST_F(BadInput, OverflowingShapeNamesTheTensor) {
  const Error e = open_error(with_header(
      R"({"huge":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}})", 4));
  EXPECT_EQ(e.code(), Errc::ValidationOverflow);
  EXPECT_THAT(e.message(), HasSubstr("huge"));
}

TEST_F(BadInput, SyntaxErrorsAreInvalidHeaderDeserialization) {
  const std::vector<std::string> cases = {
      R"({"w":)", R"({"w":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}})", R"([])",
      std::string("{}\0\0", 4)};
  for (const std::string& json : cases) {
    EXPECT_EQ(open_error(with_header(json, 1)).code(), Errc::InvalidHeaderDeserialization) << json;
  }
  EXPECT_EQ(open_error(with_header("{\"\xff\":1}")).code(), Errc::InvalidHeader);
}

TEST_F(BadInput, HolesAndTrailingBytesStrictVersusLenient) {
  std::vector<TensorData> ts = {{"a", DType::U8, {3}, test::pattern(3, 1)},
                                {"b", DType::U8, {5}, test::pattern(5, 2)}};
  test::LayoutOptions padded;
  padded.tensor_pad = 64;  // Python stsw: zero bytes after every tensor
  const auto bytes = test::build_file(ts, padded);
  const Error e = open_error(bytes);
  EXPECT_EQ(e.code(), Errc::InvalidOffset);
  EXPECT_THAT(e.message(), HasSubstr("b"));

  ReaderOptions lenient;
  lenient.strict = false;
  auto r = StreamReader::open(write(bytes), lenient);
  std::vector<std::byte> dst(5);
  r.read_into("b", dst).get();
  EXPECT_EQ(dst, test::pattern(5, 2));
  const auto rep = r.verify().get();
  EXPECT_EQ(rep.ok, 2U);

  auto trailing = test::build_file(ts);
  trailing.push_back(std::byte{0});
  EXPECT_EQ(open_error(trailing).code(), Errc::MetadataIncompleteBuffer);
  EXPECT_NO_THROW((void)StreamReader::open(write(trailing), lenient));
}

TEST_F(BadInput, DuplicateNames) {
  const Error e = open_error(with_header(
      R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
      2));
  EXPECT_EQ(e.code(), Errc::DuplicateName);
  EXPECT_THAT(e.message(), HasSubstr("'w'"));
}

TEST_F(BadInput, IncompleteFilesNeedAllowPartial) {
  test::LayoutOptions o;
  o.extra_top_level = R"("__version__":"1.0","__incomplete__":true)";
  const auto bytes = test::build_file({{"a", DType::U8, {3}, test::pattern(3, 1)}}, o);
  ReaderOptions lenient;
  lenient.strict = false;
  EXPECT_EQ(open_error(bytes, lenient).code(), Errc::IncompleteFile);
  EXPECT_NE(open_error(bytes).code(), Errc::IncompleteFile);  // strict: not a tensor entry
  lenient.allow_partial = true;
  auto r = StreamReader::open(write(bytes), lenient);
  EXPECT_TRUE(r.header().incomplete);
  EXPECT_EQ(r.verify().get().ok, 1U);
}

TEST_F(BadInput, PartialFileReadsWhatIsThereAndReportsTheRest) {
  test::LayoutOptions o;
  o.extra_top_level = R"("__version__":"1.0","__incomplete__":true)";
  auto bytes = test::build_file({{"a", DType::U8, {3000}, test::pattern(3000, 1)},
                                 {"b", DType::U8, {5000}, test::pattern(5000, 2)},
                                 {"c", DType::U8, {10}, test::pattern(10, 3)}},
                                o);
  bytes.resize(bytes.size() - 10 - 2000);  // c missing, b cut in the middle
  ReaderOptions partial;
  partial.strict = false;
  partial.allow_partial = true;
  const std::string path = write(bytes);
  for (ReadMode mode : {ReadMode::Buffered, ReadMode::Direct, ReadMode::Mmap}) {
    SCOPED_TRACE(std::string(to_string(mode)));
    partial.io_mode = mode;
    auto r = StreamReader::open(path, partial);
    std::vector<std::byte> a(3000);
    r.read_into("a", a).get();
    EXPECT_EQ(a, test::pattern(3000, 1));
    std::vector<std::byte> b(5000);
    try {
      r.read_into("b", b).get();
      ADD_FAILURE() << "read a tensor past the end of a partial file";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Io) << e.what();
    }
    EXPECT_THROW((void)r.get_slice("c"), Error);
    const VerifyReport rep = r.verify().get();
    EXPECT_FALSE(rep.passed());
    EXPECT_EQ(rep.ok, 1U);
    EXPECT_EQ(rep.missing, 2U);
    ASSERT_EQ(rep.failures().size(), 2U);
    EXPECT_EQ(rep.failures()[0]->status, TensorStatus::Missing);
    std::vector<std::string> seen;
    EXPECT_THROW(r.for_each([&](const TensorMeta& m, std::uint64_t, std::span<const std::byte>) {
      seen.push_back(m.name);
    }),
                 Error);
    EXPECT_EQ(seen, std::vector<std::string>{"a"});
  }
}

TEST_F(BadInput, EveryTruncationOfAValidFileIsRefusedCleanly) {
  const auto good = test::build_file(
      {{"a", DType::F32, {2, 3}, test::pattern(24, 1)}, {"b", DType::U8, {7}, test::pattern(7, 2)}},
      test::mixed_layout());
  for (std::size_t n = 0; n < good.size(); ++n) {
    const Error e = open_error(std::vector<std::byte>(good.begin(), good.begin() + n));
    EXPECT_NE(e.code(), Errc::Io) << n;
  }
}

TEST_F(BadInput, BitFlipsInTheHeaderNeverCrash) {
  const auto good = test::build_file({{"a", DType::F32, {2, 3}, test::pattern(24, 1)},
                                      {"b", DType::U8, {7}, test::pattern(7, 2)}});
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(good[i]) << (8 * i);
  ASSERT_GT(n, 0U);
  int accepted = 0;
  for (std::size_t i = 0; i < 8 + n; ++i) {
    for (int bit : {0, 5, 7}) {
      auto bytes = good;
      bytes[i] ^= static_cast<std::byte>(1 << bit);
      const std::string path = write(bytes);
      try {
        auto r = StreamReader::open(path);
        ++accepted;
        const auto rep = r.verify().get();
        for (const auto& k : r.keys()) {
          std::vector<std::byte> dst(r.meta(k).nbytes());
          try {
            r.read_into(k, dst).get();
          } catch (const Error&) {
          }
        }
        (void)rep;
      } catch (const Error&) {
      }
    }
  }
  EXPECT_LT(accepted, static_cast<int>(3 * (8 + n)));
}

TEST_F(BadInput, MissingFileAndBadOptions) {
  try {
    (void)StreamReader::open(dir_.file("absent.safetensors"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    EXPECT_THAT(e.message(), HasSubstr("absent.safetensors"));
  }
  ReaderOptions o;
  o.chunk_size = 1000;
  const std::string path = write(test::build_file({}));
  try {
    (void)StreamReader::open(path, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
  }
}

}  // namespace
}  // namespace stsw
