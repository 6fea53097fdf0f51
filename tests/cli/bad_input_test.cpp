// Hostile and broken inputs for inspect and verify: each gives exit 2 and a one-line error
// naming the error kind and the file, never a crash or a hang.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "cli/cli_files.hpp"
#include "cli/cli_runner.hpp"

namespace stsw::test {
namespace {

class CliBadInput : public ::testing::TestWithParam<std::string> {
 protected:
  TempDir dir;

  // Runs the subcommand on `path` and checks the contract; returns stderr.
  std::string expect_invalid(const std::string& path, const std::string& kind) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_stsw({GetParam(), path}, {.timeout_s = 30});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.term_signal, 0);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.find("stsw " + GetParam() + ": " + kind + ": "), 0u) << r.err;
    EXPECT_TRUE(is_error_kind(kind)) << kind;
    EXPECT_LT(s, 20.0);
    return r.err;
  }
};

TEST_P(CliBadInput, MissingFile) {
  const std::string path = dir.file("nope.safetensors");
  const std::string err = expect_invalid(path, "Io");
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
}

TEST_P(CliBadInput, Directory) {
  const std::string err = expect_invalid(dir.path(), "Io");
  EXPECT_NE(err.find(dir.path()), std::string::npos) << err;
  EXPECT_NE(err.find("directory"), std::string::npos) << err;
}

TEST_P(CliBadInput, Fifo) {
  const std::string path = dir.file("fifo.safetensors");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  const std::string err = expect_invalid(path, "InvalidArgument");
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
}

TEST_P(CliBadInput, EmptyFile) {
  const std::string path = dir.file("empty.safetensors");
  write_file(path, "");
  EXPECT_NE(expect_invalid(path, "HeaderTooSmall").find(path), std::string::npos);
}

TEST_P(CliBadInput, ShorterThanTheLengthPrefix) {
  const std::string path = dir.file("short.safetensors");
  write_file(path, "\x10\0\0\0\0");
  expect_invalid(path, "HeaderTooSmall");
}

TEST_P(CliBadInput, TruncatedInTheHeader) {
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, {make_tensor("a", DType::F32, {100})}, std::nullopt, true);
  const std::string bytes = read_file(path);
  write_file(path, bytes.substr(0, 20));
  expect_invalid(path, "InvalidHeaderLength");
}

TEST_P(CliBadInput, TruncatedInTheData) {
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, {make_tensor("a", DType::F32, {100})}, std::nullopt, true);
  const std::string bytes = read_file(path);
  write_file(path, bytes.substr(0, bytes.size() - 7));
  expect_invalid(path, "MetadataIncompleteBuffer");
}

TEST_P(CliBadInput, RandomBytes) {
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 5; ++i) {
    std::string bytes(4096, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    const std::string path = dir.file("random.safetensors");
    write_file(path, bytes);
    const auto r = run_stsw({GetParam(), path}, {.timeout_s = 30});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.term_signal, 0);
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
  }
}

TEST_P(CliBadInput, RandomHeaderAfterAPlausibleLength) {
  std::mt19937_64 rng(777);
  std::string body(1000, '\0');
  for (auto& c : body) c = static_cast<char>(rng());
  const std::string path = dir.file("rh.safetensors");
  write_file(path, with_length_prefix(1000, body));
  const auto r = run_stsw({GetParam(), path}, {.timeout_s = 30});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
}

TEST_P(CliBadInput, HeaderLengthAllOnes) {
  const std::string path = dir.file("huge.safetensors");
  write_file(path, with_length_prefix(UINT64_MAX, "{}"));
  expect_invalid(path, "HeaderTooLarge");
}

TEST_P(CliBadInput, HundredFiftyMegabyteHeader) {
  // A sparse file whose length prefix and size both claim a 150 MB header.
  const std::string path = dir.file("big-header.safetensors");
  constexpr std::uint64_t kN = 150'000'000;
  write_file(path, with_length_prefix(kN, "{"));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(8 + kN)), 0);
  expect_invalid(path, "HeaderTooLarge");
}

TEST_P(CliBadInput, LargestAllowedHeaderOfZeros) {
  // 100,000,000 bytes of NULs (sparse): accepted by the length checks, refused by JSON.
  const std::string path = dir.file("zeros.safetensors");
  constexpr std::uint64_t kN = 100'000'000;
  write_file(path, with_length_prefix(kN, ""));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(8 + kN)), 0);
  expect_invalid(path, "InvalidHeaderDeserialization");
}

TEST_P(CliBadInput, NonUtf8FileNameOfAMissingFile) {
  const std::string path = dir.file("m\xff\xfe\n.safetensors");
  const std::string err = expect_invalid(path, "Io");
  EXPECT_NE(err.find("m\\xff\\xfe\\n.safetensors"), std::string::npos) << err;
}

TEST_P(CliBadInput, NonUtf8FileNameOfAGarbageFile) {
  const std::string path = dir.file("\xc3\x28.safetensors");
  write_file(path, "garbage");
  expect_invalid(path, "HeaderTooSmall");
}

TEST_P(CliBadInput, NonUtf8TensorName) {
  const std::string path = dir.file("name.safetensors");
  const std::string header = "{\"w\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
  write_file(path, with_length_prefix(header.size(), header + "x"));
  expect_invalid(path, "InvalidHeader");
}

TEST_P(CliBadInput, OverlappingOffsetsNameTheTensor) {
  const std::string path = dir.file("overlap.safetensors");
  const std::string header =
      "{\"first\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
      "\"second\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}";
  write_file(path, with_length_prefix(header.size(), header + std::string(12, 'x')));
  const std::string err = expect_invalid(path, "InvalidOffset");
  EXPECT_TRUE(err.find("first") != std::string::npos || err.find("second") != std::string::npos)
      << err;
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST_P(CliBadInput, OverflowingShape) {
  const std::string path = dir.file("overflow.safetensors");
  const std::string header =
      "{\"o\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}";
  write_file(path, with_length_prefix(header.size(), header));
  expect_invalid(path, "ValidationOverflow");
}

INSTANTIATE_TEST_SUITE_P(Subcommands, CliBadInput, ::testing::Values("inspect", "verify"),
                         [](const auto& info) { return info.param; });

TEST(CliBadInputVerify, IncompletePythonStswFileIsRefused) {
  TempDir dir;
  const std::string path = dir.file("partial.safetensors");
  const std::string header =
      "{\"__incomplete__\":true,\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
  write_file(path, with_length_prefix(header.size(), header + "ab"));
  const auto r = run_stsw({"verify", path});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("IncompleteFile"), std::string::npos) << r.err;
  const auto i = run_stsw({"inspect", "--json", path});
  EXPECT_EQ(i.exit_code, 0) << i.err;
  const auto docs = parse_json_lines(i.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_TRUE(docs[0].at("incomplete").as_bool());
  EXPECT_FALSE(docs[0].at("strict_valid").as_bool());
}

}  // namespace
}  // namespace stsw::test
